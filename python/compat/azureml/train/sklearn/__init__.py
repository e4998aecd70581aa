"""azureml.train.sklearn: not available under trainyard (NotImplementedError)."""

from azureml.train.dnn import _Unavailable

__all__ = ["SKLearn"]


class SKLearn(_Unavailable):
    """Not available under trainyard (NotImplementedError)."""

    _framework = "scikit-learn"
