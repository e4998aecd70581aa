"""Local runs end to end: submit, run, logs, files, failure, cancel, timeout, queueing, crash."""
import calendar
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from scripts import GLOO_SCRIPT, build_mpi_allreduce, kill_script

OK_SCRIPT = """
import json, os, sys
print("hello from train.py", flush=True)
print("warning: just testing", file=sys.stderr, flush=True)
os.makedirs("outputs", exist_ok=True)
with open("outputs/argv.json", "w") as f:
    json.dump({"argv": sys.argv[1:], "cwd": os.getcwd(),
               "run_id": os.environ.get("TRAINYARD_RUN_ID")}, f)
with open("outputs/sub/model.txt".replace("/sub", ""), "w") as f:
    f.write("weights")
"""


def test_success_records_everything(ty):
    src = ty.project("proj", {"train.py": OK_SCRIPT, "data/readme.txt": "x" * 100})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--experiment", "exp1",
                  "--arg", "--lr", "--arg", "0.1", "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    info = ty.show(run_id)
    assert info["id"] == run_id
    assert info["experiment"] == "exp1"
    assert info["status"] == "Completed"
    assert info["exit_code"] == 0
    assert info["target"] == "local"
    assert info["error"] == ""
    for key in ("created_at", "started_at", "ended_at"):
        assert info[key].endswith("Z"), key
    assert info["argv"][1:] == ["train.py", "--lr", "0.1"]
    assert info["argv"][0] == info["interpreter"]
    assert info["snapshot"]["files"] == 2
    assert info["snapshot"]["bytes"] == len(OK_SCRIPT) + 100
    assert info["snapshot"]["git_commit"] is None
    history = [h["status"] for h in info["status_history"]]
    assert history[0] == "Queued" and history[-1] == "Completed"
    for s in ("Preparing", "Starting", "Running", "Finalizing"):
        assert s in history

    files = {f["path"] for f in ty.json("files", run_id)}
    assert {"outputs/argv.json", "outputs/model.txt", "logs/rank-0.log"} <= files

    logs = ty.run("logs", run_id, check=0).stdout
    assert "hello from train.py" in logs
    assert "warning: just testing" in logs

    out = ty.tmp / "dl"
    ty.run("download", run_id, "outputs", "-o", out, check=0)
    argv = json.loads((out / "outputs" / "argv.json").read_text())
    assert argv["argv"] == ["--lr", "0.1"]
    assert argv["run_id"] == run_id
    assert (out / "outputs" / "model.txt").read_text() == "weights"
    # The working folder is gone after the run; the kept files are not.
    assert not Path(info["run_dir"], "work").exists()

    listed = ty.json("list")
    assert [r["id"] for r in listed] == [run_id]
    exps = ty.json("experiments")
    assert [(e["name"], e["runs"]) for e in exps] == [("exp1", 1)]


def test_shell_metacharacters_arrive_literally(ty):
    src = ty.project("proj", {"train.py": OK_SCRIPT})
    nasty = ["; rm -rf ~", "$HOME", "`id`", "a b", "'quoted'", "--flag=$(whoami)", ""]
    args = []
    for n in nasty[:3]:
        args += ["--arg", n]
    proc = ty.run("submit", "--source", src, "--entry", "train.py", *args, "--wait", "--",
                  *nasty[3:], check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    out = ty.tmp / "dl"
    ty.run("download", run_id, "outputs/argv.json", "-o", out, check=0)
    assert json.loads((out / "outputs/argv.json").read_text())["argv"] == nasty


def test_failure_records_exit_code_and_stderr_tail(ty):
    src = ty.project("proj", {"train.py": "import sys\nprint('step 1')\n"
                                          "print('CUDA out of patience', file=sys.stderr)\n"
                                          "sys.exit(3)\n"})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=1)
    run_id = proc.stderr.strip().splitlines()[0]
    info = ty.show(run_id)
    assert info["status"] == "Failed"
    assert info["exit_code"] == 3
    assert "exited with code 3" in info["error"]
    assert "CUDA out of patience" in info["error"]
    assert ty.run("wait", run_id).returncode == 1


def test_stream_shows_output_live(ty):
    src = ty.project("proj", {"train.py": "import time\nfor i in range(3):\n"
                                          "    print(f'epoch {i}', flush=True)\n"
                                          "    time.sleep(0.2)\n"})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--stream", check=0)
    assert [l for l in proc.stdout.splitlines() if l.startswith("epoch")] == [
        "epoch 0", "epoch 1", "epoch 2"]
    assert "Completed" in proc.stderr


def _alive(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


SPAWNER = """
import os, subprocess, sys, time
# A child in its own session, ignoring SIGTERM: it must still be stopped.
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(1000)"],
    start_new_session=True)
os.makedirs("outputs", exist_ok=True)
with open(os.environ["PIDFILE"], "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
print("started", flush=True)
time.sleep(1000)
"""


def _wait_for_file(path, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_cancel_stops_the_whole_process_tree(ty):
    src = ty.project("proj", {"train.py": SPAWNER})
    pidfile = ty.tmp / "pids"
    run_id = ty.submit("--source", src, "--entry", "train.py", "--env", f"PIDFILE={pidfile}")
    pids = [int(p) for p in _wait_for_file(pidfile).split()]
    assert all(_alive(p) for p in pids)
    proc = ty.run("cancel", run_id, check=0)
    assert "Canceled" in proc.stdout
    info = ty.show(run_id)
    assert info["status"] == "Canceled"
    assert not any(_alive(p) for p in pids)


def test_cancel_a_queued_run(ty):
    ty.run("target", "add", "local", "--type", "local", "-o", "max_concurrent_runs=1", check=0)
    src = ty.project("proj", {"train.py": "import time\ntime.sleep(30)\n"})
    first = ty.submit("--source", src, "--entry", "train.py")
    second = ty.submit("--source", src, "--entry", "train.py")
    ty.wait_status(first, {"Running"})
    assert ty.show(second)["status"] == "Queued"
    ty.run("cancel", second, check=0)
    assert ty.show(second)["status"] == "Canceled"
    ty.run("cancel", first, check=0)
    assert ty.show(first)["status"] == "Canceled"
    assert ty.show(second)["started_at"] is None


def test_timeout_stops_the_run(ty):
    src = ty.project("proj", {"train.py": "import time\nprint('working', flush=True)\n"
                                          "time.sleep(1000)\n"})
    t0 = time.time()
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--timeout", "1", "--wait",
                  check=1)
    assert time.time() - t0 < 20
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["status"] == "Failed"
    assert "max_run_duration_seconds" in info["error"]


def test_queue_runs_in_submission_order_within_capacity(ty):
    ty.run("target", "add", "local", "--type", "local", "-o", "max_concurrent_runs=1", check=0)
    src = ty.project("proj", {"train.py": "import time\ntime.sleep(0.5)\n"})
    ids = [ty.submit("--source", src, "--entry", "train.py") for _ in range(3)]
    for i in ids:
        assert ty.run("wait", i, "--timeout", "60").returncode == 0
    infos = [ty.show(i) for i in ids]
    for a, b in zip(infos, infos[1:]):
        assert a["ended_at"] <= b["started_at"], (a, b)
    for info in infos:
        assert "Queued" == info["status_history"][0]["status"]


def test_killed_supervisor_is_noticed(ty):
    src = ty.project("proj", {"train.py": SPAWNER})
    pidfile = ty.tmp / "pids"
    run_id = ty.submit("--source", src, "--entry", "train.py", "--env", f"PIDFILE={pidfile}")
    rank_pid = int(_wait_for_file(pidfile).split()[0])
    sup = ty.show(run_id)["supervisor_pid"]
    assert sup > 0
    os.kill(sup, signal.SIGKILL)
    info = ty.wait_status(run_id, {"Failed"}, timeout=30)
    assert "supervisor" in info["error"]
    # The rank dies with its supervisor.
    deadline = time.time() + 10
    while _alive(rank_pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not _alive(rank_pid)
    # Its escaped grandchild has no owner any more: clean it up for the leftover check.
    child = int(pidfile.read_text().split()[1])
    if _alive(child):
        os.kill(child, signal.SIGKILL)


def test_twenty_concurrent_submits_are_all_recorded(ty):
    ty.run("target", "add", "local", "--type", "local", "-o", "max_concurrent_runs=2", check=0)
    src = ty.project("proj", {"train.py": "print('ok')\n"})
    # Warm the interpreter probe once so twenty processes do not all probe at once.
    ty.submit("--source", src, "--entry", "train.py", "--experiment", "warm")
    env = dict(os.environ)
    procs = [subprocess.Popen(
        [os.environ.get("TRAINYARD_BIN", "trainyard"), "--workspace", str(ty.workspace),
         "submit", "--source", str(src), "--entry", "train.py", "--experiment", "many"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(20)]
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        ids.append(out.strip())
    assert len(set(ids)) == 20
    listed = ty.json("list", "--experiment", "many", "--limit", "0")
    assert sorted(r["id"] for r in listed) == sorted(ids)
    for i in ids:
        ty.run("wait", i, "--timeout", "120", check=0)


def test_dry_run_prints_plan_and_records_nothing(ty):
    src = ty.project("proj", {"train.py": "print('never')\n"})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--dry-run", "--",
                  "--msg", "a b", check=0)
    assert "dry run" in proc.stdout
    assert "argv:" in proc.stdout and "train.py --msg 'a b'" in proc.stdout
    assert "TRAINYARD_RUN_ID=" in proc.stdout
    assert ty.json("list") == []
    plan = ty.json("submit", "--source", src, "--entry", "train.py", "--dry-run")["plan"]
    assert plan["processes"][0]["argv"][1:] == ["train.py"]
    assert ty.json("list") == []


def test_distributed_pytorch_backend_on_local(ty):
    script = """
import os, json
keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK", "GROUP_RANK",
        "MASTER_ADDR", "MASTER_PORT", "OMP_NUM_THREADS"]
print(json.dumps({k: os.environ.get(k) for k in keys}), flush=True)
"""
    src = ty.project("proj", {"ranks.py": script})
    proc = ty.run("submit", "--source", src, "--entry", "ranks.py", "--set", "node_count=2",
                  "--set", "process_count_per_node=2", "--set", "distributed_backend=pytorch",
                  "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    logs = ty.run("logs", run_id, check=0).stdout.splitlines()
    seen = {}
    for line in logs:
        prefix, payload = line.split("] ", 1)
        rank = int(prefix.replace("[rank ", ""))
        seen[rank] = json.loads(payload)
    assert sorted(seen) == [0, 1, 2, 3]
    for r, env in seen.items():
        assert env["RANK"] == str(r)
        assert env["WORLD_SIZE"] == "4"
        assert env["LOCAL_RANK"] == str(r % 2)
        assert env["NODE_RANK"] == env["GROUP_RANK"] == str(r // 2)
        assert env["LOCAL_WORLD_SIZE"] == "2"
        assert env["MASTER_ADDR"] == "127.0.0.1"
    assert len({env["MASTER_PORT"] for env in seen.values()}) == 1
    only1 = ty.run("logs", run_id, "--rank", "1", check=0).stdout
    assert '"RANK": "1"' in only1 and '"RANK": "0"' not in only1


def test_one_failing_rank_stops_the_gang(ty):
    script = """
import os, sys, time
if os.environ["RANK"] == "1":
    print("rank 1 gives up", file=sys.stderr, flush=True)
    sys.exit(5)
time.sleep(1000)
"""
    src = ty.project("proj", {"gang.py": script})
    t0 = time.time()
    proc = ty.run("submit", "--source", src, "--entry", "gang.py", "--set",
                  "process_count_per_node=3", "--set", "distributed_backend=pytorch", "--wait",
                  check=1)
    assert time.time() - t0 < 30
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["status"] == "Failed"
    assert info["failed_rank"] == 1
    assert info["exit_code"] == 5
    assert "rank 1 gives up" in info["error"]


RANK_ENV_SCRIPT = """
import os, json
keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK", "GROUP_RANK",
        "MASTER_ADDR", "MASTER_PORT", "OMP_NUM_THREADS", "OMPI_COMM_WORLD_RANK",
        "TRAINYARD_RUN_ID"]
print(json.dumps({k: os.environ.get(k) for k in keys}), flush=True)
"""


def test_distributed_mpi_backend_on_local(ty):
    src = ty.project("proj", {"ranks.py": RANK_ENV_SCRIPT})
    proc = ty.run("submit", "--source", src, "--entry", "ranks.py", "--set", "node_count=2",
                  "--set", "process_count_per_node=2", "--set", "distributed_backend=mpi",
                  "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    seen = {}
    for line in ty.run("logs", run_id, check=0).stdout.splitlines():
        prefix, payload = line.split("] ", 1)
        seen[int(prefix.replace("[rank ", ""))] = json.loads(payload)
    assert sorted(seen) == [0, 1, 2, 3]
    for r, env in seen.items():
        assert env["RANK"] == env["OMPI_COMM_WORLD_RANK"] == str(r)
        assert env["WORLD_SIZE"] == "4"
        assert env["LOCAL_RANK"] == str(r % 2)
        assert env["NODE_RANK"] == env["GROUP_RANK"] == str(r // 2)
        assert env["LOCAL_WORLD_SIZE"] == "2"
        assert env["TRAINYARD_RUN_ID"] == run_id
    assert ty.show(run_id)["plan"]["processes"][0]["argv"][0].endswith("mpirun")


def test_mpi_rank_failure_names_the_rank(ty):
    script = """
import os, sys, time
if os.environ["RANK"] == "1":
    print("rank 1 is out of data", file=sys.stderr, flush=True)
    sys.exit(4)
time.sleep(1000)
"""
    src = ty.project("proj", {"gang.py": script})
    t0 = time.time()
    proc = ty.run("submit", "--source", src, "--entry", "gang.py", "--set",
                  "process_count_per_node=2", "--set", "distributed_backend=mpi", "--wait",
                  check=1)
    assert time.time() - t0 < 60
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["status"] == "Failed"
    assert info["failed_rank"] == 1
    assert info["exit_code"] == 4
    assert "rank 1 is out of data" in info["error"]


def test_torch_distributed_gloo_allreduce_2x2(ty):
    src = ty.project("proj", {"ddp.py": GLOO_SCRIPT})
    proc = ty.run("submit", "--source", src, "--entry", "ddp.py", "--set", "node_count=2",
                  "--set", "process_count_per_node=2", "--set", "distributed_backend=pytorch",
                  "--wait", check=0, timeout=300)
    run_id = proc.stderr.strip().splitlines()[0]
    logs = ty.run("logs", run_id, check=0).stdout
    assert logs.count("allreduce 10 world 4") == 4, logs


def test_sigkilled_rank_stops_the_gang_within_two_seconds(ty):
    src = ty.project("proj", {"kill.py": kill_script(1)})
    killed_at = ty.tmp / "killed_at"
    proc = ty.run("submit", "--source", src, "--entry", "kill.py", "--set",
                  "node_count=2", "--set", "process_count_per_node=2", "--set",
                  "distributed_backend=pytorch", "--env", f"KILLED_AT={killed_at}", "--wait",
                  check=1)
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["status"] == "Failed"
    assert info["failed_rank"] == 1
    assert "killed by signal 9" in info["error"]
    assert info["properties"]["failed_host"]
    # From the kill to every other rank stopped and the run recorded as ended.
    ended = calendar.timegm(time.strptime(info["ended_at"][:19], "%Y-%m-%dT%H:%M:%S"))
    ended += float("0." + info["ended_at"][20:23])
    assert ended - float(killed_at.read_text()) < 2.0 + 0.01


def test_mpi_program_on_local(ty, tmp_path):
    src = build_mpi_allreduce(tmp_path / "mpi")
    proc = ty.run("submit", "--source", src, "--entry", "allreduce", "--set", "node_count=2",
                  "--set", "process_count_per_node=2", "--set", "distributed_backend=mpi",
                  "--wait", check=0, timeout=180)
    logs = ty.run("logs", proc.stderr.strip().splitlines()[0], check=0).stdout
    assert logs.count("allreduce=10 expected=10 OK") == 4, logs
