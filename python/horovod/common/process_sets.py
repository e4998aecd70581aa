"""horovod.common.process_sets, provided by trainyard: the ProcessSet type and registry of
trainyard.torch (the same objects horovod.torch uses)."""

from trainyard.torch.mpi_ops import (ProcessSet, add_process_set, global_process_set,  # noqa: F401
                                     remove_process_set)
from trainyard.torch import mpi_ops as _ops


def process_set_by_id(process_set_id):
    """The registered ProcessSet with this id (0: the global one); ValueError if none."""
    if process_set_id == 0:
        return global_process_set
    ps = _ops._process_sets.get(process_set_id)
    if ps is None:
        raise ValueError("No known process set with id {}".format(process_set_id))
    return ps


def process_sets():
    """The registered process sets, the global one first, in id order."""
    return [global_process_set] + [_ops._process_sets[i] for i in sorted(_ops._process_sets)]
