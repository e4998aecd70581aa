"""The trainyard Python SDK (docs/sdk.md) against a fresh workspace: real submissions, real
supervisors, the CLI's own validation. Written from docs/sdk.md and the README's job file format."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import trainyard

BIN = os.path.join(os.path.dirname(os.path.dirname(trainyard.__file__)), "..", "src", "cli",
                   "trainyard")


@pytest.fixture()
def ws(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRAINYARD_WORKSPACE", raising=False)
    return trainyard.Workspace(tmp_path / "ws")


def project(tmp_path, code, name="train.py", folder="proj"):
    src = tmp_path / folder
    src.mkdir(exist_ok=True)
    (src / name).write_text(textwrap.dedent(code))
    return src


TRAIN = """
    import os, sys
    from trainyard import Run
    run = Run.get_context()
    print("args", sys.argv[1:], flush=True)
    run.log("loss", 0.5)
    run.log("loss", 0.25)
    run.log("acc", 0.9)
    run.log_row("table", epoch=1, f1=0.5)
    run.log_row("table", epoch=2, f1=0.75)
    os.makedirs("outputs/sub", exist_ok=True)
    open("outputs/model.txt", "w").write("weights")
    open("outputs/sub/extra.txt", "w").write("extra")
"""


def cli(ws, *args):
    proc = subprocess.run([BIN, "--workspace", ws.path, *args], capture_output=True, text=True,
                          timeout=120)
    return proc


def test_workspace_default_is_the_clis(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINYARD_WORKSPACE", str(tmp_path / "env-ws"))
    assert trainyard.Workspace().path == str(tmp_path / "env-ws")
    assert os.path.isdir(tmp_path / "env-ws")


def test_submit_wait_details_metrics_files(ws, tmp_path, capsys):
    src = project(tmp_path, TRAIN)
    cfg = trainyard.PyTorch(source_directory="proj", entry_script="train.py",
                            script_params={"--lr": 0.1, "--verbose": None, "--name": "a b; c"})
    exp = trainyard.Experiment(ws, "sdk")
    run = exp.submit(cfg, tags={"team": "vision", "n": 3})
    assert run.get_status() in {"Queued", "Preparing", "Starting", "Running", "Finalizing",
                                "Completed"}
    details = run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert "args ['--lr', '0.1', '--verbose', '--name', 'a b; c']" in out
    assert details["status"] == "Completed" == run.get_status() == run.status
    assert details["runId"] == run.id and details["target"] == "local"
    assert details["arguments"] == ["--lr", "0.1", "--verbose", "--name", "a b; c"]
    assert details["startTimeUtc"] and details["endTimeUtc"]
    assert details["trainyard"]["snapshot"]["source_dir"] == str(src)
    # The same record as the CLI's.
    shown = json.loads(cli(ws, "show", run.id, "--json").stdout)
    assert shown["status"] == details["trainyard"]["status"] and shown["argv"] == details["argv"]

    metrics = run.get_metrics()
    assert metrics["loss"] == [0.5, 0.25]          # several values: a list
    assert metrics["acc"] == 0.9                   # logged once: the value
    assert metrics["table"] == {"epoch": [1, 2], "f1": [0.5, 0.75]}
    assert run.get_metrics("acc") == {"acc": 0.9}
    full = run.get_metrics("loss", full=True)
    assert [p["step"] for p in full] == [0, 1] and full[0]["rank"] == 0
    assert run.get_tags() == {"team": "vision", "n": "3"}

    names = run.get_file_names()
    assert {"outputs/model.txt", "outputs/sub/extra.txt", "logs/rank-0.log"} <= set(names)
    got = run.download_file("outputs/model.txt", str(tmp_path / "m.txt"))
    assert open(got).read() == "weights"
    into_dir = run.download_file("outputs/model.txt", str(tmp_path))
    assert into_dir == str(tmp_path / "model.txt")
    written = run.download_files("outputs", str(tmp_path / "dl"))
    assert sorted(os.path.relpath(p, tmp_path / "dl") for p in written) == [
        "outputs/model.txt", "outputs/sub/extra.txt"]
    with pytest.raises(ValueError, match="no file 'outputs/nope'"):
        run.download_file("outputs/nope")
    assert list(run.get_children()) == []

    again = trainyard.Run(exp, run.id[:-3])  # a unique prefix is enough
    assert again.id == run.id and again.get_status() == "Completed"
    assert [r.id for r in exp.get_runs()] == [run.id]
    assert "sdk" in ws.experiments
    assert trainyard.get_run(run.id, ws.path).get_metrics("acc") == {"acc": 0.9}


def test_validation_is_the_clis(ws, tmp_path):
    project(tmp_path, "print('x')\n")
    bad = {"source_directory": "proj", "entry_script": "train.py", "node_cuont": 2,
           "script_params": {"--x": [1]}}
    with pytest.raises(ValueError) as error:
        trainyard.PyTorch(**bad)
    message = str(error.value)
    assert 'node_cuont: unknown field (did you mean "node_count"?)' in message
    assert 'script_params["--x"]: expected a scalar value' in message
    # The CLI says the same about the same fields, with the file's line numbers instead.
    (tmp_path / "job.json").write_text(json.dumps(bad))
    proc = cli(ws, "submit", str(tmp_path / "job.json"))
    assert proc.returncode == 2
    for line in message.splitlines():
        field_and_problem = line.split(": ", 1)[1]
        assert field_and_problem in proc.stderr, (line, proc.stderr)

    with pytest.raises(ValueError, match="process_count_per_node"):
        trainyard.Estimator(source_directory="proj", entry_script="train.py",
                            process_count_per_node="many")
    with pytest.raises(ValueError, match="command: required field is missing"):
        trainyard.Command(code="proj")
    with pytest.raises(ValueError, match="cannot hold a object"):
        trainyard.PyTorch(source_directory="proj", entry_script="train.py",
                          script_params={"--x": object()})
    # File system and target checks happen at submit, naming the field.
    exp = trainyard.Experiment(ws, "bad")
    cfg = trainyard.PyTorch(source_directory="proj", entry_script="missing.py")
    with pytest.raises(ValueError, match="entry_script"):
        exp.submit(cfg)
    cfg = trainyard.PyTorch(source_directory="proj", entry_script="train.py",
                            compute_target="gpu-clustr")
    with pytest.raises(ValueError, match='compute_target: unknown target "gpu-clustr"'):
        exp.submit(cfg)
    assert list(exp.get_runs()) == []  # nothing was recorded
    with pytest.raises(TypeError, match="cannot submit a dict"):
        exp.submit({"source_directory": "proj"})


def test_command_form_and_dry_run(ws, tmp_path, capsys):
    project(tmp_path, "import sys\nprint('got', sys.argv[1:])\n")
    cfg = trainyard.Command(code="proj", command="python train.py --lr ${{inputs.lr}} 'two words'",
                            inputs={"lr": 0.01})
    plan = cfg.dry_run(ws)
    argv = plan["plan"]["processes"][0]["argv"]
    assert argv[:2] == ["bash", "-c"]  # a command job's command runs in a shell (docs/jobs.md)
    assert "python train.py --lr" in argv[2] and plan["interpreter"] in argv[2]
    assert list(trainyard.Experiment(ws, "default").get_runs()) == []  # a dry run records nothing
    run = trainyard.Experiment(ws, "cmd").submit(cfg)
    run.wait_for_completion(show_output=True)
    assert "got ['--lr', '0.01', 'two words']" in capsys.readouterr().out


def test_failed_run_raises_with_error_rank_and_log_tail(ws, tmp_path):
    project(tmp_path, """
        import sys
        print("step 1 ok", flush=True)
        print("loss exploded", file=sys.stderr, flush=True)
        sys.exit(3)
    """)
    run = trainyard.Experiment(ws, "fails").submit(
        trainyard.PyTorch(source_directory="proj", entry_script="train.py"))
    with pytest.raises(trainyard.RunFailedError) as error:
        run.wait_for_completion()
    e = error.value
    assert isinstance(e, RuntimeError)
    assert e.run_id == run.id and e.status == "Failed" and e.failed_rank == 0
    assert "exited with code 3" in e.error
    assert "loss exploded" in e.log_tail and "step 1 ok" in e.log_tail
    assert "loss exploded" in str(e)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed" and "exited with code 3" in details["error"]["error"][
        "message"]


def test_cancel_and_timeout(ws, tmp_path):
    project(tmp_path, "import time\nprint('started', flush=True)\ntime.sleep(600)\n")
    run = trainyard.Experiment(ws, "long").submit(
        trainyard.PyTorch(source_directory="proj", entry_script="train.py"))
    with pytest.raises(TimeoutError):
        run.wait_for_completion(timeout=0.5)
    assert run.cancel() == "Canceled"
    with pytest.raises(trainyard.RunFailedError, match="Canceled"):
        run.wait_for_completion()


def test_ctrl_c_stops_waiting_not_the_run(ws, tmp_path):
    project(tmp_path, "import time\ntime.sleep(600)\n")
    run = trainyard.Experiment(ws, "long").submit(
        trainyard.PyTorch(source_directory="proj", entry_script="train.py"))
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run.wait_for_completion()
    assert time.monotonic() - started < 10
    assert run.get_status() in {"Queued", "Preparing", "Starting", "Running"}
    run.cancel()


def test_handles_log_and_tag(ws, tmp_path):
    project(tmp_path, "print('x')\n")
    run = trainyard.Experiment(ws, "h").submit(
        trainyard.PyTorch(source_directory="proj", entry_script="train.py"))
    run.wait_for_completion()
    run.log("after", 1.5)
    run.log_list("series", [1, 2, 3])
    run.log_row("rows", a=1, b=2.5)
    run.tag("stage", "reviewed")
    run.add_properties({"owner": "ana"})
    assert run.get_metrics()["after"] == 1.5
    assert run.get_metrics()["series"] == [1.0, 2.0, 3.0]
    assert run.get_metrics()["rows"] == {"a": 1, "b": 2.5}
    assert run.get_tags()["stage"] == "reviewed"
    assert run.get_properties()["owner"] == "ana"
    with pytest.raises(ValueError, match="metric 'after'"):
        run.log("after", "high")
    with pytest.raises(RuntimeError, match="inside the run"):
        run.upload_file("outputs/x", __file__)


def test_targets(ws):
    assert set(ws.targets) == {"local"}
    t = ws.add_target("laptop", "local", max_concurrent_runs=3)
    assert (t.name, t.type, t.capacity) == ("laptop", "local", 3)
    assert set(ws.targets) == {"local", "laptop"}
    assert json.loads(cli(ws, "target", "show", "laptop").stdout)["capacity"] == 3
    with pytest.raises(ValueError, match="max_concurrent_runs"):
        ws.add_target("bad", "local", max_concurrent_runs="lots")
    with pytest.raises(ValueError, match='unknown target "laptp"'):
        ws.get_target("laptp")
    with pytest.raises(ValueError, match="target name"):
        ws.add_target("", "local")
    ws.remove_target("laptop")
    assert set(ws.targets) == {"local"}
    with pytest.raises(ValueError, match='no target named "laptop"'):
        ws.remove_target("laptop")


def test_no_subprocess_in_the_sdk(ws, tmp_path, monkeypatch):
    """The SDK talks to the C++ API, never to the CLI: it works without the trainyard command
    anywhere to be found for everything but starting supervisors (which the C++ side does)."""
    project(tmp_path, "print('x')\n")
    calls = []
    real = subprocess.Popen.__init__

    def spy(self, *args, **kwargs):
        calls.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", spy)
    run = trainyard.Experiment(ws, "spy").submit(
        trainyard.PyTorch(source_directory="proj", entry_script="train.py"))
    run.wait_for_completion()
    run.get_metrics(), run.get_details(), run.get_file_names(), ws.targets, ws.experiments
    assert calls == []


def test_sdk_importable_inside_runs(ws, tmp_path):
    project(tmp_path, """
        import trainyard, os
        print("sdk", trainyard.Workspace.__name__, os.environ["TRAINYARD_RUN_ID"])
    """)
    run = trainyard.Experiment(ws, "inside").submit(
        trainyard.PyTorch(source_directory="proj", entry_script="train.py"))
    run.wait_for_completion()
    log = os.path.join(run.get_details()["trainyard"]["run_dir"], "logs", "rank-0.log")
    assert f"sdk Workspace {run.id}" in open(log).read()


def test_the_example(tmp_path):
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python-sdk",
                           "submit_digits.py")
    proc = subprocess.run([sys.executable, example, "--workspace", str(tmp_path / "ws"),
                           "--epochs", "1"], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "epoch 1/1" in proc.stdout and "final metrics:" in proc.stdout
    assert "outputs/model.pt" in proc.stdout


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
