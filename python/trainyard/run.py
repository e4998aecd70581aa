"""The run context used inside training scripts (a thin layer over trainyard._core)."""

import atexit
import os
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


class Experiment:
    """The experiment a run belongs to (`run.experiment.name`)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"Experiment(name={self.name!r})"


class Run:
    """The current run, as seen from inside its training script.

    Get it with Run.get_context(). Values are checked at the call (bad names or values raise
    ValueError naming the metric), buffered, and sent by a background thread; flush() waits until
    everything logged so far is stored. Outside trainyard the run is offline: values are printed
    and kept in memory (get_metrics works), and nothing is an error.
    """

    def __init__(self, recorder):
        """Internal: use Run.get_context()."""
        self._recorder = recorder
        name = recorder.experiment or ("offline" if recorder.offline else "")
        self._experiment = Experiment(name)

    @classmethod
    def get_context(cls):
        """The run of this process (one per process; created from the environment on first use)."""
        global _atexit_registered
        with _lock:
            run = _contexts.get(cls)
            if run is None:
                run = cls(_core.current())
                _contexts[cls] = run
                if not _atexit_registered:
                    atexit.register(_flush_at_exit)
                    _atexit_registered = True
            return run

    # ---- identity ----

    @property
    def id(self):
        """The run id ("OfflineRun_..." for an offline run)."""
        return self._recorder.run_id

    @property
    def experiment(self):
        return self._experiment

    @property
    def rank(self):
        return self._recorder.rank

    @property
    def offline(self):
        return self._recorder.offline

    def __repr__(self):
        return f"Run(id={self.id!r}, experiment={self._experiment.name!r})"

    # ---- metrics ----

    def log(self, name, value, step=None, description=""):
        """Logs one value of metric `name` (a number; NaN and ±Inf are kept as such).

        `step` defaults to the next index for this name in this process.
        """
        self._recorder.log(name, value, step, description)

    def log_list(self, name, values):
        """Logs each of `values` as a point of metric `name`, at consecutive steps."""
        self._recorder.log_list(name, values)

    def log_row(self, name, /, **columns):
        """Logs one row of table `name`: log_row("epochs", epoch=3, loss=0.2, note="ok")."""
        self._recorder.log_row(name, columns)

    def log_table(self, name, value):
        """Logs table `name` from {column: [values]}, one row per index."""
        if not isinstance(value, dict):
            raise ValueError(f"table {name!r}: expected a dict of column -> list of values")
        self._recorder.log_table(name, value)

    def log_image(self, name, path=None, plot=None):
        """Logs a PNG image from a file (`path`) or a matplotlib figure (`plot`)."""
        if (path is None) == (plot is None):
            raise ValueError(f"image {name!r}: give exactly one of path= or plot=")
        if path is not None:
            self._recorder.log_image(name, os.fspath(path))
            return
        fd, tmp = tempfile.mkstemp(prefix="trainyard-", suffix=".png")
        os.close(fd)
        try:
            plot.savefig(tmp, format="png")
            self._recorder.log_image(name, tmp)  # read before it returns
        finally:
            os.unlink(tmp)

    def get_metrics(self, name=None, full=False):
        """The run's metrics: {name: [values]} (all ranks; online, after a flush).

        With full=True each point is a dict with step, timestamp (seconds since the epoch), rank
        and value; get_metrics(name, full=True) returns that list for one metric.
        """
        data = self._recorder.get_metrics(name)
        if not full:
            return {n: [p[3] for p in points] for n, points in data.items()}
        series = {
            n: [{"step": s, "timestamp": ts / 1e6, "rank": r, "value": v} for s, ts, r, v in points]
            for n, points in data.items()
        }
        if name is not None:
            return series.get(name, [])
        return series

    # ---- tags, properties, files ----

    def tag(self, key, value=None):
        """Sets tag `key` (to `value`, converted to str, or to no value)."""
        self._recorder.tag(key, None if value is None else str(value))

    def set_tags(self, tags):
        """Sets several tags at once (all or nothing)."""
        self._recorder.set_tags({k: None if v is None else str(v) for k, v in dict(tags).items()})

    def get_tags(self):
        """The tags set in this process: {key: value or None}."""
        return self._recorder.get_tags()

    def add_properties(self, properties):
        """Adds properties (values converted to str)."""
        self._recorder.add_properties({k: str(v) for k, v in dict(properties).items()})

    def upload_file(self, name, path):
        """Uploads a local file (≤ 5 GB) as the run's file `name`; waits until it is stored."""
        self._recorder.upload_file(name, os.fspath(path))

    def upload_folder(self, name, path):
        """Uploads every file under `path` as `name/<relative path>`."""
        self._recorder.upload_folder(name, os.fspath(path))

    def flush(self, timeout=30.0):
        """Waits until everything logged so far is stored (RuntimeError after `timeout` s)."""
        self._recorder.flush(float(timeout))
