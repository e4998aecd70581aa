"""horovod.torch.functions: the same module object as trainyard.torch.functions (this file replaces itself
with it in sys.modules), so both names see one set of functions and state."""

import sys

from trainyard.torch import functions as _impl

sys.modules[__name__] = _impl
