"""azureml.core.Model and InferenceConfig on a local trainyard workspace (docs/models-python.md).

A Model is one registered version in the workspace's model registry (over trainyard.Model, which
binds the registry that `trainyard model ...` uses): Model.register / run.register_model store a
file or folder as the next version of a name (immutable, content-addressed: the same bytes again
return the existing version), and Model.deploy starts a local deployment (as `trainyard deploy`
does) served by trainyard's C++ server. Errors of the registry are WebserviceException (as the
hosted SDK raises them) carrying trainyard's message.

Model.get_model_path(name) inside a scoring script resolves under AZUREML_MODEL_DIR (with the
list TRAINYARD_MODELS that the server gives its workers), as the hosted service does."""

import json
import os
import shutil
import warnings

import trainyard.model as _ty

from azureml.exceptions import ModelNotFoundException, WebserviceException

__all__ = ["InferenceConfig", "Model", "ModelNotFoundException"]


def _error(error, cls=WebserviceException):
    """A trainyard CliError as the hosted exception (its message kept)."""
    message = getattr(error, "message", str(error))
    if cls is WebserviceException and ("not found" in message or "no model" in message or
                                       "no version" in message):
        cls = ModelNotFoundException
    return cls(message)


def _call(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except _ty.CliError as error:
        raise _error(error) from None


def _matches(values, wanted):
    """The hosted tag/property filter: a list of 'key' or [key, value] (a dict is accepted too)."""
    if not wanted:
        return True
    items = wanted.items() if isinstance(wanted, dict) else wanted
    for item in items:
        if isinstance(item, str):
            if item not in values:
                return False
        else:
            key, value = item
            if values.get(key) != value:
                return False
    return True


class Model:
    """One registered model version: name, id ("name:version"), version, tags, properties,
    description, created_time, run_id, experiment_name, url (its read-only path in the
    workspace), workspace. `Model(ws, name)` is the latest version; `version=` one version;
    `id="name:version"` likewise; tags/properties/run_id filter the versions of `name` (the
    latest match)."""

    class Framework:
        CUSTOM = "Custom"
        PYTORCH = "Pytorch"
        TENSORFLOW = "TensorFlow"
        SCIKITLEARN = "ScikitLearn"
        ONNX = "Onnx"
        TFKERAS = "TfKeras"
        KERAS = "Keras"
        MULTI = "Multi"

    def __init__(self, workspace, name=None, id=None, tags=None, properties=None, version=None,
                 run_id=None, model_framework=None, expand=True, **kwargs):
        if id is not None:
            name, _, text = str(id).partition(":")
            if text:
                try:
                    version = int(text)
                except ValueError:
                    raise WebserviceException("Model id {!r}: expected NAME:VERSION".format(id))
        if not name:
            raise WebserviceException("Model(workspace, name=None, id=None): one of name or id "
                                      "must be provided")
        self.workspace = workspace
        if tags or properties or run_id:
            candidates = [m for m in _call(_ty.Model.list, workspace, name)
                          if (version is None or m.version == int(version))
                          and _matches(m.tags, tags) and _matches(m.properties, properties)
                          and (not run_id or m.run_id == run_id)]
            if not candidates:
                raise ModelNotFoundException(
                    "ModelNotFound: Model with name {} (tags {}, properties {}, run_id {}) not "
                    "found in provided workspace".format(name, tags, properties, run_id))
            self._set(max(candidates, key=lambda m: m.version))
        else:
            self._set(_call(_ty.Model.get, workspace, name, version))

    @classmethod
    def _of(cls, workspace, record):
        model = cls.__new__(cls)
        model.workspace = workspace
        model._set(record)
        return model

    def _set(self, record):
        self._record = record
        self.name = record.name
        self.version = record.version
        self.id = record.id
        self.tags = dict(record.tags)
        self.properties = dict(record.properties)
        self.description = record.description
        self.created_time = record.created_at
        self.run_id = record.run_id or None
        self.experiment_name = record.experiment or None
        self.model_framework = Model.Framework.CUSTOM
        self.model_framework_version = None
        self.created_by = None
        self.mime_type = "application/octet-stream"
        self.unpack = False
        self.parent_id = None
        self.derived_model_ids = []
        self.resource_configuration = None
        self.datasets = {}
        self.sample_input_dataset = None
        self.sample_output_dataset = None

    @property
    def url(self):
        """The read-only path of the registered file or folder in the workspace."""
        return _call(self._record.local_path)

    @property
    def run(self):
        """The run the model was registered from (None for a local file)."""
        if not self.run_id:
            return None
        return self.workspace.get_run(self.run_id)

    # ---- registering and listing ----

    @staticmethod
    def register(workspace, model_path, model_name, tags=None, properties=None,
                 description=None, datasets=None, model_framework=None,
                 model_framework_version=None, child_paths=None, sample_input_dataset=None,
                 sample_output_dataset=None, resource_configuration=None):
        """Registers the local file or folder `model_path` as the next version of `model_name`
        (the same bytes again: that version, said so). model_framework, datasets and
        resource_configuration are accepted and not recorded."""
        if child_paths:
            raise NotImplementedError(
                "Model.register(child_paths=...): trainyard registers the whole file or folder "
                "model_path; copy the files you want into a folder of their own and register "
                "that")
        if not os.path.exists(os.fspath(model_path)):
            raise WebserviceException("Error, provided model path \"{}\" cannot be found".format(
                model_path))
        print("Registering model {}".format(model_name))
        record = _call(_ty.Model.register, workspace, os.path.abspath(os.fspath(model_path)),
                       model_name, tags=tags, properties=properties, description=description)
        return Model._of(workspace, record)

    @staticmethod
    def _register_from_run(run, model_name, model_path, tags, properties, description):
        workspace = run.experiment.workspace
        record = _call(_ty.Model.register, workspace, model_path or model_name, model_name,
                       run=run.id, tags=tags, properties=properties, description=description)
        return Model._of(workspace, record)

    @staticmethod
    def list(workspace, name=None, tags=None, properties=None, run_id=None, latest=False,
             dataset_id=None, expand=True, page_count=255, model_framework=None):
        """The registered versions (of `name`), filtered by tags/properties ('key' or [key,
        value]) and run_id; latest=True keeps the newest version of each name."""
        records = [m for m in _call(_ty.Model.list, workspace, name)
                   if _matches(m.tags, tags) and _matches(m.properties, properties)
                   and (not run_id or m.run_id == run_id)]
        if latest:
            newest = {}
            for m in records:
                if m.name not in newest or m.version > newest[m.name].version:
                    newest[m.name] = m
            records = list(newest.values())
        return [Model._of(workspace, m) for m in records]

    # ---- files ----

    @staticmethod
    def get_model_path(model_name, version=None, _workspace=None):
        """The path of a registered model's file or folder.

        In a scoring process (AZUREML_MODEL_DIR set by the server): the model served there
        (several versions of the name: the highest, or `version`). Elsewhere: the read-only
        copy in `_workspace` (default: the trainyard default workspace). ModelNotFoundException
        when there is none."""
        model_dir = os.environ.get("AZUREML_MODEL_DIR")
        if model_dir:
            found = _served_model_path(model_dir, model_name, version)
            if found is not None:
                return found
            if _workspace is None:
                raise ModelNotFoundException(
                    "Model {}{} not found under AZUREML_MODEL_DIR={} (this service serves: "
                    "{})".format(model_name, "" if version is None else ":{}".format(version),
                                 model_dir, ", ".join(_served_names()) or "no models"))
        record = _call(_ty.Model.get, _workspace, model_name, version)
        return _call(record.local_path)

    def download(self, target_dir=".", exist_ok=False, exists_ok=None):
        """Copies the model's file or folder into target_dir and returns its path; an existing
        one is an error unless exist_ok=True (then it is replaced)."""
        if exists_ok is not None:
            exist_ok = exists_ok
        target = os.path.join(os.path.abspath(os.fspath(target_dir)), self._record.path)
        if os.path.lexists(target):
            if not exist_ok:
                raise WebserviceException("File already exists. To overwrite, set exist_ok to "
                                          "True. {}".format(target))
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            else:
                os.remove(target)
        return _call(self._record.download, target_dir)

    def delete(self):
        """Removes this version (refused while a deployment uses it)."""
        _call(self._record.delete)

    # ---- what a registered (immutable) version cannot do ----

    def _immutable(self, what):
        raise NotImplementedError(
            "Model.{}: a registered trainyard model version is immutable (tags and properties "
            "included); register again with the tags you want (Model.register(..., tags=...)): "
            "the same bytes return the existing version, so change the files or the name".format(
                what))

    def add_tags(self, tags):
        self._immutable("add_tags")

    def remove_tags(self, tags):
        self._immutable("remove_tags")

    def add_properties(self, properties):
        self._immutable("add_properties")

    def update(self, tags=None, description=None, sample_input_dataset=None,
               sample_output_dataset=None, resource_configuration=None):
        self._immutable("update")

    def update_tags_properties(self, add_tags=None, remove_tags=None, add_properties=None):
        self._immutable("update_tags_properties")

    def add_dataset_references(self, datasets):
        self._immutable("add_dataset_references")

    def get_sas_urls(self):
        raise NotImplementedError("Model.get_sas_urls: trainyard has no blob storage; "
                                  "model.download() copies the files")

    @staticmethod
    def package(workspace, models, inference_config=None, generate_dockerfile=False,
                image_name=None, image_label=None):
        raise NotImplementedError("Model.package: trainyard builds no Docker images; "
                                  "Model.deploy serves the models locally")

    @staticmethod
    def profile(workspace, profile_name, models, inference_config, input_dataset,
                cpu=None, memory_in_gb=None, description=None):
        raise NotImplementedError("Model.profile: not in trainyard; see docs/benchmarks.md for "
                                  "measuring a served model (bench/serve_load)")

    # ---- deploying ----

    @staticmethod
    def deploy(workspace, name, models, inference_config=None, deployment_config=None,
               deployment_target=None, overwrite=False, show_output=False):
        """Deploys `models` as the local service `name` and returns its Webservice at once
        (state Transitioning; call wait_for_deployment()). A LocalWebservice deployment config
        gives a LocalWebservice, an ACI one (or none) an AciWebservice, an AKS one an
        AksWebservice: all served on this machine by trainyard. overwrite=True deletes an
        existing service of that name first."""
        from azureml.core.webservice.webservice import Webservice

        return Webservice._deploy(workspace, name, models, inference_config, deployment_config,
                                  deployment_target, overwrite, show_output)

    # ---- (de)serialization ----

    def serialize(self):
        return {"name": self.name, "id": self.id, "version": self.version, "tags": self.tags,
                "properties": self.properties, "description": self.description,
                "createdTime": self.created_time.isoformat() if self.created_time else None,
                "runId": self.run_id, "experimentName": self.experiment_name,
                "framework": self.model_framework, "trainyard": self._record.to_dict()}

    @staticmethod
    def deserialize(workspace, model_payload):
        return Model(workspace, id=model_payload["id"])

    def __repr__(self):
        return "Model(workspace={!r}, name={}, id={}, version={}, tags={}, properties={})".format(
            self.workspace, self.name, self.id, self.version, self.tags, self.properties)


def _served():
    """TRAINYARD_MODELS (set by trainyard's scoring server): [{"name", "version", "path"}]."""
    try:
        models = json.loads(os.environ.get("TRAINYARD_MODELS") or "[]")
    except ValueError:
        return []
    return [m for m in models if isinstance(m, dict) and m.get("name")]


def _served_names():
    return ["{}:{}".format(m["name"], m.get("version")) for m in _served()]


def _served_model_path(model_dir, name, version):
    """The served model's path: from TRAINYARD_MODELS, else by the hosted folder layout
    (<dir>/<name>/<version>/<file> with several models; <dir>/<file> with one, <dir> being
    .../<name>/<version>)."""
    served = [m for m in _served() if m["name"] == name and
              (version is None or str(m.get("version")) == str(version))]
    if served:
        best = max(served, key=lambda m: int(m.get("version") or 0))
        return best["path"]
    if _served():
        return None
    by_name = os.path.join(model_dir, name)
    if os.path.isdir(by_name):
        versions = sorted((v for v in os.listdir(by_name) if v.isdigit()), key=int)
        if version is not None:
            versions = [v for v in versions if int(v) == int(version)]
        if versions:
            folder = os.path.join(by_name, versions[-1])
            entries = os.listdir(folder)
            return os.path.join(folder, entries[0]) if len(entries) == 1 else folder
    parent, this_version = os.path.split(os.path.normpath(model_dir))
    if os.path.basename(parent) == name and (version is None or this_version == str(version)):
        entries = os.listdir(model_dir) if os.path.isdir(model_dir) else []
        return os.path.join(model_dir, entries[0]) if len(entries) == 1 else model_dir
    return None


_RUNTIMES = ("python", "spark-py")
_DOCKER_ONLY = ("extra_docker_file_steps", "base_image", "base_image_registry", "cuda_version")


class InferenceConfig:
    """How a service scores: entry_script (init() and run(raw_data); relative to
    source_directory, default the current folder) and its Python packages (environment, or
    conda_file). Without an entry script every model is a TorchScript model served by
    trainyard's C++ engine. enable_gpu serves on the GPU. Docker fields (base_image,
    extra_docker_file_steps, ...) are accepted and ignored: trainyard runs no containers."""

    def __init__(self, entry_script=None, runtime=None, conda_file=None,
                 extra_docker_file_steps=None, source_directory=None, enable_gpu=None,
                 description=None, base_image=None, base_image_registry=None, cuda_version=None,
                 environment=None):
        self.entry_script = entry_script
        self.runtime = runtime
        self.conda_file = conda_file
        self.extra_docker_file_steps = extra_docker_file_steps
        self.source_directory = source_directory
        self.enable_gpu = enable_gpu
        self.description = description
        self.base_image = base_image
        self.base_image_registry = base_image_registry
        self.cuda_version = cuda_version
        self.environment = environment
        self.validate_configuration()

    def validate_configuration(self):
        """WebserviceException for a configuration the hosted SDK also refuses: an unknown
        runtime, an environment given together with runtime/conda_file/Docker fields, an entry
        script or conda file that does not exist."""
        if self.environment is not None:
            clash = [f for f in ("runtime", "conda_file", "enable_gpu") + _DOCKER_ONLY
                     if getattr(self, f)]
            if clash:
                raise WebserviceException(
                    "InferenceConfig: environment cannot be given together with {} (put them "
                    "in the Environment)".format(", ".join(clash)))
        elif self.entry_script is not None and self.runtime is None:
            self.runtime = "python"
        if self.runtime is not None and str(self.runtime).lower() not in _RUNTIMES:
            raise WebserviceException("Provided runtime not supported. Possible runtimes are: "
                                      "{}".format(", ".join(_RUNTIMES)))
        if self.runtime is not None and str(self.runtime).lower() == "spark-py":
            raise NotImplementedError("InferenceConfig(runtime='spark-py'): Spark is not in "
                                      "trainyard; use runtime='python'")
        if self.source_directory is not None and not os.path.isdir(self.source_directory):
            raise WebserviceException("Error, source_directory {} does not exist or is not a "
                                      "folder".format(self.source_directory))
        if self.entry_script is not None:
            if not os.path.isfile(self._entry_path()):
                raise WebserviceException("Error, provided entry_script \"{}\" does not exist "
                                          "(looked at {})".format(self.entry_script,
                                                                  self._entry_path()))
        if self.conda_file is not None and not os.path.isfile(self._in_source(self.conda_file)):
            raise WebserviceException("Error, provided conda_file \"{}\" does not exist".format(
                self.conda_file))

    def _source(self):
        return os.path.abspath(os.fspath(self.source_directory or "."))

    def _in_source(self, path):
        path = os.fspath(path)
        return path if os.path.isabs(path) else os.path.join(self._source(), path)

    def _entry_path(self):
        return self._in_source(self.entry_script)

    def _trainyard_options(self, workspace, name):
        """trainyard.Deployment.create keyword arguments for this configuration."""
        ignored = [f for f in _DOCKER_ONLY if getattr(self, f)]
        if ignored:
            warnings.warn("InferenceConfig: {} ignored: trainyard serves without Docker".format(
                ", ".join(ignored)), stacklevel=3)
        options = {}
        if self.entry_script is not None:
            source = self._source()
            entry = os.path.relpath(self._entry_path(), source)
            if entry.startswith(".."):
                raise WebserviceException("InferenceConfig: entry_script {} is outside "
                                          "source_directory {}".format(self.entry_script, source))
            options.update(entry=entry, source=source)
        if self.enable_gpu:
            options["gpu"] = True
        if self.conda_file is not None:
            options["conda_file"] = os.path.abspath(self._in_source(self.conda_file))
        if self.environment is not None:
            options.update(_environment_options(self.environment, workspace, name))
        return options

    def __repr__(self):
        return "InferenceConfig(entry_script={!r}, runtime={!r}, source_directory={!r}, " \
               "environment={!r})".format(self.entry_script, self.runtime,
                                          self.source_directory,
                                          getattr(self.environment, "name", None))


def _environment_options(environment, workspace, name):
    """An Environment's packages as deploy options: pip packages -> pip_packages; conda
    packages -> a conda file kept at <workspace>/azureml/webservices/<name>.conda.yml."""
    try:
        fields = environment._trainyard_fields()
    except NotImplementedError as error:
        raise WebserviceException(str(error)) from None
    options = {}
    if fields.get("pip_packages"):
        options["pip_packages"] = list(fields["pip_packages"])
    if fields.get("conda_packages"):
        folder = os.path.join(workspace.path, "azureml", "webservices")
        os.makedirs(folder, exist_ok=True)
        deps = environment.python.conda_dependencies
        options["conda_file"] = deps.save(os.path.join(folder, name + ".conda.yml"))
        options.pop("pip_packages", None)  # the conda file lists them
    if fields.get("python"):
        warnings.warn("Environment {!r}: python.interpreter_path is ignored for a service (it "
                      "runs on trainyard's interpreter with the packages listed)".format(
                          environment.name), stacklevel=4)
    return options

