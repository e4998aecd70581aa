"""azureml.core.webservice.Webservice: a deployed service, over trainyard.Deployment (the
deployments of `trainyard deploy` and `trainyard deployment ...`). Every service runs on this machine, served by trainyard's
C++ server (docs/models-python.md); LocalWebservice, AciWebservice and AksWebservice differ only
in their deployment configuration's names.

What trainyard's deployment record does not hold (the hosted compute type, tags, properties,
description) is kept beside it in <workspace>/azureml/webservices/<name>.json."""

import json
import os
import re
import warnings

import trainyard.model as _ty

from azureml.exceptions import WebserviceException

__all__ = ["Webservice", "WebserviceDeploymentConfiguration"]

_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
_TYPES = {}  # compute type ("Local", "ACI", "AKS") -> its Webservice subclass


def _call(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except _ty.CliError as error:
        raise WebserviceException(error.message) from None


def _sidecar_path(workspace, name):
    return os.path.join(workspace.path, "azureml", "webservices", name + ".json")


def _read_sidecar(workspace, name):
    try:
        with open(_sidecar_path(workspace, name), encoding="utf-8") as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_sidecar(workspace, name, doc):
    path = _sidecar_path(workspace, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
    os.replace(tmp, path)


def _remove_sidecar(workspace, name):
    for suffix in (".json", ".conda.yml"):
        try:
            os.remove(os.path.join(workspace.path, "azureml", "webservices", name + suffix))
        except OSError:
            pass


def check_service_name(name):
    """The hosted rule: 3-32 characters, lowercase letters, digits and '-', starting with a
    letter and ending with a letter or a digit. WebserviceException otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise WebserviceException(
            "Error, provided service name {!r} is invalid. It must only consist of lowercase "
            "letters, numbers, or dashes, start with a letter, end with a letter or number, and "
            "be between 3 and 32 characters long.".format(name))


class WebserviceDeploymentConfiguration:
    """The base of the deployment configurations: what trainyard takes from them
    (_trainyard_options) and the service class they give."""

    _webservice_type = "Local"

    def __init__(self, tags=None, properties=None, description=None):
        self.tags = tags
        self.properties = properties
        self.description = description

    def validate_configuration(self):
        pass

    def print_deploy_configuration(self):
        print(json.dumps({k: v for k, v in vars(self).items() if v is not None}, indent=2,
                         default=str))

    def _trainyard_options(self, has_entry):
        return {}

    def __repr__(self):
        return "{}({})".format(type(self).__name__, ", ".join(
            "{}={!r}".format(k, v) for k, v in vars(self).items() if v is not None))


class Webservice:
    """A deployed service: name, state ("Transitioning", "Healthy", "Unhealthy", "Failed"),
    scoring_uri, swagger_uri (None), compute_type, port, error, tags, properties, description,
    created_time, updated_time. `Webservice(ws, name)` opens an existing one (as the class it
    was deployed as)."""

    _webservice_type = None

    def __new__(cls, workspace=None, name=None, *args, **kwargs):
        if cls is Webservice and workspace is not None and name is not None:
            kind = _read_sidecar(workspace, name).get("compute_type", "Local")
            cls = _TYPES.get(kind, cls)
        return super().__new__(cls)

    def __init__(self, workspace, name, *args, **kwargs):
        self.workspace = workspace
        self.name = name
        deployment = _call_not_found(workspace, name)
        self._set(deployment)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls._webservice_type:
            _TYPES[cls._webservice_type] = cls

    def _set(self, deployment):
        self._deployment = deployment
        side = _read_sidecar(self.workspace, deployment.name)
        self.name = deployment.name
        self.tags = side.get("tags") or {}
        self.properties = side.get("properties") or {}
        self.description = side.get("description")
        self.compute_type = self._webservice_type or side.get("compute_type", "Local")
        self.created_time = deployment.created_at
        self.updated_time = deployment.updated_at
        self.image_id = None
        self.auth_enabled = False
        self.token_auth_enabled = False

    @property
    def state(self):
        return self._deployment.state

    @property
    def scoring_uri(self):
        return self._deployment.scoring_uri or None

    @property
    def swagger_uri(self):
        return None

    @property
    def port(self):
        return self._deployment.port or None

    @property
    def error(self):
        return self._deployment.error or None

    @property
    def models(self):
        """The served models ("name:version" ids)."""
        return ["{}:{}".format(n, v) for n, v in self._deployment.models]

    # ---- finding services ----

    @staticmethod
    def list(workspace, compute_type=None, image_name=None, image_id=None, model_name=None,
             model_id=None, tags=None, properties=None, image_digest=None):
        """The workspace's services, filtered by compute_type ("Local", "ACI", "AKS"), a served
        model (model_name, model_id "name:version") and tags ('key' or [key, value])."""
        from azureml.core.model import _matches

        out = []
        for deployment in _call(_ty.Deployment.list, workspace):
            service = Webservice.__new__(Webservice, workspace, deployment.name)
            service.workspace = workspace
            service._set(deployment)
            if compute_type and service.compute_type.upper() != str(compute_type).upper():
                continue
            if model_name and model_name not in [n for n, _ in deployment.models]:
                continue
            if model_id and model_id not in service.models:
                continue
            if not _matches(service.tags, tags) or not _matches(service.properties, properties):
                continue
            out.append(service)
        return out

    # ---- deploying ----

    @staticmethod
    def deploy_configuration(*args, **kwargs):
        raise NotImplementedError("Webservice.deploy_configuration: call it on LocalWebservice, "
                                  "AciWebservice or AksWebservice")

    @staticmethod
    def deploy_from_model(workspace, name, models, image_config, deployment_config=None,
                          deployment_target=None, overwrite=False):
        """The older flow: deploys registered `models` with a ContainerImage.image_configuration
        (its execution_script from the current folder, conda_file, enable_gpu)."""
        inference_config = image_config._inference_config() if hasattr(
            image_config, "_inference_config") else image_config
        return Webservice._deploy(workspace, name, models, inference_config, deployment_config,
                                  deployment_target, overwrite, False)

    @staticmethod
    def deploy(workspace, name, model_paths, image_config, deployment_config=None,
               deployment_target=None, overwrite=False):
        """Registers each local path in model_paths (named after its file or folder), then
        deploy_from_model."""
        from azureml.core.model import Model

        models = [Model.register(workspace, p, os.path.basename(os.path.normpath(os.fspath(p))))
                  for p in model_paths]
        return Webservice.deploy_from_model(workspace, name, models, image_config,
                                            deployment_config, deployment_target, overwrite)

    @staticmethod
    def deploy_from_image(workspace, name, image, deployment_config=None, deployment_target=None,
                          overwrite=False):
        """Deploys a ContainerImage.create(...) result (its models and image configuration)."""
        return Webservice.deploy_from_model(workspace, name, image.models, image.image_config,
                                            deployment_config, deployment_target, overwrite)

    @staticmethod
    def _deploy(workspace, name, models, inference_config, deployment_config, deployment_target,
                overwrite, show_output):
        from azureml.core.webservice.aci import AciWebservice

        check_service_name(name)
        if not models and inference_config is None:
            raise WebserviceException("Error, no models and no inference_config: nothing to "
                                      "serve")
        if deployment_config is None:
            deployment_config = AciWebservice.deploy_configuration()
        if not isinstance(deployment_config, WebserviceDeploymentConfiguration):
            raise WebserviceException("deployment_config: expected the result of "
                                      "LocalWebservice/AciWebservice/AksWebservice."
                                      "deploy_configuration(), got {!r}".format(deployment_config))
        deployment_config.validate_configuration()
        cls = _TYPES[deployment_config._webservice_type]
        cls._say_served_locally()
        options = {}
        if inference_config is not None:
            options.update(inference_config._trainyard_options(workspace, name))
        options.update(deployment_config._trainyard_options("entry" in options))
        ids = [m if isinstance(m, str) else m.id for m in models]
        if overwrite:
            try:
                _ty.Deployment.get(workspace, name)
            except _ty.CliError:
                pass
            else:
                if show_output:
                    print("Deleting the existing service {}".format(name), flush=True)
                _call(_ty.Deployment.get(workspace, name).delete)
        side = {"compute_type": deployment_config._webservice_type,
                "tags": dict(deployment_config.tags or {}),
                "properties": dict(deployment_config.properties or {}),
                "description": deployment_config.description or getattr(
                    inference_config, "description", None)}
        deployment = _call(_ty.Deployment.create, workspace, name, ids, wait=False, **options)
        _write_sidecar(workspace, name, side)
        service = cls.__new__(cls)
        service.workspace = workspace
        service._set(deployment)
        if show_output:
            print("Deploying {} as {} ({}): {}".format(", ".join(ids), name, cls.__name__,
                                                      service.state), flush=True)
        return service

    @classmethod
    def _say_served_locally(cls):
        pass

    # ---- following a service ----

    def update_deployment_state(self):
        """Reads the service's state again."""
        self._set(_call(self._deployment.refresh))

    def wait_for_deployment(self, show_output=False, timeout_sec=None):
        """Waits until the service is Healthy or Failed. Failed (or still not Healthy after
        timeout_sec): WebserviceException with the service's error and last log lines."""
        def on_state(state):
            if show_output:
                print("{} service {}: {}".format(self.compute_type, self.name, state),
                      flush=True)

        try:
            self._deployment.wait(timeout=timeout_sec, on_state=on_state)
        except TimeoutError:
            raise WebserviceException(
                "Deployment polling for {} did not reach a terminal state within {} seconds "
                "(current state {}). Check get_logs().".format(self.name, timeout_sec,
                                                              self._deployment.state)) from None
        except _ty.CliError as error:
            raise WebserviceException(error.message) from None
        self._set(self._deployment)
        if self.state != "Healthy":
            logs = self._log_tail(20)
            raise WebserviceException(
                "Service deployment polling reached non-successful terminal state, current "
                "service state: {}\nError:\n{}\n{}".format(
                    self.state, self.error or "(none recorded)",
                    "Last log lines:\n" + logs if logs else ""))
        if show_output:
            print("{} service creation operation finished, operation \"Succeeded\"".format(
                self.compute_type), flush=True)

    def _log_tail(self, lines):
        try:
            return self._deployment.logs(tail=lines).rstrip()
        except _ty.CliError:
            return ""

    def run(self, input_data):
        """POSTs input_data (a JSON text, or any JSON value) to scoring_uri and returns the
        decoded answer. An error answer raises WebserviceException with its status and
        reason."""
        if not self.scoring_uri:
            self.update_deployment_state()
        if not self.scoring_uri:
            raise WebserviceException("Error attempting to call webservice {}: it has no "
                                      "scoring URI yet (state {})".format(self.name, self.state))
        try:
            return _ty.post_json(self.scoring_uri, input_data)
        except _ty.CliError as error:
            raise WebserviceException(
                "Received bad response from service. More information can be found by calling "
                ".get_logs() on the webservice object.\nResponse Code: {}\nContent: {}".format(
                    error.exit_code, error.message)) from None

    def get_logs(self, num_lines=5000, init=False):
        """The server's log (its last num_lines lines)."""
        return _call(self._deployment.logs, tail=num_lines)

    def delete(self, *args, **kwargs):
        """Stops the service and removes it (its models can then be deleted)."""
        _call(self._deployment.delete)
        _remove_sidecar(self.workspace, self.name)
        self._deployment.state = "Deleting"

    def update(self, *args, **kwargs):
        raise NotImplementedError(
            "{}.update: a trainyard service is not changed in place; deploy it again with "
            "Model.deploy(..., overwrite=True)".format(type(self).__name__))

    def get_keys(self):
        raise WebserviceException(
            "Error, keys are only available for services with auth enabled: trainyard's "
            "services run on this machine and take no key (send requests without one)")

    def regen_key(self, key, set_key=None):
        self.get_keys()

    def get_token(self):
        raise WebserviceException("Error, token auth is not enabled: trainyard's services run "
                                  "on this machine and take no token")

    get_access_token = get_token

    def serialize(self):
        return {"name": self.name, "computeType": self.compute_type, "state": self.state,
                "scoringUri": self.scoring_uri, "swaggerUri": None, "tags": self.tags,
                "properties": self.properties, "description": self.description,
                "error": self.error, "models": self.models,
                "createdTime": self.created_time.isoformat() if self.created_time else None,
                "trainyard": self._deployment.to_dict()}

    def __repr__(self):
        return "{}(workspace={!r}, name={}, image_id=None, compute_type={}, state={}, " \
               "scoring_uri={}, tags={}, properties={})".format(
                   type(self).__name__, self.workspace, self.name, self.compute_type,
                   self.state, self.scoring_uri, self.tags, self.properties)


def _call_not_found(workspace, name):
    try:
        return _ty.Deployment.get(workspace, name)
    except _ty.CliError as error:
        raise WebserviceException("WebserviceNotFound: Webservice with name {} not found in "
                                  "provided workspace ({})".format(name, error.message)) from None


def _warn_once(cls, text):
    """Says `text` once per process for `cls` (a UserWarning)."""
    if getattr(cls, "_said", False):
        return
    cls._said = True
    warnings.warn(text, UserWarning, stacklevel=4)
