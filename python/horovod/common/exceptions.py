"""horovod.common.exceptions: Horovod's exception types, as trainyard raises them."""

from trainyard.torch.mpi_ops import HorovodInternalError  # noqa: F401  (a RuntimeError)


class HostsUpdatedInterrupt(RuntimeError):
    """Horovod's elastic-mode interrupt (the set of hosts changed). trainyard does not run
    elastic jobs and never raises it; defined so that code catching it imports."""

    def __init__(self, skip_sync=False):
        super().__init__()
        self.skip_sync = skip_sync


def get_version_mismatch_message(name, version, installed_version):
    return ("Framework {} installed with version {} but found version {}. This can result in "
            "unexpected behavior including runtime errors.".format(name, installed_version,
                                                                    version))


class HorovodVersionMismatchError(ImportError):
    """A framework's version at run time differs from the one the extension was built for
    (trainyard checks this at build time and does not raise it)."""

    def __init__(self, name, version, installed_version):
        super().__init__(get_version_mismatch_message(name, version, installed_version))
        self.name = name
        self.version = version
        self.installed_version = installed_version
