"""The Python SDK against a real `trainyard server` (docs/sdk.md "A workspace on a server"): the
server runs over a temp workspace with a submit token and a read token; the SDK submits a tiny
script through it, follows it, reads its metrics and files, and is refused with the read token.
Nothing is created on the client's side: HOME and the current folder are empty temp folders, and
no workspace appears in them."""
import io
import json
import os
import re
import signal
import subprocess
import textwrap
import time
from contextlib import contextmanager, redirect_stdout

import pytest

import trainyard

BIN = os.environ.get("TRAINYARD_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(trainyard.__file__)), "..", "src", "cli", "trainyard")

TRAIN = """
    import os, sys
    from trainyard import Run
    run = Run.get_context()
    print("hello from the server", sys.argv[1:], flush=True)
    for i in range(5):
        run.log("loss", 1.0 / (i + 1))
    run.log("acc", 0.9)
    os.makedirs("outputs/sub", exist_ok=True)
    open("outputs/model.txt", "w").write("weights")
    open("outputs/sub/extra.txt", "w").write("extra")
"""


def _token(workspace, name, role):
    proc = subprocess.run([BIN, "server", "token", "create", "--workspace", str(workspace),
                           "--name", name, "--role", role],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1].strip()


@contextmanager
def _served(workspace, log_path, *extra, https=False):
    """`trainyard server` on a free loopback port over `workspace`; yields its URL once it says
    where it listens, and stops it (SIGTERM, then SIGKILL of its group) on the way out. Its stderr
    goes to `log_path` (a pipe nobody drains could fill and stall it)."""
    env = dict(os.environ)
    env.pop("TRAINYARD_WORKSPACE", None)
    env.pop("TRAINYARD_TOKEN", None)
    scheme = "https" if https else "https?"
    with open(log_path, "w+") as log:
        proc = subprocess.Popen([BIN, "server", "--workspace", str(workspace), "--host",
                                 "127.0.0.1", "--port", "0", *extra],
                                stdout=subprocess.DEVNULL, stderr=log, env=env,
                                start_new_session=True)
        try:
            url = None
            deadline = time.monotonic() + 60
            while url is None and time.monotonic() < deadline and proc.poll() is None:
                found = re.search(rf"serving .* at ({scheme}://\S+)\n", log_path.read_text())
                if found:
                    url = found.group(1)
                else:
                    time.sleep(0.05)
            assert url, "the server did not say where it listens:\n" + log_path.read_text()
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(url, submit token, read token, server workspace folder)."""
    root = tmp_path_factory.mktemp("server")
    workspace = root / "ws"
    submit = _token(workspace, "sdk-submit", "submit")
    read = _token(workspace, "sdk-read", "read")
    with _served(workspace, root / "server.log") as url:
        yield url, submit, read, workspace


@pytest.fixture()
def client_side(tmp_path, monkeypatch):
    """An empty HOME and current folder for the client, without workspace variables."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TRAINYARD_WORKSPACE", raising=False)
    monkeypatch.delenv("TRAINYARD_TOKEN", raising=False)
    monkeypatch.chdir(work)
    return home, work


def _project(tmp_path):
    src = tmp_path / "proj"
    src.mkdir()
    (src / "train.py").write_text(textwrap.dedent(TRAIN))
    return src


def _no_local_workspace(home, work):
    assert not (home / ".trainyard").exists()
    assert not any(p.name == "trainyard.db" for p in work.rglob("*"))
    assert not any(p.name == "trainyard.db" for p in home.rglob("*"))


def test_submit_follow_metrics_files(server, client_side, tmp_path):
    url, submit, _, server_ws = server
    home, work = client_side
    ws = trainyard.Workspace(url=url, token=submit)
    assert ws.is_remote and ws.url == url.rstrip("/")
    assert repr(ws) == f"Workspace(url={url.rstrip('/')!r})"

    cfg = trainyard.PyTorch(source_directory=_project(tmp_path), entry_script="train.py",
                            script_params={"--epochs": 2})
    run = trainyard.Experiment(ws, "remote-sdk").submit(cfg, tags={"origin": "sdk"})
    assert run.id
    assert run.get_status() in ("Queued", "Preparing", "Starting", "Running", "Finalizing",
                                "Completed")

    out = io.StringIO()
    with redirect_stdout(out):
        details = run.wait_for_completion(show_output=True, timeout=240)
    assert details["status"] == "Completed", details
    assert "hello from the server ['--epochs', '2']" in out.getvalue()
    assert details["runId"] == run.id
    assert details["arguments"] == ["--epochs", "2"]
    assert details["tags"].get("origin") == "sdk"
    assert run.get_tags()["origin"] == "sdk"
    assert "logs/rank-0.log" in details["logFiles"]

    # Every value, not a downsampled series; the hosted SDK's shapes.
    metrics = run.get_metrics()
    assert metrics["loss"] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    assert metrics["acc"] == pytest.approx(0.9)
    assert run.get_metrics("acc") == {"acc": pytest.approx(0.9)}
    points = run.get_metrics("loss", full=True)
    assert [p["step"] for p in points] == [0, 1, 2, 3, 4]

    names = run.get_file_names()
    assert "outputs/model.txt" in names and "outputs/sub/extra.txt" in names
    (tmp_path / "dl").mkdir()
    got = run.download_file("outputs/model.txt", str(tmp_path / "dl"))
    assert got == str(tmp_path / "dl" / "model.txt")
    assert open(got).read() == "weights"
    with pytest.raises(ValueError, match="no file"):
        run.download_file("outputs/absent.txt", str(tmp_path / "dl"))
    written = run.download_files(prefix="outputs", output_directory=str(tmp_path / "all"))
    assert sorted(os.path.relpath(p, tmp_path / "all") for p in written) == [
        "outputs/model.txt", "outputs/sub/extra.txt"]
    assert (tmp_path / "all" / "outputs" / "sub" / "extra.txt").read_text() == "extra"

    # A read token reads the same values (through the chart series, raw at this size).
    reader = trainyard.Workspace(url=url, token=server[2]).get_run(run.id)
    assert reader.get_metrics()["loss"] == pytest.approx(metrics["loss"])
    assert [p["step"] for p in reader.get_metrics("loss", full=True)] == [0, 1, 2, 3, 4]

    # The same run through the other ways in.
    again = ws.get_run(run.id[:12])
    assert again.id == run.id and again.experiment.name == "remote-sdk"
    assert run.id in [r.id for r in trainyard.Experiment(ws, "remote-sdk").get_runs()]
    assert "remote-sdk" in ws.experiments
    assert list(run.get_children()) == []

    # The run is the server's: in its workspace, under its experiment.
    listed = subprocess.run([BIN, "--workspace", str(server_ws), "list", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert run.id in listed.stdout
    _no_local_workspace(home, work)


def test_environment_names_the_server(server, client_side, monkeypatch):
    url, _, read, _ = server
    home, work = client_side
    monkeypatch.setenv("TRAINYARD_WORKSPACE", url)
    monkeypatch.setenv("TRAINYARD_TOKEN", read)
    ws = trainyard.Workspace()
    assert ws.is_remote and ws.path == url.rstrip("/")
    assert isinstance(ws.experiments, dict)
    assert "local" in ws.targets
    # A URL given as the folder is still the server, never a folder called "http:".
    assert trainyard.Workspace(url).is_remote
    _no_local_workspace(home, work)
    assert not (work / "http:").exists()


def test_read_token_cannot_submit(server, client_side, tmp_path):
    url, _, read, _ = server
    home, work = client_side
    ws = trainyard.Workspace(url=url, token=read)
    cfg = trainyard.PyTorch(source_directory=_project(tmp_path), entry_script="train.py")
    with pytest.raises(PermissionError) as refused:
        trainyard.Experiment(ws, "remote-sdk").submit(cfg)
    assert "refused" in str(refused.value) and "token" in str(refused.value)
    _no_local_workspace(home, work)


def test_errors_are_the_local_sdks(server, client_side, tmp_path):
    url, submit, _, _ = server
    with pytest.raises(PermissionError):
        trainyard.Workspace(url=url, token="ty_" + "A" * 43)
    ws = trainyard.Workspace(url=url, token=submit)
    with pytest.raises(ValueError):
        ws.get_run("no-such-run-0000")
    # Validation happens before anything is sent, with the local messages; the file system and
    # target checks at submit, on the server's side for the target, naming the field.
    with pytest.raises(ValueError, match="process_count_per_node"):
        trainyard.PyTorch(source_directory=str(tmp_path), entry_script="train.py",
                          process_count_per_node="many")
    src = _project(tmp_path)
    exp = trainyard.Experiment(ws, "remote-bad")
    with pytest.raises(ValueError, match="entry_script"):
        exp.submit(trainyard.PyTorch(source_directory=src, entry_script="missing.py"))
    with pytest.raises(ValueError, match='compute_target: unknown target "gpu-clustr"'):
        exp.submit(trainyard.PyTorch(source_directory=src, entry_script="train.py",
                                     compute_target="gpu-clustr"))
    assert list(exp.get_runs()) == []  # nothing was recorded
    with pytest.raises(ValueError):
        ws.get_target("no-such-target")
    with pytest.raises(ValueError, match="not both"):
        trainyard.Workspace(path=str(tmp_path), url=url)


def test_unreachable_server(client_side):
    # A port nothing listens on: bind one, note it, close it.
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
        trainyard.Workspace(url=f"http://127.0.0.1:{port}", token="x")


def test_failed_run_raises_with_the_log_tail(server, client_side, tmp_path):
    url, submit, _, _ = server
    ws = trainyard.Workspace(url=url, token=submit)
    src = tmp_path / "bad"
    src.mkdir()
    (src / "train.py").write_text("print('about to fail', flush=True)\nraise SystemExit(3)\n")
    run = trainyard.Experiment(ws, "remote-sdk").submit(
        trainyard.PyTorch(source_directory=src, entry_script="train.py"))
    with pytest.raises(trainyard.RunFailedError) as failed:
        run.wait_for_completion(timeout=240)
    assert failed.value.status == "Failed"
    assert "about to fail" in failed.value.log_tail
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed" and details["exitCode"] == 3


def _azureml_config(work, url, token, monkeypatch):
    """An azureml config.json in `work` that names the server, and the token in the environment."""
    os.makedirs(work / ".azureml")
    (work / ".azureml" / "config.json").write_text(json.dumps(
        {"subscription_id": "sub", "resource_group": "rg", "workspace_name": "shared",
         "trainyard_url": url}))
    monkeypatch.setenv("TRAINYARD_TOKEN", token)


def test_azureml_scripts_run_unchanged(server, client_side, tmp_path, monkeypatch):
    url, submit, _, _ = server
    home, work = client_side
    _azureml_config(work, url, submit, monkeypatch)
    from azureml.core import Experiment, ScriptRunConfig, Workspace

    ws = Workspace.from_config()
    assert ws.name == "shared" and ws.is_remote
    src = _project(tmp_path)
    config = ScriptRunConfig(source_directory=str(src), script="train.py",
                             arguments=["--epochs", 1])
    run = Experiment(ws, "remote-azureml").submit(config)
    run.wait_for_completion()
    assert run.get_status() == "Completed"
    assert run.get_metrics()["acc"] == pytest.approx(0.9)
    assert type(run).__module__.startswith("azureml")
    logs = run.get_details_with_logs()["logFiles"]
    assert "hello from the server" in logs["logs/rank-0.log"]
    assert run.get_portal_url() == f"{url.rstrip('/')}/#/runs/{run.id}"
    _no_local_workspace(home, work)
    assert not (home / ".trainyard" / "workspaces" / "shared").exists()


def test_timeout_and_cancel(server, client_side, tmp_path):
    url, submit, _, _ = server
    ws = trainyard.Workspace(url=url, token=submit)
    src = tmp_path / "slow"
    src.mkdir()
    (src / "train.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(120)\n")
    run = trainyard.Experiment(ws, "remote-sdk").submit(
        trainyard.PyTorch(source_directory=src, entry_script="train.py"))
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=run.id):
        run.wait_for_completion(show_output=True, timeout=1.0)
    assert time.monotonic() - started < 10
    assert run.cancel() == "Canceled"
    assert run.get_status() == "Canceled"
    details = run.wait_for_completion(raise_on_error=False, timeout=30)
    assert details["status"] == "Canceled"


def test_show_output_prints_every_line(server, client_side, tmp_path):
    url, submit, _, _ = server
    ws = trainyard.Workspace(url=url, token=submit)
    src = tmp_path / "chatty"
    src.mkdir()
    (src / "train.py").write_text("for i in range(300):\n    print('line', i)\n")
    run = trainyard.Experiment(ws, "remote-sdk").submit(
        trainyard.PyTorch(source_directory=src, entry_script="train.py"))
    run.wait_for_completion(timeout=240)
    # Followed after the end: the whole output, not the stream's default last 200 lines.
    out = io.StringIO()
    with redirect_stdout(out):
        run.wait_for_completion(show_output=True, timeout=60)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("line ")]
    assert lines == [f"line {i}" for i in range(300)]


def test_azureml_workspace_from_the_environment(server, client_side, monkeypatch):
    url, _, read, _ = server
    home, work = client_side
    monkeypatch.setenv("TRAINYARD_WORKSPACE", url)
    monkeypatch.setenv("TRAINYARD_TOKEN", read)
    from azureml.core import Workspace

    ws = Workspace("sub", "rg", "shared")
    assert ws.is_remote and ws.url == url.rstrip("/") and ws.location == ws.url
    assert Workspace.get("shared").is_remote
    written = ws.write_config()
    config = json.loads(open(written).read())
    assert config["trainyard_url"] == ws.url
    assert read not in open(written).read()  # never the token
    monkeypatch.delenv("TRAINYARD_WORKSPACE")
    again = Workspace.from_config()
    assert again.is_remote and again.name == "shared" and "local" in again.targets
    _no_local_workspace(home, work)
    assert not (home / ".trainyard").exists()


SWEEP = """
type: sweep
experiment_name: remote-sweep
trial:
  code: src
  command: python train.py --lr ${{search_space.lr}}
compute: local
search_space:
  lr: {type: choice, values: [0.1, 0.2]}
sampling_algorithm: grid
objective: {primary_metric: acc, goal: maximize}
limits: {max_total_trials: 2, max_concurrent_trials: 2}
"""


def test_children_of_a_sweep(server, client_side, tmp_path):
    url, submit, _, server_ws = server
    ws = trainyard.Workspace(url=url, token=submit)
    # A sweep submitted on the server's own machine (to its folder) is read through the server too.
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(
        "import sys\nfrom trainyard import Run\nRun.get_context().log('acc', float(sys.argv[-1]))\n")
    (tmp_path / "sweep.yml").write_text(SWEEP)
    proc = subprocess.run([BIN, "--workspace", str(server_ws), "sweep", "submit",
                           str(tmp_path / "sweep.yml"), "--wait", "--json"],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    sweep = json.loads(proc.stdout)
    children = list(ws.get_run(sweep["id"]).get_children())
    by_index = {t["index"]: t["run_id"] for t in sweep["trials"]}
    assert [c.id for c in children] == [by_index[0], by_index[1]]
    assert all(isinstance(c, trainyard.Run) for c in children)
    assert [c.get_metrics()["acc"] for c in children] == pytest.approx([0.1, 0.2])
    assert list(ws.get_run(sweep["id"]).get_children(status="Failed")) == []


def test_sdk_submits_a_sweep_through_the_server(server, client_side, tmp_path):
    """trainyard.Sweep through Experiment.submit: the trial's folder is uploaded, the server's
    machine runs the trials, and the sweep run, its tags and its trials read back remotely."""
    url, submit, read, server_ws = server
    home, work = client_side
    ws = trainyard.Workspace(url=url, token=submit)
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(
        "import sys\nfrom trainyard import Run\nRun.get_context().log('acc', float(sys.argv[-1]))\n")
    from trainyard import sweep as sw

    cfg = trainyard.Sweep(
        trial=trainyard.PyTorch(source_directory=src, entry_script="train.py"),
        search_space={"--lr": sw.choice(0.1, 0.3)}, sampling="grid",
        objective=sw.Objective("acc", "maximize"), limits=sw.Limits(max_total_trials=2))
    run = trainyard.Experiment(ws, "sdk-sweep").submit(cfg, tags={"via": "sdk"})
    run.wait_for_completion()
    assert run.get_status() == "Completed"
    assert run.get_tags()["via"] == "sdk"
    children = list(run.get_children())
    assert len(children) == 2 and all(c.get_status() == "Completed" for c in children)
    assert sorted(c.get_metrics()["acc"] for c in children) == pytest.approx([0.1, 0.3])
    # The sweep and its trials are the server's runs, in the experiment named by the SDK.
    shown = subprocess.run([BIN, "--workspace", str(server_ws), "sweep", "show", run.id, "--json"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["experiment"] == "sdk-sweep"
    assert sorted(t["run_id"] for t in record["trials"]) == sorted(c.id for c in children)
    # A read token may look, not start a sweep.
    with pytest.raises(PermissionError):
        trainyard.Experiment(trainyard.Workspace(url=url, token=read), "sdk-sweep").submit(cfg)
    _no_local_workspace(home, work)


def test_azureml_hyperdrive_through_the_server(server, client_side, tmp_path, monkeypatch):
    """An azureml HyperDriveConfig script, unchanged, against a workspace whose config.json names
    the server: the best trial is found from the client."""
    url, submit, _, _ = server
    home, work = client_side
    _azureml_config(work, url, submit, monkeypatch)
    from azureml.core import Experiment, ScriptRunConfig, Workspace
    from azureml.train.hyperdrive import (GridParameterSampling, HyperDriveConfig,
                                          PrimaryMetricGoal, choice)

    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(
        "import argparse\nfrom azureml.core import Run\np = argparse.ArgumentParser()\n"
        "p.add_argument('--lr', type=float)\nrun = Run.get_context()\n"
        "run.log('acc', 1 - abs(p.parse_args().lr - 0.2))\n")
    hd = HyperDriveConfig(
        run_config=ScriptRunConfig(source_directory=str(src), script="train.py"),
        hyperparameter_sampling=GridParameterSampling({"--lr": choice(0.1, 0.2)}),
        policy=None, primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=2)
    hd_run = Experiment(Workspace.from_config(), "remote-hyperdrive").submit(hd)
    hd_run.wait_for_completion()
    assert hd_run.get_status() == "Completed"
    best = hd_run.get_best_run_by_primary_metric()
    assert best.get_metrics()["acc"] == pytest.approx(1.0)
    assert hd_run.get_hyperparameters()[best.id] == {"--lr": 0.2}
    _no_local_workspace(home, work)


def test_https_with_a_private_ca(tmp_path, client_side, monkeypatch):
    """The same SDK over TLS: the server's certificate is checked against $TRAINYARD_CA_CERT."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
         "-out", str(cert)], capture_output=True, text=True, timeout=60)
    if made.returncode != 0:
        pytest.skip("openssl cannot make a test certificate: " + made.stderr)
    workspace = tmp_path / "tls-ws"
    token = _token(workspace, "tls", "read")
    with _served(workspace, tmp_path / "tls.log", "--tls-cert", str(cert), "--tls-key",
                 str(key), https=True) as url:
        monkeypatch.setenv("TRAINYARD_CA_CERT", str(cert))
        ws = trainyard.Workspace(url=url, token=token)
        assert ws.experiments == {}
        monkeypatch.delenv("TRAINYARD_CA_CERT")
        with pytest.raises(ConnectionError, match="(?i)ssl"):
            trainyard.Workspace(url=url, token=token)  # not a CA the system trusts
