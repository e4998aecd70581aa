"""Issue 11, items 3 and 7: nothing of a run outlives its supervisor or `cancel`, whatever the
backend, and `logs` streams a big run's output in bounded memory."""
import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

BIN = os.environ.get("TRAINYARD_BIN") or str(
    Path(__file__).resolve().parents[2] / "build" / "src" / "cli" / "trainyard")

# Each rank says it is up, starts a helper in its own session (which escapes a process-group
# kill and PR_SET_PDEATHSIG), and sleeps.
SLEEPER = """
import os, subprocess, sys, time
subprocess.Popen(["sleep", "1000"], start_new_session=True)
print("up", os.environ.get("RANK", "0"), flush=True)
time.sleep(1000)
"""


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def start_sleeper(ty, backend, ranks):
    src = ty.project("proj", {"train.py": SLEEPER})
    args = ["--source", src, "--entry", "train.py"]
    if backend:
        args += ["--set", f"process_count_per_node={ranks}",
                 "--set", f"distributed_backend={backend}"]
    run_id = ty.submit(*args)
    ty.wait_status(run_id, {"Running"}, timeout=90)
    deadline = time.time() + 60
    while time.time() < deadline:
        if len(ty.run("logs", run_id).stdout.splitlines()) >= ranks:
            break
        time.sleep(0.1)
    return run_id


def kill_supervisor(ty, run_id):
    pid = ty.show(run_id)["supervisor_pid"]
    assert pid > 0 and "supervise" in cmdline(pid)
    os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("backend,ranks,expect", [
    ("", 1, ["python3 train.py"]),
    ("pytorch", 2, ["python3 train.py"] * 2),
    ("mpi", 2, ["mpirun"] + ["rank-exec"] * 2 + ["python3 train.py"] * 2),
])
def test_ranks_die_with_a_killed_supervisor(ty, backend, ranks, expect):
    run_id = start_sleeper(ty, backend, ranks)
    before = [cmdline(p) for p in ty.processes_of(run_id, wait=0)]
    for what in set(expect):  # the processes the test is about are there to begin with
        assert sum(what in c for c in before) >= expect.count(what), (what, before)
    kill_supervisor(ty, run_id)
    # Within a bounded wait no rank, rank-exec or mpirun of the run is left (the rank's
    # new-session helper is left by the local ranks: `cancel` stops it, below).
    left = [cmdline(p) for p in ty.processes_of(run_id, wait=15)]
    assert not [c for c in left if "sleep 1000" not in c], left
    if backend == "mpi":  # rank-exec also stopped what the ranks started
        assert not left, left
    assert ty.wait_status(run_id, {"Failed"}, timeout=30)["status"] == "Failed"
    # cancel stops what is left, says so, and leaves nothing.
    proc = ty.run("cancel", run_id, check=0)
    helpers = len(left)
    if helpers:
        assert f"stopped {helpers} process" in proc.stderr, proc.stderr
        assert "(sleep)" in proc.stderr, proc.stderr
    else:
        assert "stopped" not in proc.stderr, proc.stderr
    assert not ty.processes_of(run_id, wait=0)


@pytest.mark.parametrize("backend,ranks", [("pytorch", 2), ("mpi", 2)])
def test_cancel_stops_every_process_of_the_run(ty, backend, ranks):
    run_id = start_sleeper(ty, backend, ranks)
    assert len(ty.processes_of(run_id, wait=0)) >= 2 * ranks
    ty.run("cancel", run_id, check=0)
    assert ty.show(run_id)["status"] == "Canceled"
    assert not ty.processes_of(run_id)


def test_cancel_of_a_run_whose_supervisor_is_gone_is_not_silent(ty):
    # The rank died with its supervisor, its new-session helper did not: cancel says the run's
    # status and what it stopped; a second cancel finds nothing more.
    run_id = start_sleeper(ty, "", 1)
    kill_supervisor(ty, run_id)
    ty.wait_status(run_id, {"Failed"}, timeout=30)
    proc = ty.run("cancel", run_id, check=0)
    assert proc.stdout.split() == [run_id, "Failed"]
    assert "stopped 1 process of run " + run_id in proc.stderr, proc.stderr
    assert not ty.processes_of(run_id, wait=0)
    proc = ty.run("cancel", run_id, check=0)
    assert "stopped" not in proc.stderr


# --- logs in bounded memory -----------------------------------------------------------------

BLOCKS = 150  # x ~1 MiB of output

BIG = f"""
import sys
rank = sys.argv[1] if len(sys.argv) > 1 else "0"
out = sys.stdout.buffer
for b in range({BLOCKS}):
    out.write("".join(f"{{rank}} {{b:05d}} {{i:04d}} " + "x" * 1000 + "\\n"
                      for i in range(1000)).encode())
out.flush()
"""


def expected_lines(rank="0"):
    for b in range(BLOCKS):
        yield "".join(f"{rank} {b:05d} {i:04d} " + "x" * 1000 + "\n" for i in range(1000))


def measure(ty, out_path, *args):
    """Runs `trainyard logs ...` with stdout to a file; returns (exit code, max RSS in KiB)."""
    with open(out_path, "wb") as out:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, "--workspace", str(ty.workspace),
                               "logs", *map(str, args)], stdout=out, stderr=subprocess.PIPE,
                              text=True, timeout=300)
    return proc.returncode, int(proc.stderr.strip().splitlines()[-1])


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def rank_log_text_sha(path):
    """The hash of a rank log's text: each line without its '<time> <stream> ' prefix."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for line in f:
            h.update(line[29:])
    return h.hexdigest()


def test_logs_of_a_big_run_stream_in_bounded_memory(ty):
    src = ty.project("big", {"train.py": BIG})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0,
                  timeout=600)
    run_id = proc.stderr.strip().splitlines()[0]
    log = Path(ty.show(run_id)["run_dir"], "logs", "rank-0.log")
    assert log.stat().st_size > 150_000_000
    expected = hashlib.sha256()
    for block in expected_lines():
        expected.update(block.encode())
    limit_kib = 64 * 1024

    out = ty.tmp / "logs.out"
    code, rss = measure(ty, out, run_id)
    assert code == 0
    print(f"logs of a {log.stat().st_size / 1e6:.0f} MB log: max RSS {rss / 1024:.1f} MiB")
    assert rss < limit_kib, f"logs used {rss} KiB"
    assert sha256_file(out) == expected.hexdigest() == rank_log_text_sha(log)

    for extra in (["--rank", "0"], ["--follow"]):  # the same output, the same bound
        code, rss = measure(ty, out, run_id, *extra)
        assert code == 0 and rss < limit_kib, (extra, rss)
        assert sha256_file(out) == expected.hexdigest(), extra

    code, rss = measure(ty, out, run_id, "--tail", "3")
    assert code == 0 and rss < limit_kib, rss
    last = [f"0 {BLOCKS - 1:05d} {i:04d} " + "x" * 1000 for i in (997, 998, 999)]
    assert out.read_text().splitlines() == last

    proc = ty.run("logs", run_id, "--tail", "-1", check=2)
    assert "--tail" in proc.stderr


def test_logs_merge_ranks_by_time_while_streaming(ty):
    # Several ranks, each in time order: the merged output holds every line once, with its rank,
    # in time order, and --tail N gives each rank's last N lines.
    script = """
import os, time
r = os.environ["RANK"]
for i in range(3000):
    print(f"r{r} line {i}", flush=(i % 100 == 0))
    if i % 500 == 0:
        time.sleep(0.01)
"""
    src = ty.project("proj", {"train.py": script})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--set",
                  "process_count_per_node=3", "--set", "distributed_backend=pytorch", "--wait",
                  check=0, timeout=300)
    run_id = proc.stderr.strip().splitlines()[0]
    lines = ty.run("logs", run_id, "--timestamps", check=0).stdout.splitlines()
    assert len(lines) == 9000
    times = [line.split(" ", 1)[0] for line in lines]
    assert times == sorted(times)
    for r in range(3):
        mine = [line.split(" ", 1)[1] for line in lines if f"[rank {r}] " in line]
        assert mine == [f"[rank {r}] r{r} line {i}" for i in range(3000)]
    tail = ty.run("logs", run_id, "--tail", "2", check=0).stdout.splitlines()
    assert sorted(tail) == sorted(f"[rank {r}] r{r} line {i}" for r in range(3) for i in (2998, 2999))
    one = ty.run("logs", run_id, "--rank", "1", check=0).stdout.splitlines()
    assert one == [f"r1 line {i}" for i in range(3000)]
