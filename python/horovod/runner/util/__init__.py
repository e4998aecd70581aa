"""horovod.runner.util, provided by trainyard (threads only)."""
