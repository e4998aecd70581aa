"""The hosted SDK's distributed-training settings (azureml.train.dnn.Mpi, Gloo, Nccl,
ParameterServer), as trainyard backends.

An estimator's `distributed_training=` takes one of them (or, as the hosted SDK's later versions
do, an `azureml.core.runconfig` MpiConfiguration / PyTorchConfiguration):

    Mpi(process_count_per_node=N)  -> distributed_backend: mpi, process_count_per_node: N
    Gloo()                         -> distributed_backend: gloo  (trainyard's pytorch backend)
    Nccl()                         -> distributed_backend: nccl  (trainyard's pytorch backend)
    ParameterServer(...)           -> NotImplementedError (TensorFlow's parameter servers)
"""

__all__ = ["Gloo", "Mpi", "Nccl", "ParameterServer"]


class _DistributedTraining:
    """Base of the distributed-training settings; `_trainyard_fields()` gives the estimator
    fields it sets."""

    _backend = None

    def _trainyard_fields(self):
        return {"distributed_backend": self._backend}

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Mpi(_DistributedTraining):
    """MPI (and Horovod) settings: ranks started by mpirun, `process_count_per_node` per node.

    Maps onto trainyard's `mpi` backend."""

    _backend = "mpi"

    def __init__(self, process_count_per_node=1):
        self.process_count_per_node = process_count_per_node

    def _trainyard_fields(self):
        return {"distributed_backend": "mpi",
                "process_count_per_node": self.process_count_per_node}


class Gloo(_DistributedTraining):
    """torch.distributed over Gloo: trainyard's `pytorch` backend (the torchrun contract:
    RANK, WORLD_SIZE, MASTER_ADDR, ... for init_process_group("gloo"))."""

    _backend = "gloo"


class Nccl(_DistributedTraining):
    """torch.distributed over NCCL: trainyard's `pytorch` backend (the torchrun contract, for
    init_process_group("nccl"))."""

    _backend = "nccl"


class ParameterServer(_DistributedTraining):
    """TensorFlow's parameter-server training: not available under trainyard."""

    def __init__(self, worker_count=1, parameter_server_count=1):
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count

    def _trainyard_fields(self):
        raise NotImplementedError(
            "distributed_training=ParameterServer(...): TensorFlow parameter servers are not "
            "available under trainyard; use Mpi(process_count_per_node=N) (Horovod over "
            "trainyard's mpi backend) or Gloo()/Nccl() (torch.distributed)")


def backend_fields(distributed_backend, distributed_training):
    """The estimator fields for `distributed_backend=` (a name) or `distributed_training=` (an
    object); {} for neither. ValueError for both, or for an unknown backend name."""
    if distributed_backend is not None and distributed_training is not None:
        raise ValueError("distributed_backend and distributed_training: give one of them, not "
                         "both (distributed_backend is the older form of distributed_training)")
    if distributed_training is not None:
        return _from_object(distributed_training)
    if distributed_backend is None:
        return {}
    if not isinstance(distributed_backend, str):
        raise ValueError(f"distributed_backend: expected a string ('mpi', 'gloo' or 'nccl'), "
                         f"got {distributed_backend!r}")
    name = distributed_backend.lower()
    if name in ("ps", "parameter_server", "parameterserver"):
        return ParameterServer()._trainyard_fields()
    # Other names go to trainyard as they are, so its own message ("unknown backend ... did you
    # mean") reports them.
    return {"distributed_backend": name}


def _from_object(config):
    if isinstance(config, _DistributedTraining):
        return config._trainyard_fields()
    kind = type(config).__name__
    if kind == "MpiConfiguration":
        fields = {"distributed_backend": "mpi",
                  "process_count_per_node": getattr(config, "process_count_per_node", 1)}
        if getattr(config, "node_count", None) not in (None, 1):
            fields["node_count"] = config.node_count
        return fields
    if kind == "PyTorchConfiguration":
        backend = str(getattr(config, "communication_backend", "Nccl") or "Nccl").lower()
        nodes = getattr(config, "node_count", 1) or 1
        total = getattr(config, "process_count", None) or nodes
        if total % nodes:
            raise ValueError(f"distributed_training: process_count {total} is not a multiple of "
                             f"node_count {nodes}")
        return {"distributed_backend": backend, "node_count": nodes,
                "process_count_per_node": total // nodes}
    raise ValueError(f"distributed_training: expected azureml.train.dnn.Mpi, Gloo or Nccl, got "
                     f"{config!r}")
