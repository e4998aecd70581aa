"""horovod.torch, provided by trainyard.torch: CPU tensors (and CUDA tensors where NCCL is
built) over MPI, Gloo or NCCL, on trainyard's collective runtime (see trainyard.torch).
Every name of Horovod 0.28's horovod.torch is here; docs/horovod.md says, name by name, what is
supported, what differs and what is not supported (those raise NotImplementedError when used)."""

from trainyard.torch import *  # noqa: F401,F403
from trainyard.torch import (Compression, DistributedOptimizer, HorovodInternalError,  # noqa: F401
                             ProcessSet, SyncBatchNorm, global_process_set)
# Horovod's submodule names; each is the trainyard.torch module itself (see the files).
from horovod.torch import (compression, elastic, functions, mpi_ops, optimizer,  # noqa: F401
                           sync_batch_norm)


# Horovod 0.28's grouped allgather and reducescatter (trainyard.torch.mpi_ops).
from trainyard.torch.mpi_ops import (grouped_allgather, grouped_allgather_async,  # noqa: F401,E402
                                     grouped_reducescatter, grouped_reducescatter_async)

# Horovod 0.28's sparse allreduce (trainyard.torch.mpi_ops).
from trainyard.torch.mpi_ops import sparse_allreduce_async  # noqa: F401,E402
