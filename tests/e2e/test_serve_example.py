"""examples/digits-serve, step by step as its README gives them (issue 16, "Example"): a real
training run, `model register --run`, `trainyard serve` answering curl-style requests and
query.py, `trainyard deploy` with score.py, and the SDK flow (deploy_sdk.py). Every server and
deployment started here is stopped by the test."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import BIN, SOURCE_DIR

EXAMPLE = SOURCE_DIR / "examples" / "digits-serve"
BUILD = Path(BIN).resolve().parents[2]  # <build>/src/cli/trainyard
PYTHON = "/usr/bin/python3"

pytestmark = pytest.mark.skipif(
    not (BUILD / "src" / "serve" / "trainyard-serve").exists(),
    reason="trainyard-serve is not built in this tree")


def _example(ty):
    """A copy of the example folder (its runs and snapshots then see only its own files)."""
    dst = ty.tmp / "digits-serve"
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns("outputs", "__pycache__"))
    return dst


def _post(url, body, timeout=30):
    """(status, parsed JSON answer) of a POST with a JSON body."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _get(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _query(uri, count=10):
    """query.py's output lines against `uri`; asserts it exited 0."""
    proc = subprocess.run([PYTHON, str(EXAMPLE / "query.py"), uri, "--count", str(count)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


def _right(lines):
    """The N of query.py's "N/M right" line."""
    last = lines[-1]
    assert last.endswith(" right"), lines
    return int(last.split("/")[0])


@pytest.fixture
def trained(ty):
    """The example trained by `trainyard submit job.yml --wait` and registered as digits:1."""
    src = _example(ty)
    run_id = ty.submit("job.yml", cwd=src)
    ty.run("wait", run_id, check=0, timeout=300)
    reg = ty.run("model", "register", "--run", run_id, "--path", "outputs/model.pt", "--name",
                 "digits", "--tag", "input_shape=64", "--tag", "input_dtype=FP32", check=0)
    assert reg.stdout.strip().splitlines()[-1] == "digits:1"
    return src, run_id


def test_register_serve_and_query(ty, trained):
    src, run_id = trained
    again = ty.run("model", "register", "--run", run_id, "--path", "outputs/model.pt", "--name",
                   "digits", "--tag", "input_shape=64", "--tag", "input_dtype=FP32", check=0)
    assert "already registered as digits:1 (same bytes)" in again.stdout
    shown = ty.json("model", "show", "digits")
    assert (shown["run_id"], shown["experiment"], shown["run_path"]) == (
        run_id, "digits-serve", "outputs/model.pt")
    assert shown["metrics"]["test_acc"] > 0.85, shown["metrics"]
    assert shown["tags"] == {"input_shape": "64", "input_dtype": "FP32"}

    port_file = ty.tmp / "port"
    env = dict(os.environ, TRAINYARD_SERVE_BIN=str(BUILD / "src" / "serve" / "trainyard-serve"))
    env.pop("TRAINYARD_WORKSPACE", None)
    server = subprocess.Popen([BIN, "--workspace", str(ty.workspace), "serve", "digits",
                               "--port", "0", "--port-file", str(port_file)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 60
        while not port_file.exists():
            assert server.poll() is None, server.communicate()
            assert time.time() < deadline, "trainyard serve wrote no port file in 60 s"
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port_file.read_text().strip()}"
        while _get(base + "/v2/health/ready")[0] != 200:
            assert time.time() < deadline, "the server was not ready in 60 s"
            time.sleep(0.1)

        # The README's curl request: one image of a 0, ten logits back.
        zero = json.loads((EXAMPLE / "README.md").read_text().split("-d '", 1)[1].split("'")[0])
        status, logits = _post(base + "/score", zero)
        assert status == 200 and len(logits) == 1 and len(logits[0]) == 10
        assert max(range(10), key=logits[0].__getitem__) == 0, logits

        assert _right(_query(base + "/score")) >= 8
        status, meta = _get(base + "/v2/models/digits")
        assert status == 200 and json.loads(meta)["name"] == "digits"
        status, error = _post(base + "/score", {"data": [[1, 2, 3]]})
        assert status == 400 and "64" in error["error"], error
        assert "trainyard_requests" in _get(base + "/metrics")[1]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, server.stderr.read()


def test_deploy_with_score_py(ty, trained):
    src, _ = trained
    env = {"TRAINYARD_SERVE_BIN": str(BUILD / "src" / "serve" / "trainyard-serve")}
    try:
        out = ty.run("deploy", "digits-svc", "--model", "digits", "--entry", "score.py",
                     cwd=src, env=env, check=0, timeout=300).stdout.strip().splitlines()
        uri = out[-1]
        assert uri.startswith("http://127.0.0.1:") and uri.endswith("/score"), out
        assert ty.json("deployment", "show", "digits-svc")["state"] == "Healthy"

        lines = _query(uri, count=10)
        assert _right(lines) >= 8, lines
        status, answer = _post(uri, {"data": [[0.0] * 64]})
        assert status == 200 and set(answer) == {"predictions", "probabilities"}, answer
        assert len(answer["probabilities"][0]) == 10
        assert abs(sum(answer["probabilities"][0]) - 1) < 0.01

        refused = ty.run("model", "delete", "digits:1", check=1)
        assert "digits-svc" in refused.stderr
        assert "digits-svc" in ty.run("deployment", "list", check=0).stdout
    finally:
        ty.run("deployment", "delete", "digits-svc", env=env)
    assert "digits-svc" not in ty.run("deployment", "list", check=0).stdout
    ty.run("model", "delete", "digits:1", check=0)


def test_sdk_flow(ty):
    src = _example(ty)
    env = dict(os.environ, TRAINYARD_BIN=BIN,
               TRAINYARD_WORKSPACES=str(ty.tmp / "workspaces"),  # under the leftover check's
               TRAINYARD_SERVE_BIN=str(BUILD / "src" / "serve" / "trainyard-serve"),
               PYTHONPATH=os.pathsep.join([str(BUILD / "python"),
                                           str(BUILD / "python-compat" / "azureml")]))
    env.pop("TRAINYARD_WORKSPACE", None)
    proc = subprocess.run([PYTHON, "deploy_sdk.py", "--epochs", "5"], cwd=src, env=env,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(l.startswith("registered digits:1 from run digits-serve_") for l in lines), lines
    assert "Local service digits-sdk: Healthy" in lines
    predicted = json.loads(next(l for l in lines if l.startswith("predicted"))[len("predicted"):])
    labels = json.loads(next(l for l in lines if l.startswith("labels"))[len("labels"):])
    assert len(predicted) == 5 and sum(p == t for p, t in zip(predicted, labels)) >= 4, lines
    assert lines[-1] == "deleted digits-sdk"
    listed = subprocess.run([BIN, "--workspace", str(ty.tmp / "workspaces" / "digits-serve"),
                             "deployment", "list", "--json"], capture_output=True, text=True,
                            timeout=60, check=True)
    assert json.loads(listed.stdout) == []
