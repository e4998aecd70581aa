"""azureml.core.image: the hosted SDK's older deployment flow, on trainyard.

    image_config = ContainerImage.image_configuration(execution_script="score.py",
                                                      runtime="python", conda_file="env.yml")
    service = Webservice.deploy_from_model(ws, "digits", [model], image_config, aci_config)

trainyard builds no container images: an image configuration is what the service runs (the
execution script, from the current folder as the hosted SDK requires, and the conda file's
packages). ContainerImage.create(ws, name, models, image_config) returns an in-memory image for
Webservice.deploy_from_image; looking up stored images (Image(ws, name), Image.list) is refused.
docker_file, schema_file and base_image are accepted and ignored (docs/models-python.md)."""

import os
import warnings

from azureml.exceptions import WebserviceException

__all__ = ["ContainerImage", "ContainerImageConfig", "Image", "ImageConfig"]


class ImageConfig:
    """The base of image configurations."""


class ContainerImageConfig(ImageConfig):
    """execution_script (a file in the current folder, relative, as hosted), runtime ("python";
    "spark-py" refused), conda_file, enable_gpu; the Docker fields are kept and ignored."""

    def __init__(self, execution_script, runtime, conda_file=None, docker_file=None,
                 schema_file=None, dependencies=None, enable_gpu=None, tags=None,
                 properties=None, description=None, base_image=None, base_image_registry=None,
                 allow_absolute_path=False, cuda_version=None):
        self.execution_script = execution_script
        self.runtime = runtime
        self.conda_file = conda_file
        self.docker_file = docker_file
        self.schema_file = schema_file
        self.dependencies = dependencies
        self.enable_gpu = enable_gpu
        self.tags = tags
        self.properties = properties
        self.description = description
        self.base_image = base_image
        self.base_image_registry = base_image_registry
        self.allow_absolute_path = allow_absolute_path
        self.cuda_version = cuda_version
        self.source_directory = os.getcwd()
        self.validate_configuration()

    def validate_configuration(self):
        """WebserviceException as the hosted SDK raises it: no script, an unknown runtime, an
        absolute path (unless allow_absolute_path), a file that does not exist."""
        if not self.execution_script:
            raise WebserviceException("Error, execution_script is required")
        if not self.runtime or str(self.runtime).lower() not in ("python", "spark-py"):
            raise WebserviceException("Provided runtime not supported. Possible runtimes are: "
                                      "python, spark-py")
        if str(self.runtime).lower() == "spark-py":
            raise NotImplementedError("ContainerImage.image_configuration(runtime='spark-py'): "
                                      "Spark is not in trainyard; use runtime='python'")
        for field in ("execution_script", "conda_file", "schema_file"):
            path = getattr(self, field)
            if path is None:
                continue
            if os.path.isabs(path) and not self.allow_absolute_path:
                raise WebserviceException(
                    "Unable to use absolute path for {} \"{}\": give a path relative to the "
                    "current folder (or allow_absolute_path=True)".format(field, path))
            if not os.path.isfile(os.path.join(self.source_directory, path)):
                raise WebserviceException("Error, provided {} \"{}\" does not exist".format(
                    field, path))
        for path in self.dependencies or []:
            if not os.path.exists(os.path.join(self.source_directory, path)):
                raise WebserviceException("Error, provided dependency \"{}\" does not "
                                          "exist".format(path))

    def _inference_config(self):
        """The same service as an InferenceConfig (the current folder is the source)."""
        from azureml.core.model import InferenceConfig

        ignored = [f for f in ("docker_file", "schema_file", "base_image", "cuda_version")
                   if getattr(self, f)]
        if ignored:
            warnings.warn("ContainerImage.image_configuration: {} ignored: trainyard serves "
                          "without Docker".format(", ".join(ignored)), stacklevel=4)
        script = self.execution_script
        if os.path.isabs(script):
            source, script = os.path.dirname(script), os.path.basename(script)
        else:
            source = self.source_directory
        return InferenceConfig(entry_script=script, runtime="python",
                               conda_file=os.path.join(self.source_directory, self.conda_file)
                               if self.conda_file else None,
                               source_directory=source, enable_gpu=self.enable_gpu,
                               description=self.description)

    def __repr__(self):
        return "ContainerImageConfig(execution_script={!r}, runtime={!r}, conda_file={!r})".format(
            self.execution_script, self.runtime, self.conda_file)


class Image:
    """An image made by ContainerImage.create in this process (in memory: trainyard stores no
    images). name, id, version (1), models, image_config, state "Succeeded"."""

    def __init__(self, workspace, name=None, id=None, tags=None, properties=None, version=None):
        raise NotImplementedError(
            "Image(workspace, name): trainyard stores no container images; deploy registered "
            "models with Model.deploy(ws, name, models, InferenceConfig(...)) or "
            "Webservice.deploy_from_model(ws, name, models, image_config)")

    @classmethod
    def _made(cls, workspace, name, models, image_config):
        image = cls.__new__(cls)
        image.workspace = workspace
        image.name = name
        image.version = 1
        image.id = "{}:1".format(name)
        image.models = list(models)
        image.image_config = image_config
        image.tags = dict(getattr(image_config, "tags", None) or {})
        image.properties = dict(getattr(image_config, "properties", None) or {})
        image.description = getattr(image_config, "description", None)
        image.creation_state = "Succeeded"
        image.image_location = None
        return image

    @property
    def state(self):
        return self.creation_state

    @staticmethod
    def image_configuration(execution_script, runtime, conda_file=None, docker_file=None,
                            schema_file=None, dependencies=None, enable_gpu=None, tags=None,
                            properties=None, description=None, base_image=None,
                            base_image_registry=None, cuda_version=None):
        """A ContainerImageConfig (see the module)."""
        return ContainerImageConfig(execution_script, runtime, conda_file, docker_file,
                                    schema_file, dependencies, enable_gpu, tags, properties,
                                    description, base_image, base_image_registry,
                                    cuda_version=cuda_version)

    @staticmethod
    def create(workspace, name, models, image_config):
        """An in-memory image of `models` and `image_config` for
        Webservice.deploy_from_image (nothing is built)."""
        if not isinstance(image_config, ContainerImageConfig):
            raise WebserviceException("image_config: expected "
                                      "ContainerImage.image_configuration(...), got "
                                      "{!r}".format(image_config))
        return ContainerImage._made(workspace, name, models, image_config)

    def wait_for_creation(self, show_output=False):
        if show_output:
            print("Image {}: {} (trainyard builds no image)".format(self.id, self.state))

    def update_creation_state(self):
        pass

    def get_logs(self, decode=True, offset=0):
        return ""

    @staticmethod
    def list(workspace, image_name=None, model_name=None, model_id=None, tags=None,
             properties=None):
        raise NotImplementedError("Image.list: trainyard stores no container images; "
                                  "Webservice.list(ws) lists the services")

    def delete(self):
        pass

    def __repr__(self):
        return "ContainerImage(name={!r}, models={!r})".format(
            self.name, [getattr(m, "id", m) for m in self.models])


class ContainerImage(Image):
    """The hosted ContainerImage: image_configuration(...) and create(...) (see the module)."""
