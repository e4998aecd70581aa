"""A workspace on a `trainyard server`: trainyard.Workspace(url=..., token=...).

The classes here stand in for trainyard._sdk's Workspace / Experiment / Run handles (the same
method names and return shapes), so that trainyard.Workspace, Experiment and Run keep one public
API whichever the workspace is. Every call is one or a few requests to the server's /api/v1
(docs/api.md) through _sdk.Client, the binding of the C++ server::Client that the CLI uses too:
a job is validated and parsed here exactly as a local submit does, its source folder uploaded
(only the files the server lacks) and the run started by the server on its own targets.

Nothing is written locally except what download_file(s) is asked to write. Errors are the local
SDK's: ValueError for bad input or a run / file that does not exist (with the server's message),
TimeoutError, RuntimeError; and PermissionError when the server refuses the token,
ConnectionError when it cannot be reached.
"""

import json
import math
import os
import sys
import threading
import time
from urllib.parse import quote, urlencode

__all__ = ["RemoteWorkspace", "RemoteExperiment", "RemoteRun", "is_url"]

_FINAL = ("Completed", "Failed", "Canceled")
_PAGE = 1000  # the API's largest page of runs
_MAX_POINTS = 100000  # the most points one metric series request may ask for


def _sdk():
    from trainyard import _sdk

    return _sdk


def is_url(workspace):
    """True when `workspace` names a server (http:// or https://): a URL is never a folder."""
    return isinstance(workspace, str) and workspace.startswith(("http://", "https://"))


def _q(text):
    return quote(str(text), safe="")


def _number(value):
    """A metric value from the API's JSON: numbers, null for NaN, "Infinity" / "-Infinity"."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        return float(value.replace("Infinity", "inf"))
    return float(value)


class _Connection:
    """The server's URL and token, and one client per thread (server::Client is one per
    thread; the binding also serializes calls on each)."""

    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.token = _sdk().resolve_token(token or "")
        self._local = threading.local()
        self.client()  # a malformed URL is an error here

    def client(self):
        c = getattr(self._local, "client", None)
        if c is None:
            c = _sdk().Client(self.url, self.token)
            self._local.client = c
        return c

    def get(self, path, **params):
        query = {k: v for k, v in params.items() if v is not None}
        if query:
            path += ("&" if "?" in path else "?") + urlencode(query)
        return json.loads(self.client().get_json(path))

    def get_raw_json(self, path, **params):
        """get(), with the body parsed here only: a large reply (every point of a metric) is
        not parsed and re-serialized in C++ first."""
        query = {k: v for k, v in params.items() if v is not None}
        if query:
            path += ("&" if "?" in path else "?") + urlencode(query)
        return json.loads(self.client().get_bytes(path))

    def post(self, path, body=None):
        return json.loads(self.client().post_json(path, json.dumps(body or {})))


class RemoteWorkspace:
    """_sdk.Workspace's methods over GET /api/v1/... of a server."""

    remote = True

    def __init__(self, url, token=None):
        self._conn = _Connection(url, token)
        # One request now, so that a wrong URL or token fails here, like a local workspace that
        # cannot be opened, and not at the first submit.
        self.info = self._conn.get("/api/v1")

    @property
    def path(self):
        return self._conn.url

    def experiment(self, name):
        return RemoteExperiment(self._conn, name)

    def get_run(self, run_id):
        """The run `run_id`, or the one run whose id starts with it (as locally)."""
        try:
            record = self._conn.get(f"/api/v1/runs/{_q(run_id)}")
        except ValueError:
            # A server that only knows full ids: find the prefix among the ids containing it.
            rows = [r for r in _list_runs(self._conn, q=run_id) if r["id"].startswith(run_id)]
            if len(rows) != 1:
                raise
            record = rows[0]
        return RemoteRun(self._conn, record["id"])

    def experiments_json(self):
        return json.dumps(self._conn.get("/api/v1/experiments")["experiments"])

    def targets_json(self):
        return json.dumps(self._conn.get("/api/v1/targets")["targets"])

    def target_json(self, name):
        targets = self._conn.get("/api/v1/targets")["targets"]
        for t in targets:
            if t.get("name") == name:
                return json.dumps(t)
        known = ", ".join(sorted(t.get("name", "?") for t in targets))
        raise ValueError(f"no target named '{name}' on {self.path} (known: {known})")

    def _cli(self, argv):
        """Runs a CLI verb on the server's workspace; ValueError with what it printed when it
        fails."""
        err = []
        code = self._conn.client().run_cli(list(argv),
                                           lambda is_err, text: (err if is_err else []).append(text))
        if code != 0:
            raise ValueError("".join(err).strip() or f"`trainyard {' '.join(argv)}` failed on "
                             f"{self.path} (exit {code})")

    def add_target(self, name, type, options):  # noqa: A002 - the CLI's word
        argv = ["target", "add", name, "--type", type]
        for k, v in options.items():
            argv += ["-o", f"{k}={v}"]
        self._cli(argv)

    def remove_target(self, name):
        self._cli(["target", "remove", name])


class RemoteExperiment:
    """_sdk.Experiment's methods: submit (through the server), runs."""

    def __init__(self, conn, name):
        self._conn = conn
        self.name = name

    def submit(self, document, origin, base_dir, tags):
        record = json.loads(self._conn.client().submit(document, origin, base_dir, self.name,
                                                       list(tags)))
        return RemoteRun(self._conn, record["id"])

    def plan(self, document, origin, base_dir):
        raise NotImplementedError(
            f"{origin}: dry_run plans on the machine that runs the job; against a server, plan "
            "with `trainyard --workspace URL submit JOB --dry-run` or validate only (creating the "
            "configuration already validates it)")

    def runs(self):
        """The experiment's runs, newest first (every page)."""
        return [RemoteRun(self._conn, r["id"]) for r in _list_runs(self._conn, experiment=self.name)]


def _list_runs(conn, **filters):
    out, offset = [], 0
    while True:
        page = conn.get("/api/v1/runs", sort="created_at", order="desc", offset=offset,
                        limit=_PAGE, **filters)
        out += page["runs"]
        offset += len(page["runs"])
        if not page["runs"] or offset >= page["total"]:
            return out


class RemoteRun:
    """_sdk.Run's methods over /api/v1/runs/<id>/..."""

    remote = True

    def __init__(self, conn, run_id):
        self._conn = conn
        self.id = run_id

    def _path(self, tail=""):
        return f"/api/v1/runs/{_q(self.id)}{tail}"

    def record(self):
        return self._conn.get(self._path())

    def details_json(self):
        return json.dumps(self.record())

    def status(self):
        return self.record()["status"]

    # ---- following ----

    def wait(self, _workspace_path=None, show_output=False, timeout=0.0):
        """Waits until the run ends (polling its status; the logs, with show_output, come from
        the server-sent log stream on a thread of their own). The final status."""
        deadline = time.monotonic() + timeout if timeout and timeout > 0 else None
        follower = (_LogFollower(self._conn, self._path("/logs/stream?tail=0"))  # all, as locally
                    if show_output else None)
        try:
            delay = 0.05
            while True:
                status = self.status()
                if status in _FINAL:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"run {self.id} did not end within {timeout:g} s "
                                       f"(status {status})")
                pause = delay if deadline is None else min(delay, deadline - time.monotonic())
                time.sleep(max(pause, 0.0))
                delay = min(delay * 2, 0.5)
            if follower is not None:
                follower.finish()
        finally:
            if follower is not None:
                follower.stop()
        return status

    def cancel(self):
        self._conn.post(self._path("/cancel"))
        deadline = time.monotonic() + 30
        status = self.status()
        while status not in _FINAL and time.monotonic() < deadline:
            time.sleep(0.1)
            status = self.status()
        return status

    def log_tail(self, rank=None, lines=20):
        """The last `lines` lines of the rank's log (rank 0's when None), as the server merges
        them; "" when there is none."""
        query = urlencode({"rank": 0 if rank is None else rank, "tail": lines})
        try:
            data = self._conn.client().get_bytes(self._path(f"/logs?{query}"))
        except (ValueError, RuntimeError):
            return ""
        return data.decode("utf-8", "replace").rstrip("\n")

    # ---- files ----

    def files(self):
        return [f["path"] for f in self._conn.get(self._path("/files"))["files"]]

    def download(self, path, dest_dir):
        """Writes the run's file `path`, or every file under the folder `path` ("" = all), under
        dest_dir at its relative path (what _sdk.Run.download does)."""
        prefix = path.rstrip("/")
        names = [f for f in self.files()
                 if not prefix or f == prefix or f.startswith(prefix + "/")]
        if not names:
            raise ValueError(f"run {self.id} has no file or folder {path!r}")
        for name in names:
            target = os.path.join(dest_dir, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            self._conn.client().download(self._path("/files/" + quote(name, safe="/")), target)

    def file_text(self, name):
        """The run's file `name` as text ("" when it cannot be read)."""
        try:
            data = self._conn.client().get_bytes(self._path("/files/" + quote(name, safe="/")))
        except (ValueError, RuntimeError):
            return ""
        return data.decode("utf-8", "replace")

    # ---- tags, properties ----

    def tags(self):
        return list(self.record().get("tags", {}).items())

    def properties(self):
        return list(self.record().get("properties", {}).items())

    def _read_only(self, what):
        raise NotImplementedError(
            f"{what}: a run on a server ({self._conn.url}) is written from inside it "
            "(Run.get_context() in the training script), not through its handle")

    def tag(self, key, value):
        self._read_only("tag")

    def add_property(self, key, value):
        self._read_only("add_property")

    def log(self, name, value, step=None):
        self._read_only("log")

    def log_list(self, name, values):
        self._read_only("log_list")

    def log_row(self, name, row):
        self._read_only("log_row")

    # ---- metrics ----

    def metric_points(self, name=""):
        """{name: [(step, timestamp_seconds, rank, value)]}, every point, in logging order."""
        return self._points(name, full=True)

    def metric_values(self, name=""):
        """{name: [values]}, every point, in logging order."""
        return {n: [p[3] for p in pts] for n, pts in self._points(name, full=False).items()}

    def rows(self, name=""):
        # Tables (log_row / log_table) have no endpoint on the server yet.
        return {}

    def _points(self, name, full):
        # The tracking endpoint (docs/tracking.md, mounted by the server under
        # /api/v1/tracking) answers every point with its timestamp and rank in logging order;
        # a server that does not give it to this token is read through the chart series
        # (raw when asked for at least as many points as there are).
        try:
            data = self._conn.get_raw_json(f"/api/v1/tracking/v1/runs/{_q(self.id)}/metrics",
                                           name=name or None)
            return {n: [(p["step"], p["ts"] / 1e6, p["rank"], _number(p["value"])) for p in pts]
                    for n, pts in data.items()}
        except (ValueError, PermissionError, RuntimeError):
            pass
        summaries = self._conn.get(self._path("/metrics"))["metrics"]
        out = {}
        for s in summaries:
            if name and s["name"] != name:
                continue
            series = self._conn.get_raw_json(self._path("/metrics/" + _q(s["name"])),
                                             points=min(max(int(s.get("count") or 0), 1),
                                                        _MAX_POINTS))
            if series.get("downsampled"):
                raise RuntimeError(
                    f"run {self.id}: metric {s['name']!r} has {series.get('total')} points, more "
                    f"than the chart series gives ({_MAX_POINTS}); read it with a submit token "
                    "(the tracking endpoint gives every point)")
            out[s["name"]] = [(step, None, None, _number(v))
                              for step, v in zip(series["step"], series["value"])]
        return out

    def children(self):
        """The child runs' list rows (a sweep's trials), in trial order."""
        rows = _list_runs(self._conn, parent=self.id)
        rows.sort(key=lambda r: (r.get("trial_index") or 0))
        return [(r, RemoteRun(self._conn, r["id"])) for r in rows]


class _LogFollower:
    """Prints a run's merged log lines to sys.stdout as the server streams them (a thread with a
    client of its own)."""

    def __init__(self, conn, path):
        self._conn = conn
        self._path = path
        self._stopped = threading.Event()
        self._ended = threading.Event()
        self.error = None
        self._thread = threading.Thread(target=self._run, name="trainyard-logs", daemon=True)
        self._thread.start()

    def _on_event(self, event, data):
        if self._stopped.is_set():
            return False
        if event == "line":
            text = json.loads(data).get("text", "")
            try:
                sys.stdout.write(text + "\n")
                sys.stdout.flush()
            except (OSError, ValueError):
                pass  # a closed or failing stdout does not stop the wait
        elif event == "end":
            self._ended.set()
            return False
        return True

    def _run(self):
        try:
            self._conn.client().follow_events(self._path, self._on_event)
        except Exception as error:  # noqa: BLE001 - reported by finish()
            self.error = error
        finally:
            self._ended.set()

    def finish(self, timeout=30.0):
        """Waits (after the run ended) until the stream has sent everything."""
        self._ended.wait(timeout)
        self._thread.join(1.0)
        if self.error is not None:
            print(f"[trainyard] the run's output could not be followed: {self.error}",
                  file=sys.stderr)

    def stop(self):
        self._stopped.set()
