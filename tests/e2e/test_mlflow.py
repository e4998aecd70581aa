"""MLflow inside real runs (docs/mlflow.md): a script that speaks MLflow's tracking REST API with
plain HTTP requests (urllib) to MLFLOW_TRACKING_URI logs into the trainyard run, as a stock MLflow
client would (the real mlflow is not installable here); and the mlflow compatibility package is on
a run's path only when the interpreter has no real mlflow. Requests and answers as MLflow's REST
API reference gives them (mlflow.org/docs/latest/rest-api.html)."""
import json

REST_SCRIPT = r'''
import json, os, urllib.error, urllib.request

URI = os.environ["MLFLOW_TRACKING_URI"]
TOKEN = os.environ["MLFLOW_TRACKING_TOKEN"]
RUN_ID = os.environ["MLFLOW_RUN_ID"]
EXPERIMENT = os.environ["MLFLOW_EXPERIMENT_ID"]
assert RUN_ID == os.environ["TRAINYARD_RUN_ID"], (RUN_ID, os.environ["TRAINYARD_RUN_ID"])


def call(method, path, body=None, token=TOKEN, raw=None, api="/api/2.0/mlflow/"):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(URI + api + path, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def ok(method, path, body=None, **kw):
    code, answer = call(method, path, body, **kw)
    assert code == 200, (method, path, code, answer)
    return answer


def refused(expect_code, error_code, method, path, body=None, **kw):
    code, answer = call(method, path, body, **kw)
    assert (code, answer.get("error_code")) == (expect_code, error_code), (path, code, answer)
    assert answer["message"], answer
    return answer["message"]


# The run: runs/get and runs/create answer with the trainyard run.
run = ok("GET", "runs/get?run_id=" + RUN_ID)["run"]
assert run["info"]["run_id"] == RUN_ID and run["info"]["status"] == "RUNNING", run
assert run["info"]["experiment_id"] == EXPERIMENT, run
assert run["info"]["artifact_uri"] == "mlflow-artifacts:/" + RUN_ID, run
created = ok("POST", "runs/create", {"experiment_id": EXPERIMENT, "start_time": 1,
                                     "tags": [{"key": "mlflow.user", "value": "me"}]})
assert created["run"]["info"]["run_id"] == RUN_ID, created
info = ok("POST", "runs/update", {"run_id": RUN_ID, "status": "RUNNING"})["run_info"]
assert info["run_id"] == RUN_ID, info
exp = ok("GET", "experiments/get-by-name?experiment_name=" + EXPERIMENT)["experiment"]
assert exp["experiment_id"] == EXPERIMENT, exp

# Logging: log-metric (protobuf's JSON: an int64 may come as a string, NaN as "NaN"), log-batch,
# log-parameter, set-tag.
ok("POST", "runs/log-metric", {"run_id": RUN_ID, "key": "loss", "value": 0.5,
                               "timestamp": 1700000000000, "step": 1})
ok("POST", "runs/log-metric", {"run_uuid": RUN_ID, "key": "loss", "value": 0.25,
                               "timestamp": "1700000001000", "step": "2"})
ok("POST", "runs/log-metric", {"run_id": RUN_ID, "key": "odd", "value": "NaN",
                               "timestamp": 1700000002000})
ok("POST", "runs/log-batch", {
    "run_id": RUN_ID,
    "metrics": [{"key": "acc", "value": 0.75, "timestamp": 1700000003000, "step": 0},
                {"key": "acc", "value": 0.875, "timestamp": 1700000004000, "step": 1}],
    "params": [{"key": "lr", "value": "0.01"}, {"key": "optimizer", "value": "sgd"}],
    "tags": [{"key": "stage", "value": "train"}]})
ok("POST", "runs/log-parameter", {"run_id": RUN_ID, "key": "epochs", "value": "3"})
ok("POST", "runs/log-parameter", {"run_id": RUN_ID, "key": "epochs", "value": "3"})  # same: ok
ok("POST", "runs/set-tag", {"run_id": RUN_ID, "key": "team", "value": "vision"})
ok("POST", "runs/log-batch", {"run_id": RUN_ID})  # nothing: fine
model = {"artifact_path": "model", "flavors": {"sklearn": {"pickled_model": "model.pkl"}}}
ok("POST", "runs/log-model", {"run_id": RUN_ID, "model_json": json.dumps(model)})
ok("POST", "runs/log-model", {"run_id": RUN_ID, "model_json": json.dumps(dict(model, n=2))})

# What MLflow refuses, with MLflow's error shapes.
msg = refused(400, "INVALID_PARAMETER_VALUE", "POST", "runs/log-parameter",
              {"run_id": RUN_ID, "key": "epochs", "value": "4"})
assert "Changing param values is not allowed" in msg, msg
refused(400, "INVALID_PARAMETER_VALUE", "POST", "runs/log-metric",
        {"run_id": RUN_ID, "key": "bad\nname", "value": 1, "timestamp": 1})
refused(400, "INVALID_PARAMETER_VALUE", "POST", "runs/log-metric",
        {"run_id": RUN_ID, "key": "loss", "value": "high", "timestamp": 1})
refused(400, "INVALID_PARAMETER_VALUE", "POST", "runs/log-metric", {"key": "loss", "value": 1})
refused(400, "INVALID_PARAMETER_VALUE", "POST", "runs/log-batch",
        {"run_id": RUN_ID, "params": [{"key": "p%d" % i, "value": "v"} for i in range(101)]})
refused(400, "MALFORMED_REQUEST", "POST", "runs/set-tag", raw=b"{not json")
refused(400, "INVALID_PARAMETER_VALUE", "POST", "runs/log-model",
        {"run_id": RUN_ID, "model_json": "[1]"})
refused(404, "RESOURCE_DOES_NOT_EXIST", "POST", "runs/set-tag",
        {"run_id": "someone-else", "key": "k", "value": "v"})
refused(404, "RESOURCE_DOES_NOT_EXIST", "GET", "runs/get?run_id=someone-else")
refused(404, "RESOURCE_DOES_NOT_EXIST", "GET", "experiments/get-by-name?experiment_name=other")
refused(401, "UNAUTHENTICATED", "GET", "runs/get?run_id=" + RUN_ID, token="wrong")
refused(401, "UNAUTHENTICATED", "POST", "runs/set-tag",
        {"run_id": RUN_ID, "key": "k", "value": "v"}, token=None)
msg = refused(404, "ENDPOINT_NOT_FOUND", "POST", "runs/search", {"experiment_ids": [EXPERIMENT]})
assert "docs/mlflow.md" in msg, msg
refused(404, "ENDPOINT_NOT_FOUND", "GET", "registered-models/list")

# Artifacts: PUT under the run's artifact_uri stores a file of the run.
ART = "/api/2.0/mlflow-artifacts/artifacts/"
ok("PUT", RUN_ID + "/model/weights.txt", raw=b"w1 w2", api=ART)
ok("PUT", RUN_ID + "/notes.txt", raw=b"hello", api=ART)
refused(404, "RESOURCE_DOES_NOT_EXIST", "PUT", "someone-else/x.txt", raw=b"x", api=ART)
refused(400, "INVALID_PARAMETER_VALUE", "PUT", RUN_ID + "/logs/rank-0.log", raw=b"x", api=ART)
refused(404, "ENDPOINT_NOT_FOUND", "GET", RUN_ID + "/notes.txt", api=ART)

# What the run holds now, as runs/get shows it: the latest value of each metric.
data = ok("GET", "runs/get?run_id=" + RUN_ID)["run"]["data"]
metrics = {m["key"]: m for m in data["metrics"]}
assert metrics["loss"]["value"] == 0.25 and metrics["loss"]["step"] == 2, metrics
assert metrics["loss"]["timestamp"] == 1700000001000, metrics
assert metrics["odd"]["value"] == "NaN", metrics
assert metrics["acc"]["value"] == 0.875, metrics
params = {p["key"]: p["value"] for p in data["params"]}
assert params == {"lr": "0.01", "optimizer": "sgd", "epochs": "3"}, params
tags = {t["key"]: t["value"] for t in data["tags"]}
assert tags["stage"] == "train" and tags["team"] == "vision" and tags["mlflow.user"] == "me", tags
history = json.loads(tags["mlflow.log-model.history"])
assert history == [model, dict(model, n=2)], history
print("REST OK", flush=True)
'''


def test_mlflow_rest_subset_logs_into_the_run(ty):
    src = ty.project("proj", {"train.py": REST_SCRIPT})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--experiment", "mlf",
                  "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    assert "REST OK" in ty.run("logs", run_id, check=0).stdout
    info = ty.show(run_id)
    assert info["experiment"] == "mlf"
    assert info["metrics"]["loss"]["last"] == 0.25 and info["metrics"]["loss"]["count"] == 2
    assert info["metrics"]["acc"]["step"] == 1
    # Params are the run's properties; tags its tags.
    assert info["properties"] == {"lr": "0.01", "optimizer": "sgd", "epochs": "3"}
    assert info["tags"]["team"] == "vision" and info["tags"]["stage"] == "train"
    series = ty.json("metrics", run_id, "--name", "loss")["loss"]
    assert [(p["step"], p["value"]) for p in series] == [(1, 0.5), (2, 0.25)]
    assert series[0]["timestamp"] == "2023-11-14T22:13:20.000Z"  # MLflow's ms timestamp
    assert ty.json("metrics", run_id, "--name", "odd")["odd"][0]["value"] == "NaN"
    files = {f["path"] for f in ty.json("files", run_id)}
    assert {"model/weights.txt", "notes.txt"} <= files, files
    out = ty.tmp / "dl"
    ty.run("download", run_id, "model/weights.txt", "-o", out, check=0)
    assert (out / "model/weights.txt").read_text() == "w1 w2"


WHICH = """
import mlflow, os
print("MLFLOW", mlflow.__file__, flush=True)
print("URI", os.environ["MLFLOW_TRACKING_URI"], flush=True)
"""


def test_compat_package_only_without_a_real_mlflow(ty):
    src = ty.project("proj", {"train.py": WHICH})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    log = ty.run("logs", run_id, check=0).stdout
    assert "python-compat/mlflow/mlflow/__init__.py" in log, log
    assert "URI http://127.0.0.1:" in log, log

    # An interpreter with a real mlflow (here: a package of that name on the submitter's path,
    # which the interpreter probe finds): the compatibility package stays off the run's path.
    real = ty.tmp / "site" / "mlflow"
    real.mkdir(parents=True)
    (real / "__init__.py").write_text("")
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0,
                  env={"PYTHONPATH": str(ty.tmp / "site")})
    run_id = proc.stderr.strip().splitlines()[0]
    log = ty.run("logs", run_id, check=0).stdout
    assert f"MLFLOW {real / '__init__.py'}" in log, log
    plan = json.dumps(ty.show(run_id))
    assert "python-compat/mlflow" not in plan
