"""azureml.train.hyperdrive: hyperparameter sweeps are not in trainyard yet (issue 15); every
name raises NotImplementedError when used."""

__all__ = ["BanditPolicy", "BayesianParameterSampling", "GridParameterSampling",
           "HyperDriveConfig", "HyperDriveRun", "MedianStoppingPolicy", "PrimaryMetricGoal",
           "RandomParameterSampling", "TruncationSelectionPolicy", "choice", "loguniform",
           "normal", "quniform", "randint", "uniform"]

_MESSAGE = ("azureml.train.hyperdrive.{0}: hyperparameter sweeps are not in trainyard yet "
            "(issue 15); submit one run per setting with experiment.submit() meanwhile")


class _Unavailable:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(_MESSAGE.format(type(self).__name__))


class BanditPolicy(_Unavailable):
    pass


class BayesianParameterSampling(_Unavailable):
    pass


class GridParameterSampling(_Unavailable):
    pass


class HyperDriveConfig(_Unavailable):
    pass


class HyperDriveRun(_Unavailable):
    pass


class MedianStoppingPolicy(_Unavailable):
    pass


class RandomParameterSampling(_Unavailable):
    pass


class TruncationSelectionPolicy(_Unavailable):
    pass


class PrimaryMetricGoal:
    """The goal names (these are plain strings, usable without sweeps)."""

    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"


def _distribution(name):
    def refuse(*args, **kwargs):
        raise NotImplementedError(_MESSAGE.format(name))

    refuse.__name__ = name
    return refuse


choice = _distribution("choice")
loguniform = _distribution("loguniform")
normal = _distribution("normal")
quniform = _distribution("quniform")
randint = _distribution("randint")
uniform = _distribution("uniform")
