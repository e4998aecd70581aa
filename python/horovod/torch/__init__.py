"""horovod.torch, provided by trainyard.torch: CPU tensors (and CUDA tensors where NCCL is
built) over MPI, Gloo or NCCL, on trainyard's collective runtime (see trainyard.torch)."""

from trainyard.torch import *  # noqa: F401,F403
from trainyard.torch import (Compression, DistributedOptimizer, HorovodInternalError,  # noqa: F401
                             ProcessSet, SyncBatchNorm, global_process_set)
from trainyard.torch import compression, functions, mpi_ops, optimizer  # noqa: F401
