"""mlflow: trainyard's compatibility package for MLflow's fluent tracking API.

Scripts written for the hosted service's v2 jobs log with MLflow (`mlflow.log_metric(...)`). In a
trainyard run whose interpreter has no real `mlflow`, this package is on the run's PYTHONPATH and
maps those calls onto the run's own tracking (trainyard.Run.get_context()); where the real mlflow is
installed, it logs into the same run through the tracking endpoint's MLflow REST subset
(MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN, MLFLOW_RUN_ID are set in every rank's environment).
Outside trainyard the run is offline: values are printed and kept in memory. See docs/mlflow.md.

How MLflow's notions map onto the trainyard run:
  metrics    log_metric / log_metrics -> run.log(key, value, step): the run's metrics
             (`trainyard metrics`, Run.get_metrics). step=None takes the next step of that
             metric (MLflow would record 0); `timestamp` is the time of the call.
  params     log_param / log_params -> the run's properties (set once: logging another value for
             a param raises MlflowException INVALID_PARAMETER_VALUE, as MLflow does).
  tags       set_tag / set_tags -> the run's tags.
  artifacts  log_artifact / log_artifacts / log_dict / log_text / log_figure -> the run's files
             (upload_file), at `artifact_path/<name>` from the run's folder.
  runs       the trainyard run is the only run: start_run() returns it (as an ActiveRun usable
             in `with`), end_run() flushes and ends MLflow's view of it (the run's status is
             trainyard's: it ends when the script exits). Nested runs, other run ids: refused.
  autolog    a no-op that says so (mlflow.autolog and mlflow.<flavor>.autolog for sklearn, pytorch,
             lightgbm, xgboost, tensorflow, keras).
  models     mlflow.sklearn / mlflow.pytorch save_model, log_model, load_model: MLflow's folder
             layout (MLmodel + the pickled / torch.save'd model); other flavors' models raise
             NotImplementedError (save them under outputs/).
"""

import json
import os
import sys
import tempfile
import threading
import time

from mlflow.entities import Experiment, Run, RunData, RunInfo, RunStatus
from mlflow.exceptions import MlflowException

__version__ = "2.0.0+trainyard"
__all__ = [
    "ActiveRun", "MlflowException", "active_run", "autolog", "end_run", "get_artifact_uri",
    "get_experiment", "get_experiment_by_name", "get_run", "get_tracking_uri", "last_active_run",
    "log_artifact", "log_artifacts", "log_dict", "log_figure", "log_metric", "log_metrics",
    "log_param", "log_params", "log_text", "set_experiment", "set_tag", "set_tags",
    "set_tracking_uri", "start_run",
]

_lock = threading.RLock()
_active = None  # the ActiveRun, between start_run and end_run
_last = None  # the last ActiveRun ended
_params = {}  # params logged by this process: {key: str}
_tracking_uri = None  # set_tracking_uri's value


def _context():
    """The trainyard run of this process."""
    import trainyard

    return trainyard.Run.get_context()


def _now_ms():
    return int(time.time() * 1000)


def _note(message):
    print(f"[trainyard] mlflow: {message}", file=sys.stderr, flush=True)


class _Unsupported(NotImplementedError, AttributeError):
    """An MLflow function trainyard does not provide (an AttributeError too, so that
    hasattr(mlflow, name) stays False)."""


_UNSUPPORTED = {
    "log_table": "log a table with trainyard.Run.get_context().log_table(name, {column: [...]})",
    "log_image": "log an image with trainyard.Run.get_context().log_image(name, path=...) or "
                 "mlflow.log_figure(figure, 'name.png')",
    "log_input": "datasets are the job's inputs (`inputs:` in the job YAML)",
    "log_model": "use mlflow.sklearn.log_model / mlflow.pytorch.log_model, or save the model under "
                 "outputs/",
    "register_model": "keep models as run files (outputs/) or job outputs; there is no registry",
    "search_runs": "list runs with `trainyard list` or trainyard.Workspace / Experiment",
    "search_experiments": "list experiments with `trainyard experiments`",
    "create_experiment": "a run logs into the experiment it was submitted to",
    "delete_run": "use `trainyard` from outside the run",
    "delete_experiment": "use `trainyard` from outside the run",
    "delete_tag": "tags can be set, not deleted, inside a run",
    "evaluate": "compute metrics in the script and log them with mlflow.log_metric",
    "pyfunc": "save the model under outputs/ and load it with its own library",
    "projects": "submit the script as a trainyard job (trainyard job create --file job.yml)",
    "models": "use mlflow.sklearn / mlflow.pytorch save_model, or save the model under outputs/",
    "enable_system_metrics_logging": "trainyard records each rank's output and status",
}


def __getattr__(name):
    if name in _UNSUPPORTED:
        raise _Unsupported(f"mlflow.{name} is not provided by trainyard's mlflow compatibility "
                           f"package: {_UNSUPPORTED[name]} (docs/mlflow.md)")
    raise AttributeError(f"module 'mlflow' has no attribute {name!r}")


# ---- runs ----


class ActiveRun(Run):
    """The trainyard run as MLflow's active run; a context manager that ends it (end_run) with
    FINISHED, or FAILED when the block raises."""

    def __init__(self, trainyard_run, run_name):
        self._run = trainyard_run
        self._run_name = run_name
        self._start_ms = _now_ms()
        self._end_ms = None
        self._status = RunStatus.RUNNING

    @property
    def info(self):
        return RunInfo(run_id=self._run.id, experiment_id=_experiment_id(self._run),
                       run_name=self._run_name, status=self._status, start_time=self._start_ms,
                       end_time=self._end_ms, artifact_uri=_artifact_uri(self._run))

    @property
    def data(self):
        return _run_data(self._run)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        end_run(RunStatus.FINISHED if exc_type is None else RunStatus.FAILED)
        return False

    def __repr__(self):
        return f"<ActiveRun: run_id={self._run.id!r}>"


def _experiment_id(run):
    return os.environ.get("MLFLOW_EXPERIMENT_ID") or run.experiment.name or "0"


def _artifact_uri(run):
    if run.offline:
        return f"trainyard-offline:/{run.id}"
    return f"mlflow-artifacts:/{run.id}"


def _run_data(run):
    """The run's data now: the latest value of each metric (stored so far, all ranks), the params
    and tags logged by this process."""
    run.flush()
    metrics = {}
    for name, points in run.get_metrics(full=True).items():
        if points:
            metrics[name] = points[-1]["value"]
    tags = {k: ("" if v is None else v) for k, v in run.get_tags().items()}
    return RunData(metrics=metrics, params=dict(_params), tags=tags)


def start_run(run_id=None, experiment_id=None, run_name=None, nested=False, parent_run_id=None,
              tags=None, description=None, log_system_metrics=None):
    """Starts MLflow's view of the trainyard run (the process's run; MLFLOW_RUN_ID is its id)
    and returns it as an ActiveRun. `tags` are set on the run; `run_name` becomes tag
    mlflow.runName and `description` tag mlflow.note.content, as MLflow does."""
    global _active
    with _lock:
        run = _context()
        if run_id is not None and str(run_id) != run.id:
            raise MlflowException(
                f"Run '{run_id}' not found: inside trainyard run {run.id} MLflow logs into that "
                f"run only (MLFLOW_RUN_ID)", error_code="RESOURCE_DOES_NOT_EXIST")
        if _active is not None:
            if nested:
                raise NotImplementedError(
                    "mlflow.start_run(nested=True): nested (child) runs are not provided by "
                    "trainyard; log into the run itself (prefix metric names), or submit "
                    "separate jobs (docs/mlflow.md)")
            raise MlflowException(
                f"Run with UUID {_active.info.run_id} is already active. To start a new run, "
                f"first end the current run with mlflow.end_run(). To start a nested run, call "
                f"start_run with nested=True", error_code="INVALID_PARAMETER_VALUE")
        if parent_run_id is not None:
            raise NotImplementedError(
                "mlflow.start_run(parent_run_id=...): child runs are not provided by trainyard "
                "(docs/mlflow.md)")
        if experiment_id is not None and str(experiment_id) != _experiment_id(run):
            raise MlflowException(
                f"Cannot start run with ID {run.id} because active run experiment ID "
                f"({experiment_id}) does not match environment run experiment ID "
                f"({_experiment_id(run)})", error_code="INVALID_PARAMETER_VALUE")
        new_tags = {str(k): str(v) for k, v in dict(tags or {}).items()}
        if run_name is not None:
            new_tags["mlflow.runName"] = str(run_name)
        if description is not None:
            new_tags["mlflow.note.content"] = str(description)
        if new_tags:
            run.set_tags(new_tags)
        _active = ActiveRun(run, run_name or run.id)
        return _active


def _get_or_start():
    with _lock:
        return _active if _active is not None else start_run()


def end_run(status=RunStatus.FINISHED):
    """Ends MLflow's view of the run: what was logged is flushed, active_run() is None again. The
    trainyard run itself ends when its processes exit (its status is trainyard's)."""
    global _active, _last
    with _lock:
        if _active is None:
            return
        run = _active
        _active = None
        run._status = status
        run._end_ms = _now_ms()
        run._run.flush()
        _last = run


def active_run():
    """The ActiveRun started by start_run (or the first logging call), else None."""
    return _active


def last_active_run():
    """The active run, else the last one ended."""
    return _active if _active is not None else _last


def get_run(run_id):
    """The trainyard run (its id only), with its data now."""
    run = _context()
    if str(run_id) != run.id:
        raise MlflowException(f"Run '{run_id}' not found: inside trainyard run {run.id} only that "
                              f"run can be read", error_code="RESOURCE_DOES_NOT_EXIST")
    current = _active if _active is not None else ActiveRun(run, run.id)
    return Run(current.info, current.data)


# ---- logging ----


def log_metric(key, value, step=None, synchronous=None, timestamp=None, run_id=None, **kwargs):
    """Logs one value of metric `key` (trainyard's run.log). Values are sent in the background;
    synchronous=True waits until it is stored."""
    run = _run_for(run_id)._run
    run.log(key, value, step=step)
    if synchronous:
        run.flush()


def log_metrics(metrics, step=None, synchronous=None, run_id=None, timestamp=None, **kwargs):
    """Logs each of {key: value} at `step`."""
    run = _run_for(run_id)._run
    for key, value in dict(metrics).items():
        run.log(key, value, step=step)
    if synchronous:
        run.flush()


def log_param(key, value, synchronous=None):
    """Logs a param: the run's property `key` (str(value)). Returns `value`. Logging another
    value for a key already logged raises MlflowException (INVALID_PARAMETER_VALUE)."""
    _log_params({key: value})
    return value


def log_params(params, synchronous=None, run_id=None):
    """Logs each of {key: value} as a param."""
    _log_params(dict(params), run_id)


def _log_params(params, run_id=None):
    run = _run_for(run_id)
    text = {str(k): str(v) for k, v in params.items()}
    with _lock:
        for k, v in text.items():
            if k in _params and _params[k] != v:
                raise MlflowException(
                    f"Changing param values is not allowed. Param with key='{k}' was already "
                    f"logged with value='{_params[k]}' for run ID='{run.info.run_id}'. Attempted "
                    f"logging new value '{v}'.", error_code="INVALID_PARAMETER_VALUE")
        run._run.add_properties(text)
        _params.update(text)


def set_tag(key, value, synchronous=None):
    """Sets the run's tag `key` to str(value)."""
    _get_or_start()._run.tag(str(key), str(value))


def set_tags(tags, synchronous=None):
    """Sets each of {key: value} as a tag."""
    _get_or_start()._run.set_tags({str(k): str(v) for k, v in dict(tags).items()})


def _run_for(run_id):
    active = _get_or_start()
    if run_id is not None and str(run_id) != active.info.run_id:
        raise MlflowException(f"Run '{run_id}' not found: inside trainyard run "
                              f"{active.info.run_id} MLflow logs into that run only",
                              error_code="RESOURCE_DOES_NOT_EXIST")
    return active


# ---- artifacts: the run's files ----


def _artifact_name(artifact_path, name):
    if artifact_path:
        return artifact_path.strip("/") + "/" + name
    return name


def log_artifact(local_path, artifact_path=None, run_id=None):
    """Uploads a local file as the run's file `artifact_path/<file name>` (waits until stored)."""
    local_path = os.fspath(local_path)
    if not os.path.isfile(local_path):
        raise MlflowException(f"log_artifact: {local_path!r} is not a file (log a folder with "
                              f"log_artifacts)", error_code="INVALID_PARAMETER_VALUE")
    run = _run_for(run_id)._run
    run.upload_file(_artifact_name(artifact_path, os.path.basename(local_path)), local_path)


def log_artifacts(local_dir, artifact_path=None, run_id=None):
    """Uploads every file under `local_dir` as `artifact_path/<relative path>`."""
    local_dir = os.fspath(local_dir)
    if not os.path.isdir(local_dir):
        raise MlflowException(f"log_artifacts: {local_dir!r} is not a folder",
                              error_code="INVALID_PARAMETER_VALUE")
    run = _run_for(run_id)._run
    for root, dirs, files in os.walk(local_dir):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(root, f)
            rel = os.path.relpath(path, local_dir).replace(os.sep, "/")
            run.upload_file(_artifact_name(artifact_path, rel), path)


def _log_bytes(artifact_file, write, run_id=None):
    """Writes a temporary file with `write(path)` and uploads it as the run's `artifact_file`."""
    artifact_file = str(artifact_file).strip("/")
    run = _run_for(run_id)._run
    with tempfile.TemporaryDirectory(prefix="trainyard-mlflow-") as tmp:
        path = os.path.join(tmp, os.path.basename(artifact_file) or "artifact")
        write(path)
        run.upload_file(artifact_file, path)


def log_text(text, artifact_file, run_id=None):
    """Logs `text` as the run's file `artifact_file` (UTF-8)."""
    def write(path):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    _log_bytes(artifact_file, write, run_id)


def log_dict(dictionary, artifact_file, run_id=None):
    """Logs a dict as JSON, or as YAML when `artifact_file` ends in .yaml / .yml."""
    if str(artifact_file).endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise NotImplementedError(
                "mlflow.log_dict to a .yaml file needs PyYAML in the run's interpreter "
                "(apt-get install python3-yaml); or log it as .json") from None
        text = yaml.safe_dump(dictionary, default_flow_style=False)
    else:
        text = json.dumps(dictionary, indent=2)
    log_text(text, artifact_file, run_id)


def log_figure(figure, artifact_file, *, save_kwargs=None):
    """Logs a matplotlib figure (savefig) or a plotly figure (.html: write_html, else
    write_image) as the run's file `artifact_file`."""
    save_kwargs = dict(save_kwargs or {})

    def write(path):
        if hasattr(figure, "savefig"):
            figure.savefig(path, **save_kwargs)
        elif str(artifact_file).endswith(".html") and hasattr(figure, "write_html"):
            figure.write_html(path, **save_kwargs)
        elif hasattr(figure, "write_image"):
            figure.write_image(path, **save_kwargs)
        else:
            raise TypeError(f"log_figure: unsupported figure type {type(figure).__name__} "
                            f"(a matplotlib or plotly figure)")

    _log_bytes(artifact_file, write)


def get_artifact_uri(artifact_path=None):
    """The run's artifact URI ("mlflow-artifacts:/<run id>[/path]", served by the run's tracking
    endpoint)."""
    uri = _artifact_uri(_get_or_start()._run)
    return uri + "/" + artifact_path.strip("/") if artifact_path else uri


# ---- tracking URI, experiments, autolog ----


def get_tracking_uri():
    """set_tracking_uri's value, else MLFLOW_TRACKING_URI (the run's tracking endpoint), else
    the local default of MLflow (./mlruns)."""
    if _tracking_uri is not None:
        return _tracking_uri
    return os.environ.get("MLFLOW_TRACKING_URI") or "file://" + os.path.abspath("mlruns")


def set_tracking_uri(uri):
    """Recorded for get_tracking_uri; inside a trainyard run MLflow's calls still log into the run
    (this package has no client for another server), which is said on stderr when `uri` is not
    the run's own."""
    global _tracking_uri
    uri = os.fspath(uri)
    own = os.environ.get("MLFLOW_TRACKING_URI")
    if uri != own:
        _note(f"set_tracking_uri({uri!r}): this process logs into its trainyard run "
              f"({_context().id}) whatever the tracking URI")
    _tracking_uri = uri


def _experiment():
    run = _context()
    return Experiment(_experiment_id(run), run.experiment.name or _experiment_id(run),
                      artifact_location="mlflow-artifacts:/")


def get_experiment(experiment_id):
    exp = _experiment()
    return exp if str(experiment_id) == exp.experiment_id else None


def get_experiment_by_name(name):
    exp = _experiment()
    return exp if name == exp.name else None


def set_experiment(experiment_name=None, experiment_id=None):
    """The run's experiment. Another name or id: said on stderr, the run keeps logging into its
    own experiment (a run's experiment is chosen at submit: `experiment_name:` in the job)."""
    exp = _experiment()
    asked = experiment_name if experiment_name is not None else experiment_id
    if asked is not None and str(asked) not in (exp.name, exp.experiment_id):
        _note(f"set_experiment({asked!r}): this run logs into its experiment {exp.name!r} (set at "
              f"submit: experiment_name in the job YAML)")
    return exp


def autolog(*args, **kwargs):
    """A no-op that says so: nothing is logged automatically; log with mlflow.log_metric etc."""
    _autolog_note("mlflow.autolog")


def _autolog_note(name):
    _note(f"{name}() is a no-op in trainyard: nothing is logged automatically; log with "
          f"mlflow.log_metric / log_param / log_artifact (docs/mlflow.md)")


from mlflow import keras, lightgbm, pytorch, sklearn, tensorflow, tracking, xgboost  # noqa: E402,F401,I001 - submodules, as mlflow has them
from mlflow.tracking import MlflowClient  # noqa: E402,F401
