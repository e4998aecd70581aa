"""horovod.torch.sync_batch_norm: the same module object as trainyard.torch.sync_batch_norm (this file replaces itself
with it in sys.modules), so both names see one set of functions and state."""

import sys

from trainyard.torch import sync_batch_norm as _impl

sys.modules[__name__] = _impl
