"""azureml.core.runconfig: RunConfiguration and the distributed job configurations, as trainyard
reads them (see ScriptRunConfig): target, node_count, environment, communicator/mpi,
max_run_duration_seconds, environment_variables. Docker, Spark, HDInsight and TensorFlow settings
are refused at submit when set."""

from azureml.core.conda_dependencies import CondaDependencies  # noqa: F401 (hosted name)
from azureml.core.environment import DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE, Environment

__all__ = ["DEFAULT_CPU_IMAGE", "DEFAULT_GPU_IMAGE", "DataReferenceConfiguration",
           "DockerConfiguration", "MpiConfiguration", "PyTorchConfiguration", "RunConfiguration",
           "TensorflowConfiguration"]


class MpiConfiguration:
    """Open MPI launch: trainyard's `mpi` backend, node_count x process_count_per_node ranks."""

    def __init__(self, process_count_per_node=1, node_count=1):
        self.process_count_per_node = process_count_per_node
        self.node_count = node_count

    def _trainyard_fields(self):
        return {"distributed_backend": "mpi", "node_count": int(self.node_count),
                "process_count_per_node": int(self.process_count_per_node)}


class PyTorchConfiguration:
    """torch.distributed launch (torchrun's environment): trainyard's `pytorch` backend;
    process_count (all ranks) must be a multiple of node_count."""

    def __init__(self, communication_backend="Nccl", process_count=None, node_count=1):
        self.communication_backend = communication_backend
        self.process_count = process_count
        self.node_count = node_count

    def _trainyard_fields(self):
        nodes = int(self.node_count or 1)
        total = int(self.process_count) if self.process_count is not None else nodes
        if nodes < 1 or total % nodes:
            raise ValueError(
                "PyTorchConfiguration: process_count ({}) must be a positive multiple of "
                "node_count ({}): trainyard runs the same number of processes on each "
                "node".format(total, nodes))
        return {"distributed_backend": "pytorch", "node_count": nodes,
                "process_count_per_node": total // nodes}


class TensorflowConfiguration:
    def __init__(self, worker_count=1, parameter_server_count=1):
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count

    def _trainyard_fields(self):
        raise NotImplementedError(
            "TensorflowConfiguration: parameter-server TensorFlow jobs are not in trainyard; use "
            "MpiConfiguration (Horovod) or PyTorchConfiguration")


class DockerConfiguration:
    def __init__(self, use_docker=False, shm_size=None, shared_volumes=True, arguments=None):
        self.use_docker = use_docker
        self.shm_size = shm_size
        self.shared_volumes = shared_volumes
        self.arguments = list(arguments or [])


class DataReferenceConfiguration:
    def __init__(self, datastore_name=None, mode="mount", path_on_datastore=None,
                 path_on_compute=None, overwrite=False):
        self.data_store_name = datastore_name
        self.mode = mode
        self.path_on_datastore = path_on_datastore
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite


class _Section:
    def __init__(self, **values):
        self.__dict__.update(values)


class RunConfiguration:
    """The run settings of a ScriptRunConfig (the hosted attributes; see the module for what
    trainyard reads)."""

    def __init__(self, script=None, arguments=None, framework=None, communicator=None,
                 conda_dependencies=None, _history_enabled=None, _path=None, _name=None,
                 command=None):
        self.script = script
        self.arguments = list(arguments or [])
        self.command = command
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self.target = "local"
        self.node_count = 1
        self.max_run_duration_seconds = None
        self.environment = Environment("Experiment {} Environment".format(_name or "default"))
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies
        self.environment_variables = {}
        self.mpi = MpiConfiguration()
        self.pytorch = PyTorchConfiguration(process_count=None)
        self.tensorflow = TensorflowConfiguration()
        self.docker = DockerConfiguration()
        self.data_references = {}
        self.data = {}
        self.output_data = {}
        self.history = _Section(output_collection=True, snapshot_project=True,
                                directories_to_watch=["logs"])
        self.amlcompute = _Section(vm_size=None, vm_priority=None, cluster_max_node_count=None,
                                   _retain_cluster=False, _name=None)
        self.spark = _Section(configuration={})
        self.hdi = _Section(yarn_deploy_mode="cluster")
        self.source_directory_data_store = None
        self.auto_prepare_environment = True
        self.prepare_environment = True
        self.save_to_file = None

    @property
    def conda_dependencies(self):
        return self.environment.python.conda_dependencies

    @conda_dependencies.setter
    def conda_dependencies(self, value):
        self.environment.python.conda_dependencies = value

    def _trainyard_fields(self):
        """The job fields this configuration sets (target, processes, environment, limits)."""
        fields = {}
        target = self.target
        if target is not None and not isinstance(target, str):
            target = target.name
        if target and target != "local":
            fields["compute_target"] = target
        if self.framework not in ("Python", "python", None):
            raise NotImplementedError(
                "RunConfiguration.framework {!r}: trainyard runs Python (or C++) entry scripts; "
                "PySpark and TensorFlow frameworks are not in trainyard".format(self.framework))
        if self.docker.use_docker:
            raise NotImplementedError(
                "RunConfiguration.docker.use_docker: Docker is not in trainyard; runs use "
                "trainyard's interpreter with the environment's packages")
        if self.data_references or self.data:
            raise NotImplementedError(
                "RunConfiguration.data_references/data: pass data as arguments instead "
                "(datastore.path(p).as_mount() or .as_download() in ScriptRunConfig arguments)")
        if self.communicator in ("Mpi", "IntelMpi", "OpenMpi"):
            fields.update(self.mpi._trainyard_fields())
            if self.node_count not in (None, 1):  # the hosted run_config.node_count wins
                fields["node_count"] = int(self.node_count)
        elif self.communicator in ("Nccl", "Gloo", "PyTorch"):
            fields.update(self.pytorch._trainyard_fields())
        elif self.communicator not in ("None", None):
            raise NotImplementedError(
                "RunConfiguration.communicator {!r}: trainyard launches with 'Mpi' (Open MPI) or "
                "torch.distributed ('Nccl', 'Gloo')".format(self.communicator))
        elif int(self.node_count or 1) != 1:
            fields["node_count"] = int(self.node_count)
        if self.max_run_duration_seconds:
            fields["max_run_duration_seconds"] = self.max_run_duration_seconds
        if self.environment is not None:
            fields.update(self.environment._trainyard_fields())
        if self.environment_variables:
            env = dict(fields.get("environment_variables", {}))
            env.update({str(k): str(v) for k, v in self.environment_variables.items()})
            fields["environment_variables"] = env
        return fields
