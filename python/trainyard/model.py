"""Registered models and deployments from Python: trainyard.Model and trainyard.Deployment.

    import trainyard
    ws = trainyard.Workspace()
    model = trainyard.Model.register(ws, "outputs/model.pt", "digits", run=run)   # or a local path
    service = trainyard.deploy(ws, "digits-svc", [model], entry="score.py", source="serve/")
    service.score({"data": [[0.0] * 64]})
    service.delete()

Both call trainyard._sdk, the binding of the C++ registry and deployments (models/registry.h,
runner/deployment.h): the code that `trainyard model ...`, `trainyard deploy` and `trainyard
deployment ...` run, returning the documents their --json prints (docs/models-python.md). An
operation that fails raises CliError with the message (and the exit code) the CLI would give.
A deployment's supervisor is the `trainyard` executable: $TRAINYARD_BIN, else the build tree's.
"""

import datetime
import json
import os
import time

__all__ = ["CliError", "Deployment", "Model", "deploy", "deploy_request", "trainyard_executable"]


class CliError(RuntimeError):
    """A registry or deployment operation that failed: .message (what `trainyard` prints for it:
    "trainyard: REASON"), .exit_code (the CLI's: 2 for an invalid or unknown name, 1 otherwise;
    the HTTP status for a scoring error), .argv (empty; kept for callers of the old form)."""

    def __init__(self, message, exit_code=1, argv=None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.argv = list(argv or [])


def trainyard_executable():
    """The `trainyard` program (for tools and tests; the SDK calls the C++ code itself): the one
    the runner starts supervisors with (runner::TrainyardExe: $TRAINYARD_BIN, else the build
    tree's, else `trainyard` on PATH)."""
    return _binding().trainyard_exe()


def _workspace_path(workspace):
    if workspace is None:
        return None
    path = getattr(workspace, "path", workspace)
    return os.fspath(path)


def _binding():
    from trainyard import _sdk  # loaded on first use, like trainyard.sdk
    return _sdk


def _call(function, *args, **kwargs):
    """Calls a binding function; its errors as CliError with the CLI's message and exit code
    (InvalidArgument and NotFound, which the binding raises as ValueError, are usage errors)."""
    try:
        return function(*args, **kwargs)
    except CliError:
        raise
    except ValueError as error:
        raise CliError("trainyard: {}".format(error), 2) from None
    except (TimeoutError, RuntimeError) as error:
        raise CliError("trainyard: {}".format(error), 1) from None


def _ws(workspace):
    path = _workspace_path(workspace)
    return "" if path is None else path


def _json(function, *args, **kwargs):
    return json.loads(_call(function, *args, **kwargs))


def _texts(values):
    return {str(k): "" if v is None else str(v) for k, v in dict(values or {}).items()}


def _integer(flag, value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CliError("trainyard: {}: {!r} is not an integer".format(flag, value), 2) from None


def deploy_request(name, models, entry=None, source=None, port=None, host=None,
                   batch_size=None, max_batch_delay_ms=None, instances=None, workers=None,
                   gpu=False, conda_file=None, pip_packages=None):
    """The request trainyard._sdk.deploy receives (runner::DeployRequest's fields): models are
    Model objects or "NAME[:V]" texts; `entry` is relative to `source` (default: the current
    folder), which is made absolute, and so is a relative conda_file (against `source` when there
    is an entry, else the current folder). Only what is given is set (the rest: the defaults of
    `trainyard deploy`). Pure: reads no files."""
    request = {"name": str(name), "models": [str(getattr(m, "id", m)) for m in models]}
    base = os.getcwd()
    if entry is not None:
        base = os.path.abspath(os.fspath(source)) if source is not None else base
        request["entry"] = os.fspath(entry)
        request["source"] = base
    elif source is not None:
        request["source"] = os.fspath(source)  # refused by deploy: the folder of an entry
    for key, value in (("port", port), ("batch_size", batch_size),
                       ("max_batch_delay_ms", max_batch_delay_ms), ("instances", instances),
                       ("workers", workers)):
        if value is not None:
            request[key] = _integer("--" + key.replace("_", "-"), value)
    if host is not None:
        request["host"] = str(host)
    if conda_file is not None:
        request["conda_file"] = os.path.join(base, os.fspath(conda_file))
    if gpu:
        request["gpu"] = True
    if pip_packages:
        request["pip"] = [str(p) for p in pip_packages]
    return request


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
        run_id = "" if run is None else str(getattr(run, "id", run))
        return cls(workspace, _json(_binding().model_register, _ws(workspace), str(name),
                                    os.fspath(path), run_id, description or "", _texts(tags),
                                    _texts(properties)))

    @classmethod
    def get(cls, workspace, name, version=None):
        """Version `version` of `name` (None: the latest); CliError when there is none."""
        ref = name if version is None else "{}:{}".format(name, version)
        return cls(workspace, _json(_binding().model_show, _ws(workspace), str(ref)))

    @classmethod
    def list(cls, workspace, name=None):
        """Every registered version (of `name` only, when given), by name then version."""
        return [cls(workspace, d)
                for d in _json(_binding().model_list, _ws(workspace), str(name or ""))]

    def local_path(self):
        """The absolute path of this version's read-only file or folder in the workspace
        (`trainyard model path`)."""
        return _call(_binding().model_path, _ws(self.workspace), self.id)

    def download(self, target_dir="."):
        """Copies this version's file or folder into target_dir; returns the path written.
        CliError when it exists there already."""
        return _call(_binding().model_download, _ws(self.workspace), self.id,
                     os.path.abspath(os.fspath(target_dir)))

    def delete(self):
        """Removes this version; CliError naming the deployments while one uses it."""
        _call(_binding().model_delete, _ws(self.workspace), self.name, self.version)

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
        deployment fails, or when it is not ready after `timeout` seconds, default 600); else at
        once (state Transitioning: see wait())."""
        request = deploy_request(name, models, entry=entry, source=source, port=port, host=host,
                                 batch_size=batch_size, max_batch_delay_ms=max_batch_delay_ms,
                                 instances=instances, workers=workers, gpu=gpu,
                                 conda_file=conda_file, pip_packages=pip_packages)
        deployment = cls(workspace, _json(_binding().deploy, _ws(workspace), request))
        if wait:
            deployment._wait_deployed(600 if timeout is None else float(timeout))
        return deployment

    def _wait_deployed(self, timeout):
        """What `trainyard deploy` does after starting: waits for Healthy; CliError when the
        deployment Failed, is being deleted or is still starting after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.refresh()
            if self.state == "Healthy":
                return
            if self.state == "Failed":
                raise CliError("trainyard: deployment {} failed: {}".format(self.name,
                                                                           self.error), 1)
            if self.state == "Deleting":
                raise CliError("trainyard: deployment {} is being deleted".format(self.name), 1)
            if time.monotonic() >= deadline:
                raise CliError("trainyard: deployment {} is still {} after {} s (it goes on; see "
                               "`trainyard deployment logs {}`)".format(
                                   self.name, self.state, int(timeout), self.name), 1)
            time.sleep(0.2)

    @classmethod
    def get(cls, workspace, name):
        """The deployment `name`; CliError when there is none."""
        return cls(workspace, _json(_binding().deployment_show, _ws(workspace), str(name)))

    @classmethod
    def list(cls, workspace):
        return [cls(workspace, d) for d in _json(_binding().deployment_list, _ws(workspace))]

    def refresh(self):
        """Reads the deployment's record again (state, port, error...)."""
        self._set(_json(_binding().deployment_show, _ws(self.workspace), self.name))
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
        return _call(_binding().deployment_logs, _ws(self.workspace), self.name,
                     0 if tail is None else int(tail))

    def delete(self):
        """Stops the server and removes the deployment (its models can then be deleted)."""
        _call(_binding().deployment_delete, _ws(self.workspace), self.name)

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
