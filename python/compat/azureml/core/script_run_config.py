"""azureml.core.ScriptRunConfig: a script, its arguments and its run configuration, submitted as
a trainyard job (estimator form; the command form when `command` is given).

Arguments are passed as an argv vector (never through a shell), in order; a data reference among
them (`ds.path(p).as_mount()`, `.as_download()`, a Datastore) becomes a trainyard input and the
script receives its local path."""

import os
import shlex

import trainyard

from azureml.core import _convert
from azureml.core.runconfig import RunConfiguration

__all__ = ["ScriptRunConfig"]

DEFAULT_MAX_RUN_DURATION_SECONDS = 2592000  # the hosted default: 30 days


class ScriptRunConfig:
    """The hosted constructor; `submit` it with `Experiment.submit`."""

    def __init__(self, source_directory, script=None, arguments=None, run_config=None,
                 _telemetry_values=None, compute_target=None, environment=None,
                 distributed_job_config=None, resume_from=None,
                 max_run_duration_seconds=DEFAULT_MAX_RUN_DURATION_SECONDS, command=None,
                 docker_runtime_config=None):
        if command is not None and (script is not None or arguments):
            raise ValueError("ScriptRunConfig: give either command, or script and arguments, "
                             "not both")
        self.source_directory = os.path.abspath(os.fspath(source_directory or "."))
        self.script = script
        if isinstance(arguments, str):
            arguments = shlex.split(arguments)
        self.arguments = list(arguments or [])
        self.command = command
        self.run_config = run_config if run_config is not None else RunConfiguration()
        if script is not None:
            self.run_config.script = script
        if self.arguments:
            self.run_config.arguments = self.arguments
        if compute_target is not None:
            self.run_config.target = compute_target
        if environment is not None:
            self.run_config.environment = environment
        self.distributed_job_config = distributed_job_config
        if resume_from is not None:
            raise NotImplementedError(
                "ScriptRunConfig(resume_from=...): trainyard does not copy checkpoints into a "
                "run; pass the checkpoint as an argument (datastore.path(p).as_download())")
        if docker_runtime_config is not None and getattr(docker_runtime_config, "use_docker",
                                                         False):
            raise NotImplementedError(
                "ScriptRunConfig(docker_runtime_config=DockerConfiguration(use_docker=True)): "
                "Docker is not in trainyard; runs use trainyard's interpreter")
        self.max_run_duration_seconds = max_run_duration_seconds

    @property
    def compute_target(self):
        return self.run_config.target

    @property
    def environment(self):
        return self.run_config.environment

    def _fields(self):
        fields = self.run_config._trainyard_fields()
        if self.distributed_job_config is not None:
            fields.update(self.distributed_job_config._trainyard_fields())
        target = _convert.compute_target_name(self.run_config.target)
        fields.pop("compute_target", None)
        if target:
            fields["compute_target"] = target
        if self.max_run_duration_seconds:
            fields["max_run_duration_seconds"] = self.max_run_duration_seconds
        return fields

    def _to_trainyard(self):
        """The trainyard.Estimator (or trainyard.Command) of this configuration."""
        fields = self._fields()
        inputs = {}
        if self.command is None:
            script = self.script or self.run_config.script
            if not script:
                raise ValueError("ScriptRunConfig: script is required (the entry script, "
                                 "relative to source_directory), or give command")
            args = _convert.arguments(self.arguments or self.run_config.arguments, inputs)
            if args:
                fields["extra_args"] = args
            if inputs:
                fields["inputs"] = inputs
            return trainyard.Estimator(source_directory=self.source_directory,
                                       entry_script=script, **fields)
        if isinstance(self.command, str):
            command = self.command  # the hosted SDK runs a str command as it is
        else:
            # each word quoted; an input's ${{inputs.NAME}} left bare (trainyard substitutes
            # it, quoted, with the input's path)
            words = _convert.arguments(list(self.command), inputs)
            command = " ".join(w if w.startswith("${{inputs.") and w.endswith("}}") and
                               w[len("${{inputs."):-2] in inputs else shlex.quote(w)
                               for w in words)
        return trainyard.Command(code=self.source_directory, command=command,
                                 **_command_fields(fields, inputs))


def _command_fields(fields, inputs):
    """Estimator-form fields in the command-job form's places."""
    out = {}
    if inputs:
        out["inputs"] = inputs
    if "compute_target" in fields:
        out["compute"] = fields["compute_target"]
    env = {k: fields[k] for k in ("python", "pip_packages", "conda_packages") if k in fields}
    if env:
        out["environment"] = env
    if "node_count" in fields:
        out["resources"] = {"instance_count": fields["node_count"]}
    if "distributed_backend" in fields:
        out["distribution"] = {"type": fields["distributed_backend"],
                               "process_count_per_instance":
                               fields.get("process_count_per_node", 1)}
    if "max_run_duration_seconds" in fields:
        out["limits"] = {"timeout": fields["max_run_duration_seconds"]}
    if "environment_variables" in fields:
        out["environment_variables"] = fields["environment_variables"]
    return out
