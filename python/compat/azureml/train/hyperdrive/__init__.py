"""azureml.train.hyperdrive on trainyard: hyperparameter sweeps with the hosted SDK's names.

    from azureml.train.hyperdrive import (RandomParameterSampling, BanditPolicy,
                                          HyperDriveConfig, PrimaryMetricGoal, uniform, choice)
    ps = RandomParameterSampling({"--lr": uniform(0.001, 0.1), "--batch": choice(16, 32)})
    hd = HyperDriveConfig(run_config=src, hyperparameter_sampling=ps,
                          policy=BanditPolicy(evaluation_interval=1, slack_factor=0.1),
                          primary_metric_name="accuracy",
                          primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                          max_total_runs=20, max_concurrent_runs=4)
    run = experiment.submit(hd)

Every name keeps the hosted constructor, attributes and validation (HyperDriveConfigException);
a HyperDriveConfig is a trainyard.Sweep whose document (`hd.fields`) is the hosted CLI v2
sweep-job YAML shape, submitted like any job; HyperDriveRun reads the sweep's trials (children,
hyperparameters, metrics, the best run). What trainyard does not have raises
NotImplementedError: pipelines, resume_child_runs, HyperDriveRun.get_diagnostics. See
docs/sweeps-python.md."""

from azureml.train.hyperdrive.exceptions import HyperDriveConfigException
from azureml.train.hyperdrive.parameter_expressions import (choice, lognormal, loguniform, normal,
                                                            qlognormal, qloguniform, qnormal,
                                                            quniform, randint, uniform)
from azureml.train.hyperdrive.policy import (BanditPolicy, EarlyTerminationPolicy,
                                             MedianStoppingPolicy, NoTerminationPolicy,
                                             TruncationSelectionPolicy)
from azureml.train.hyperdrive.run import HyperDriveRun
from azureml.train.hyperdrive.runconfig import (HyperDriveConfig, HyperDriveRunConfig,
                                                PrimaryMetricGoal)
from azureml.train.hyperdrive.sampling import (BayesianParameterSampling, GridParameterSampling,
                                               HyperParameterSampling, RandomParameterSampling)

__all__ = ["BanditPolicy", "BayesianParameterSampling", "EarlyTerminationPolicy",
           "GridParameterSampling", "HyperDriveConfig", "HyperDriveConfigException",
           "HyperDriveRun", "HyperDriveRunConfig", "HyperParameterSampling",
           "MedianStoppingPolicy", "NoTerminationPolicy", "PrimaryMetricGoal",
           "RandomParameterSampling", "TruncationSelectionPolicy", "choice", "lognormal",
           "loguniform", "normal", "qlognormal", "qloguniform", "qnormal", "quniform", "randint",
           "uniform"]
