"""The digits sweep (sweep.yml) from Python, with trainyard's SDK or the hosted SDK's names.

    /usr/bin/python3 examples/digits-sweep/submit_sweep.py [--workspace DIR] [--trials N]
    /usr/bin/python3 examples/digits-sweep/submit_sweep.py --hyperdrive [--trials N]

Default: trainyard.Sweep (python/trainyard/sweep.py, docs/sweeps-python.md) in the workspace the
CLI uses, so `trainyard sweep show ID` shows it. --hyperdrive: the same sweep written with
azureml.train.hyperdrive's HyperDriveConfig, as a hosted notebook writes it, in the local
workspace that azureml's Workspace.create("digits") maps to. Both documents go to the same C++
reader as `trainyard sweep submit sweep.yml`; the sweep runs in its own detached controller.

The trials train with SGD (--optimizer sgd); the sweep covers its learning rate and momentum,
the hidden size, the epochs and the batch size.
"""
import argparse
import os

here = os.path.dirname(os.path.abspath(__file__))
digits = os.path.join(here, "..", "digits")
parser = argparse.ArgumentParser()
parser.add_argument("--workspace", default=None, help="default: as the CLI (trainyard.Sweep)")
parser.add_argument("--trials", type=int, default=20)
parser.add_argument("--hyperdrive", action="store_true",
                    help="use azureml.train.hyperdrive's names (the hosted SDK)")
args = parser.parse_args()


def with_trainyard():
    import trainyard
    from trainyard import sweep

    ws = trainyard.Workspace(args.workspace)
    trial = trainyard.PyTorch(source_directory=digits, entry_script="train.py",
                              script_params={"--seed": 0, "--optimizer": "sgd"},
                              environment_variables={"OMP_NUM_THREADS": "1"})
    config = trainyard.Sweep(
        trial=trial,  # each trial gets --seed 0 --lr VALUE --hidden VALUE ...
        search_space={"--lr": sweep.loguniform(-6.9, -0.7),
                      "--momentum": sweep.uniform(0.5, 0.99),
                      "--hidden": sweep.choice(32, 64, 128, 256),
                      "--epochs": sweep.choice(5, 10, 20),
                      "--batch-size": sweep.choice(32, 64, 128)},
        sampling=sweep.RandomSampling(seed=7),
        objective=sweep.Objective("test_acc", "maximize"),
        early_termination=sweep.BanditPolicy(slack_factor=0.1, evaluation_interval=1,
                                             delay_evaluation=3),
        limits=sweep.Limits(max_total_trials=args.trials, max_concurrent_trials=2,
                            timeout=3600, trial_timeout=300))
    run = trainyard.Experiment(ws, "digits-sweep").submit(config)
    print("sweep", run.id, "(trainyard sweep show %s)" % run.id, flush=True)
    run.wait_for_completion(show_output=False)
    print("status:", run.get_status())


def with_hyperdrive():
    from azureml.core import Environment, Experiment, ScriptRunConfig, Workspace
    from azureml.train.hyperdrive import (BanditPolicy, HyperDriveConfig,
                                          PrimaryMetricGoal, RandomParameterSampling, choice,
                                          loguniform, uniform)

    ws = Workspace.create("digits", exist_ok=True)
    env = Environment("digits")
    env.python.user_managed_dependencies = True  # trainyard's interpreter as it is (torch)
    env.environment_variables = {"OMP_NUM_THREADS": "1"}
    src = ScriptRunConfig(source_directory=digits, script="train.py", arguments=["--seed", 0, "--optimizer", "sgd"],
                          environment=env)
    sampling = RandomParameterSampling({
        "--lr": loguniform(-6.9, -0.7),
        "--momentum": uniform(0.5, 0.99),
        "--hidden": choice(32, 64, 128, 256),
        "--epochs": choice(5, 10, 20),
        "--batch-size": choice(32, 64, 128),
    }, properties={"seed": 7})
    policy = BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=3)
    config = HyperDriveConfig(run_config=src, hyperparameter_sampling=sampling, policy=policy,
                              primary_metric_name="test_acc",
                              primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                              max_total_runs=args.trials, max_concurrent_runs=2,
                              max_duration_minutes=60)
    experiment = Experiment(ws, "digits-sweep")
    run = experiment.submit(config)
    print("sweep", run.id, flush=True)
    run.wait_for_completion(show_output=False)
    hd_run = run  # experiment.submit(HyperDriveConfig) returns a HyperDriveRun, as hosted
    for row in hd_run.get_children_sorted_by_primary_metric(top=5):
        print(row["run_id"], row["status"], row["best_primary_metric"], row["hyperparameters"])
    best = hd_run.get_best_run_by_primary_metric()
    print("best run:", best.id, best.get_details()["runDefinition"]["arguments"])


if args.hyperdrive:
    with_hyperdrive()
else:
    with_trainyard()
