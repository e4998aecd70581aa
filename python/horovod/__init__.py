"""Horovod compatibility package of trainyard: `import horovod.torch as hvd` runs on trainyard's
collective runtime (trainyard.torch): MPI, Gloo or NCCL, CPU and CUDA tensors. Put on the
PYTHONPATH of runs (mpi and pytorch backends) when no real Horovod is installed."""

__version__ = "0.28.1+trainyard"
