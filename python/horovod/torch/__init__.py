"""horovod.torch, provided by trainyard.torch (CPU tensors over MPI)."""

from trainyard.torch import *  # noqa: F401,F403
from trainyard.torch import (Compression, DistributedOptimizer, HorovodInternalError,  # noqa: F401
                             ProcessSet, SyncBatchNorm, global_process_set)
from trainyard.torch import compression, functions, mpi_ops, optimizer  # noqa: F401
