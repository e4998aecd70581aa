"""azureml.core.Run (azureml.core.run.Run): one class for the run context inside training scripts
(`Run.get_context()`) and for a handle on a recorded run (`Run(experiment, run_id)`, what
`Experiment.submit` returns), over trainyard.Run (docs/sdk.md), with the hosted SDK's argument
names and order and its result shapes."""

import os
import shutil
import tempfile

import trainyard

__all__ = ["Run", "get_run"]


class Run(trainyard.Run):
    """The hosted Run: logging (log, log_list, log_row, log_table, log_image), tags,
    properties, files; on a handle also status, details, metrics, files, waiting, cancel.
    `Run(experiment, run_id, outputs=None)` is a handle on a recorded run."""

    @classmethod
    def get_context(cls, allow_offline=True, used_for_context_manager=False, **kwargs):
        """The run of this process: the trainyard run it runs in, else an offline run."""
        return super().get_context()

    @staticmethod
    def get(workspace, run_id):
        """The run `run_id` (or a unique prefix) of `workspace`."""
        from azureml.core.experiment import Experiment

        run = trainyard.Workspace.get_run(workspace, run_id)
        return Run(Experiment(workspace, run.experiment.name, _skip_name_validation=True), run.id)

    @staticmethod
    def list(experiment, type=None, tags=None, properties=None, status=None,
             include_children=False, _rehydrate_runs=True):
        for run in experiment.get_runs(type=type, tags=tags, properties=properties):
            if status is None or run.get_status() == status:
                yield run

    def _is_context(self):
        return getattr(self, "_handle", None) is None

    # ---- identity ----

    @property
    def display_name(self):
        return self.id

    @property
    def name(self):
        return self.id

    @property
    def number(self):
        """The run's position in its experiment (1: the first run submitted); None in a
        context."""
        if self._is_context():
            return None
        ids = [r.id for r in trainyard.Experiment.get_runs(self.experiment)]
        return len(ids) - ids.index(self.id) if self.id in ids else None

    @property
    def type(self):
        return "azureml.scriptrun"

    @property
    def parent(self):
        return None

    def __repr__(self):
        status = "Running" if self._is_context() else self.get_status()
        return "Run(Experiment: {},\nId: {},\nType: {},\nStatus: {})".format(
            self.experiment.name, self.id, self.type, status)

    def _repr_html_(self):
        import html

        status = "Running" if self._is_context() else self.get_status()
        cells = [self.experiment.name, self.id, self.type, status,
                 "trainyard show {}".format(self.id)]
        head = "".join("<th>{}</th>".format(h) for h in
                       ("Experiment", "Id", "Type", "Status", "Details"))
        row = "".join("<td>{}</td>".format(html.escape(str(c))) for c in cells)
        return "<table style=\"width:100%\"><tr>{}</tr><tr>{}</tr></table>".format(head, row)

    def get_portal_url(self):
        """On a server: the run's page in its web UI."""
        if not self._is_context() and self._remote():
            return "{}/#/runs/{}".format(self.experiment.workspace.url, self.id)
        raise NotImplementedError(
            "Run.get_portal_url: trainyard has no portal yet; use `trainyard show {0}` (and "
            "`trainyard logs {0} --follow`)".format(self.id))

    # ---- logging (hosted argument names and order) ----

    def log(self, name, value, description="", step=None):
        super().log(name, value, step=step, description=description)

    def log_list(self, name, value, description=""):
        super().log_list(name, value)

    def log_row(self, name, description=None, **kwargs):
        super().log_row(name, **kwargs)

    def log_table(self, name, value, description=""):
        super().log_table(name, value)

    def log_image(self, name, path=None, plot=None, description=""):
        super().log_image(name, path=path, plot=plot)

    def log_accuracy_table(self, name, value, description=""):
        raise NotImplementedError("Run.log_accuracy_table: not in trainyard; log the table with "
                                  "log_table(name, {column: [values]})")

    log_confusion_matrix = log_accuracy_table
    log_predictions = log_accuracy_table
    log_residuals = log_accuracy_table

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False):
        """{name: value} for a metric logged once, {name: [values]} for several; tables
        {name: {column: [values]}}."""
        return super().get_metrics(name)

    # ---- tags, properties, files ----

    def get_tags(self):
        return {k: "" if v is None else v for k, v in super().get_tags().items()}

    def upload_file(self, name, path_or_stream, datastore_name=None):
        if hasattr(path_or_stream, "read"):
            with tempfile.NamedTemporaryFile(prefix="trainyard-upload-") as tmp:
                shutil.copyfileobj(path_or_stream, tmp)
                tmp.flush()
                super().upload_file(name, tmp.name)
            return
        super().upload_file(name, os.fspath(path_or_stream))

    def upload_files(self, names, paths, return_artifacts=False, timeout_seconds=None,
                     datastore_name=None):
        if len(names) != len(paths):
            raise ValueError("upload_files: {} names for {} paths".format(len(names), len(paths)))
        for n, p in zip(names, paths):
            self.upload_file(n, p)

    def upload_folder(self, name, path, datastore_name=None):
        super().upload_folder(name, os.fspath(path))

    def download_file(self, name, output_file_path=None, _validate_checksum=False):
        return super().download_file(name, output_file_path)

    def download_files(self, prefix=None, output_directory=None, output_paths=None,
                       batch_size=100, append_prefix=True, timeout_seconds=None):
        """Downloads the run's files under `prefix` into output_directory (default: the current
        folder) keeping their paths (without the prefix when append_prefix=False), or to
        `output_paths` (one per file, in get_file_names() order)."""
        if output_paths is None:
            return super().download_files(prefix, output_directory, append_prefix=append_prefix)
        prefix = (prefix or "").rstrip("/")
        names = [n for n in self.get_file_names()
                 if not prefix or n == prefix or n.startswith(prefix + "/")]
        if len(output_paths) != len(names):
            raise ValueError("download_files: {} output_paths for the {} files under {!r}".format(
                len(output_paths), len(names), prefix))
        written = []
        for n, target in zip(names, output_paths):
            target = os.path.abspath(os.fspath(target))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            written.append(self.download_file(n, target))
        return written

    # ---- status and details ----

    def get_status(self):
        """The run's status; "Running" in the context (the script runs)."""
        return "Running" if self._is_context() else super().get_status()

    def wait_for_completion(self, show_output=False, wait_post_processing=False,
                            raise_on_error=True):
        """Waits for the run to end and returns get_details(); with show_output=True the
        ranks' output is printed live. A run that ends Failed or Canceled raises
        azureml.exceptions.ActivityFailedException (also a trainyard.RunFailedError) with the
        run's error, failing rank and last log lines, unless raise_on_error=False."""
        from azureml.exceptions import ActivityFailedException

        if show_output:
            web = (self.get_portal_url() if self._remote()
                   else "(no portal: trainyard show {})".format(self.id))
            print("RunId: {}\nWeb View: {}\n".format(self.id, web), flush=True)
        try:
            details = super().wait_for_completion(show_output=show_output,
                                                  raise_on_error=raise_on_error)
        except trainyard.RunFailedError as error:
            raise _activity_failed(error, ActivityFailedException) from None
        if show_output:
            print("\nExecution Summary\n=================\nRunId: {}\nStatus: {}\n".format(
                self.id, details.get("status")), flush=True)
        return details

    def get_details_with_logs(self):
        """get_details() with "logFiles": {name: the log's text}."""
        details = self.get_details()
        logs = {}
        for name, path in (details.get("logFiles") or {}).items():
            if self._remote():  # names of the run's files on the server
                logs[name] = self._handle.file_text(name)
                continue
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    logs[name] = f.read()
            except OSError:
                logs[name] = ""
        details["logFiles"] = logs
        return details

    def get_children(self, recursive=False, tags=None, properties=None, type=None, status=None,
                     _rehydrate_runs=True):
        return super().get_children()

    def child_run(self, name=None, run_id=None, outputs=None):
        raise NotImplementedError("Run.child_run: child runs are not in trainyard yet (they come "
                                  "with sweeps); submit separate runs")

    submit_child = child_run
    create_children = child_run

    def complete(self, _set_status=True):
        """The run completes when its script exits; this flushes what was logged."""
        self.flush()

    def fail(self, error_details=None, error_code=None, _set_status=True):
        raise NotImplementedError(
            "Run.fail: a trainyard run fails when its script exits non-zero (raise an exception "
            "or sys.exit(1)); run.cancel() stops it")

    def flush(self, timeout_seconds=300):
        super().flush(timeout_seconds)

    # ---- models ----

    def register_model(self, model_name, model_path=None, tags=None, properties=None,
                       model_framework=None, model_framework_version=None, description=None,
                       datasets=None, sample_input_dataset=None, sample_output_dataset=None,
                       resource_configuration=None, **kwargs):
        """Registers the run's file or folder `model_path` (default: model_name), e.g.
        "outputs/model.pt", as the next version of `model_name` with the run's lineage; returns
        the azureml.core.Model. On a run handle (after submit); inside the training script it
        raises NotImplementedError (the run's files are final only when it ends)."""
        from azureml.core.model import Model

        if self._is_context():
            raise NotImplementedError(
                "Run.register_model inside the training script: trainyard registers a run's "
                "files once the run has ended; register from the submitting side "
                "(run.wait_for_completion(); run.register_model(...)) or with `trainyard model "
                "register --run {} --path {} --name {}`".format(
                    self.id, model_path or model_name, model_name))
        return Model._register_from_run(self, model_name, model_path, tags, properties,
                                        description)


def _activity_failed(error, cls):
    details = {"error": {"code": "UserError" if error.status == "Failed" else "Canceled",
                         "message": error.error or "run {} ended {}".format(error.run_id,
                                                                             error.status),
                         "details": [{"failedRank": error.failed_rank}]},
               "runId": error.run_id, "status": error.status}
    return cls(details, run_id=error.run_id, status=error.status, error=error.error,
               failed_rank=error.failed_rank, log_tail=error.log_tail)


def get_run(experiment, run_id, rehydrate=True, clean_up=True):
    """The run `run_id` of `experiment`."""
    return Run(experiment, run_id)
