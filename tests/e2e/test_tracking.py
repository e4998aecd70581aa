"""Metrics, tags and files logged from inside real runs (Python and C++), through the run's
ingestion endpoint into the workspace."""
import csv
import io
import json
import os
import shutil
import time

FULL_SCRIPT = """
import math, os
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from trainyard import Run
run = Run.get_context()
assert not run.id.startswith("OfflineRun"), run.id
for i in range(5):
    run.log("loss", 1.0 / (i + 1))
run.log("acc", 0.5, step=10)
run.log_list("lr", [0.1, 0.01])
run.log("weird", float("nan"))
run.log("weird", float("inf"))
run.log("weird", float("-inf"))
run.log_row("epoch_table", epoch=1, acc=0.9)
run.log_table("confusion", {"label": ["a", "b"], "count": [3, 4]})
run.tag("stage", "warmup")
run.set_tags({"team": "vision"})
run.add_properties({"dataset": "digits"})
with open("notes.txt", "w") as f:
    f.write("hello")
run.upload_file("outputs/notes.txt", "notes.txt")
fig = plt.figure()
plt.plot([1, 2, 3])
run.log_image("curve", plot=fig)
run.flush()
m = run.get_metrics()
assert m["loss"] == [1.0, 0.5, 1.0 / 3, 0.25, 0.2], m["loss"]
print("experiment", run.experiment.name)
"""


def test_python_script_logs_everything(ty):
    src = ty.project("proj", {"train.py": FULL_SCRIPT})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--experiment", "trk",
                  "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    info = ty.show(run_id)
    assert info["tags"] == {"stage": "warmup", "team": "vision"}
    assert info["properties"] == {"dataset": "digits"}
    assert info["metrics"]["loss"]["last"] == 0.2
    assert info["metrics"]["loss"]["count"] == 5
    assert info["metrics"]["acc"]["step"] == 10
    assert info["metrics"]["weird"]["last"] == "-Infinity"
    series = ty.json("metrics", run_id, "--name", "weird")["weird"]
    assert [p["value"] for p in series] == ["NaN", "Infinity", "-Infinity"]
    assert ty.json("metrics", run_id, "--name", "lr")["lr"][1]["value"] == 0.01
    files = {f["path"] for f in ty.json("files", run_id)}
    assert "outputs/notes.txt" in files
    assert any(p.startswith("images/curve/") and p.endswith(".png") for p in files), files
    assert "experiment trk" in ty.run("logs", run_id, check=0).stdout
    table = ty.run("metrics", run_id, check=0).stdout
    assert "loss" in table and "0.2" in table
    tags = ty.json("tags", run_id)
    assert tags["tags"]["stage"] == "warmup"


def test_hundred_thousand_points_stored_exactly_once_in_order(ty):
    script = ("from trainyard import Run\nrun = Run.get_context()\n"
              "for i in range(100000):\n    run.log('x', i)\n")
    src = ty.project("proj", {"train.py": script})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0,
                  timeout=300)
    run_id = proc.stderr.strip().splitlines()[0]
    out = ty.run("metrics", run_id, "--name", "x", "--csv", check=0).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 100000
    assert [int(r["step"]) for r in rows] == list(range(100000))
    assert [float(r["value"]) for r in rows] == [float(i) for i in range(100000)]


def test_killed_script_keeps_what_was_flushed(ty):
    script = """
import os, signal, time
from trainyard import Run
run = Run.get_context()
for i in range(10):
    run.log("kept", i)
run.flush()
print("flushed", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    src = ty.project("proj", {"train.py": script})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=1)
    run_id = proc.stderr.strip().splitlines()[0]
    info = ty.show(run_id)
    assert info["status"] == "Failed"
    assert info["metrics"]["kept"]["count"] == 10


def test_metrics_are_visible_while_running(ty):
    script = """
import time
from trainyard import Run
run = Run.get_context()
run.log("early", 1.0)
print("logged", flush=True)
time.sleep(60)
"""
    src = ty.project("proj", {"train.py": script})
    run_id = ty.submit("--source", src, "--entry", "train.py")
    deadline = time.time() + 30
    seen_at = None
    while time.time() < deadline:
        info = ty.show(run_id)
        if "early" in info.get("metrics", {}):
            seen_at = time.time()
            break
        time.sleep(0.1)
    assert seen_at is not None, "metric never became visible"
    assert ty.show(run_id)["status"] == "Running"
    ty.run("cancel", run_id, check=0)


def test_azureml_compat_import_runs_unchanged(ty):
    script = """
from azureml.core.run import Run
from azureml.core import Run as Run2
run = Run.get_context()
assert Run2.get_context().id == run.id
run.log("accuracy", 0.93)
run.tag("framework", "pytorch")
"""
    src = ty.project("proj", {"train.py": script})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0)
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["metrics"]["accuracy"]["last"] == 0.93
    assert info["tags"]["framework"] == "pytorch"


def test_offline_outside_trainyard(tmp_path):
    import subprocess
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINYARD_")}
    from conftest import BIN  # noqa: F401  (the build's python package sits beside the binary)
    pkg = os.environ.get("TRAINYARD_PYTHON_PACKAGE_DIR") or str(
        os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(BIN))), "python"))
    env["PYTHONPATH"] = pkg
    proc = subprocess.run(["/usr/bin/python3", "-c",
                           "from trainyard import Run\nr = Run.get_context()\nr.log('a', 1)\n"
                           "print(r.id, r.get_metrics()['a'])"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("OfflineRun")
    assert proc.stdout.split()[1] == "1.0"  # logged once: the value itself (the hosted shape)


def test_four_ranks_log_at_once(ty):
    script = """
import os
from trainyard import Run
run = Run.get_context()
for i in range(1000):
    run.log("loss", float(i), step=i)
"""
    src = ty.project("proj", {"train.py": script})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--set",
                  "process_count_per_node=4", "--set", "distributed_backend=pytorch", "--wait",
                  check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    series = ty.json("metrics", run_id, "--name", "loss")["loss"]
    assert len(series) == 4000
    by_rank = {}
    for p in series:
        by_rank.setdefault(p["rank"], []).append(p["step"])
    assert sorted(by_rank) == [0, 1, 2, 3]
    for steps in by_rank.values():
        assert steps == list(range(1000))


def test_cpp_program_logs_through_the_run_context(ty):
    exe = os.environ["TRAINYARD_CPP_LOG_EXAMPLE"]
    src = ty.tmp / "cpp"
    src.mkdir()
    shutil.copy(exe, src / "log_metrics")
    proc = ty.run("submit", "--source", src, "--entry", "log_metrics", "--wait", "--", "50",
                  check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    info = ty.show(run_id)
    assert info["metrics"]["loss"]["count"] == 50
    assert info["metrics"]["special"]["last"] == "Infinity"
    assert info["tags"]["language"] == "c++"
    assert "outputs/weights.txt" in {f["path"] for f in ty.json("files", run_id)}
    logs = ty.run("logs", run_id, check=0).stdout
    assert "stored 50 loss values" in logs
    assert "bad name refused: metric name" in logs


def test_compare_lines_up_runs(ty):
    script = ("import sys\nfrom trainyard import Run\nrun = Run.get_context()\n"
              "lr = float(sys.argv[1])\nfor i in range(3):\n"
              "    run.log('loss', lr * (3 - i))\n    run.log('acc', lr * i)\n")
    src = ty.project("proj", {"train.py": script})
    ids = []
    for lr in ("0.1", "0.2"):
        proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait", "--", lr,
                      check=0)
        ids.append(proc.stderr.strip().splitlines()[0])
    cmp = ty.json("compare", *ids)
    assert [c["id"] for c in cmp] == ids
    assert abs(cmp[0]["metrics"]["loss"]["best"] - 0.1) < 1e-9   # lowest loss
    assert abs(cmp[1]["metrics"]["acc"]["best"] - 0.4) < 1e-9    # highest accuracy
    text = ty.run("compare", *ids, "--name", "loss", check=0).stdout
    assert "loss (last / min)" in text and "acc" not in text


def test_python_reads_a_finished_run(ty):
    import subprocess
    script = ("from trainyard import Run\nrun = Run.get_context()\n"
              "for i in range(3):\n    run.log('loss', 1.0 / (i + 1))\nrun.tag('kind', 'demo')\n"
              "run.log('odd', float('nan'))\n")
    src = ty.project("proj", {"train.py": script})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    reader = f"""
import math
from trainyard import get_run
run = get_run({run_id[:-2]!r}, workspace={str(ty.workspace)!r})
assert run.id == {run_id!r}
assert run.status == "Completed", run.status
m = run.get_metrics()
assert m["loss"] == [1.0, 0.5, 1.0 / 3], m
assert math.isnan(m["odd"])  # logged once: the value itself (the hosted shape)
full = run.get_metrics("loss", full=True)
assert [p["step"] for p in full] == [0, 1, 2]
assert run.get_tags() == {{"kind": "demo"}}
print("ok")
"""
    from conftest import BIN
    env = dict(os.environ, TRAINYARD_BIN=BIN,
               PYTHONPATH=os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(BIN))),
                                       "python"))
    out = subprocess.run(["/usr/bin/python3", "-c", reader], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
