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


def _not_supported(name):
    def op(*args, **kwargs):
        raise NotImplementedError(
            "horovod.torch.{} is not supported by trainyard yet (docs/horovod.md)".format(name))
    op.__name__ = name
    op.__qualname__ = name
    op.__doc__ = "Not supported by trainyard: raises NotImplementedError (docs/horovod.md)."
    op._trainyard_not_supported = True
    return op


# Horovod 0.28's grouped allgather and reducescatter (trainyard.torch.mpi_ops).
from trainyard.torch.mpi_ops import (grouped_allgather, grouped_allgather_async,  # noqa: F401,E402
                                     grouped_reducescatter, grouped_reducescatter_async)

# Operations of Horovod 0.28 that trainyard.torch does not provide yet: defined so that scripts
# importing them load, raising a clear error when called (skipped once trainyard.torch has them).
for _name in ("sparse_allreduce_async",):
    if _name not in globals():
        globals()[_name] = _not_supported(_name)
del _name
