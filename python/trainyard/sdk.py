"""Submit and follow runs from Python: Workspace, Experiment, job configurations.

    import trainyard
    ws = trainyard.Workspace()                     # $TRAINYARD_WORKSPACE, else ~/.trainyard
    exp = trainyard.Experiment(ws, "digits")
    cfg = trainyard.PyTorch(source_directory="examples/digits", entry_script="train.py",
                            script_params={"--epochs": 3})
    run = exp.submit(cfg)
    run.wait_for_completion(show_output=True)
    run.get_metrics()

Everything goes through trainyard._sdk, the binding of the C++ API (include/trainyard/trainyard.h)
that the CLI also runs: validation, snapshots, supervisors and the workspace are the CLI's own.
Runs (trainyard.Run) are in trainyard/run.py. See docs/sdk.md.
"""

import json
import os

__all__ = ["Command", "Estimator", "Experiment", "PyTorch", "Target", "Workspace", "get_run"]


def _sdk():
    from trainyard import _sdk  # loaded on first use: training scripts never need it

    return _sdk


class Target:
    """A compute target of a workspace: .name, .type, .capacity (concurrent runs), .config."""

    def __init__(self, description):
        self.name = description["name"]
        self.type = description["type"]
        self.capacity = description.get("capacity")
        self.config = description.get("config") or {}

    def __repr__(self):
        return f"Target(name={self.name!r}, type={self.type!r})"


class Workspace:
    """A trainyard workspace: a folder with its SQLite database, runs and snapshots, or a
    workspace on a `trainyard server` (docs/sdk.md "A workspace on a server").

    `path` None means what the CLI uses: $TRAINYARD_WORKSPACE, else ~/.trainyard. The folder is
    created when it does not exist. `url` ("https://host:port"), or a `path` /
    $TRAINYARD_WORKSPACE that is an http(s) URL, names a server instead (a URL is never a
    folder): `token` (default $TRAINYARD_TOKEN) is sent with every request, and nothing is
    created locally. The classes and their methods are the same for both.
    """

    def __init__(self, path=None, url=None, token=None):
        from trainyard import remote

        if url is None and path is not None and remote.is_url(os.fspath(path)):
            url = os.fspath(path)
        elif url is None and path is None and remote.is_url(os.environ.get("TRAINYARD_WORKSPACE")):
            url = os.environ["TRAINYARD_WORKSPACE"]
        if url is not None:
            if path is not None and os.fspath(path) != url:
                raise ValueError(f"Workspace: give a folder (path={path!r}) or a server "
                                 f"(url={url!r}), not both")
            if not remote.is_url(url):
                raise ValueError(f"Workspace(url={url!r}): a server URL starts with http:// or "
                                 "https://")
            self._ws = remote.RemoteWorkspace(url, token)
            return
        if token is not None:
            raise ValueError("Workspace(token=...) is for a server (url=...); a folder "
                             "workspace has no token")
        self._ws = _sdk().Workspace("" if path is None else os.fspath(path))

    @property
    def path(self):
        """The folder, or the server's URL."""
        return self._ws.path

    @property
    def url(self):
        """The server's URL; None for a folder workspace."""
        return self._ws.path if self.is_remote else None

    @property
    def is_remote(self):
        """True for a workspace on a server."""
        return getattr(self._ws, "remote", False)

    @property
    def experiments(self):
        """{name: Experiment} of the experiments that have runs."""
        return {e["name"]: Experiment(self, e["name"]) for e in json.loads(self._ws.experiments_json())}

    @property
    def targets(self):
        """{name: Target}; "local" is always there."""
        return {t["name"]: Target(t) for t in json.loads(self._ws.targets_json())}

    def get_target(self, name):
        """The target `name`; ValueError naming the known ones when there is none."""
        return Target(json.loads(self._ws.target_json(str(name))))

    def add_target(self, name, type="local", **options):  # noqa: A002 - the CLI's word
        """Adds (or replaces) a target, as `trainyard target add NAME --type TYPE -o KEY=VALUE`;
        option values are given as Python values (True becomes "true")."""
        def text(v):
            return str(v).lower() if isinstance(v, bool) else str(v)

        self._ws.add_target(str(name), str(type), {str(k): text(v) for k, v in options.items()})
        return self.get_target(name)

    def remove_target(self, name):
        """Removes target `name`, as `trainyard target remove NAME`; ValueError when there is
        none. Runs that used it keep their records."""
        self._ws.remove_target(str(name))

    def get_run(self, run_id):
        """The run with this id (or a unique prefix of it)."""
        from trainyard.run import Run

        handle = self._ws.get_run(str(run_id))
        details = json.loads(handle.details_json())
        return Run._from_handle(Experiment(self, details["experiment"]), handle)

    def __repr__(self):
        if self.is_remote:
            return f"Workspace(url={self.path!r})"
        return f"Workspace(path={self.path!r})"


class Experiment:
    """The runs of one name in a workspace. `submit` returns a Run at once."""

    _run_class = None  # the Run class submit and get_runs return (azureml's Experiment: its Run)

    def __init__(self, workspace, name):
        if not isinstance(name, str) or not name:
            raise ValueError(f"experiment name must be a non-empty str, got {name!r}")
        self.workspace = workspace
        self.name = name
        self._exp = workspace._ws.experiment(name)

    def _run(self, handle):
        from trainyard.run import Run

        return (self._run_class or Run)._from_handle(self, handle)

    def submit(self, config, tags=None, **kwargs):
        """Validates, snapshots and starts `config` (Estimator, PyTorch, Command); returns its Run
        as soon as it is recorded (Queued)."""
        if kwargs:
            raise TypeError(f"submit() got unexpected keyword arguments: {sorted(kwargs)}")
        job = _as_config(config)
        pairs = [(str(k), "" if v is None else str(v)) for k, v in dict(tags or {}).items()]
        return self._run(self._exp.submit(job._document, job._origin, job._base_dir, pairs))

    def get_runs(self):
        """The experiment's runs, newest first."""
        for handle in self._exp.runs():
            yield self._run(handle)

    def __repr__(self):
        return f"Experiment(name={self.name!r}, workspace={self.workspace.path!r})"


def _as_config(config):
    if isinstance(config, _JobConfig):
        return config
    to_trainyard = getattr(config, "_to_trainyard", None)
    if to_trainyard is not None:
        return to_trainyard()
    raise TypeError(f"cannot submit a {type(config).__name__}: expected a trainyard.Estimator, "
                    "PyTorch or Command (or the azureml ScriptRunConfig / Estimator / PyTorch)")


def _plain(value):
    """A job field as JSON: paths become str, tuples lists; everything else is left for the
    validator to judge (so a wrong type is reported with its field path)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise ValueError(f"a job field cannot hold a {type(value).__name__} ({value!r}): use str, "
                     "int, float, bool, None, lists and dicts")


class _JobConfig:
    """A job description: the keys of a job file as keyword arguments (README "Job files").

    Validated at construction exactly as `trainyard submit` validates a job file (ValueError with
    the same messages, field paths and suggestions); relative paths resolve against the current
    folder at construction.
    """

    _form = None

    def __init__(self, **fields):
        self.fields = {k: _plain(v) for k, v in fields.items()}
        self._origin = f"<{type(self).__name__}>"
        self._base_dir = os.getcwd()
        document = dict(self.fields)
        if self._form == "command" and "command" not in document:
            raise ValueError(f"{self._origin}: command: required field is missing")
        if self._form == "estimator" and "command" in document:
            raise ValueError(f"{self._origin}: command: a field of the command-job form; use "
                             "trainyard.Command for a command job")
        self._document = json.dumps(document, allow_nan=False)
        _sdk().check_job(self._document, self._origin, self._base_dir)

    def dry_run(self, workspace=None, experiment="default"):
        """Validates and plans the job without recording or starting anything: {"plan": {...},
        "interpreter": ...}, what `trainyard submit --dry-run --json` prints."""
        ws = workspace if workspace is not None else Workspace()
        exp = ws._ws.experiment(experiment)
        return json.loads(exp.plan(self._document, self._origin, self._base_dir))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.fields.items())})"


class Estimator(_JobConfig):
    """The estimator form: source_directory, entry_script, script_params, node_count, ..."""

    _form = "estimator"


class PyTorch(Estimator):
    """The estimator form for PyTorch code (the same fields as Estimator)."""


class Command(_JobConfig):
    """The command-job form: code, command, inputs, environment, compute, resources, ..."""

    _form = "command"


def get_run(run_id, workspace=None):
    """The run with this id (or a unique prefix) in `workspace` (a Workspace, a folder or a
    server's URL; None: the default workspace)."""
    if not isinstance(workspace, Workspace):
        workspace = Workspace(workspace)
    return workspace.get_run(run_id)
