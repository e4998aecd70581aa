"""azureml.train.hyperdrive.runconfig: HyperDriveConfig (and its older name HyperDriveRunConfig)
and PrimaryMetricGoal.

A HyperDriveConfig is a trainyard.Sweep (docs/sweeps-python.md): the estimator's or
ScriptRunConfig's job document is the trial; the parameter space the search_space;
primary_metric_name / primary_metric_goal the objective; the policy the early_termination;
max_total_runs, max_concurrent_runs (None: max_total_runs) and max_duration_minutes (in
seconds) the limits; resume_from the earlier sweeps' run ids. `experiment.submit(config)` submits
that document."""

import enum
import warnings

from azureml.train.hyperdrive.exceptions import (HyperDriveConfigException,
                                                 HyperDriveScenarioNotSupportedException)
from azureml.train.hyperdrive.policy import NoTerminationPolicy
from azureml.train.hyperdrive.sampling import BayesianParameterSampling, HyperParameterSampling

__all__ = ["HyperDriveConfig", "HyperDriveRunConfig", "PrimaryMetricGoal"]

MAX_DURATION_MINUTES = 10080  # the service's limit: 7 days
MAX_TOTAL_RUNS = 1000
MAX_CONCURRENT_RUNS = 100
MAX_PARENT_RUNS = 5
RECOMMENDED_MIN_RUNS_PER_PARAMETER_BAYESIAN = 20
RECOMMENDED_MAX_CONCURRENT_RUNS_BAYESIAN = 20


class PrimaryMetricGoal(enum.Enum):
    """Whether the primary metric is to be maximized or minimized."""

    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"

    @staticmethod
    def from_str(goal):
        """The goal named `goal` ("maximize" / "minimize", any case)."""
        if isinstance(goal, str):
            for member in PrimaryMetricGoal:
                if goal.lower() == member.name.lower():
                    return member
        raise HyperDriveConfigException(
            "Invalid configuration: The primary metric goal requires either 'maximize' or "
            "'minimize', got {!r}.".format(goal))


def _warn(message):
    warnings.warn(message, UserWarning, stacklevel=3)


def _count(name, value, maximum):
    if not isinstance(value, int) or isinstance(value, bool):
        raise HyperDriveConfigException(
            "Invalid type: {} is expected to be of type int, got {!r}".format(name, value))
    if not 1 <= value <= maximum:
        raise HyperDriveConfigException(
            "Invalid configuration: {} requires an integer between 1 and {}, got {}".format(
                name, maximum, value))


def _resume_from(resume_from):
    """The run ids of resume_from (a HyperDriveRun or a list of them), checked as the hosted SDK
    checks them: at most 5, no duplicates, each Completed or Canceled."""
    if resume_from is None:
        return None
    from azureml.train.hyperdrive.run import HyperDriveRun

    runs = resume_from if isinstance(resume_from, list) else [resume_from]
    if len(runs) > MAX_PARENT_RUNS:
        raise HyperDriveConfigException(
            "Invalid configuration: HyperDriveConfig requires the number of parent runs to not "
            "exceed {} (resume_from has {})".format(MAX_PARENT_RUNS, len(runs)))
    ids = []
    for run in runs:
        if not isinstance(run, HyperDriveRun):
            raise HyperDriveConfigException(
                "Invalid configuration: Parent run requires to be HyperDriveRun objects, got "
                "{!r}".format(run))
        if run.id in ids:
            raise HyperDriveConfigException(
                "resume_from cannot contain duplicate runs. More than one run with id '{}' was "
                "found".format(run.id))
        status = run.get_status()
        if status not in ("Completed", "Canceled"):
            raise HyperDriveConfigException(
                "All resume_from runs should be completed or canceled. A resume_from run with "
                "status '{}' was found.".format(status))
        ids.append(run.id)
    return ids


class HyperDriveConfig:
    """The hosted constructor. Give exactly one of estimator (azureml.train Estimator / PyTorch,
    or a trainyard job configuration) and run_config (a ScriptRunConfig). resume_from (earlier
    HyperDriveRuns) becomes the document's resume_from (their run ids); pipeline and
    resume_child_runs are not in trainyard (NotImplementedError)."""

    _PLATFORM = "AML"

    def __init__(self, hyperparameter_sampling, primary_metric_name, primary_metric_goal,
                 max_total_runs, max_concurrent_runs=None,
                 max_duration_minutes=MAX_DURATION_MINUTES, policy=None, estimator=None,
                 run_config=None, resume_from=None, resume_child_runs=None, pipeline=None,
                 debug_flag=None):
        from azureml.core.script_run_config import ScriptRunConfig

        given = [v for v in (estimator, run_config, pipeline) if v is not None]
        if not given:
            raise HyperDriveConfigException(
                "Invalid configuration: HyperDriveConfig requires at least one of estimator, "
                "run_config, pipeline to be set")
        if len(given) != 1:
            raise HyperDriveConfigException(
                "Invalid configuration: HyperDriveConfig requires only one of estimator, "
                "run_config, pipeline to be set")
        if run_config is not None and not isinstance(run_config, ScriptRunConfig):
            raise HyperDriveConfigException(
                "Invalid type: run_config is expected to be of type ScriptRunConfig, got "
                "{}".format(type(run_config).__name__))
        if hyperparameter_sampling is None:
            raise HyperDriveConfigException(
                "Invalid configuration: HyperDriveConfig requires hyperparameter_sampling to be "
                "set")
        if not isinstance(hyperparameter_sampling, HyperParameterSampling):
            raise HyperDriveConfigException(
                "Invalid type: hyperparameter_sampling is expected to be a "
                "RandomParameterSampling, GridParameterSampling or BayesianParameterSampling, "
                "got {}".format(type(hyperparameter_sampling).__name__))
        is_bayesian = isinstance(hyperparameter_sampling, BayesianParameterSampling)
        if is_bayesian and policy is not None and not isinstance(policy, NoTerminationPolicy):
            # The hosted SDK's refusal, with its message (trainyard's own Sweep accepts a policy
            # with model-based search: docs/sweeps-python.md).
            raise HyperDriveScenarioNotSupportedException(
                "Not implemented: Early termination policy for Bayesian sampling. Use "
                "NoTerminationPolicy or policy=None with BayesianParameterSampling.")
        if pipeline is not None:
            raise NotImplementedError(
                "HyperDriveConfig(pipeline=...): trainyard has no pipelines; give the trial as "
                "estimator= or run_config= (a ScriptRunConfig)")
        if resume_child_runs is not None:
            raise NotImplementedError(
                "HyperDriveConfig(resume_child_runs=...): trainyard does not resume a sweep's "
                "child runs; warm-start a new sweep from the earlier one with resume_from=")
        resume_ids = _resume_from(resume_from)
        goal = (primary_metric_goal if isinstance(primary_metric_goal, PrimaryMetricGoal)
                else PrimaryMetricGoal.from_str(primary_metric_goal))
        if not isinstance(primary_metric_name, str) or not primary_metric_name:
            raise HyperDriveConfigException(
                "Invalid configuration: HyperDriveConfig requires primary_metric_name, the name "
                "the runs log the metric under, got {!r}".format(primary_metric_name))
        _count("max_total_runs", max_total_runs, MAX_TOTAL_RUNS)
        if max_concurrent_runs is not None:
            _count("max_concurrent_runs", max_concurrent_runs, MAX_CONCURRENT_RUNS)
        if (not isinstance(max_duration_minutes, (int, float)) or
                isinstance(max_duration_minutes, bool) or not max_duration_minutes > 0):
            raise HyperDriveConfigException(
                "Invalid configuration: max_duration_minutes requires a positive number of "
                "minutes, got {!r}".format(max_duration_minutes))
        if max_duration_minutes > MAX_DURATION_MINUTES:
            _warn("The experiment maximum duration provided exceeds the service limit of {0} "
                  "minutes. The maximum duration will be overridden with {0} minutes.".format(
                      MAX_DURATION_MINUTES))
            max_duration_minutes = MAX_DURATION_MINUTES
        if policy is None:
            policy = NoTerminationPolicy()
        max_concurrent = max_concurrent_runs or max_total_runs
        if is_bayesian:
            recommended = (RECOMMENDED_MIN_RUNS_PER_PARAMETER_BAYESIAN *
                           len(hyperparameter_sampling._parameter_space))
            if max_total_runs < recommended:
                _warn("For best results with Bayesian Sampling we recommend using a maximum "
                      "number of runs greater than or equal to {} times the number of "
                      "hyperparameters being tuned. Recommended value: {}.".format(
                          RECOMMENDED_MIN_RUNS_PER_PARAMETER_BAYESIAN, recommended))
            if max_concurrent > RECOMMENDED_MAX_CONCURRENT_RUNS_BAYESIAN:
                _warn("We recommend using {} max concurrent runs or fewer when using Bayesian "
                      "sampling since a higher number might not provide the best result.".format(
                          RECOMMENDED_MAX_CONCURRENT_RUNS_BAYESIAN))

        self._estimator = estimator
        self._run_config = run_config
        self._pipeline = None
        self._debug_flag = debug_flag
        self._hyperparameter_sampling = hyperparameter_sampling
        self._policy = policy
        self._policy_config = policy.to_json() if hasattr(policy, "to_json") else None
        self._generator_config = hyperparameter_sampling.to_json()
        self._primary_metric_config = {"name": primary_metric_name, "goal": goal.name.lower()}
        self._max_total_runs = max_total_runs
        self._max_concurrent_runs = max_concurrent
        self._max_duration_minutes = max_duration_minutes
        self._platform = self._PLATFORM
        self._resume_from = resume_ids
        self._resume_child_runs = None
        self._sweep = self._build_sweep()

    def _build_sweep(self):
        import trainyard
        from trainyard import sweep

        trial = self._estimator if self._estimator is not None else self._run_config
        try:
            return trainyard.Sweep(
                trial=trial,
                search_space=dict(self._hyperparameter_sampling._parameter_space),
                sampling=self._hyperparameter_sampling._trainyard_sampling(),
                objective=sweep.Objective(self._primary_metric_config["name"],
                                          self._primary_metric_config["goal"]),
                early_termination=self._policy,
                limits=sweep.Limits(max_total_trials=self._max_total_runs,
                                    max_concurrent_trials=self._max_concurrent_runs,
                                    timeout=self._max_duration_minutes * 60),
                resume_from=self._resume_from)
        except (ValueError, TypeError) as e:
            if isinstance(e, HyperDriveConfigException):
                raise
            raise HyperDriveConfigException(str(e)) from None

    def _to_trainyard(self):
        """The trainyard.Sweep that Experiment.submit submits."""
        return self._sweep

    @property
    def fields(self):
        """The sweep document (the hosted CLI v2 sweep-job YAML shape) this config submits."""
        return self._sweep.fields

    @property
    def estimator(self):
        """The estimator, or None when the config has a run_config."""
        return self._estimator

    @property
    def run_config(self):
        """The ScriptRunConfig, or None when the config has an estimator."""
        return self._run_config

    @property
    def pipeline(self):
        """Always None: trainyard has no pipelines."""
        return None

    @property
    def source_directory(self):
        """The trial's source directory."""
        trial = self._estimator if self._estimator is not None else self._run_config
        return getattr(trial, "source_directory", None)

    def __repr__(self):
        return "HyperDriveConfig({!r})".format(self._sweep.fields)


class HyperDriveRunConfig(HyperDriveConfig):
    """The older name, deprecated in the hosted SDK: builds a HyperDriveConfig (with a
    warning). `run_config=` may replace the estimator (estimator=None)."""

    def __new__(cls, estimator, hyperparameter_sampling, primary_metric_name,
                primary_metric_goal, max_total_runs, max_concurrent_runs=None,
                max_duration_minutes=MAX_DURATION_MINUTES, policy=None, run_config=None):
        _warn("HyperDriveRunConfig is deprecated. Please use the new HyperDriveConfig class.")
        return HyperDriveConfig(hyperparameter_sampling=hyperparameter_sampling,
                                primary_metric_name=primary_metric_name,
                                primary_metric_goal=primary_metric_goal,
                                max_total_runs=max_total_runs,
                                max_concurrent_runs=max_concurrent_runs,
                                max_duration_minutes=max_duration_minutes,
                                policy=policy, estimator=estimator, run_config=run_config)
