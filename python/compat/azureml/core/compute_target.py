"""azureml.core.compute_target: ComputeTargetException and the base class of compute targets."""

from azureml.exceptions import ComputeTargetException

__all__ = ["AbstractComputeTarget", "ComputeTargetException"]


def __getattr__(name):
    if name == "AbstractComputeTarget":
        from azureml.core.compute.compute import ComputeTarget

        return ComputeTarget
    raise AttributeError("module 'azureml.core.compute_target' has no attribute {!r}".format(name))
