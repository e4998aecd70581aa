"""horovod.torch.mpi_ops: the same module object as trainyard.torch.mpi_ops (this file replaces itself
with it in sys.modules), so both names see one set of functions and state."""

import sys

from trainyard.torch import mpi_ops as _impl

sys.modules[__name__] = _impl
