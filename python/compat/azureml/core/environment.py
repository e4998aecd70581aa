"""azureml.core.Environment on trainyard: Python packages and environment variables for a run.

A job runs on trainyard's interpreter (README "Python environments"): `python.conda_dependencies`
gives the job's pip_packages / conda_packages, `python.user_managed_dependencies=True` runs
`python.interpreter_path` as it is, `environment_variables` are the job's. Docker is not in
trainyard: an environment with `docker.enabled = True` (or a base Dockerfile) is refused when a
run is submitted. `register` keeps the environment in the workspace
(<workspace>/azureml/environments/<name>/<version>.json); curated "AzureML-*PyTorch*" names map
to trainyard's interpreter as it is (it holds PyTorch and torchvision)."""

import copy
import json
import os

from azureml.core.conda_dependencies import CondaDependencies
from azureml.exceptions import UserErrorException

__all__ = ["Environment", "PythonSection", "DockerSection", "SparkSection"]

DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/base:intelmpi2018.3-ubuntu16.04"
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/base-gpu:intelmpi2018.3-cuda10.0-cudnn7-ubuntu16.04"


class PythonSection:
    def __init__(self):
        self.user_managed_dependencies = False
        self.interpreter_path = "python"
        self.conda_dependencies_file = None
        self.conda_dependencies = CondaDependencies()
        self.base_conda_environment = None


class DockerSection:
    def __init__(self):
        self.enabled = False
        self.base_image = DEFAULT_CPU_IMAGE
        self.base_dockerfile = None
        self.base_image_registry = None
        self.shared_volumes = True
        self.shm_size = None
        self.arguments = []
        self.gpu_support = False


class SparkSection:
    def __init__(self):
        self.repositories = []
        self.packages = []
        self.precache_packages = True


def _environments_folder(workspace):
    return os.path.join(workspace.path, "azureml", "environments")


class Environment:
    """A named Python environment and environment variables (see the module)."""

    def __init__(self, name, **kwargs):
        if not name or not isinstance(name, str):
            raise UserErrorException("Environment(name): a non-empty name is required")
        self.name = name
        self.version = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self.spark = SparkSection()
        self.environment_variables = {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"}
        self.inferencing_stack_version = None

    # ---- constructors ----

    @staticmethod
    def from_conda_specification(name, file_path):
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies(file_path)
        return env

    @staticmethod
    def from_pip_requirements(name, file_path, pip_version=None):
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies._from_pip_requirements(file_path)
        return env

    @staticmethod
    def from_existing_conda_environment(name, conda_environment_name):
        raise NotImplementedError(
            "Environment.from_existing_conda_environment: trainyard builds conda environments "
            "from package lists; export yours (`conda env export`) and use "
            "Environment.from_conda_specification, or set python.user_managed_dependencies = "
            "True and python.interpreter_path to its python")

    @staticmethod
    def from_dockerfile(name, dockerfile, conda_specification=None, pip_requirements=None):
        raise NotImplementedError(
            "Environment.from_dockerfile: Docker is not in trainyard; runs use trainyard's "
            "interpreter with pip_packages/conda_packages (Environment.from_pip_requirements)")

    from_docker_image = from_dockerfile

    # ---- the workspace ----

    def register(self, workspace):
        """Keeps this environment in the workspace as the next version of its name."""
        folder = os.path.join(_environments_folder(workspace), self.name)
        os.makedirs(folder, exist_ok=True)
        versions = [int(f[:-5]) for f in os.listdir(folder)
                    if f.endswith(".json") and f[:-5].isdigit()]
        registered = copy.deepcopy(self)
        registered.version = str(max(versions, default=0) + 1)
        tmp = os.path.join(folder, ".{}.json.tmp".format(registered.version))
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(registered._serialize(), f, indent=2)
        os.replace(tmp, os.path.join(folder, registered.version + ".json"))
        return registered

    @staticmethod
    def get(workspace, name, version=None, label=None):
        """The registered environment `name` (its latest version, or `version`)."""
        folder = os.path.join(_environments_folder(workspace), name)
        versions = sorted((int(f[:-5]) for f in os.listdir(folder)
                           if f.endswith(".json") and f[:-5].isdigit())) \
            if os.path.isdir(folder) else []
        if not versions:
            if name.startswith("AzureML-") and "pytorch" in name.lower():
                env = Environment(name)
                env.environment_variables = {}
                env.version = "trainyard"
                return env
            raise UserErrorException(
                "Environment {!r} not found in workspace {!r} (register it with "
                "env.register(ws))".format(name, workspace.name))
        if version is None:
            version = versions[-1]
        path = os.path.join(folder, "{}.json".format(version))
        if not os.path.isfile(path):
            raise UserErrorException("Environment {!r} has no version {} (versions: {})".format(
                name, version, ", ".join(map(str, versions))))
        with open(path, encoding="utf-8") as f:
            return Environment._deserialize(json.load(f))

    @staticmethod
    def list(workspace):
        folder = _environments_folder(workspace)
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        return {n: Environment.get(workspace, n) for n in names}

    # ---- trainyard ----

    def _trainyard_fields(self):
        """The job fields of this environment (docker refused)."""
        if self.docker.enabled or self.docker.base_dockerfile:
            raise NotImplementedError(
                "Environment {!r}: docker (enabled={}, base_image={!r}) is not in trainyard; "
                "runs use trainyard's interpreter: leave docker.enabled False and give "
                "packages with python.conda_dependencies (pip_packages/conda_packages)".format(
                    self.name, self.docker.enabled, self.docker.base_image))
        if self.spark.packages or self.spark.repositories:
            raise NotImplementedError("Environment {!r}: spark is not in trainyard".format(
                self.name))
        fields = {}
        if self.environment_variables:
            fields["environment_variables"] = {str(k): str(v)
                                               for k, v in self.environment_variables.items()}
        if self.python.user_managed_dependencies:
            if self.python.interpreter_path and self.python.interpreter_path not in (
                    "python", "python3"):
                fields["python"] = self.python.interpreter_path
            return fields
        deps = self.python.conda_dependencies
        if self.python.conda_dependencies_file:
            deps = CondaDependencies(self.python.conda_dependencies_file)
        if deps is not None:
            pip, conda = deps._trainyard_packages()
            if pip:
                fields["pip_packages"] = pip
            if conda:
                fields["conda_packages"] = conda
        return fields

    # ---- (de)serialization ----

    def _serialize(self):
        return {
            "name": self.name,
            "version": self.version,
            "environmentVariables": dict(self.environment_variables or {}),
            "python": {
                "userManagedDependencies": self.python.user_managed_dependencies,
                "interpreterPath": self.python.interpreter_path,
                "condaDependenciesFile": self.python.conda_dependencies_file,
                "condaDependencies": self.python.conda_dependencies._as_dict()
                if self.python.conda_dependencies is not None else None,
            },
            "docker": {"enabled": self.docker.enabled, "baseImage": self.docker.base_image,
                       "baseDockerfile": self.docker.base_dockerfile},
        }

    @staticmethod
    def _deserialize(doc):
        env = Environment(doc["name"])
        env.version = doc.get("version")
        env.environment_variables = dict(doc.get("environmentVariables") or {})
        py = doc.get("python") or {}
        env.python.user_managed_dependencies = bool(py.get("userManagedDependencies"))
        env.python.interpreter_path = py.get("interpreterPath") or "python"
        env.python.conda_dependencies_file = py.get("condaDependenciesFile")
        if py.get("condaDependencies") is not None:
            env.python.conda_dependencies = CondaDependencies(
                _underlying_structure=py["condaDependencies"])
        docker = doc.get("docker") or {}
        env.docker.enabled = bool(docker.get("enabled"))
        env.docker.base_image = docker.get("baseImage")
        env.docker.base_dockerfile = docker.get("baseDockerfile")
        return env

    def get_image_details(self, workspace):
        raise NotImplementedError("Environment.get_image_details: Docker is not in trainyard")

    def build(self, workspace, image_build_compute=None):
        raise NotImplementedError(
            "Environment.build: trainyard builds a run's environment when the run is Preparing "
            "(cached in <workspace>/envs; see `trainyard env list`)")

    build_local = build

    def __repr__(self):
        return json.dumps(self._serialize(), indent=4)
