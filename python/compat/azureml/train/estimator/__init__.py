"""azureml.train.estimator: the generic Estimator, as trainyard's estimator job form.

    from azureml.train.estimator import Estimator
    est = Estimator(source_directory=".", entry_script="train.py",
                    script_params={"--data": ds.as_mount(), "--epochs": 3},
                    compute_target=compute_target, pip_packages=["scikit-learn"])
    run = exp.submit(est)
"""

from azureml.train._distributed_training import Gloo, Mpi, Nccl, ParameterServer
from azureml.train.estimator._mml_base_estimator import MMLBaseEstimator

__all__ = ["Estimator", "Gloo", "MMLBaseEstimator", "Mpi", "Nccl", "ParameterServer"]


class Estimator(MMLBaseEstimator):
    """A generic estimator: runs `entry_script` of `source_directory` with `script_params` on the
    compute target, with the hosted SDK's constructor parameters (MMLBaseEstimator's, which says
    how each maps onto trainyard). Submitted as a `trainyard.Estimator`."""

    _trainyard_class = "Estimator"
