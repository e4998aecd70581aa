"""Registered models and deployments from Python: trainyard.Model and trainyard.Deployment.

    import trainyard
    ws = trainyard.Workspace()
    model = trainyard.Model.register(ws, "outputs/model.pt", "digits", run=run)   # or a local path
    service = trainyard.deploy(ws, "digits-svc", [model], entry="score.py", source="serve/")
    service.score({"data": [[0.0] * 64]})
    service.delete()

Both run the `trainyard` executable (`trainyard model ...`, `trainyard deploy`, `trainyard
deployment ...`) with argument lists and --json, so the registry and the deployments are the CLI's
own (docs/models-python.md). A command that fails raises CliError with the command's message.
The executable is $TRAINYARD_BIN, else the build tree's (beside this package's build folder), else
`trainyard` on PATH.
"""

import datetime
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

__all__ = ["CliError", "Deployment", "Model", "deploy", "trainyard_executable"]


class CliError(RuntimeError):
    """A `trainyard` command that failed: .message (its stderr), .exit_code, .argv."""

    def __init__(self, message, exit_code=1, argv=None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.argv = list(argv or [])


def trainyard_executable():
    """The `trainyard` program: $TRAINYARD_BIN, else the build tree's build/src/cli/trainyard
    (when this package runs from build/python), else `trainyard` on PATH. FileNotFoundError
    naming the places looked at when there is none."""
    exe = os.environ.get("TRAINYARD_BIN")
    if exe:
        return exe
    build_tree = Path(__file__).resolve().parents[2] / "src" / "cli" / "trainyard"
    if os.access(build_tree, os.X_OK):
        return str(build_tree)
    on_path = shutil.which("trainyard")
    if on_path:
        return on_path
    raise FileNotFoundError("the trainyard executable was not found: set TRAINYARD_BIN, or put "
                            "trainyard on PATH (looked at {})".format(build_tree))


def _workspace_path(workspace):
    if workspace is None:
        return None
    path = getattr(workspace, "path", workspace)
    return os.fspath(path)


def run_cli(workspace, args, cwd=None, timeout=None):
    """Runs `trainyard [--workspace W] ARGS...` and returns its stdout; CliError with its stderr
    when it exits non-zero. `workspace`: a trainyard.Workspace, a folder, or None (the CLI's
    default)."""
    argv = [trainyard_executable()]
    path = _workspace_path(workspace)
    if path is not None:
        argv += ["--workspace", path]
    argv += [str(a) for a in args]
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as error:
        raise CliError("`{}` did not finish in {} s".format(" ".join(argv[1:]), timeout), 124,
                       argv) from error
    out = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise CliError(err or "`{}` exited with status {}".format(" ".join(argv[1:]),
                                                                  proc.returncode),
                       proc.returncode, argv)
    return out


def _json_cli(workspace, args, cwd=None, timeout=None):
    out = run_cli(workspace, list(args) + ["--json"], cwd=cwd, timeout=timeout)
    try:
        return json.loads(out)
    except ValueError as error:
        raise CliError("`trainyard {}` printed no JSON: {!r}".format(" ".join(map(str, args)),
                                                                    out[:200])) from error


def _pairs(flag, values):
    out = []
    for k, v in dict(values or {}).items():
        out += [flag, "{}={}".format(k, "" if v is None else v)]
    return out


def _timestamp(text):
    """An ISO-8601 text as an aware datetime (None when empty or unreadable)."""
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class Model:
    """One registered version of a model (what `trainyard model show NAME:V --json` says).

    Attributes: name, version (int), id ("NAME:VERSION"), digest, path (the registered file or
    folder name), is_dir, files, bytes, description, tags, properties, run_id, experiment,
    run_path, metrics, created_at (datetime), deployments (names), already_registered (after
    register: the same bytes were that version already)."""

    def __init__(self, workspace, document):
        self.workspace = workspace
        self._doc = dict(document)
        d = self._doc
        self.name = d.get("name", "")
        self.version = int(d.get("version") or 0)
        self.id = d.get("id") or "{}:{}".format(self.name, self.version)
        self.digest = d.get("digest", "")
        self.path = d.get("path", "")
        self.is_dir = bool(d.get("is_dir"))
        self.files = d.get("files")
        self.bytes = d.get("bytes")
        self.description = d.get("description") or ""
        self.tags = dict(d.get("tags") or {})
        self.properties = dict(d.get("properties") or {})
        self.run_id = d.get("run_id") or ""
        self.experiment = d.get("experiment") or ""
        self.run_path = d.get("run_path") or ""
        self.metrics = dict(d.get("metrics") or {})
        self.created_at = _timestamp(d.get("created_at"))
        self.deployments = list(d.get("deployments") or [])
        self.already_registered = bool(d.get("already_registered"))

    @classmethod
    def register(cls, workspace, path, name, run=None, tags=None, properties=None,
                 description=None):
        """Registers a local file or folder (or, with `run` a run or run id, a path in the run's
        folder such as "outputs/model.pt") as the next version of `name`. The same bytes as an
        existing version return that version (.already_registered True)."""
        args = ["model", "register", "--name", name, "--path", os.fspath(path)]
        if run is not None:
            args += ["--run", getattr(run, "id", run)]
        args += _pairs("--tag", tags) + _pairs("--property", properties)
        if description:
            args += ["--description", description]
        return cls(workspace, _json_cli(workspace, args))

    @classmethod
    def get(cls, workspace, name, version=None):
        """Version `version` of `name` (None: the latest); CliError when there is none."""
        ref = name if version is None else "{}:{}".format(name, version)
        return cls(workspace, _json_cli(workspace, ["model", "show", ref]))

    @classmethod
    def list(cls, workspace, name=None):
        """Every registered version (of `name` only, when given), by name then version."""
        args = ["model", "list"] + ([name] if name else [])
        return [cls(workspace, d) for d in _json_cli(workspace, args)]

    def local_path(self):
        """The absolute path of this version's read-only file or folder in the workspace
        (`trainyard model path`)."""
        return run_cli(self.workspace, ["model", "path", self.id]).strip()

    def download(self, target_dir="."):
        """Copies this version's file or folder into target_dir; returns the path written.
        CliError when it exists there already."""
        out = run_cli(self.workspace, ["model", "download", self.id, "--dir",
                                       os.path.abspath(os.fspath(target_dir))])
        lines = [line for line in out.splitlines() if line.strip()]
        return lines[-1].strip() if lines else os.path.join(os.fspath(target_dir), self.path)

    def delete(self):
        """Removes this version; CliError naming the deployments while one uses it."""
        run_cli(self.workspace, ["model", "delete", self.id])

    def to_dict(self):
        return dict(self._doc)

    def __repr__(self):
        return "Model(id={!r})".format(self.id)


# Deployment states (the hosted Webservice.state words).
_ENDED = ("Healthy", "Failed")


class Deployment:
    """A deployment: a supervised model server recorded in the workspace (what `trainyard
    deployment show NAME --json` says). Attributes: name, state, scoring_uri, port, models
    ([(name, version)]), entry, error, restarts, created_at, updated_at, log_path."""

    def __init__(self, workspace, document):
        self.workspace = workspace
        self._set(document)

    def _set(self, document):
        d = dict(document)
        self._doc = d
        self.name = d.get("name", "")
        self.state = d.get("state", "")
        self.scoring_uri = d.get("scoring_uri") or ""
        self.port = int(d.get("port") or 0)
        self.models = [(m.get("name"), int(m.get("version") or 0)) for m in d.get("models") or []]
        self.entry = d.get("entry") or ""
        self.error = d.get("error") or ""
        self.restarts = int(d.get("restarts") or 0)
        self.created_at = _timestamp(d.get("created_at"))
        self.updated_at = _timestamp(d.get("updated_at"))
        self.log_path = d.get("logs") or ""

    @classmethod
    def create(cls, workspace, name, models, entry=None, source=None, port=None, host=None,
               batch_size=None, max_batch_delay_ms=None, instances=None, workers=None,
               gpu=False, conda_file=None, pip_packages=None, wait=True, timeout=None):
        """`trainyard deploy NAME --model M...`: models are Model objects or "NAME[:V]" texts;
        `entry` a scoring script relative to `source` (default: the current folder). With
        wait=True returns once the server is ready (CliError with the loader's message when the
        deployment fails); else at once (state Transitioning: see wait())."""
        args = ["deploy", name]
        for m in models:
            args += ["--model", getattr(m, "id", m)]
        cwd = None
        if entry is not None:
            args += ["--entry", os.fspath(entry)]
            source = os.path.abspath(os.fspath(source)) if source is not None else os.getcwd()
            args += ["--source", source]
            cwd = source  # so that a relative entry means the same to every reader
        for flag, value in (("--port", port), ("--host", host), ("--batch-size", batch_size),
                            ("--max-batch-delay-ms", max_batch_delay_ms),
                            ("--instances", instances), ("--workers", workers),
                            ("--conda-file", conda_file), ("--timeout", timeout)):
            if value is not None:
                args += [flag, os.fspath(value) if isinstance(value, os.PathLike) else value]
        if gpu:
            args.append("--gpu")
        for package in pip_packages or []:
            args += ["--pip", package]
        if not wait:
            args.append("--no-wait")
        run_cli(workspace, args + ["--json"], cwd=cwd)
        return cls.get(workspace, name)

    @classmethod
    def get(cls, workspace, name):
        """The deployment `name`; CliError when there is none."""
        return cls(workspace, _json_cli(workspace, ["deployment", "show", name]))

    @classmethod
    def list(cls, workspace):
        return [cls(workspace, d) for d in _json_cli(workspace, ["deployment", "list"])]

    def refresh(self):
        """Reads the deployment's record again (state, port, error...)."""
        self._set(_json_cli(self.workspace, ["deployment", "show", self.name]))
        return self

    def wait(self, timeout=None, poll_seconds=0.2, on_state=None):
        """Waits until the deployment is Healthy or Failed (or `timeout` seconds pass:
        TimeoutError) and returns its state. on_state(state) is called when the state changes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = None
        while True:
            self.refresh()
            if self.state != seen:
                seen = self.state
                if on_state is not None:
                    on_state(self.state)
            if self.state in _ENDED:
                return self.state
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("deployment {} is still {} after {} s".format(
                    self.name, self.state, timeout))
            time.sleep(poll_seconds)

    def logs(self, tail=None):
        """The server's log text (its last `tail` lines)."""
        args = ["deployment", "logs", self.name]
        if tail is not None:
            args += ["--tail", int(tail)]
        return run_cli(self.workspace, args)

    def delete(self):
        """Stops the server and removes the deployment (its models can then be deleted)."""
        run_cli(self.workspace, ["deployment", "delete", self.name])

    def score(self, data, timeout=60):
        """POSTs `data` to the scoring URI (a str or bytes as it is, anything else as JSON) and
        returns the decoded JSON answer. An error answer raises CliError with the server's
        {"error": ...} reason and .exit_code the HTTP status."""
        if not self.scoring_uri:
            self.refresh()
        if not self.scoring_uri:
            raise CliError("deployment {} has no scoring URI yet (state {})".format(
                self.name, self.state))
        return post_json(self.scoring_uri, data, timeout=timeout)

    def to_dict(self):
        return dict(self._doc)

    def __repr__(self):
        return "Deployment(name={!r}, state={!r}, scoring_uri={!r})".format(
            self.name, self.state, self.scoring_uri)


def post_json(url, data, timeout=60):
    """POSTs `data` (str/bytes as they are, else json.dumps) to `url`; the decoded JSON answer
    (the text when it is not JSON). HTTP errors raise CliError(reason, status)."""
    import urllib.error
    import urllib.request

    if isinstance(data, str):
        body = data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray)):
        body = bytes(data)
    else:
        body = json.dumps(data).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        text = error.read().decode("utf-8", "replace")
        try:
            reason = json.loads(text).get("error", text)
        except (ValueError, AttributeError):
            reason = text
        raise CliError("{} answered {}: {}".format(url, error.code, reason), error.code) from None
    except urllib.error.URLError as error:
        raise CliError("{}: {}".format(url, error.reason)) from None
    try:
        return json.loads(text)
    except ValueError:
        return text


def deploy(workspace, name, models, **options):
    """Deployment.create(workspace, name, models, **options)."""
    return Deployment.create(workspace, name, models, **options)
