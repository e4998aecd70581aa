"""Horovod compatibility package of trainyard: `import horovod.torch as hvd` runs on trainyard's
collective runtime (trainyard.torch). Put on the PYTHONPATH of mpi runs when no real Horovod is
installed."""

__version__ = "0.28.1+trainyard"
