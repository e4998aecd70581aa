"""azureml.train.hyperdrive on trainyard (issue 15): every documented name with its documented
signature (learn.microsoft.com, azureml-train-core azureml.train.hyperdrive), each parameter
expression's return value, each documented validation error, and the sweep document a
HyperDriveConfig produces (compared with hand-written documents); submission goes through the
C++ reader, and HyperDriveRun's trial methods say what is missing."""

import inspect
import json
import os
import re
import subprocess
import warnings

import pytest

import trainyard
from azureml.core import Experiment, ScriptRunConfig, Workspace
from azureml.train import hyperdrive
from azureml.train.dnn import PyTorch
from azureml.train.hyperdrive import (BanditPolicy, BayesianParameterSampling,
                                      GridParameterSampling, HyperDriveConfig, HyperDriveRun,
                                      HyperDriveRunConfig, MedianStoppingPolicy,
                                      NoTerminationPolicy, PrimaryMetricGoal,
                                      RandomParameterSampling, TruncationSelectionPolicy, choice,
                                      lognormal, loguniform, normal, qlognormal, qloguniform,
                                      qnormal, quniform, randint, uniform)
from azureml.train.hyperdrive.exceptions import (HyperDriveConfigException,
                                                 HyperDriveScenarioNotSupportedException)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh current folder with a tiny script, and a fresh workspace."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRAINYARD_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("TRAINYARD_WORKSPACES", str(tmp_path / "workspaces"))
    (tmp_path / "train.py").write_text("import sys\nprint(sys.argv[1:])\n")
    return tmp_path


# ---- names and signatures (the class reference's constructors) ----

DOCUMENTED = {
    "BanditPolicy": "(evaluation_interval=1, slack_factor=None, slack_amount=None, "
                    "delay_evaluation=0)",
    "MedianStoppingPolicy": "(evaluation_interval=1, delay_evaluation=0)",
    "TruncationSelectionPolicy": "(truncation_percentage, evaluation_interval=1, "
                                 "delay_evaluation=0)",
    "NoTerminationPolicy": "()",
    "RandomParameterSampling": "(parameter_space, properties=None)",
    "GridParameterSampling": "(parameter_space)",
    "BayesianParameterSampling": "(parameter_space)",
    "HyperDriveConfig": "(hyperparameter_sampling, primary_metric_name, primary_metric_goal, "
                        "max_total_runs, max_concurrent_runs=None, max_duration_minutes=10080, "
                        "policy=None, estimator=None, run_config=None, resume_from=None, "
                        "resume_child_runs=None, pipeline=None, debug_flag=None)",
    "HyperDriveRun": "(experiment, run_id, hyperdrive_config=None, **kwargs)",
    "choice": "(*options)",
    "randint": "(upper)",
    "uniform": "(min_value, max_value)",
    "quniform": "(min_value, max_value, q)",
    "loguniform": "(min_value, max_value)",
    "qloguniform": "(min_value, max_value, q)",
    "normal": "(mu, sigma)",
    "qnormal": "(mu, sigma, q)",
    "lognormal": "(mu, sigma)",
    "qlognormal": "(mu, sigma, q)",
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_documented_signature(name):
    assert name in hyperdrive.__all__
    assert str(inspect.signature(getattr(hyperdrive, name))) == DOCUMENTED[name]


def test_older_name_keeps_its_documented_arguments_first():
    params = list(inspect.signature(HyperDriveRunConfig.__new__).parameters)[1:]
    assert params[:8] == ["estimator", "hyperparameter_sampling", "primary_metric_name",
                          "primary_metric_goal", "max_total_runs", "max_concurrent_runs",
                          "max_duration_minutes", "policy"]


def test_every_hosted_name_is_there():
    for name in ["BanditPolicy", "BayesianParameterSampling", "EarlyTerminationPolicy",
                 "GridParameterSampling", "HyperDriveConfig", "HyperDriveRun",
                 "HyperDriveRunConfig", "HyperParameterSampling", "MedianStoppingPolicy",
                 "NoTerminationPolicy", "PrimaryMetricGoal", "RandomParameterSampling",
                 "TruncationSelectionPolicy", "choice", "lognormal", "loguniform", "normal",
                 "qlognormal", "qloguniform", "qnormal", "quniform", "randint", "uniform"]:
        assert hasattr(hyperdrive, name), name
    from azureml.train.hyperdrive import parameter_expressions, policy, runconfig, sampling
    assert parameter_expressions.uniform is uniform
    assert policy.BanditPolicy is BanditPolicy and sampling.GridParameterSampling is (
        GridParameterSampling) and runconfig.HyperDriveConfig is HyperDriveConfig


# ---- parameter expressions: return values and errors ----

def test_expressions_return_the_hosted_lists():
    assert choice(1, 2, 3) == ["choice", [[1, 2, 3]]]
    assert choice([16, 32]) == ["choice", [[16, 32]]]
    assert choice(range(2, 5)) == ["choice", [[2, 3, 4]]]
    assert choice("relu", "tanh") == ["choice", [["relu", "tanh"]]]
    assert randint(5) == ["randint", [5]]
    assert uniform(0.05, 0.1) == ["uniform", [0.05, 0.1]]
    assert quniform(1, 10, 2) == ["quniform", [1, 10, 2]]
    assert loguniform(-6, -1) == ["loguniform", [-6, -1]]
    assert qloguniform(0, 5, 1) == ["qloguniform", [0, 5, 1]]
    assert normal(10, 3) == ["normal", [10, 3]]
    assert qnormal(10, 3, 1) == ["qnormal", [10, 3, 1]]
    assert lognormal(0, 1) == ["lognormal", [0, 1]]
    assert qlognormal(0, 1, 2.0) == ["qlognormal", [0, 1, 2.0]]
    assert loguniform(1, 1) == ["loguniform", [1, 1]]  # the hosted check is min <= max
    assert normal(0, 0) == ["normal", [0, 0]]  # and sigma >= 0


@pytest.mark.parametrize("make, message", [
    (lambda: choice(), "choice requires at least one option"),
    (lambda: choice([]), "choice requires a non-empty single list"),
    (lambda: choice([1, 2], 3), "choice requires a non-empty single list"),
    (lambda: randint(0), "randint requires a positive integer upper"),
    (lambda: randint(2.0), "randint requires a positive integer upper"),
    (lambda: uniform("a", 1), "uniform requires min_value to be a float"),
    (lambda: uniform(0, None), "uniform requires max_value to be a float"),
    (lambda: uniform(1, 1), "uniform requires min_value < max_value"),
    (lambda: quniform(0, 1, 0.5), "quniform requires q to be an int"),
    (lambda: quniform(2, 1, 1), "quniform requires min_value < max_value"),
    (lambda: loguniform(2, 1), "loguniform requires min_value <= max_value"),
    (lambda: qloguniform(0, 1, "1"), "qloguniform requires q to be an int"),
    (lambda: normal(0, -1), "normal requires sigma to be non negative"),
    (lambda: qnormal(0, 1, 1.5), "qnormal requires q to be an int"),
    (lambda: lognormal("0", 1), "lognormal requires mu to be a float"),
    (lambda: qlognormal(0, -2, 1), "qlognormal requires sigma to be non negative"),
])
def test_expression_errors(make, message):
    with pytest.raises(HyperDriveConfigException) as e:
        make()
    assert message in e.value.message
    assert isinstance(e.value, ValueError)  # trainyard's configuration errors are ValueErrors


# ---- sampling ----

def test_sampling_to_json():
    space = {"--lr": uniform(0.01, 0.1), "--batch": choice(16, 32)}
    assert RandomParameterSampling(space).to_json() == {"name": "RANDOM",
                                                        "parameter_space": space}
    assert RandomParameterSampling(space, properties={"seed": 5}).to_json() == {
        "name": "RANDOM", "parameter_space": space, "properties": {"seed": 5}}
    grid = {"--batch": choice(16, 32), "--opt": choice("sgd", "adam")}
    assert GridParameterSampling(grid).to_json() == {"name": "GRID", "parameter_space": grid}
    assert BayesianParameterSampling(space).to_json() == {"name": "BayesianOptimization",
                                                          "parameter_space": space}


@pytest.mark.parametrize("make, message", [
    (lambda: GridParameterSampling({"lr": uniform(0, 1)}),
     "only the following distributions: [choice]"),
    (lambda: GridParameterSampling({"a": choice(1, "x")}),
     "Either all or none of the 'choice' values should be 'str' type."),
    (lambda: GridParameterSampling({"a": choice(1, True)}),
     "'choice' values should be 'int', 'string' or 'float'."),
    (lambda: BayesianParameterSampling({"lr": loguniform(-3, -1)}),
     "only the following distributions: [choice, quniform, uniform]"),
    (lambda: BayesianParameterSampling({"n": quniform(0, 10.5, 1)}),
     "Expected quniform arguments to be int."),
    (lambda: BayesianParameterSampling({"n": quniform(0, 1000000, 1)}),
     "Too many discrete points for quniform distribution"),
    (lambda: BayesianParameterSampling({}), "parameter_space to not be None or empty"),
    (lambda: BayesianParameterSampling(None), "parameter_space to not be None or empty"),
    (lambda: RandomParameterSampling({"lr": 0.1}), "must be a parameter expression"),
    (lambda: RandomParameterSampling({"lr": uniform(0, 1)}, properties={"sampler": "x"}),
     "may give seed and rule"),
])
def test_sampling_errors(make, message):
    with pytest.raises(HyperDriveConfigException) as e:
        make()
    assert message in e.value.message


# ---- policies ----

def test_policies_attributes_and_json():
    bandit = BanditPolicy(evaluation_interval=2, slack_factor=0.1, delay_evaluation=5)
    assert (bandit.slack_factor, bandit.evaluation_interval, bandit.delay_evaluation) == (
        0.1, 2, 5)
    assert bandit.to_json() == {"name": "Bandit", "properties": {
        "evaluation_interval": 2, "delay_evaluation": 5, "slack_factor": 0.1}}
    assert BanditPolicy(slack_amount=0.2).to_json()["properties"] == {
        "evaluation_interval": 1, "delay_evaluation": 0, "slack_amount": 0.2}
    median = MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=5)
    assert median.to_json() == {"name": "MedianStopping", "properties": {
        "evaluation_interval": 1, "delay_evaluation": 5}}
    trunc = TruncationSelectionPolicy(truncation_percentage=20, evaluation_interval=3)
    assert trunc.truncation_percentage == 20
    assert trunc.to_json() == {"name": "TruncationSelection", "properties": {
        "evaluation_interval": 3, "delay_evaluation": 0, "truncation_percentage": 20,
        "exclude_finished_jobs": False}}
    assert NoTerminationPolicy().to_json() == {"name": "Default"}
    assert isinstance(bandit, trainyard.sweep.BanditPolicy)


@pytest.mark.parametrize("make, message", [
    (lambda: BanditPolicy(), "exactly one of slack factor or slack amount"),
    (lambda: BanditPolicy(slack_factor=0.1, slack_amount=0.2), "exactly one of slack factor"),
    (lambda: BanditPolicy(evaluation_interval=1.0, slack_factor=0.1),
     "evaluation_interval is expected to be of type int"),
    (lambda: BanditPolicy(slack_factor=0.1, delay_evaluation="5"),
     "delay_evaluation is expected to be of type int"),
    (lambda: BanditPolicy(slack_factor=0.1, evaluation_interval=0),
     "evaluation_interval: must be at least 1"),
    (lambda: MedianStoppingPolicy(evaluation_interval=None), "evaluation_interval is expected"),
    (lambda: TruncationSelectionPolicy(0), "truncation_percentage requires value to be between "
                                           "1 and 99"),
    (lambda: TruncationSelectionPolicy(100), "between 1 and 99"),
    (lambda: TruncationSelectionPolicy(10.0), "truncation_percentage is expected to be of type"),
])
def test_policy_errors(make, message):
    with pytest.raises(HyperDriveConfigException) as e:
        make()
    assert message in e.value.message


def test_primary_metric_goal():
    assert PrimaryMetricGoal.MAXIMIZE.value == "MAXIMIZE"
    assert PrimaryMetricGoal.MINIMIZE.name == "MINIMIZE"
    assert PrimaryMetricGoal.from_str("maximize") is PrimaryMetricGoal.MAXIMIZE
    assert PrimaryMetricGoal.from_str("Minimize") is PrimaryMetricGoal.MINIMIZE
    with pytest.raises(HyperDriveConfigException) as e:
        PrimaryMetricGoal.from_str("best")
    assert "either 'maximize' or 'minimize'" in e.value.message


# ---- HyperDriveConfig: documents ----

def script_config(**extra):
    return ScriptRunConfig(source_directory=".", script="train.py", **extra)


def test_script_run_config_random_bandit_document(home):
    src = script_config(arguments=["--data", "x"])
    hd = HyperDriveConfig(
        run_config=src,
        hyperparameter_sampling=RandomParameterSampling(
            {"--learning_rate": uniform(0.0005, 0.005), "--hidden": choice(80, 100, 120)},
            properties={"seed": 11, "rule": "sobol"}),
        policy=BanditPolicy(evaluation_interval=2, slack_factor=0.1),
        primary_metric_name="validation_acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=8, max_concurrent_runs=4, max_duration_minutes=30)
    assert hd.run_config is src and hd.estimator is None and hd.pipeline is None
    assert hd.source_directory == str(home)
    assert hd.fields == {
        "type": "sweep",
        "trial": {"source_directory": str(home), "entry_script": "train.py",
                  "environment_variables": {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"},
                  "max_run_duration_seconds": 2592000, "extra_args": ["--data", "x"]},
        "search_space": {
            "--learning_rate": {"type": "uniform", "min_value": 0.0005, "max_value": 0.005},
            "--hidden": {"type": "choice", "values": [80, 100, 120]}},
        "sampling_algorithm": {"type": "random", "seed": 11, "rule": "sobol"},
        "objective": {"primary_metric": "validation_acc", "goal": "maximize"},
        "early_termination": {"type": "bandit", "evaluation_interval": 2,
                              "delay_evaluation": 0, "slack_factor": 0.1},
        "limits": {"max_total_trials": 8, "max_concurrent_trials": 4, "timeout": 1800}}
    assert hd._to_trainyard().fields == hd.fields
    assert hd._primary_metric_config == {"name": "validation_acc", "goal": "maximize"}
    assert hd._policy_config["name"] == "Bandit"


def test_estimator_grid_document_and_defaults(home):
    est = PyTorch(source_directory=".", entry_script="train.py",
                  script_params={"--epochs": 2, "--learning_rate": 0.1})
    with pytest.warns(UserWarning, match="--learning_rate"):
        hd = HyperDriveConfig(
            estimator=est,
            hyperparameter_sampling=GridParameterSampling(
                {"--learning_rate": choice(0.01, 0.1, 1.0), "--n_estimators": choice(10, 100)}),
            policy=None, primary_metric_name="AUC",
            primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=6)
    trial = est.fields
    trial["script_params"] = {"--epochs": "2"}  # the sampled parameter's fixed value is replaced
    assert hd.fields == {
        "type": "sweep", "trial": trial,
        "search_space": {"--learning_rate": {"type": "choice", "values": [0.01, 0.1, 1.0]},
                         "--n_estimators": {"type": "choice", "values": [10, 100]}},
        "sampling_algorithm": {"type": "grid"},
        "objective": {"primary_metric": "AUC", "goal": "maximize"},
        # max_concurrent_runs None: max_total_runs; max_duration_minutes 10080 in seconds
        "limits": {"max_total_trials": 6, "max_concurrent_trials": 6, "timeout": 604800}}
    assert hd.estimator is est and hd.run_config is None


def test_bayesian_document_and_policies(home):
    space = {"lr": uniform(0.05, 0.1), "epochs": choice(5, 10, 15), "n": quniform(1, 9, 2)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hd = HyperDriveConfig(run_config=script_config(),
                              hyperparameter_sampling=BayesianParameterSampling(space),
                              policy=NoTerminationPolicy(), primary_metric_name="loss",
                              primary_metric_goal=PrimaryMetricGoal.MINIMIZE, max_total_runs=30,
                              max_concurrent_runs=25)
    messages = [str(w.message) for w in caught]
    assert any("greater than or equal to 20 times the number of hyperparameters" in m and
               "Recommended value: 60" in m for m in messages)
    assert any("We recommend using 20 max concurrent runs or fewer" in m for m in messages)
    assert hd.fields["sampling_algorithm"] == {"type": "bayesian"}
    assert "early_termination" not in hd.fields
    assert hd.fields["search_space"] == {
        "lr": {"type": "uniform", "min_value": 0.05, "max_value": 0.1},
        "epochs": {"type": "choice", "values": [5, 10, 15]},
        "n": {"type": "quniform", "min_value": 1, "max_value": 9, "q": 2}}
    for policy in (BanditPolicy(slack_factor=0.1), MedianStoppingPolicy(),
                   TruncationSelectionPolicy(10)):
        with pytest.raises(HyperDriveScenarioNotSupportedException) as e:
            HyperDriveConfig(run_config=script_config(),
                             hyperparameter_sampling=BayesianParameterSampling(space),
                             policy=policy, primary_metric_name="loss",
                             primary_metric_goal=PrimaryMetricGoal.MINIMIZE, max_total_runs=60)
        assert "Early termination policy for Bayesian sampling" in e.value.message


def test_median_and_truncation_documents(home):
    def policy_doc(policy):
        return HyperDriveConfig(run_config=script_config(),
                                hyperparameter_sampling=RandomParameterSampling(
                                    {"x": normal(0, 1), "y": lognormal(0, 1),
                                     "z": qlognormal(1, 1, 1), "w": qnormal(0, 2, 1),
                                     "v": qloguniform(0, 3, 1), "s": randint(100)}),
                                policy=policy, primary_metric_name="m",
                                primary_metric_goal="minimize", max_total_runs=3).fields

    doc = policy_doc(MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=5))
    assert doc["early_termination"] == {"type": "median_stopping", "evaluation_interval": 1,
                                        "delay_evaluation": 5}
    assert doc["search_space"] == {
        "x": {"type": "normal", "mu": 0, "sigma": 1},
        "y": {"type": "lognormal", "mu": 0, "sigma": 1},
        "z": {"type": "qlognormal", "mu": 1, "sigma": 1, "q": 1},
        "w": {"type": "qnormal", "mu": 0, "sigma": 2, "q": 1},
        "v": {"type": "qloguniform", "min_value": 0, "max_value": 3, "q": 1},
        "s": {"type": "randint", "upper": 100}}
    assert doc["objective"] == {"primary_metric": "m", "goal": "minimize"}
    doc = policy_doc(TruncationSelectionPolicy(truncation_percentage=25, delay_evaluation=2))
    assert doc["early_termination"] == {"type": "truncation_selection", "evaluation_interval": 1,
                                        "delay_evaluation": 2, "truncation_percentage": 25}


def test_older_name_builds_a_hyperdrive_config(home):
    est = PyTorch(source_directory=".", entry_script="train.py")
    ps = RandomParameterSampling({"--lr": uniform(0.01, 0.1)})
    with pytest.warns(UserWarning, match="HyperDriveRunConfig is deprecated"):
        old = HyperDriveRunConfig(est, ps, "acc", PrimaryMetricGoal.MAXIMIZE, 5)
    assert type(old) is HyperDriveConfig
    new = HyperDriveConfig(estimator=est, hyperparameter_sampling=ps, primary_metric_name="acc",
                           primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=5)
    assert old.fields == new.fields
    with pytest.warns(UserWarning):
        via_run_config = HyperDriveRunConfig(None, ps, "acc", PrimaryMetricGoal.MAXIMIZE, 5,
                                             run_config=script_config())
    assert via_run_config.fields["trial"]["entry_script"] == "train.py"


def test_a_hyperdrive_config_is_not_a_trial(home):
    with pytest.raises(HyperDriveConfigException) as e:
        HyperDriveConfig(**hd_kwargs(run_config=None, estimator=HyperDriveConfig(**hd_kwargs())))
    assert "trial: a sweep cannot be the trial of a sweep" in e.value.message


def test_max_duration_over_the_service_limit_is_capped(home):
    with pytest.warns(UserWarning, match="exceeds the service limit of 10080 minutes"):
        hd = HyperDriveConfig(run_config=script_config(),
                              hyperparameter_sampling=RandomParameterSampling(
                                  {"a": uniform(0, 1)}),
                              primary_metric_name="m", primary_metric_goal="maximize",
                              max_total_runs=2, max_duration_minutes=20000)
    assert hd.fields["limits"]["timeout"] == 10080 * 60


# ---- HyperDriveConfig: errors ----

def hd_kwargs(**overrides):
    kwargs = dict(run_config=script_config(),
                  hyperparameter_sampling=RandomParameterSampling({"a": uniform(0, 1)}),
                  primary_metric_name="m", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                  max_total_runs=4)
    kwargs.update(overrides)
    return kwargs


@pytest.mark.parametrize("overrides, message", [
    ({"run_config": None}, "requires at least one of estimator, run_config, pipeline"),
    ({"estimator": "est"}, "requires only one of estimator, run_config, pipeline"),
    ({"run_config": "train.py"}, "run_config is expected to be of type ScriptRunConfig"),
    ({"hyperparameter_sampling": None}, "requires hyperparameter_sampling to be set"),
    ({"hyperparameter_sampling": {"a": uniform(0, 1)}}, "hyperparameter_sampling is expected"),
    ({"primary_metric_goal": "up"}, "either 'maximize' or 'minimize'"),
    ({"primary_metric_name": None}, "requires primary_metric_name"),
    ({"max_total_runs": 0}, "max_total_runs requires an integer between 1 and 1000, got 0"),
    ({"max_total_runs": 1001}, "max_total_runs requires an integer between 1 and 1000"),
    ({"max_total_runs": 4.0}, "max_total_runs is expected to be of type int"),
    ({"max_concurrent_runs": 101}, "max_concurrent_runs requires an integer between 1 and 100"),
    ({"max_concurrent_runs": 0}, "max_concurrent_runs requires an integer between 1 and 100"),
    ({"max_duration_minutes": 0}, "max_duration_minutes requires a positive number"),
    ({"hyperparameter_sampling": RandomParameterSampling({"a": loguniform(1, 1)})},
     "search_space.a: min_value must be less than max_value"),
    ({"hyperparameter_sampling": RandomParameterSampling({"a": normal(0, 0)})},
     "search_space.a.sigma: must be positive"),
    ({"hyperparameter_sampling": RandomParameterSampling({"a": uniform(0, 1)},
                                                         properties={"rule": "halton"})},
     "sampling_algorithm.rule: expected 'random' or 'sobol'"),
])
def test_config_errors(home, overrides, message):
    with pytest.raises(HyperDriveConfigException) as e:
        HyperDriveConfig(**hd_kwargs(**overrides))
    assert message in e.value.message


@pytest.mark.parametrize("overrides, message", [
    ({"run_config": None, "pipeline": object()}, "trainyard has no pipelines"),
    ({"resume_child_runs": [object()]}, "trainyard does not resume a sweep's child runs"),
])
def test_refused_features_name_the_trainyard_way(home, overrides, message):
    with pytest.raises(NotImplementedError) as e:
        HyperDriveConfig(**hd_kwargs(**overrides))
    assert message in str(e.value)


# ---- submission and the sweep's run ----

def test_submit_and_read_the_sweep(home):
    ws = Workspace.create("hd")
    exp = Experiment(ws, "hyperdrive")
    # experiment.submit(config), then the hosted calls on its run
    (home / "train.py").write_text(TRAIN)
    hd = HyperDriveConfig(run_config=script_config(arguments=["--epochs", 3, "--tag", "fixed"]),
                          hyperparameter_sampling=GridParameterSampling(
                              {"lr": choice(0.5, 0.25)}),
                          primary_metric_name="acc",
                          primary_metric_goal=PrimaryMetricGoal.MINIMIZE, max_total_runs=2)
    run = exp.submit(hd)
    run.wait_for_completion()
    hyperdrive_run = HyperDriveRun(exp, run.id, hyperdrive_config=hd)
    assert hyperdrive_run.get_status() == "Completed"
    best = hyperdrive_run.get_best_run_by_primary_metric()
    assert hyperdrive_run.get_hyperparameters()[best.id] == {"lr": 0.25}  # minimize: 0.25
    assert best.get_metrics()["acc"] == [0.25, 0.5, 0.75]
    assert [r["best_primary_metric"] for r in
            hyperdrive_run.get_children_sorted_by_primary_metric()] == [0.25, 0.5]


def test_hyperdrive_run_of_a_plain_run(home):
    ws = Workspace.create("hd")
    exp = Experiment(ws, "plain")
    run = exp.submit(script_config(arguments=["--lr", 0.1]))
    run.wait_for_completion()
    hd_run = HyperDriveRun(exp, run.id)
    assert hd_run.id == run.id and hd_run.type == "hyperdrive"
    assert hd_run.get_status() == "Completed"
    for call in (hd_run.get_best_run_by_primary_metric,
                 hd_run.get_children_sorted_by_primary_metric, hd_run.get_metrics,
                 hd_run.get_hyperparameters, lambda: list(hd_run.get_children())):
        with pytest.raises(ValueError) as e:
            call()
        assert "this run is not a sweep (kind 'run')" in str(e.value) and run.id in str(e.value)
    with pytest.raises(NotImplementedError) as e:
        hd_run.get_diagnostics()
    assert "supervisor.log" in str(e.value)
    # resume_from: the earlier sweeps' run ids, checked as hosted
    warm = HyperDriveConfig(**hd_kwargs(resume_from=hd_run))
    assert warm.fields["resume_from"] == [run.id]
    assert HyperDriveConfig(**hd_kwargs(resume_from=[hd_run])).fields["resume_from"] == [run.id]
    for resume_from, message in [
            ([hd_run] * 6, "the number of parent runs to not exceed 5"),
            ([hd_run, hd_run], "resume_from cannot contain duplicate runs"),
            ([run], "Parent run requires to be HyperDriveRun objects")]:
        with pytest.raises(HyperDriveConfigException) as e:
            HyperDriveConfig(**hd_kwargs(resume_from=resume_from))
        assert message in e.value.message
    with pytest.raises(NotImplementedError) as e:
        hd_run.fail()
    assert "run.cancel()" in str(e.value)
    with pytest.raises(NotImplementedError) as e:
        hd_run.hyperdrive_config
    assert "trainyard show" in str(e.value)
    hd = HyperDriveConfig(**hd_kwargs())
    assert HyperDriveRun(exp, run.id, hyperdrive_config=hd).hyperdrive_config is hd


def cli():
    """The trainyard CLI next to the SDK being tested (build/src/cli/trainyard)."""
    build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(trainyard.__file__))))
    return os.path.join(build, "src", "cli", "trainyard")


TRAIN = """import argparse
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--epochs", type=int)
p.add_argument("--tag")
a = p.parse_args()
from azureml.core import Run
run = Run.get_context()
for i in range(a.epochs):
    run.log("acc", round(a.lr * (i + 1), 6))
assert a.tag == "fixed"
"""


def test_a_real_sweep_read_through_hyperdrive_run(home):
    """A grid sweep run by the real controller (submitted with the CLI, from the document
    written as JSON), read through HyperDriveRun: children, hyperparameters, metrics, children
    sorted by the best primary metric, the best run and its arguments."""
    ws = Workspace.create("hd")
    ws.add_target("wide", max_concurrent_runs=4)  # the default local target may have one slot
    (home / "train.py").write_text(TRAIN)
    src = ScriptRunConfig(".", "train.py", compute_target="wide",
                          arguments=["--epochs", 2, "--lr", 0.01, "--tag", "fixed"])
    with pytest.warns(UserWarning, match="--lr 0.01"):
        hd = HyperDriveConfig(run_config=src,
                              hyperparameter_sampling=GridParameterSampling(
                                  {"--lr": choice(0.1, 0.3, 0.2)}),
                              primary_metric_name="acc",
                              primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                              max_total_runs=3, max_concurrent_runs=3)
    (home / "sweep.json").write_text(json.dumps(hd.fields))
    env = dict(os.environ, TRAINYARD_WORKSPACE=ws.path)
    done = subprocess.run([cli(), "submit", "sweep.json", "--wait"], cwd=home, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    sweep_id = re.search(r"\bdefault_\d+_[0-9a-f]{8}\b", done.stdout).group(0)  # printed first
    exp = Experiment(ws, "default")
    hd_run = HyperDriveRun(exp, sweep_id, hyperdrive_config=hd)
    assert hd_run.get_status() == "Completed"

    children = list(hd_run.get_children())
    assert len(children) == 3
    params = hd_run.get_hyperparameters()
    assert [params[c.id] for c in children] == [{"--lr": 0.1}, {"--lr": 0.3}, {"--lr": 0.2}]
    metrics = hd_run.get_metrics()
    assert [metrics[c.id]["acc"] for c in children] == [[0.1, 0.2], [0.3, 0.6], [0.2, 0.4]]

    ranked = hd_run.get_children_sorted_by_primary_metric()
    assert [(r["run_id"], r["hyperparameters"], r["best_primary_metric"], r["status"])
            for r in ranked] == [(children[1].id, {"--lr": 0.3}, 0.6, "Completed"),
                                 (children[2].id, {"--lr": 0.2}, 0.4, "Completed"),
                                 (children[0].id, {"--lr": 0.1}, 0.2, "Completed")]
    assert [r["run_id"] for r in hd_run.get_children_sorted_by_primary_metric(reverse=True)] == [
        children[0].id, children[2].id, children[1].id]
    assert len(hd_run.get_children_sorted_by_primary_metric(top=1)) == 1

    best = hd_run.get_best_run_by_primary_metric()
    assert best.id == children[1].id
    args = best.get_details()["arguments"]
    assert args[args.index("--lr") + 1] == "0.3" and "0.01" not in args  # the fixed one dropped
    assert args[args.index("--tag") + 1] == "fixed"


def test_the_pytorch_notebook_cells(home):
    """Azure/MachineLearningNotebooks, ml-frameworks/pytorch/train-hyperparameter-tune-deploy-
    with-pytorch: the ScriptRunConfig (without its Docker GPU environment and compute target)
    and the "Start a hyperparameter sweep" cell, verbatim."""
    project_folder = str(home / "pytorch-birds")
    os.makedirs(project_folder)
    (home / "pytorch-birds" / "pytorch_train.py").write_text("print('train')\n")
    src = ScriptRunConfig(source_directory=project_folder,
                          script='pytorch_train.py',
                          arguments=['--num_epochs', 30, '--output_dir', './outputs'])

    from azureml.train.hyperdrive import RandomParameterSampling, BanditPolicy, HyperDriveConfig, uniform, PrimaryMetricGoal  # noqa: E501,F811

    param_sampling = RandomParameterSampling( {  # noqa: E201
            'learning_rate': uniform(0.0005, 0.005),
            'momentum': uniform(0.9, 0.99)
        }
    )

    early_termination_policy = BanditPolicy(slack_factor=0.15, evaluation_interval=1, delay_evaluation=10)  # noqa: E501

    hyperdrive_config = HyperDriveConfig(run_config=src,
                                         hyperparameter_sampling=param_sampling,
                                         policy=early_termination_policy,
                                         primary_metric_name='best_val_acc',
                                         primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                                         max_total_runs=8,
                                         max_concurrent_runs=4)

    doc = hyperdrive_config.fields
    assert doc["trial"]["source_directory"] == project_folder
    assert doc["trial"]["entry_script"] == "pytorch_train.py"
    assert doc["trial"]["extra_args"] == ["--num_epochs", "30", "--output_dir", "./outputs"]
    assert doc["search_space"] == {
        "learning_rate": {"type": "uniform", "min_value": 0.0005, "max_value": 0.005},
        "momentum": {"type": "uniform", "min_value": 0.9, "max_value": 0.99}}
    assert doc["sampling_algorithm"] == {"type": "random"}
    assert doc["objective"] == {"primary_metric": "best_val_acc", "goal": "maximize"}
    assert doc["early_termination"] == {"type": "bandit", "evaluation_interval": 1,
                                        "delay_evaluation": 10, "slack_factor": 0.15}
    assert doc["limits"] == {"max_total_trials": 8, "max_concurrent_trials": 4,
                             "timeout": 604800}

    hyperdrive_config._to_trainyard().validate()  # the C++ reader accepts the document


def test_documents_pass_the_cpp_reader(home):
    configs = [
        HyperDriveConfig(**hd_kwargs(policy=TruncationSelectionPolicy(10))),
        HyperDriveConfig(**hd_kwargs(hyperparameter_sampling=GridParameterSampling(
            {"--b": choice(1, 2)}), policy=MedianStoppingPolicy())),
        HyperDriveConfig(**hd_kwargs(
            estimator=PyTorch(source_directory=".", entry_script="train.py"), run_config=None,
            hyperparameter_sampling=RandomParameterSampling(
                {"lr": loguniform(-5, -1), "m": quniform(0, 10, 1)},
                properties={"seed": 3}),
            policy=BanditPolicy(slack_amount=0.1))),
    ]
    for hd in configs:
        hd._to_trainyard().validate()
