"""horovod.common, provided by trainyard."""
