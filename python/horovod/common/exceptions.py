"""Horovod's exception types, as trainyard raises them."""

from trainyard.torch.mpi_ops import HorovodInternalError  # noqa: F401


class HostsUpdatedInterrupt(RuntimeError):
    """Elastic training is not supported by trainyard; defined for imports only."""

    def __init__(self, skip_sync=False):
        super().__init__()
        self.skip_sync = skip_sync
