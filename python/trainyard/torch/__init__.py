"""trainyard.torch: the horovod.torch API over trainyard's collective runtime.

    import trainyard.torch as hvd          # or: import horovod.torch as hvd (compat package)
    hvd.init()
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)

Transports: MPI under `mpirun -np N` (or `trainyard submit` with distributed_backend mpi); Gloo
when started with torch.distributed's RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT (torchrun, or
distributed_backend pytorch), or forced with HOROVOD_CPU_OPERATIONS=gloo; a single process
otherwise. NCCL carries CUDA tensors where the runtime was built with it (a CUDA libtorch:
nccl_built()); CPU tensors work everywhere. mpi_enabled() / gloo_enabled() say which one runs.

It is the Python face of trainyard::dist (include/trainyard/dist.h), the C++ adapter: the
operations, dtype handling, DistributedOptimizer's gradient hooks, flat gradient layout and
compression, and broadcast_parameters run in that library, on one runtime per process shared
with any C++ extension that links it.
"""

from trainyard.torch.compression import Compression
from trainyard.torch.functions import (allgather_object, broadcast_object,
                                       broadcast_optimizer_state, broadcast_parameters)
from trainyard.torch.mpi_ops import (Adasum, Average, HorovodInternalError, Max, Min, Product,
                                     ProcessSet, Sum, add_process_set, allgather, allgather_async,
                                     allreduce, allreduce_, allreduce_async, allreduce_async_,
                                     alltoall, alltoall_async, barrier, broadcast, broadcast_,
                                     broadcast_async, broadcast_async_, ccl_built, cross_rank,
                                     cross_size, cuda_built, ddl_built, global_process_set,
                                     gloo_built, gloo_enabled, grouped_allreduce,
                                     grouped_allreduce_, grouped_allreduce_async,
                                     grouped_allreduce_async_, init, is_initialized, join,
                                     local_rank, local_size, mpi_built, mpi_enabled,
                                     mpi_threads_supported, nccl_built, poll, rank, reducescatter,
                                     reducescatter_async, remove_process_set, rocm_built,
                                     shutdown, size, start_timeline, stop_timeline, synchronize)
from trainyard.torch.optimizer import DistributedOptimizer
from trainyard.torch.sync_batch_norm import SyncBatchNorm
