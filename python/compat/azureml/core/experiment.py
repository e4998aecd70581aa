"""azureml.core.Experiment over trainyard.Experiment: submit returns an azureml.core.Run."""

import re

import trainyard

from azureml.core.run import Run

__all__ = ["Experiment"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,255}$")


class Experiment(trainyard.Experiment):
    """`Experiment(workspace, name)`; runs are recorded in the workspace under this name."""

    _run_class = Run  # what submit and get_runs return

    def __init__(self, workspace, name, _skip_name_validation=False, _id=None,
                 _archived_time=None, _create_in_cloud=True, _experiment_dto=None, **kwargs):
        if not isinstance(workspace, trainyard.Workspace):
            raise TypeError("Experiment(workspace, name): workspace must be a Workspace "
                            "(Workspace.from_config()), got {!r}".format(workspace))
        if not _skip_name_validation and (not isinstance(name, str) or not _NAME.match(name)):
            from azureml.exceptions import UserErrorException

            raise UserErrorException(
                "Experiment name {!r}: must be 1-256 characters, start with a letter or a "
                "digit, and contain only letters, digits, '_' and '-'".format(name))
        super().__init__(workspace, name)

    def submit(self, config, tags=None, **kwargs):
        """Submits `config` (ScriptRunConfig, azureml.train Estimator/PyTorch: anything with
        `_to_trainyard()`, or a trainyard configuration) and returns its Run at once."""
        if kwargs:
            raise NotImplementedError(
                "Experiment.submit({}): trainyard takes the run's settings from the "
                "configuration only".format(", ".join("{}=...".format(k) for k in kwargs)))
        run = super().submit(config, tags=tags)
        from azureml.train.hyperdrive import HyperDriveConfig, HyperDriveRun
        if isinstance(config, HyperDriveConfig):  # the hosted SDK returns a HyperDriveRun
            return HyperDriveRun(self, run.id, hyperdrive_config=config)
        return run

    def get_runs(self, type=None, tags=None, properties=None, include_children=False):
        """The experiment's runs, newest first (azureml.core.Run), optionally only those with
        these tags (a key, a list of keys, or {key: value}) / properties."""
        for run in super().get_runs():
            if tags is not None and not _matches(run.get_tags(), tags):
                continue
            if properties is not None and not _matches(run.get_properties(), properties):
                continue
            yield run

    @staticmethod
    def list(workspace, experiment_name=None, view_type="ActiveOnly", tags=None):
        """The workspace's experiments (azureml.core.Experiment), or the one named."""
        names = sorted(workspace.experiments)
        if experiment_name is not None:
            names = [n for n in names if n == experiment_name]
        return [Experiment(workspace, n, _skip_name_validation=True) for n in names]

    def start_logging(self, *args, **kwargs):
        raise NotImplementedError(
            "Experiment.start_logging: interactive runs are not in trainyard; put the code in a "
            "script, log with Run.get_context().log(...) and submit it (ScriptRunConfig)")

    def archive(self):
        raise NotImplementedError("Experiment.archive: not in trainyard; experiments are "
                                  "listed with `trainyard experiments`")

    reactivate = archive
    delete = archive

    def tag(self, key, value=None):
        raise NotImplementedError("Experiment.tag: trainyard tags runs, not experiments "
                                  "(run.tag(key, value))")

    def get_docs_url(self):
        return "README.md (trainyard)"

    def get_portal_url(self):
        raise NotImplementedError(
            "Experiment.get_portal_url: trainyard has no portal yet; use `trainyard list "
            "--experiment {}`".format(self.name))

    @property
    def id(self):
        return self.name

    @property
    def tags(self):
        return {}

    def __repr__(self):
        return "Experiment(Name: {}, Workspace: {})".format(
            self.name, getattr(self.workspace, "name", self.workspace))


def _matches(have, want):
    if isinstance(want, str):
        return want in have
    if isinstance(want, dict):
        return all(k in have and (v is None or have[k] == v) for k, v in want.items())
    return all(k in have for k in want)
