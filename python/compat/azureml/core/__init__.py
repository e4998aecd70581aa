"""azureml.core for scripts running under trainyard: Run works; submitting runs does not."""

from azureml.core.run import Run

_MESSAGE = (
    "azureml.core.{0} is not available under trainyard: this compatibility package only provides "
    "the run context (Run.get_context()) inside training scripts. Submit runs with the trainyard "
    "CLI or its C++ API instead."
)


class _Unavailable:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(_MESSAGE.format(type(self).__name__))

    @classmethod
    def get(cls, *args, **kwargs):
        raise NotImplementedError(_MESSAGE.format(cls.__name__))

    @classmethod
    def from_config(cls, *args, **kwargs):
        raise NotImplementedError(_MESSAGE.format(cls.__name__))


class Workspace(_Unavailable):
    """Not available under trainyard (raises NotImplementedError)."""


class Experiment(_Unavailable):
    """Not available under trainyard (raises NotImplementedError)."""


__all__ = ["Experiment", "Run", "Workspace"]
