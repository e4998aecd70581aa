"""Deployments (issue 16): `trainyard deploy` runs `trainyard-serve` under a detached supervisor
recorded in the workspace; `deployment list|show|logs|delete`.

Real processes throughout: a TorchScript model made with /usr/bin/python3's torch.jit, the real
server, real HTTP with urllib, kill -9 of the real server (its supervisor restarts it), a scoring
script with init()/run() that finds its model through AZUREML_MODEL_DIR. Every deployment is
deleted at the end of each test (the `deployments` fixture), and the `ty` fixture then checks that
no process of the workspace is left.
"""
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

PYTHON = "/usr/bin/python3"

MAKE_MODEL = """\
import sys
import torch

class Affine(torch.nn.Module):
    def forward(self, x):
        return x * 2.0 + 1.0

torch.jit.script(Affine()).save(sys.argv[1])
"""

SCORE = """\
import json
import os

from azureml.core.model import Model

table = None


def init():
    global table
    # The hosted contract: the model's folder is under AZUREML_MODEL_DIR, and
    # Model.get_model_path finds the registered file there.
    path = Model.get_model_path("lookup")
    assert path.startswith(os.environ["AZUREML_MODEL_DIR"]), path
    with open(path) as f:
        table = json.load(f)


def run(raw_data):
    words = json.loads(raw_data)["data"]
    return {"result": [table.get(w, -1) for w in words], "pid": os.getpid()}
"""

BROKEN_SCORE = """\
def init():
    raise RuntimeError("init exploded on purpose")


def run(raw_data):
    return raw_data
"""


def http(url, body=None, timeout=30):
    """(status, parsed JSON body) of a GET, or of a POST when `body` is given."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text.decode(errors="replace")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def deployments(ty):
    """The workspace runner; every deployment left is deleted at the end (so no server survives)."""
    yield ty
    listed = ty.run("deployment", "list", "--json")
    if listed.returncode == 0:
        for d in json.loads(listed.stdout):
            ty.run("deployment", "delete", d["name"], timeout=120)


def register(ty, name, path):
    return ty.json("model", "register", "--name", name, "--path", str(path))


def torchscript_model(tmp):
    path = tmp / "affine.pt"
    maker = tmp / "make_model.py"  # torch.jit.script reads the module's source from its file
    maker.write_text(MAKE_MODEL)
    subprocess.run([PYTHON, str(maker), str(path)], check=True, timeout=300)
    return path


def wait_for(ty, name, predicate, timeout=90):
    deadline = time.time() + timeout
    while True:
        d = ty.json("deployment", "show", name)
        if predicate(d):
            return d
        assert time.time() < deadline, f"deployment {name} never got there; last: {d}"
        time.sleep(0.2)


def test_torchscript_deployment_serves_restarts_and_deletes(deployments):
    ty = deployments
    model = register(ty, "affine", torchscript_model(ty.tmp))
    assert model["version"] == 1

    proc = ty.run("deploy", "web", "--model", "affine", check=0, timeout=300)
    uri = proc.stdout.strip().splitlines()[-1]
    assert uri.startswith("http://127.0.0.1:") and uri.endswith("/score"), proc.stdout
    assert "deployment web: Healthy" in proc.stderr

    d = ty.json("deployment", "show", "web")
    assert d["state"] == "Healthy"
    assert d["scoring_uri"] == uri
    assert d["models"] == [{"name": "affine", "version": 1}]
    assert d["entry"] == ""
    assert d["restarts"] == 0
    assert d["error"] == ""
    assert d["port"] == int(uri.split(":")[2].split("/")[0])
    assert Path(d["logs"]).is_file()
    base = f"http://127.0.0.1:{d['port']}"

    status, body = http(uri, {"data": [[1, 2, 3, 4]]})
    assert status == 200, body
    assert body == [[3.0, 5.0, 7.0, 9.0]]
    status, body = http(f"{base}/v2/models/affine/infer", {
        "inputs": [{"name": "input__0", "shape": [1, 4], "datatype": "FP32",
                    "data": [0.5, -1, 0, 2]}]})
    assert status == 200, body
    assert body["outputs"][0]["data"] == [2.0, -1.0, 1.0, 5.0]
    assert http(f"{base}/v2/health/ready")[0] == 200

    listed = ty.json("deployment", "list")
    assert [(x["name"], x["state"]) for x in listed] == [("web", "Healthy")]
    table = ty.run("deployment", "list", check=0).stdout
    assert "web" in table and "Healthy" in table and "affine:1" in table and uri in table
    human = ty.run("deployment", "show", "web", check=0).stdout
    assert "state:        Healthy" in human and uri in human
    logs = ty.run("deployment", "logs", "web", check=0).stdout
    assert f"listening on http://127.0.0.1:{d['port']}" in logs
    tail = ty.run("deployment", "logs", "web", "--tail", "1", check=0).stdout
    assert len(tail.strip().splitlines()) == 1 and tail.strip() == logs.strip().splitlines()[-1]

    # The model is in use: its version cannot be deleted.
    refused = ty.run("model", "delete", "affine:1", check=1)
    assert "web" in refused.stderr

    # kill -9 of the server: the supervisor restarts it on the same port.
    shown = ty.json("deployment", "show", "web")
    server_pid = server_pid_of(ty, "web")
    os.kill(server_pid, signal.SIGKILL)
    again = wait_for(ty, "web", lambda x: x["restarts"] == 1 and x["state"] == "Healthy")
    assert again["port"] == shown["port"]
    assert server_pid_of(ty, "web") != server_pid
    status, body = http(uri, {"data": [[0, 0, 0, 0]]})
    assert status == 200 and body == [[1.0, 1.0, 1.0, 1.0]]
    assert "exited with code 137" in ty.run("deployment", "logs", "web", check=0).stdout

    # Delete: the server goes, the row goes, the model is free again.
    new_pid = server_pid_of(ty, "web")
    out = ty.run("deployment", "delete", "web", check=0, timeout=120)
    assert "deleted deployment web" in out.stdout
    assert not pid_alive(new_pid)
    assert ty.json("deployment", "list") == []
    assert not (ty.workspace / "deployments" / "web").exists()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base}/v2/health/live", timeout=5)
    ty.run("model", "delete", "affine:1", check=0)


def server_pid_of(ty, name):
    """The server's pid, read from the workspace database (not part of the JSON contract)."""
    import sqlite3
    db = sqlite3.connect(str(ty.workspace / "workspace.db"))
    try:
        (pid,) = db.execute("SELECT server_pid FROM deployments WHERE name = ?", (name,)).fetchone()
    finally:
        db.close()
    assert pid > 0
    return pid


def supervisor_pid_of(ty, name):
    import sqlite3
    db = sqlite3.connect(str(ty.workspace / "workspace.db"))
    try:
        (pid,) = db.execute("SELECT supervisor_pid FROM deployments WHERE name = ?",
                            (name,)).fetchone()
    finally:
        db.close()
    return pid


def test_a_model_that_fails_to_load_fails_the_deployment(deployments):
    ty = deployments
    junk = ty.tmp / "junk.pt"
    junk.write_bytes(b"this is not a TorchScript archive")
    register(ty, "junk", junk)
    proc = ty.run("deploy", "broken", "--model", "junk:1", check=1, timeout=300)
    assert "deployment broken failed: model junk:1 failed to load:" in proc.stderr, proc.stderr
    d = ty.json("deployment", "show", "broken")
    assert d["state"] == "Failed"
    assert d["error"].startswith("model junk:1 failed to load:")
    assert "Healthy" not in proc.stderr
    # The supervisor stopped the server and itself.
    deadline = time.time() + 10
    while pid_alive(supervisor_pid_of(ty, "broken")) and time.time() < deadline:
        time.sleep(0.1)
    assert not pid_alive(supervisor_pid_of(ty, "broken"))
    ty.run("deployment", "delete", "broken", check=0)


def test_scoring_script_deployment_and_refusals(deployments):
    ty = deployments
    table = ty.tmp / "lookup.json"
    table.write_text(json.dumps({"cat": 1, "dog": 2}))
    register(ty, "lookup", table)
    project = ty.project("svc", {"score.py": SCORE, "notes.txt": "kept in the snapshot\n"})

    proc = ty.run("deploy", "words", "--model", "lookup", "--entry", "score.py", "--json",
                  check=0, timeout=300, cwd=project)
    d = json.loads(proc.stdout)
    assert d["state"] == "Healthy" and d["entry"] == "score.py"
    assert d["models"] == [{"name": "lookup", "version": 1}]
    status, body = http(d["scoring_uri"], {"data": ["dog", "cat", "eel"]})
    assert status == 200, body
    assert body["result"] == [2, 1, -1]
    # The code runs from the deployment's own copy, not from the source folder.
    code = ty.workspace / "deployments" / "words" / "code"
    assert (code / "score.py").read_text() == SCORE and (code / "notes.txt").is_file()
    (project / "score.py").write_text("syntax error (\n")
    assert http(d["scoring_uri"], {"data": ["cat"]})[1]["result"] == [1]

    # The name is taken.
    taken = ty.run("deploy", "words", "--model", "lookup", check=1)
    assert "deployment words exists (Healthy); delete it first" in taken.stderr
    # An unknown model, an unknown version: nothing is recorded.
    unknown = ty.run("deploy", "other", "--model", "nosuch", check=2)
    assert "nosuch" in unknown.stderr
    unknown_version = ty.run("deploy", "other", "--model", "lookup:7", check=2)
    assert "lookup" in unknown_version.stderr and "7" in unknown_version.stderr
    # An entry that does not exist, or lies outside its folder.
    ty.run("deploy", "other", "--model", "lookup", "--entry", "nope.py", check=2, cwd=project)
    outside = ty.run("deploy", "other", "--model", "lookup", "--entry", str(table), check=2,
                     cwd=project)
    assert "inside the source folder" in outside.stderr
    # A bad name and packages without a script are usage errors.
    assert "deployment name" in ty.run("deploy", "a/b", "--model", "lookup", check=2).stderr
    ty.run("deploy", "other", "--model", "lookup", "--pip", "numpy", check=2)
    assert [x["name"] for x in ty.json("deployment", "list")] == ["words"]

    # Unknown deployments are named with the known ones.
    for verb in ("show", "logs", "delete"):
        missing = ty.run("deployment", verb, "nosuch", check=2)
        assert "no deployment named \"nosuch\" (deployments: words)" in missing.stderr

    # A script whose init() raises fails its deployment with the message.
    ty.project("bad", {"score.py": BROKEN_SCORE})
    bad = ty.run("deploy", "bad", "--entry", "score.py", "--source", str(ty.tmp / "bad"),
                 check=1, timeout=300)
    assert "init exploded on purpose" in bad.stderr, bad.stderr
    assert ty.json("deployment", "show", "bad")["state"] == "Failed"


def test_a_dead_supervisor_is_noticed(deployments):
    ty = deployments
    table = ty.tmp / "lookup.json"
    table.write_text(json.dumps({"cat": 1}))
    register(ty, "lookup", table)
    project = ty.project("svc", {"score.py": SCORE})
    ty.run("deploy", "words", "--model", "lookup", "--entry", "score.py", check=0, timeout=300,
           cwd=project)
    server = server_pid_of(ty, "words")
    os.kill(supervisor_pid_of(ty, "words"), signal.SIGKILL)
    d = wait_for(ty, "words", lambda x: x["state"] == "Failed", timeout=30)
    assert d["error"].startswith("supervisor died")
    # The server dies with its supervisor.
    deadline = time.time() + 10
    while pid_alive(server) and time.time() < deadline:
        time.sleep(0.1)
    assert not pid_alive(server)
    ty.run("deployment", "delete", "words", check=0)
    assert ty.json("deployment", "list") == []


ENV_SCORE = """\
import json
import sys

import tyhello


def init():
    pass


def run(raw_data):
    return {"greeting": tyhello.GREETING, "python": sys.executable}
"""


@pytest.fixture
def wheelhouse(tmp_path):
    """tyhello-0.1 (a one-module package) built into a wheelhouse, offline (as in
    test_environments.py); pip then runs with --no-index on it alone."""
    src = tmp_path / "tyhello-src"
    (src / "tyhello").mkdir(parents=True)
    (src / "tyhello" / "__init__.py").write_text('GREETING = "hello from tyhello"\n')
    (src / "setup.py").write_text(
        'from setuptools import setup\nsetup(name="tyhello", version="0.1", '
        'packages=["tyhello"])\n')
    house = tmp_path / "wheelhouse"
    house.mkdir()
    offline = {"PIP_CONFIG_FILE": "/dev/null", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""}
    proc = subprocess.run([PYTHON, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(house), str(src)], capture_output=True,
                          text=True, env=dict(os.environ, **offline), timeout=120)
    if proc.returncode != 0:
        pytest.skip("cannot build a wheel offline here: " + proc.stderr[-500:])
    return dict(offline, TRAINYARD_PIP_FIND_LINKS=str(house), TRAINYARD_PYTHON=PYTHON)


def test_scoring_environment_from_pip_and_a_conda_file(deployments, wheelhouse):
    ty = deployments
    project = ty.project("svc", {
        "score.py": ENV_SCORE,
        # The hosted form: python and pip packages; azureml-defaults is trainyard's own.
        "env.yml": "name: scoring\ndependencies:\n  - python=3.11\n  - pip:\n"
                   "    - azureml-defaults\n    - tyhello\n"})
    proc = ty.run("deploy", "envsvc", "--entry", "score.py", "--pip", "tyhello", "--json",
                  check=0, timeout=300, cwd=project, env=wheelhouse)
    d = json.loads(proc.stdout)
    status, body = http(d["scoring_uri"], {"data": 1})
    assert status == 200, body
    assert body["greeting"] == "hello from tyhello"
    envs = [p for p in (ty.workspace / "envs").iterdir() if p.is_dir()]
    assert len(envs) == 1 and body["python"].startswith(str(envs[0])), (envs, body)

    # The same packages through a conda file: the cached environment is reused.
    proc = ty.run("deploy", "condasvc", "--entry", "score.py", "--conda-file", "env.yml",
                  "--json", check=0, timeout=300, cwd=project, env=wheelhouse)
    d2 = json.loads(proc.stdout)
    assert d2["port"] != d["port"]
    assert http(d2["scoring_uri"], {"data": 1})[1]["python"] == body["python"]
    assert "azureml-defaults: provided by trainyard" in proc.stderr

    # A package that is nowhere fails the deploy before anything is recorded.
    missing = ty.run("deploy", "nopkg", "--entry", "score.py", "--pip", "nosuchpkg-xyz",
                     check=1, timeout=300, cwd=project, env=wheelhouse)
    assert "nosuchpkg-xyz" in missing.stderr
    assert sorted(x["name"] for x in ty.json("deployment", "list")) == ["condasvc", "envsvc"]


def test_a_server_that_keeps_exiting_fails_after_five_tries(deployments):
    ty = deployments
    table = ty.tmp / "lookup.json"
    table.write_text("{}")
    register(ty, "lookup", table)
    project = ty.project("svc", {"score.py": SCORE})
    import socket
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        # --no-wait returns at once; the server cannot listen on the taken port.
        out = ty.run("deploy", "busy", "--model", "lookup", "--entry", "score.py", "--port",
                     str(port), "--no-wait", check=0, cwd=project)
        assert "deployment busy: Transitioning" in out.stdout
        d = wait_for(ty, "busy", lambda x: x["state"] == "Failed", timeout=120)
    finally:
        taken.close()
    assert d["restarts"] == 4
    assert d["error"].startswith("the server ended 5 times within 60 s; last: server exited")
    assert d["port"] == port
    assert "giving up" in ty.run("deployment", "logs", "busy", check=0).stdout
