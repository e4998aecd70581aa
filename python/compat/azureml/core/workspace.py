"""azureml.core.Workspace over a local trainyard workspace (a folder; trainyard.Workspace), or
over a workspace on a `trainyard server`.

Where a hosted workspace lives locally (the mapping, also used by `Workspace(...)` and
`Workspace.get(...)`):

1. the config file's optional key "trainyard_workspace" (a path; relative to the file's folder);
2. else `$TRAINYARD_WORKSPACES/<workspace_name>` (default root: ~/.trainyard/workspaces).

The folder is created on first use, as the trainyard command does with `--workspace DIR`.

Where it is a server instead (nothing is then created locally): the config file's key
"trainyard_url" ("https://host:port"; wins over "trainyard_workspace"), else
$TRAINYARD_WORKSPACE when it is an http(s) URL (for `Workspace(...)`, `Workspace.get(...)` and
`from_config()` alike). The token is the config file's "trainyard_token", else $TRAINYARD_TOKEN
(prefer the variable: a config file is easily committed). So hosted-SDK scripts run unchanged
against a server: Experiment(ws, name).submit(ScriptRunConfig | PyTorch) submits there.
"""

import itertools
import json
import os
import re

import trainyard

from azureml.exceptions import ProjectSystemException, UserErrorException

CONFIG_FILE_NAME = "config.json"
_CONFIG_DIRS = (".azureml", "aml_config", None)  # in the hosted SDK's order of priority
_LEGACY_FILE_NAME = "project.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")

__all__ = ["Workspace"]


def workspaces_root():
    """The folder under which named local workspaces live ($TRAINYARD_WORKSPACES)."""
    root = os.environ.get("TRAINYARD_WORKSPACES")
    if root:
        return os.path.abspath(os.path.expanduser(root))
    return os.path.join(os.path.expanduser("~"), ".trainyard", "workspaces")


def _env_url():
    """$TRAINYARD_WORKSPACE when it names a server."""
    value = os.environ.get("TRAINYARD_WORKSPACE", "")
    return value if value.startswith(("http://", "https://")) else None


def _folder_for(workspace_name):
    if not isinstance(workspace_name, str) or not _NAME.match(workspace_name):
        raise UserErrorException(
            "workspace_name {!r}: a workspace name is 1-255 letters, digits, '-' or '_', "
            "starting with a letter or a digit (it names the folder {}/<workspace_name>)".format(
                workspace_name, workspaces_root()))
    return os.path.join(workspaces_root(), workspace_name)


def _find_config(path, file_name):
    start = os.path.abspath(os.path.expanduser(os.fspath(path) if path is not None else "."))
    if os.path.isfile(start):
        return start
    files = [file_name] if file_name else [CONFIG_FILE_NAME, _LEGACY_FILE_NAME]
    for sub, name in itertools.product(_CONFIG_DIRS, files):
        folder = start
        while True:
            candidate = os.path.join(folder, sub, name) if sub else os.path.join(folder, name)
            if os.path.isfile(candidate):
                return candidate
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    raise UserErrorException(
        "We could not find {0} in: {1} or in its parent directories. Please provide the full "
        "path to the config file or ensure that {0} exists in the parent directories. "
        "(trainyard: write one with Workspace(...).write_config(), or create a workspace with "
        "Workspace.create(name))".format(file_name or CONFIG_FILE_NAME, start))


class Workspace(trainyard.Workspace):
    """A hosted workspace's names over a local trainyard workspace folder (see the module)."""

    def __init__(self, subscription_id=None, resource_group=None, workspace_name=None, auth=None,
                 _location=None, _disable_service_check=False, _workspace_id=None, sku="basic",
                 tags=None, _cloud="AzureCloud", _trainyard_path=None, _trainyard_url=None,
                 _trainyard_token=None):
        if _trainyard_url is None and _trainyard_path is None:
            _trainyard_url = _env_url()
        if _trainyard_url is not None:
            super().__init__(url=_trainyard_url, token=_trainyard_token)
            self._workspace_name = workspace_name or "trainyard"
            self._subscription_id = subscription_id
            self._resource_group = resource_group
            self._tags = dict(tags or {})
            self._sku = sku
            return
        if _trainyard_path is None:
            if workspace_name is None:
                raise UserErrorException(
                    "Workspace(subscription_id, resource_group, workspace_name): workspace_name "
                    "is required (or use Workspace.from_config())")
            _trainyard_path = _folder_for(workspace_name)
        folder = os.path.abspath(os.path.expanduser(os.fspath(_trainyard_path)))
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as error:
            raise UserErrorException(
                "workspace {!r}: cannot create its folder {}: {}".format(
                    workspace_name, folder, error.strerror)) from error
        super().__init__(folder)
        self._workspace_name = workspace_name or os.path.basename(folder.rstrip(os.sep))
        self._subscription_id = subscription_id
        self._resource_group = resource_group
        self._tags = dict(tags or {})
        self._sku = sku

    # ---- finding a workspace ----

    @classmethod
    def from_config(cls, path=None, auth=None, _logger=None, _file_name=None):
        """The workspace named by the first config file found from `path` (default: the current
        folder) upwards: `.azureml/config.json`, then `aml_config/config.json`, then
        `config.json`, each searched up to the root, as the hosted SDK does. `path` may also be
        the file itself. No file: UserErrorException."""
        found = _find_config(path, _file_name)
        try:
            with open(found, encoding="utf-8") as f:
                config = json.load(f)
        except (OSError, ValueError) as error:
            raise UserErrorException("{}: not a workspace config file ({})".format(found, error))
        if not isinstance(config, dict):
            raise UserErrorException("{}: expected a JSON object".format(found))
        name = config.get("workspace_name")
        local = config.get("trainyard_workspace")
        url = config.get("trainyard_url")
        if url is not None and not (isinstance(url, str)
                                    and url.startswith(("http://", "https://"))):
            raise UserErrorException(
                "{}: \"trainyard_url\" must be a server's http(s):// URL, got {!r}".format(
                    found, url))
        if local is None and url is None and not name:
            raise UserErrorException(
                "{}: the config file names no workspace (expected \"workspace_name\", "
                "\"trainyard_workspace\": a folder, or \"trainyard_url\": a server)".format(found))
        print("Found the config file in: {}".format(found))
        if url is not None:
            return cls(config.get("subscription_id"), config.get("resource_group"), name,
                       auth=auth, _trainyard_url=url,
                       _trainyard_token=config.get("trainyard_token"))
        if local is not None:
            local = os.path.join(os.path.dirname(found), os.path.expanduser(str(local)))
        return cls(config.get("subscription_id"), config.get("resource_group"), name, auth=auth,
                   _trainyard_path=local)

    @classmethod
    def get(cls, name, auth=None, subscription_id=None, resource_group=None, location=None,
            cloud="AzureCloud", id=None):
        """The local workspace `name` ($TRAINYARD_WORKSPACES/<name>); ProjectSystemException when
        it has never been created (Workspace.create, from_config or Workspace(...) create it)."""
        if _env_url() is not None:
            return cls(subscription_id, resource_group, name, auth=auth)
        folder = _folder_for(name)
        if not os.path.isdir(folder):
            raise ProjectSystemException(
                "Workspace {!r} not found: no local workspace at {} (create it with "
                "Workspace.create({!r}))".format(name, folder, name))
        return cls(subscription_id, resource_group, name, auth=auth)

    @classmethod
    def create(cls, name, auth=None, subscription_id=None, resource_group=None, location=None,
               create_resource_group=True, sku="basic", tags=None, friendly_name=None,
               storage_account=None, key_vault=None, app_insights=None, container_registry=None,
               adb_workspace=None, cmk_keyvault=None, resource_cmk_uri=None, hbi_workspace=False,
               default_cpu_compute_target=None, default_gpu_compute_target=None,
               private_endpoint_config=None, private_endpoint_auto_approval=True,
               exist_ok=False, show_output=True, user_assigned_identity_for_cmk_encryption=None,
               system_datastores_auth_mode="accessKey", v1_legacy_mode=None):
        """Creates the local workspace folder $TRAINYARD_WORKSPACES/<name> (exist_ok=False: an
        existing one is an error, as hosted)."""
        folder = _folder_for(name)
        if os.path.isdir(folder) and not exist_ok:
            raise UserErrorException(
                "Workspace with name {!r} already exists at {} (pass exist_ok=True to use "
                "it)".format(name, folder))
        ws = cls(subscription_id, resource_group, name, auth=auth, tags=tags)
        if show_output:
            print("Deployed workspace {!r}: local trainyard workspace {}".format(name, ws.path))
        return ws

    @staticmethod
    def list(subscription_id=None, auth=None, resource_group=None):
        """{name: [Workspace]} of the local workspaces under $TRAINYARD_WORKSPACES."""
        root = workspaces_root()
        names = sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n))
                       and _NAME.match(n)) if os.path.isdir(root) else []
        return {n: [Workspace(subscription_id, resource_group, n)] for n in names}

    def write_config(self, path=None, file_name=None):
        """Writes <path or .>/.azureml/<file_name or config.json> with the hosted keys and
        "trainyard_workspace" (this folder), so from_config() finds this workspace again."""
        folder = os.path.join(os.path.abspath(os.fspath(path) if path else "."), ".azureml")
        os.makedirs(folder, exist_ok=True)
        target = os.path.join(folder, file_name or CONFIG_FILE_NAME)
        where = ({"trainyard_url": self.url} if self.is_remote
                 else {"trainyard_workspace": self.path})  # never the token
        with open(target, "w", encoding="utf-8") as f:
            json.dump(dict({"subscription_id": self._subscription_id,
                            "resource_group": self._resource_group,
                            "workspace_name": self._workspace_name}, **where), f, indent=4)
            f.write("\n")
        return target

    # ---- what the hosted workspace answers ----

    @property
    def name(self):
        return self._workspace_name

    @property
    def subscription_id(self):
        return self._subscription_id

    @property
    def resource_group(self):
        return self._resource_group

    @property
    def location(self):
        return self.url if self.is_remote else "local"

    @property
    def sku(self):
        return self._sku

    @property
    def tags(self):
        return dict(self._tags)

    @property
    def discovery_url(self):
        return None

    def get_details(self):
        return {
            "id": self.path,
            "name": self.name,
            "location": self.location,
            "type": "trainyard",
            "subscriptionId": self.subscription_id,
            "resourceGroup": self.resource_group,
            "tags": dict(self._tags),
            "sku": self._sku,
            "trainyardWorkspace": self.path,
        }

    @property
    def experiments(self):
        """{name: azureml.core.Experiment} of this workspace."""
        from azureml.core.experiment import Experiment

        return {name: Experiment(self, name) for name in super().experiments}

    def get_run(self, run_id):
        """The run `run_id` (or a unique prefix), as an azureml.core.Run."""
        from azureml.core.run import Run

        return Run.get(self, run_id)

    @property
    def compute_targets(self):
        """{name: ComputeTarget} for every trainyard target of the workspace ("local" too)."""
        from azureml.core.compute import ComputeTarget

        return {name: ComputeTarget(self, name) for name in self.targets}

    @property
    def datastores(self):
        """{name: Datastore}: the workspace's datastore folders (<workspace>/datastores/*)."""
        from azureml.core.datastore import Datastore

        return Datastore._all(self)

    def get_default_datastore(self):
        """<workspace>/datastores/workspaceblobstore, as an AzureBlobDatastore."""
        from azureml.core.datastore import Datastore

        return Datastore.get_default(self)

    def set_default_datastore(self, name):
        raise NotImplementedError(
            "Workspace.set_default_datastore: the default datastore of a trainyard workspace is "
            "always 'workspaceblobstore' (<workspace>/datastores/workspaceblobstore); use "
            "Datastore.get(ws, name) for another one")

    @property
    def environments(self):
        from azureml.core.environment import Environment

        return Environment.list(self)

    @property
    def models(self):
        """{name: the latest Model of that name} of the workspace's model registry."""
        from azureml.core.model import Model

        return {m.name: m for m in Model.list(self, latest=True)}

    @property
    def webservices(self):
        """{name: Webservice} of the workspace's deployments."""
        from azureml.core.webservice import Webservice

        return {s.name: s for s in Webservice.list(self)}

    @property
    def datasets(self):
        raise NotImplementedError(
            "Workspace.datasets: datasets are not in trainyard; use datastore paths "
            "(ws.get_default_datastore().path(...).as_mount()) as script arguments")

    def get_default_keyvault(self):
        raise NotImplementedError(
            "Workspace.get_default_keyvault: trainyard has no key vault; pass secrets to runs "
            "as environment variables (Environment.environment_variables)")

    def get_mlflow_tracking_uri(self):
        raise NotImplementedError(
            "Workspace.get_mlflow_tracking_uri: trainyard has no MLflow endpoint; log with "
            "Run.get_context().log(...) and read with `trainyard metrics RUN`")

    def delete(self, delete_dependent_resources=False, no_wait=False):
        raise NotImplementedError(
            "Workspace.delete: trainyard does not delete workspaces; remove the folder {} by "
            "hand".format(self.path))

    def __repr__(self):
        return ("Workspace.create(name={!r}, subscription_id={!r}, resource_group={!r}) "
                "[trainyard workspace {}]".format(self.name, self.subscription_id,
                                                  self.resource_group, self.path))
