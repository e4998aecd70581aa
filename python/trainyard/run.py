"""trainyard.Run: the run context inside training scripts (over trainyard._core, the tracking
recorder) and a handle on a recorded run (over trainyard._sdk, the C++ API, or, for a workspace
on a server, trainyard.remote.RemoteRun: the same methods over the server's API)."""

import atexit
import json
import os
import shutil
import sys
import tempfile
import threading

from trainyard import _core

_lock = threading.Lock()
_contexts = {}  # class -> its instance for this process (Run and subclasses such as azureml's)
_atexit_registered = False


def _flush_at_exit():
    # Everything logged is delivered at normal exit. The C++ side also closes the recorder from
    # std::atexit, which covers programs that exit without running Python's atexit handlers.
    try:
        _core.current().flush(10.0)
    except Exception as error:  # noqa: BLE001 - never fail an exiting script
        import sys

        print(f"[trainyard] tracking data may be lost: {error}", file=sys.stderr)


class RunFailedError(RuntimeError):
    """A run ended Failed or Canceled: .run_id, .status, .error, .failed_rank, .log_tail."""

    def __init__(self, run_id, status, error="", failed_rank=None, log_tail=""):
        self.run_id = run_id
        self.status = status
        self.error = error
        self.failed_rank = failed_rank
        self.log_tail = log_tail
        message = f"run {run_id} ended {status}"
        if failed_rank is not None:
            message += f" (rank {failed_rank} failed)"
        if error:
            message += f": {error}"
        if log_tail and log_tail not in (error or ""):
            message += f"\nlast log lines:\n{log_tail}"
        super().__init__(message)


class _ContextExperiment:
    """The experiment a run context belongs to (`run.experiment.name`)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"Experiment(name={self.name!r})"


def _hosted_shape(values):
    """The hosted SDK's shape of one metric's values: one value as itself, several as a list."""
    return values[0] if len(values) == 1 else values


def _row_columns(rows):
    """Rows ({column: value} each) as the hosted SDK returns a table: {column: [values]}, or
    {column: value} for a single row."""
    columns = {}
    for row in rows:
        for k, v in row.items():
            columns.setdefault(k, []).append(v)
    if len(rows) == 1:
        return {k: v[0] for k, v in columns.items()}
    return columns


class Run:
    """A run: the current run inside its training script (Run.get_context()), or a handle on a
    recorded run (Run(experiment, run_id), what Experiment.submit returns).

    In the context, values are checked at the call (bad names or values raise ValueError naming
    the metric), buffered, and sent by a background thread; flush() waits until everything logged
    so far is stored. Outside trainyard the context is offline: values are printed and kept in
    memory (get_metrics works), and nothing is an error. On a handle, logging writes straight to
    the workspace, and the run can be followed: get_status, wait_for_completion, get_details,
    get_metrics, get_file_names, download_file(s), cancel.
    """

    def __init__(self, experiment, run_id, outputs=None, **kwargs):
        """A handle on run `run_id` (or a unique prefix) of `experiment` (a trainyard.Experiment)."""
        handle = experiment.workspace._ws.get_run(str(run_id))
        self._init_handle(experiment, handle)

    def _init_handle(self, experiment, handle):
        self._recorder = None
        self._handle = handle
        self._experiment = experiment

    @classmethod
    def _from_handle(cls, experiment, handle):
        run = cls.__new__(cls)
        run._init_handle(experiment, handle)
        return run

    @classmethod
    def _from_recorder(cls, recorder):
        run = cls.__new__(cls)
        run._recorder = recorder
        run._handle = None
        name = recorder.experiment or ("offline" if recorder.offline else "")
        run._experiment = _ContextExperiment(name)
        return run

    @classmethod
    def get_context(cls):
        """The run of this process (one per process; created from the environment on first use)."""
        global _atexit_registered
        with _lock:
            run = _contexts.get(cls)
            if run is None:
                run = cls._from_recorder(_core.current())
                _contexts[cls] = run
                if not _atexit_registered:
                    atexit.register(_flush_at_exit)
                    _atexit_registered = True
            return run

    # ---- identity ----

    @property
    def id(self):
        """The run id ("OfflineRun_..." for an offline run)."""
        return self._recorder.run_id if self._recorder is not None else self._handle.id

    @property
    def experiment(self):
        return self._experiment

    @property
    def rank(self):
        """This process's rank (the context); None on a handle."""
        return self._recorder.rank if self._recorder is not None else None

    @property
    def offline(self):
        return self._recorder.offline if self._recorder is not None else False

    def __repr__(self):
        return f"Run(id={self.id!r}, experiment={self._experiment.name!r})"

    def _follow(self, what):
        """The handle, for following the run; a clear error in the context."""
        if self._handle is None:
            raise RuntimeError(
                f"{what} follows a recorded run; this is the run context inside a training script."
                f" Open the run from outside it: trainyard.get_run({self.id!r}) (or "
                f"`trainyard show {self.id}`)")
        return self._handle

    # ---- metrics ----

    def log(self, name, value, step=None, description=""):
        """Logs one value of metric `name` (a number; NaN and ±Inf are kept as such).

        `step` defaults to the next index for this name in this process.
        """
        if self._recorder is None:
            self._handle.log(name, _number(name, value), step)
            return
        self._recorder.log(name, value, step, description)

    def log_list(self, name, values):
        """Logs each of `values` as a point of metric `name`, at consecutive steps."""
        if self._recorder is None:
            self._handle.log_list(name, [_number(name, v) for v in values])
            return
        self._recorder.log_list(name, values)

    def log_row(self, name, /, **columns):
        """Logs one row of table `name`: log_row("epochs", epoch=3, loss=0.2, note="ok")
        (on a handle, numbers only)."""
        if self._recorder is None:
            self._handle.log_row(name, [(k, _number(f"{name}.{k}", v)) for k, v in columns.items()])
            return
        self._recorder.log_row(name, columns)

    def log_table(self, name, value):
        """Logs table `name` from {column: [values]}, one row per index."""
        if not isinstance(value, dict):
            raise ValueError(f"table {name!r}: expected a dict of column -> list of values")
        if self._recorder is None:
            columns = {k: list(v) for k, v in value.items()}
            for i in range(max((len(v) for v in columns.values()), default=0)):
                self.log_row(name, **{k: v[i] for k, v in columns.items() if i < len(v)})
            return
        self._recorder.log_table(name, value)

    def log_image(self, name, path=None, plot=None):
        """Logs a PNG image from a file (`path`) or a matplotlib figure (`plot`)."""
        if (path is None) == (plot is None):
            raise ValueError(f"image {name!r}: give exactly one of path= or plot=")
        recorder = self._context_only("log_image")
        if path is not None:
            recorder.log_image(name, os.fspath(path))
            return
        fd, tmp = tempfile.mkstemp(prefix="trainyard-", suffix=".png")
        os.close(fd)
        try:
            plot.savefig(tmp, format="png")
            recorder.log_image(name, tmp)  # read before it returns
        finally:
            os.unlink(tmp)

    def get_metrics(self, name=None, full=False):
        """The run's metrics, in the hosted SDK's shapes: {name: value} for a metric logged once,
        {name: [values]} for one logged several times (all ranks, in logging order), and
        {name: {column: [values]}} for a table (log_row, log_table). In the context the values
        are those stored so far (online: after a flush).

        With full=True each point is a dict with step, timestamp (seconds since the epoch), rank
        and value; get_metrics(name, full=True) returns that list for one metric.
        """
        if full:
            if self._recorder is not None:
                points = self._recorder.get_metrics(name)
                points = {n: [(s, ts / 1e6, r, v) for s, ts, r, v in p] for n, p in points.items()}
            else:
                points = self._handle.metric_points("" if name is None else name)
            series = {
                n: [{"step": s, "timestamp": ts, "rank": r, "value": v} for s, ts, r, v in p]
                for n, p in points.items()
            }
            return series.get(name, []) if name is not None else series
        if self._recorder is not None:
            data = {n: [p[3] for p in pts] for n, pts in self._recorder.get_metrics(name).items()}
            return {n: _hosted_shape(v) for n, v in data.items()}
        key = "" if name is None else name
        out = {n: _hosted_shape(v) for n, v in self._handle.metric_values(key).items()}
        for table, rows in self._handle.rows(key).items():
            out[table] = _row_columns([json.loads(r) for r in rows])
        return out

    # ---- tags, properties, files ----

    def tag(self, key, value=None):
        """Sets tag `key` (to `value`, converted to str, or to no value)."""
        if self._recorder is None:
            self._handle.tag(key, "" if value is None else str(value))
            return
        self._recorder.tag(key, None if value is None else str(value))

    def set_tags(self, tags):
        """Sets several tags at once (in the context: all or nothing)."""
        tags = {k: None if v is None else str(v) for k, v in dict(tags).items()}
        if self._recorder is None:
            for k, v in tags.items():
                self.tag(k, v)
            return
        self._recorder.set_tags(tags)

    def get_tags(self):
        """The run's tags: {key: value} (in the context: those set in this process, value or
        None)."""
        if self._recorder is None:
            return dict(self._handle.tags())
        return self._recorder.get_tags()

    def add_properties(self, properties):
        """Adds properties (values converted to str)."""
        if self._recorder is None:
            for k, v in dict(properties).items():
                self._handle.add_property(str(k), str(v))
            return
        self._recorder.add_properties({k: str(v) for k, v in dict(properties).items()})

    def get_properties(self):
        """The run's properties: {key: value}."""
        return {k: _property_value(v) for k, v in self._follow("get_properties").properties()}

    def _context_only(self, what):
        if self._recorder is None:
            raise RuntimeError(
                f"{what} works inside the run (Run.get_context()); a finished run's files are "
                f"kept under {self.get_details()['trainyard']['run_dir']}")
        return self._recorder

    def upload_file(self, name, path):
        """Uploads a local file (≤ 5 GB) as the run's file `name`; waits until it is stored."""
        self._context_only("upload_file").upload_file(name, os.fspath(path))

    def upload_folder(self, name, path):
        """Uploads every file under `path` as `name/<relative path>`."""
        self._context_only("upload_folder").upload_folder(name, os.fspath(path))

    def flush(self, timeout=30.0):
        """Waits until everything logged so far is stored (RuntimeError after `timeout` s)."""
        if self._recorder is not None:
            self._recorder.flush(float(timeout))

    # ---- following a recorded run ----

    @property
    def status(self):
        """The run's status (get_status())."""
        return self.get_status()

    def get_status(self):
        """"Queued", "Preparing", "Starting", "Running", "Finalizing", "Completed", "Failed",
        "Canceled" (or "CancelRequested")."""
        return self._follow("get_status").status()

    def get_details(self):
        """The run's details: the hosted SDK's keys (runId, status, startTimeUtc, endTimeUtc,
        target, properties, tags, runDefinition, error, ...) and, under "trainyard", everything
        `trainyard show RUN --json` says."""
        d = json.loads(self._follow("get_details").details_json())
        spec = d.get("spec") or {}
        # The estimator form runs [interpreter, script, args...], the command form its own
        # program ([bash, -c, command] for a command string).
        arguments = d["argv"][1:] if "command" in spec else d["argv"][2:]
        details = {
            "runId": d["id"],
            "experiment": d["experiment"],
            "status": d["status"],
            "target": d["target"],
            "submittedTimeUtc": d["created_at"],
            "startTimeUtc": d["started_at"],
            "endTimeUtc": d["ended_at"],
            "exitCode": d["exit_code"],
            "failedRank": d["failed_rank"],
            "properties": {k: _property_value(v) for k, v in d["properties"].items()},
            "tags": d["tags"],
            "inputDatasets": [],
            "runDefinition": dict(spec, arguments=arguments),
            "arguments": arguments,
            "argv": d["argv"],
            "snapshotId": d["snapshot"].get("id"),
            "logFiles": self._log_files(d),
            "trainyard": d,
        }
        if d["error"]:
            details["error"] = {"error": {"code": "UserError", "message": d["error"]}}
        return details

    def wait_for_completion(self, show_output=False, timeout=None, raise_on_error=True,
                            wait_post_processing=False):
        """Waits until the run ends and returns get_details(). With show_output=True the merged
        output of its ranks is printed live to sys.stdout. A run that ends Failed or Canceled
        raises RunFailedError (with the run's error, failing rank and last log lines) unless
        raise_on_error=False. `timeout` (seconds; None = forever) raises TimeoutError."""
        handle = self._follow("wait_for_completion")
        status = handle.wait(self._experiment.workspace.path, bool(show_output),
                             float(timeout or 0))
        if show_output:
            sys.stdout.flush()
        details = self.get_details()
        if status != "Completed" and raise_on_error:
            raise self._failure(details)
        return details

    def _remote(self):
        return getattr(self._handle, "remote", False)

    def _log_files(self, d):
        """{name: path} of the run's logs; on a server the names only (download_file them)."""
        if self._remote():
            return {f: f for f in self._handle.files()
                    if f.startswith("logs/") and f.endswith(".log")}
        return {f: os.path.join(d["run_dir"], f) for f in _log_files(d["run_dir"])}

    def _failure(self, details):
        d = details["trainyard"]
        if self._remote():
            tail = self._handle.log_tail(d["failed_rank"])
        else:
            tail = _log_tail(d["run_dir"], d["failed_rank"])
        return RunFailedError(d["id"], d["status"], d["error"], d["failed_rank"], tail)

    def cancel(self):
        """Stops every process of the run and waits (up to 30 s) for it to end; returns the
        status."""
        return self._follow("cancel").cancel()

    def get_file_names(self):
        """The run's kept files ("outputs/model.pt", "logs/rank-0.log"), once it has ended."""
        return self._follow("get_file_names").files()

    def download_file(self, name, output_file_path=None, **kwargs):
        """Copies the run's file `name` to `output_file_path` (a file, or a folder to put it in;
        default: the current folder). Returns the path written."""
        handle = self._follow("download_file")
        if name not in handle.files():
            raise ValueError(f"run {self.id} has no file {name!r} (get_file_names() lists them)")
        dest = os.path.abspath(os.fspath(output_file_path) if output_file_path else os.getcwd())
        if os.path.isdir(dest):
            dest = os.path.join(dest, os.path.basename(name))
        with tempfile.TemporaryDirectory(dir=os.path.dirname(dest)) as tmp:
            handle.download(name, tmp)
            os.replace(os.path.join(tmp, name), dest)
        return dest

    def download_files(self, prefix=None, output_directory=None, append_prefix=True, **kwargs):
        """Copies every file under `prefix` (all files when None) into `output_directory`
        (default: the current folder), keeping their relative paths. Returns the paths written."""
        handle = self._follow("download_files")
        prefix = (prefix or "").rstrip("/")
        dest = os.path.abspath(os.fspath(output_directory) if output_directory else os.getcwd())
        names = [f for f in handle.files() if not prefix or f == prefix or f.startswith(prefix + "/")]
        if not names:
            raise ValueError(f"run {self.id} has no file or folder {prefix!r}")
        os.makedirs(dest, exist_ok=True)
        written = []
        with tempfile.TemporaryDirectory(dir=dest) as tmp:
            handle.download(prefix, tmp)
            for f in names:
                rel = f if append_prefix or not prefix else os.path.relpath(f, prefix)
                target = os.path.join(dest, rel)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.move(os.path.join(tmp, f), target)
                written.append(target)
        return written

    def get_children(self, recursive=False, tags=None, properties=None, type=None,  # noqa: A002
                     status=None, **kwargs):
        """The run's child runs, in creation order: a sweep's trials (docs/sweeps.md); none for
        other runs. `status` keeps only those with that status."""
        handle = self._follow("get_children")
        if self._remote():  # one query for the children (the server filters by parent)
            return iter([self._experiment._run(child) for record, child in handle.children()
                         if status is None or record["status"] == status])
        found = []
        for run in self._experiment.get_runs():
            record = run.get_details()["trainyard"]
            if record.get("parent_id") == self.id:
                if status is None or record["status"] == status:
                    found.append((record.get("trial_index", 0), run))
        found.sort(key=lambda t: t[0])
        return iter([run for _, run in found])

    def register_model(self, name, path, tags=None, properties=None, description=None):
        """Registers `path` in the run's folder (e.g. "outputs/model.pt") as the next version of
        model `name`, with the run's lineage (`trainyard model register --run`); returns the
        trainyard.Model. Only on a handle: inside the training script the run's files are not
        final yet (register after the run ends)."""
        from trainyard.model import Model

        self._follow("register_model")
        return Model.register(self._experiment.workspace, path, name, run=self.id, tags=tags,
                              properties=properties, description=description)


def _number(name, value):
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"metric {name!r}: value must be a number, got {type(value).__name__}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"metric {name!r}: value must be a number, got "
                         f"{type(value).__name__}") from None


def _property_value(text):
    """Properties are stored as JSON text (strings quoted); shown as their values."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str) else text


def _log_files(run_dir):
    logs = os.path.join(run_dir, "logs")
    try:
        return sorted("logs/" + f for f in os.listdir(logs) if f.endswith(".log"))
    except OSError:
        return []


def _log_tail(run_dir, rank, lines=20):
    """The last `lines` lines of the failing rank's log (rank 0's when none is known)."""
    path = os.path.join(run_dir, "logs", f"rank-{rank if rank is not None else 0}.log")
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 65536))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    # Each line is "<ISO time> <out|err> <text>" (targets/log_capture.h): the text is kept.
    tail = [line.split(" ", 2)[2] if line.count(" ") >= 2 else line
            for line in text.splitlines()[-lines:]]
    return "\n".join(tail)
