"""The mlflow compatibility package (docs/mlflow.md): MLflow's fluent API (mlflow.org's
python_api/mlflow.html) over the trainyard run, offline and in real runs, where what a script
logs with MLflow comes back through trainyard's own Run.get_metrics / get_tags / get_properties /
get_file_names."""
import os
import textwrap

import pytest

import trainyard
from script_runner import run_script

# The package as the runner puts it on a run's path (build/python-compat/mlflow), for this process
# and the scripts below; the real runs get it from trainyard's runner itself.
BUILD = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(trainyard.__file__))))
COMPAT = os.path.join(BUILD, "python-compat", "mlflow")
TRAINYARD_PY = os.path.dirname(os.path.dirname(os.path.abspath(trainyard.__file__)))


def offline_env():
    return {"PYTHONPATH": os.pathsep.join([TRAINYARD_PY, COMPAT]),
            "TRAINYARD_OFFLINE_QUIET": "1", "MLFLOW_TRACKING_URI": "", "MLFLOW_RUN_ID": ""}


OFFLINE = r"""
import json, os, sys
import mlflow, mlflow.sklearn, mlflow.pytorch
from mlflow.exceptions import MlflowException
assert "python-compat" in mlflow.__file__, mlflow.__file__

assert mlflow.active_run() is None
with mlflow.start_run(run_name="first", tags={"team": "vision"}, description="d") as run:
    assert mlflow.active_run() is run
    assert run.info.run_id.startswith("OfflineRun_") and run.info.run_id == run.info.run_uuid
    assert run.info.status == "RUNNING" and run.info.run_name == "first"
    mlflow.log_metric("loss", 0.5)
    mlflow.log_metric("loss", 0.25, step=7)
    mlflow.log_metrics({"acc": 0.75, "f1": 0.5}, step=1)
    assert mlflow.log_param("lr", 0.01) == 0.01
    mlflow.log_params({"optimizer": "sgd", "epochs": 3})
    mlflow.log_param("lr", 0.01)  # the same value again: fine
    try:
        mlflow.log_param("lr", 0.1)
        raise AssertionError("a changed param was accepted")
    except MlflowException as e:
        assert e.error_code == "INVALID_PARAMETER_VALUE", e.error_code
        assert "Changing param values is not allowed" in e.message, e.message
    mlflow.set_tag("stage", "train")
    mlflow.set_tags({"n": 3})
    data = run.data
    assert data.metrics == {"loss": 0.25, "acc": 0.75, "f1": 0.5}, data.metrics
    assert data.params == {"lr": "0.01", "optimizer": "sgd", "epochs": "3"}, data.params
    assert data.tags["stage"] == "train" and data.tags["n"] == "3", data.tags
    assert data.tags["mlflow.runName"] == "first" and data.tags["mlflow.note.content"] == "d"
    assert data.tags["team"] == "vision"
    # One run at a time; nested and other runs are refused, saying so.
    for call, error in [(lambda: mlflow.start_run(), MlflowException),
                        (lambda: mlflow.start_run(nested=True), NotImplementedError),
                        (lambda: mlflow.log_metric("x", 1, run_id="other"), MlflowException),
                        (lambda: mlflow.get_run("other"), MlflowException),
                        (lambda: mlflow.log_metric("x", "high"), ValueError),
                        (lambda: mlflow.log_metric("bad\nname", 1), ValueError)]:
        try:
            call()
            raise AssertionError("accepted")
        except error:
            pass
    assert mlflow.get_run(run.info.run_id).data.metrics["loss"] == 0.25
    # Artifacts are checked offline (uploaded in a run).
    open("notes.txt", "w").write("hi")
    mlflow.log_artifact("notes.txt", artifact_path="docs")
    mlflow.log_text("text", "a/b.txt")
    mlflow.log_dict({"k": 1}, "cfg.json")
    mlflow.log_dict({"k": 1}, "cfg.yaml")
    try:
        mlflow.log_artifact("missing.txt")
        raise AssertionError("a missing file was accepted")
    except MlflowException as e:
        assert e.error_code == "INVALID_PARAMETER_VALUE"
assert mlflow.active_run() is None
assert mlflow.last_active_run().info.status == "FINISHED"
assert mlflow.last_active_run().info.end_time >= mlflow.last_active_run().info.start_time

# A logging call starts the run, as MLflow does; a failing block ends it FAILED.
mlflow.log_metric("later", 1.0)
assert mlflow.active_run() is not None
mlflow.end_run()
try:
    with mlflow.start_run():
        raise KeyError("boom")
except KeyError:
    pass
assert mlflow.last_active_run().info.status == "FAILED"

# autolog: a no-op that says so.
mlflow.autolog()
mlflow.sklearn.autolog()
mlflow.pytorch.autolog()
import mlflow.lightgbm, mlflow.xgboost, mlflow.tensorflow, mlflow.keras, mlflow.version
mlflow.lightgbm.autolog()
assert mlflow.version.VERSION == mlflow.__version__
try:
    mlflow.lightgbm.log_model(object(), "model")
    raise AssertionError("lightgbm.log_model")
except NotImplementedError as e:
    assert "outputs/" in str(e), e

# What is not provided: NotImplementedError naming the trainyard way (hasattr stays False).
for name in ("log_table", "log_image", "register_model", "search_runs", "evaluate", "pyfunc"):
    assert not hasattr(mlflow, name), name
    try:
        getattr(mlflow, name)
        raise AssertionError(name)
    except NotImplementedError as e:
        assert "docs/mlflow.md" in str(e), e
try:
    mlflow.MlflowClient()
    raise AssertionError("MlflowClient")
except NotImplementedError as e:
    assert "fluent API" in str(e)

# Models: MLflow's folder layout, loaded back.
from sklearn.linear_model import LinearRegression
model = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])
mlflow.sklearn.save_model(model, "skmodel")
assert open("skmodel/MLmodel").read().startswith("flavors:")
assert abs(mlflow.sklearn.load_model("skmodel").predict([[3.0]])[0] - 7.0) < 1e-9
try:
    mlflow.sklearn.save_model(model, "skmodel")
    raise AssertionError("saved over a model")
except MlflowException as e:
    assert e.error_code == "RESOURCE_ALREADY_EXISTS"
import torch
net = torch.nn.Linear(2, 1)
mlflow.pytorch.save_model(net, "ptmodel")
back = mlflow.pytorch.load_model("file://" + os.path.abspath("ptmodel"))
assert torch.equal(back.weight, net.weight)
try:
    mlflow.pytorch.load_model("runs:/x/model")
    raise AssertionError("runs:/ accepted")
except NotImplementedError:
    pass

assert mlflow.get_tracking_uri() == "file://" + os.path.abspath("mlruns")
print("OFFLINE OK")
"""


def test_fluent_api_offline(tmp_path):
    result = run_script(f"import os; os.chdir({str(tmp_path)!r})\n" + OFFLINE, env=offline_env())
    assert "OFFLINE OK" in result.stdout
    for name in ("mlflow.autolog", "mlflow.sklearn.autolog", "mlflow.pytorch.autolog",
                 "mlflow.lightgbm.autolog"):
        assert f"[trainyard] mlflow: {name}() is a no-op" in result.stderr, result.stderr


def test_set_tracking_uri_and_experiment_say_the_run_keeps_its_own(tmp_path):
    script = """
    import mlflow
    mlflow.set_tracking_uri("http://elsewhere:5000")
    assert mlflow.get_tracking_uri() == "http://elsewhere:5000"
    exp = mlflow.set_experiment("another")
    assert exp.name == "offline", exp
    print("OK")
    """
    result = run_script(script, env=offline_env())
    assert "OK" in result.stdout
    assert "set_tracking_uri('http://elsewhere:5000'): this process logs into its trainyard run" \
        in result.stderr
    assert "set_experiment('another'): this run logs into its experiment 'offline'" \
        in result.stderr


IN_A_RUN = """
import os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow, mlflow.sklearn
print("MLFLOW", mlflow.__file__, flush=True)
with mlflow.start_run() as run:
    assert run.info.run_id == os.environ["TRAINYARD_RUN_ID"], run.info.run_id
    assert run.info.experiment_id == "mlflow-compat", run.info.experiment_id
    assert run.info.artifact_uri == "mlflow-artifacts:/" + run.info.run_id
    assert mlflow.get_tracking_uri() == os.environ["MLFLOW_TRACKING_URI"]
    for epoch in range(3):
        mlflow.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
    mlflow.log_metrics({"acc": 0.9, "f1": 0.8})
    mlflow.log_params({"lr": 0.01, "optimizer": "sgd"})
    mlflow.set_tag("stage", "train")
    os.makedirs("plots/sub", exist_ok=True)
    open("plots/a.txt", "w").write("a")
    open("plots/sub/b.txt", "w").write("b")
    mlflow.log_artifacts("plots", artifact_path="charts")
    mlflow.log_artifact("plots/a.txt")
    mlflow.log_dict({"layers": 2}, "config/model.json")
    mlflow.log_text("hello", "notes/readme.txt")
    fig = plt.figure()
    plt.plot([1, 2, 3])
    mlflow.log_figure(fig, "figures/curve.png")
    from sklearn.linear_model import LinearRegression
    info = mlflow.sklearn.log_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), "model")
    assert info.model_uri == "runs:/" + run.info.run_id + "/model"
    assert run.data.metrics["loss"] == 1.0 / 3, run.data.metrics
"""


def test_a_run_logs_through_mlflow_into_trainyard(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRAINYARD_WORKSPACE", raising=False)
    src = tmp_path / "proj"
    src.mkdir()
    (src / "train.py").write_text(textwrap.dedent(IN_A_RUN))
    ws = trainyard.Workspace(tmp_path / "ws")
    exp = trainyard.Experiment(ws, "mlflow-compat")
    run = exp.submit(trainyard.PyTorch(source_directory="proj", entry_script="train.py"))
    details = run.wait_for_completion(raise_on_error=False)
    log = open(os.path.join(details["trainyard"]["run_dir"], "logs", "rank-0.log")).read()
    assert details["status"] == "Completed", log
    assert "python-compat/mlflow/mlflow/__init__.py" in log, log  # the runner's, not this test's

    metrics = run.get_metrics()
    assert metrics["loss"] == [1.0, 0.5, 1.0 / 3]
    assert [p["step"] for p in run.get_metrics("loss", full=True)] == [0, 1, 2]
    assert metrics["acc"] == 0.9 and metrics["f1"] == 0.8
    assert run.get_tags()["stage"] == "train"
    props = run.get_properties()
    assert props["lr"] == "0.01" and props["optimizer"] == "sgd", props
    names = set(run.get_file_names())
    assert {"charts/a.txt", "charts/sub/b.txt", "a.txt", "config/model.json",
            "notes/readme.txt", "figures/curve.png", "model/MLmodel", "model/model.pkl"} <= names
    got = run.download_file("config/model.json", str(tmp_path / "model.json"))
    assert open(got).read().replace(" ", "").replace("\n", "") == '{"layers":2}'
    with open(run.download_file("figures/curve.png", str(tmp_path / "c.png")), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
