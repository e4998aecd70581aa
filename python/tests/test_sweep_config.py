"""trainyard.Sweep and trainyard.sweep (issue 15, Python side): the ten distributions, sampling,
objective, early termination and limits, each one's validation, and the document a sweep
produces (the hosted CLI v2 sweep-job YAML shape, reference-yaml-job-sweep), compared with
hand-written documents; submission goes through the C++ reader in a fresh workspace."""

import json
import warnings

import pytest

import trainyard
from trainyard import sweep


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh folder as the current folder, with a tiny script, and a fresh workspace."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRAINYARD_WORKSPACE", str(tmp_path / "ws"))
    (tmp_path / "train.py").write_text("import sys\nprint(sys.argv[1:])\n")
    return tmp_path


def estimator(**extra):
    return trainyard.PyTorch(source_directory=".", entry_script="train.py", **extra)


def simple(**overrides):
    args = dict(trial=estimator(), search_space={"lr": sweep.uniform(0.01, 0.1)},
                sampling="random", objective=sweep.Objective("loss", "minimize"),
                limits=sweep.Limits(max_total_trials=4))
    args.update(overrides)
    return trainyard.Sweep(**args)


# ---- the ten distributions ----

def test_each_distribution_gives_the_yaml_form():
    assert sweep.choice(16, 32, 64) == {"type": "choice", "values": [16, 32, 64]}
    assert sweep.choice([0.1, "a", True]) == {"type": "choice", "values": [0.1, "a", True]}
    assert sweep.choice(range(3)) == {"type": "choice", "values": [0, 1, 2]}
    assert sweep.randint(10) == {"type": "randint", "upper": 10}
    assert sweep.uniform(0.5, 1) == {"type": "uniform", "min_value": 0.5, "max_value": 1}
    assert sweep.quniform(0, 10, 2) == {"type": "quniform", "min_value": 0, "max_value": 10,
                                        "q": 2}
    assert sweep.loguniform(-6, -1) == {"type": "loguniform", "min_value": -6, "max_value": -1}
    assert sweep.qloguniform(0, 5, 1) == {"type": "qloguniform", "min_value": 0, "max_value": 5,
                                          "q": 1}
    assert sweep.normal(10, 3) == {"type": "normal", "mu": 10, "sigma": 3}
    assert sweep.qnormal(10, 3, 0.5) == {"type": "qnormal", "mu": 10, "sigma": 3, "q": 0.5}
    assert sweep.lognormal(0, 1) == {"type": "lognormal", "mu": 0, "sigma": 1}
    assert sweep.qlognormal(0, 1, 1) == {"type": "qlognormal", "mu": 0, "sigma": 1, "q": 1}


@pytest.mark.parametrize("make, message", [
    (lambda: sweep.choice(), "choice.values: expected a non-empty list"),
    (lambda: sweep.choice([]), "choice.values: expected a non-empty list"),
    (lambda: sweep.choice(1, {"a": 1}), "choice.values[1]: expected a number, string or boolean"),
    (lambda: sweep.choice(1, float("nan")), "choice.values[1]: expected a finite number"),
    (lambda: sweep.randint(0), "randint.upper: must be at least 1"),
    (lambda: sweep.randint(2.5), "randint.upper: expected an integer"),
    (lambda: sweep.uniform(1, 1), "uniform: min_value must be less than max_value"),
    (lambda: sweep.uniform("0", 1), "uniform.min_value: expected a number"),
    (lambda: sweep.uniform(True, 2), "uniform.min_value: expected a number"),
    (lambda: sweep.quniform(0, 1, 0), "quniform.q: must be positive"),
    (lambda: sweep.loguniform(2, 1), "loguniform: min_value must be less than max_value"),
    (lambda: sweep.qloguniform(0, 1, -1), "qloguniform.q: must be positive"),
    (lambda: sweep.normal(0, 0), "normal.sigma: must be positive"),
    (lambda: sweep.qnormal(0, 1, 0), "qnormal.q: must be positive"),
    (lambda: sweep.lognormal(0, -1), "lognormal.sigma: must be positive"),
    (lambda: sweep.qlognormal(0, float("inf"), 1), "qlognormal.sigma: expected a finite number"),
])
def test_distribution_errors(make, message):
    with pytest.raises(ValueError) as e:
        make()
    assert message in str(e.value)


def test_search_space_takes_the_yaml_dict_and_the_hosted_list_forms():
    yaml_form = simple(search_space={
        "lr": {"type": "loguniform", "min_value": -6, "max_value": -1},
        "batch": {"type": "choice", "values": [16, 32]},
        "seed": {"type": "randint", "upper": 5}})
    hosted_form = simple(search_space={
        "lr": ["loguniform", [-6, -1]], "batch": ["choice", [[16, 32]]], "seed": ["randint", [5]]})
    assert yaml_form.fields["search_space"] == hosted_form.fields["search_space"] == {
        "lr": {"type": "loguniform", "min_value": -6, "max_value": -1},
        "batch": {"type": "choice", "values": [16, 32]},
        "seed": {"type": "randint", "upper": 5}}


@pytest.mark.parametrize("space, message", [
    ({}, "search_space: expected a non-empty dict"),
    ({"lr": 0.1}, "search_space.lr: expected a distribution"),
    ({"lr": {"type": "gaussian", "mu": 0}}, "search_space.lr.type: expected one of choice"),
    ({"lr": {"type": "uniform", "min_value": 0}}, "search_space.lr.max_value: required field"),
    ({"lr": {"type": "uniform", "min_value": 0, "max_value": 1, "q": 1}},
     "search_space.lr.q: not a field of uniform"),
    ({"lr": ["uniform", [0]]}, "search_space.lr: uniform takes 2 arguments"),
    ({"lr": ["beta", [0, 1]]}, "search_space.lr: unknown distribution 'beta'"),
    ({"--lr": sweep.uniform(0, 1), "lr": sweep.uniform(0, 1)},
     "search_space.lr: the parameter is given twice"),
    ({"learning rate": sweep.uniform(0, 1)}, "search_space: 'learning rate' is not a parameter"),
    ({"lr": {"type": "normal", "mu": 0, "sigma": 0}}, "search_space.lr.sigma: must be positive"),
])
def test_search_space_errors_name_the_field(space, message):
    with pytest.raises(ValueError) as e:
        simple(search_space=space)
    assert message in str(e.value)


# ---- sampling, objective, limits, policies ----

def test_sampling_forms():
    assert simple(sampling="random").fields["sampling_algorithm"] == {"type": "random"}
    assert simple(sampling="bayesian").fields["sampling_algorithm"] == {"type": "bayesian"}
    assert simple(sampling=sweep.RandomSampling(seed=3, rule="sobol")).fields[
        "sampling_algorithm"] == {"type": "random", "seed": 3, "rule": "sobol"}
    assert simple(sampling={"type": "random", "seed": 9}).fields["sampling_algorithm"] == {
        "type": "random", "seed": 9}
    grid = simple(sampling=sweep.GridSampling(), search_space={"b": sweep.choice(1, 2)},
                  limits=None)
    assert grid.fields["sampling_algorithm"] == {"type": "grid"}
    assert "limits" not in grid.fields  # a grid runs every combination


@pytest.mark.parametrize("sampling, error, message", [
    ("sobol", ValueError, "sampling_algorithm: expected one of random, grid, bayesian"),
    ({"type": "random", "rule": "halton"}, ValueError, "sampling_algorithm.rule: expected"),
    ({"type": "random", "seeds": 1}, ValueError, "sampling_algorithm.seeds: not a field"),
    ({"type": "grid", "seed": 1}, ValueError, "sampling_algorithm.seed: not a field of grid"),
    ({"type": "random", "seed": -1}, ValueError, "sampling_algorithm.seed: must be at least 0"),
    (42, TypeError, "sampling: expected 'random', 'grid', 'bayesian'"),
])
def test_sampling_errors(sampling, error, message):
    with pytest.raises(error) as e:
        simple(sampling=sampling)
    assert message in str(e.value)


def test_grid_takes_only_choice():
    with pytest.raises(ValueError) as e:
        simple(sampling="grid", search_space={"b": sweep.choice(1, 2), "lr": sweep.uniform(0, 1)})
    assert "search_space.lr: grid sampling takes only choice parameters, got uniform" in str(
        e.value)


def test_limits_left_out_are_the_readers_defaults():
    for sampling in ("random", "bayesian"):
        assert "limits" not in simple(sampling=sampling, limits=None).fields


def test_the_sweep_runs_own_fields():
    class FakeRun:
        id = "abc123"

    cfg = simple(name="s1", display_name="first sweep", description="lr only",
                 properties={"k": 1}, resume_from=["r1", FakeRun()])
    assert {k: cfg.fields[k] for k in ("name", "display_name", "description", "properties",
                                       "resume_from")} == {
        "name": "s1", "display_name": "first sweep", "description": "lr only",
        "properties": {"k": "1"}, "resume_from": ["r1", "abc123"]}
    assert simple(resume_from="r9").fields["resume_from"] == ["r9"]
    for bad, message in [(5, "resume_from: expected earlier sweeps"),
                         ([""], "resume_from[0]: expected a run id"),
                         (["a", 3], "resume_from[1]: expected a run id")]:
        with pytest.raises(ValueError) as e:
            simple(resume_from=bad)
        assert message in str(e.value)
    with pytest.raises(ValueError) as e:
        simple(name=3)
    assert "name: expected a string" in str(e.value)


def test_objective():
    assert simple(objective={"primary_metric": "acc", "goal": "MAXIMIZE"}).fields[
        "objective"] == {"primary_metric": "acc", "goal": "maximize"}
    for objective, message in [
            ({"primary_metric": "acc"}, "objective.goal: required field is missing"),
            ({"primary_metric": "acc", "goal": "max"}, "objective.goal: expected 'maximize'"),
            ({"primary_metric": "", "goal": "minimize"}, "objective.primary_metric: expected"),
            ({"primary_metric": "a", "goal": "minimize", "x": 1}, "objective.x: not a field")]:
        with pytest.raises(ValueError) as e:
            simple(objective=objective)
        assert message in str(e.value)
    with pytest.raises(TypeError):
        simple(objective="acc")


def test_limits():
    assert simple(limits={"max_total_trials": 8, "max_concurrent_trials": 2, "timeout": 60.0,
                          "trial_timeout": 7.5}).fields["limits"] == {
        "max_total_trials": 8, "max_concurrent_trials": 2, "timeout": 60, "trial_timeout": 7.5}
    for limits, message in [
            ({"max_total_trials": 0}, "limits.max_total_trials: must be at least 1"),
            ({"max_total_trials": 2, "max_concurrent_trials": 1.5},
             "limits.max_concurrent_trials: expected an integer"),
            ({"max_total_trials": 2, "timeout": 0}, "limits.timeout: must be a positive number"),
            ({"max_total_trials": 2, "trial_timeout": -1}, "limits.trial_timeout: must be"),
            ({"max_total_trials": 2, "max_trials": 3}, "limits.max_trials: not a field")]:
        with pytest.raises(ValueError) as e:
            simple(limits=limits)
        assert message in str(e.value)


def test_policies_documents():
    def policy(p):
        return simple(early_termination=p).fields.get("early_termination")

    assert policy(sweep.BanditPolicy(slack_factor=0.2, evaluation_interval=2,
                                     delay_evaluation=4)) == {
        "type": "bandit", "evaluation_interval": 2, "delay_evaluation": 4, "slack_factor": 0.2}
    assert policy(sweep.BanditPolicy(slack_amount=0.05)) == {
        "type": "bandit", "evaluation_interval": 1, "delay_evaluation": 0, "slack_amount": 0.05}
    assert policy(sweep.MedianStoppingPolicy(delay_evaluation=5)) == {
        "type": "median_stopping", "evaluation_interval": 1, "delay_evaluation": 5}
    assert policy(sweep.TruncationSelectionPolicy(20, evaluation_interval=3)) == {
        "type": "truncation_selection", "evaluation_interval": 3, "delay_evaluation": 0,
        "truncation_percentage": 20}
    assert policy(sweep.AshaPolicy(grace_period=2, reduction_factor=3, max_t=18)) == {
        "type": "asha", "grace_period": 2, "reduction_factor": 3, "max_t": 18}
    assert policy(sweep.BanditPolicy(slack_amount=0)) == {
        "type": "bandit", "evaluation_interval": 1, "delay_evaluation": 0, "slack_amount": 0}
    assert policy(sweep.AshaPolicy(max_t=0)) == {"type": "asha", "grace_period": 1,
                                                 "reduction_factor": 3, "max_t": 0}
    assert policy({"type": "median_stopping", "evaluation_interval": 2}) == {
        "type": "median_stopping", "evaluation_interval": 2, "delay_evaluation": 0}
    assert policy(None) is None
    assert policy(sweep.NoTerminationPolicy()) is None


@pytest.mark.parametrize("make, message", [
    (lambda: sweep.BanditPolicy(), "exactly one of slack_factor and slack_amount"),
    (lambda: sweep.BanditPolicy(slack_factor=0.1, slack_amount=0.1), "exactly one of"),
    (lambda: sweep.BanditPolicy(slack_factor=0), "early_termination.slack_factor: must be "
                                                 "positive"),
    (lambda: sweep.BanditPolicy(slack_amount=-0.1), "early_termination.slack_amount: must not"),
    (lambda: sweep.BanditPolicy(slack_factor=0.1, evaluation_interval=0),
     "early_termination.evaluation_interval: must be at least 1"),
    (lambda: sweep.MedianStoppingPolicy(delay_evaluation=-1),
     "early_termination.delay_evaluation: must be at least 0"),
    (lambda: sweep.TruncationSelectionPolicy(0), "truncation_percentage: must be between 1 and 99"),
    (lambda: sweep.TruncationSelectionPolicy(100), "must be between 1 and 99, got 100"),
    (lambda: sweep.AshaPolicy(reduction_factor=1), "early_termination.reduction_factor"),
    (lambda: sweep.AshaPolicy(grace_period=3, max_t=2), "early_termination.max_t: must be 0"),
    (lambda: simple(early_termination={"type": "hyperband"}), "early_termination.type: expected"),
    (lambda: simple(early_termination={"type": "bandit", "slack": 1}), "early_termination: bandit"),
])
def test_policy_errors(make, message):
    with pytest.raises(ValueError) as e:
        make()
    assert message in str(e.value)


# ---- whole documents ----

def test_estimator_trial_document(home):
    trial = estimator(script_params={"--epochs": 3, "--verbose": None}, node_count=1)
    cfg = trainyard.Sweep(
        trial=trial,
        search_space={"--lr": sweep.loguniform(-6, -1), "momentum": sweep.uniform(0.5, 0.99),
                      "hidden": sweep.choice(32, 64, 128)},
        sampling=sweep.RandomSampling(seed=7),
        objective=sweep.Objective("accuracy", "maximize"),
        early_termination=sweep.BanditPolicy(slack_factor=0.1, evaluation_interval=1,
                                             delay_evaluation=2),
        limits=sweep.Limits(max_total_trials=20, max_concurrent_trials=4, timeout=3600),
        experiment_name="digits", tags={"team": "vision", "n": 1})
    assert cfg.fields == {
        "type": "sweep",
        "trial": {"source_directory": ".", "entry_script": "train.py",
                  "script_params": {"--epochs": 3, "--verbose": None}, "node_count": 1},
        "search_space": {
            "--lr": {"type": "loguniform", "min_value": -6, "max_value": -1},
            "momentum": {"type": "uniform", "min_value": 0.5, "max_value": 0.99},
            "hidden": {"type": "choice", "values": [32, 64, 128]}},
        "sampling_algorithm": {"type": "random", "seed": 7},
        "objective": {"primary_metric": "accuracy", "goal": "maximize"},
        "early_termination": {"type": "bandit", "evaluation_interval": 1,
                              "delay_evaluation": 2, "slack_factor": 0.1},
        "limits": {"max_total_trials": 20, "max_concurrent_trials": 4, "timeout": 3600},
        "experiment_name": "digits",
        "tags": {"team": "vision", "n": "1"}}
    assert json.loads(cfg._document) == cfg.fields
    assert list(cfg.fields["search_space"]) == ["--lr", "momentum", "hidden"]  # order kept
    assert cfg._base_dir == str(home)


def test_command_trial_as_a_document(home):
    cfg = trainyard.Sweep(
        trial={"code": ".", "command": "python train.py --lr ${{search_space.lr}}",
               "environment": "/usr/bin/python3"},
        search_space={"lr": sweep.uniform(0.001, 0.1)},
        sampling="bayesian", objective={"primary_metric": "loss", "goal": "minimize"},
        limits={"max_total_trials": 10, "max_concurrent_trials": 2})
    assert cfg.fields == {
        "type": "sweep",
        "trial": {"code": ".", "command": "python train.py --lr ${{search_space.lr}}",
                  "environment": "/usr/bin/python3"},
        "search_space": {"lr": {"type": "uniform", "min_value": 0.001, "max_value": 0.1}},
        "sampling_algorithm": {"type": "bayesian"},
        "objective": {"primary_metric": "loss", "goal": "minimize"},
        "limits": {"max_total_trials": 10, "max_concurrent_trials": 2}}


def test_command_trial_object(home):
    cmd = trainyard.Command(code=".", command="python train.py", compute="local")
    cfg = simple(trial=cmd, sampling="grid", search_space={"opt": sweep.choice("sgd", "adam")},
                 limits={"max_concurrent_trials": 2})
    assert cfg.fields["trial"] == {"code": ".", "command": "python train.py", "compute": "local"}
    assert cfg.fields["limits"] == {"max_concurrent_trials": 2}


def test_a_trial_must_be_a_job(home):
    with pytest.raises(TypeError) as e:
        simple(trial="train.py")
    assert "cannot submit a str" in str(e.value)
    with pytest.raises(ValueError) as e:
        simple(trial=simple())
    assert "a sweep cannot be the trial of a sweep" in str(e.value)


def test_sampled_script_params_are_replaced_with_a_warning(home):
    trial = estimator(script_params={"--lr": 0.1, "--epochs": 2, "batch": 8})
    with pytest.warns(UserWarning, match=r"\['--lr', 'batch'\]"):
        cfg = simple(trial=trial, search_space={"lr": sweep.uniform(0, 1),
                                                "--batch": sweep.choice(8, 16)})
    assert cfg.fields["trial"]["script_params"] == {"--epochs": 2}
    assert trial.fields["script_params"] == {"--lr": 0.1, "--epochs": 2, "batch": 8}  # untouched
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        simple(trial=estimator(script_params={"--epochs": 2}))  # nothing to replace: no warning


def test_sampled_extra_args_are_replaced_with_a_warning(home):
    """extra_args come after script_params on the command line: a fixed `--lr 0.1` there would
    override the sampled value, so it is removed."""
    trial = {"source_directory": ".", "entry_script": "train.py",
             "extra_args": ["--data", "x", "--lr", "0.1", "--m=0.9", "--bias", "-0.5", "--lr",
                            "--verbose", "--keep", "1"]}
    with pytest.warns(UserWarning, match=r"\['--lr 0.1', '--m=0.9', '--bias -0.5', '--lr'\]"):
        cfg = simple(trial=trial, search_space={"lr": sweep.uniform(0, 1),
                                                "--m": sweep.uniform(0, 1),
                                                "bias": sweep.normal(0, 1)})
    assert cfg.fields["trial"]["extra_args"] == ["--data", "x", "--verbose", "--keep", "1"]
    assert trial["extra_args"][2:4] == ["--lr", "0.1"]  # the caller's document is untouched


# ---- submission: the document goes to the C++ reader ----

def test_the_cpp_reader_checks_at_construction_and_submit_runs(home):
    bad = dict(trial={"source_directory": ".", "entry_script": "train.py", "node_cuont": 1})
    with pytest.raises(ValueError) as e:
        simple(**bad)
    assert str(e.value).startswith("<Sweep>: ")
    assert 'trial.node_cuont: unknown field (did you mean "node_count"?)' in str(e.value)
    with pytest.raises(ValueError) as e:  # the trial's own reader, through the sweep's
        simple(trial={"code": ".", "command": "python train.py --lr ${{search_space.rate}}"})
    assert "trial.command" in str(e.value) and "rate" in str(e.value)
    ws = trainyard.Workspace()
    exp = trainyard.Experiment(ws, "sweeps")
    # the SDK runs a sweep: a run of kind sweep whose trials name it as their parent
    cfg = simple(sampling="grid", search_space={"opt": sweep.choice("sgd", "adam")}, limits=None)
    run = exp.submit(cfg)
    assert run.get_details()["trainyard"]["kind"] == "sweep"
    run.wait_for_completion()
    trials = [r for r in exp.get_runs()
              if r.get_details()["trainyard"].get("parent_id") == run.id]
    assert sorted(r.get_details()["arguments"][-1] for r in trials) == ["adam", "sgd"]


REPRESENTATIVE = {
    "estimator_random_bandit": lambda: trainyard.Sweep(
        trial=estimator(script_params={"--epochs": 3}),
        search_space={"--lr": sweep.loguniform(-6, -1), "momentum": sweep.uniform(0.5, 0.99),
                      "hidden": sweep.choice(32, 64, 128), "seed": sweep.randint(100)},
        sampling=sweep.RandomSampling(seed=7, rule="sobol"),
        objective=sweep.Objective("accuracy", "maximize"),
        early_termination=sweep.BanditPolicy(slack_factor=0.1, delay_evaluation=2),
        limits=sweep.Limits(max_total_trials=20, max_concurrent_trials=4, timeout=3600,
                            trial_timeout=600)),
    "grid_median": lambda: simple(
        sampling="grid", search_space={"b": sweep.choice(16, 32), "opt": sweep.choice("a", "b")},
        early_termination=sweep.MedianStoppingPolicy(delay_evaluation=5), limits=None),
    "bayesian_quantized": lambda: simple(
        sampling="bayesian",
        search_space={"n": sweep.quniform(1, 9, 2), "w": sweep.qnormal(0, 1, 0.5),
                      "v": sweep.qloguniform(0, 3, 1), "z": sweep.qlognormal(0, 1, 1),
                      "y": sweep.normal(0, 1), "x": sweep.lognormal(0, 1)}),
    "truncation": lambda: simple(early_termination=sweep.TruncationSelectionPolicy(20)),
    "asha": lambda: simple(early_termination=sweep.AshaPolicy(grace_period=1, reduction_factor=3,
                                                              max_t=9)),
    "command_document": lambda: simple(
        trial={"code": ".", "command": "python train.py --lr ${{search_space.lr}}"}),
}


@pytest.mark.parametrize("name", sorted(REPRESENTATIVE))
def test_representative_documents_pass_the_cpp_reader(home, name):
    cfg = REPRESENTATIVE[name]()  # checked by the C++ reader at construction
    cfg.validate()  # and again on demand
