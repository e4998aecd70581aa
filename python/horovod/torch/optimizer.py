"""horovod.torch.optimizer: the same module object as trainyard.torch.optimizer (this file replaces itself
with it in sys.modules), so both names see one set of functions and state."""

import sys

from trainyard.torch import optimizer as _impl

sys.modules[__name__] = _impl
