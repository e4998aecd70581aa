"""Issue 11, item 1: nothing is lost silently when the workspace's disk is full or read-only.

Each test mounts a small tmpfs as the workspace (root only; skipped otherwise) and unmounts it
at the end, even when the test fails."""
import os
import subprocess

import pytest

from conftest import Trainyard, wait_for_leftovers

FILL_SCRIPT = """
import os, sys
from trainyard import Run
run = Run.get_context()
for i in range(1000):
    run.log("early", i)
run.flush()
print("early points stored", flush=True)
# Fill the workspace's file system (the filler lies outside the run's folders).
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
block = b"x" * (1 << 20)
while True:
    try:
        if os.write(fd, block) <= 0:
            break
    except OSError:
        break
small = b"x" * 4096
while True:
    try:
        if os.write(fd, small) <= 0:
            break
    except OSError:
        break
os.close(fd)
for i in range(300000):
    run.log("loss", i)
for i in range(2000):
    print("line", i, "y" * 100)
"""

SMALL_SCRIPT = """
from trainyard import Run
run = Run.get_context()
for i in range(50):
    run.log("acc", i / 100)
print("done")
"""


def _mount_tmpfs(path, size):
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the workspace (needs root): {proc.stderr.strip()}")


def _unmount(path):
    subprocess.run(["mount", "-o", "remount,rw", str(path)], capture_output=True)
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def tiny(tmp_path):
    """A Trainyard whose workspace lies on a 64 MiB tmpfs (tiny.mount)."""
    mount = tmp_path / "mnt"
    _mount_tmpfs(mount, "64m")
    t = Trainyard(mount / "ws", tmp_path)
    t.mount = mount
    try:
        yield t
    finally:
        left = wait_for_leftovers(t.workspace)
        for pid, _ in left:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        _unmount(mount)
    assert not left, f"processes left behind: {left}"


def _fill(path):
    """Appends to `path` until its file system is full."""
    with open(path, "ab", buffering=0) as f:
        for size in (1 << 20, 4096):
            try:
                while f.write(b"x" * size):
                    pass
            except OSError:
                pass


def _old_run(ty):
    src = ty.project("small", {"train.py": SMALL_SCRIPT})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--experiment", "old",
                  "--wait", check=0, timeout=300)
    run_id = proc.stderr.strip().splitlines()[0]
    assert ty.show(run_id)["metrics"]["acc"]["count"] == 50
    return src, run_id


def _assert_old_run_readable(ty, run_id):
    info = ty.show(run_id)
    assert info["status"] == "Completed"
    assert info["metrics"]["acc"]["count"] == 50
    assert [r["id"] for r in ty.json("list")].count(run_id) == 1
    table = ty.run("metrics", run_id, check=0).stdout
    assert "acc" in table
    assert "done" in ty.run("logs", run_id, check=0).stdout


def test_full_disk_during_a_run_fails_it_with_what_was_lost(tiny):
    src, old_id = _old_run(tiny)
    filler = tiny.mount / "filler"
    big = tiny.project("big", {"train.py": FILL_SCRIPT})
    proc = tiny.run("submit", "--source", big, "--entry", "train.py", "--wait", "--", filler,
                    check=1, timeout=300)
    run_id = proc.stderr.strip().splitlines()[0]

    # The run failed and says what was lost, where, and why; the counts are kept.
    info = tiny.show(run_id)
    assert info["status"] == "Failed", info
    assert info["exit_code"] == 0, info["error"]  # the script itself succeeded
    error = info["error"]
    assert f"no space left on device in {tiny.workspace}" in error, error
    assert "300000 metric points" in error, error
    assert "log bytes not stored" in error, error
    assert info["lost"]["metric_points"] == 300000, info["lost"]
    assert info["lost"]["log_bytes"] > 2000 * 100, info["lost"]
    # What was stored before the disk filled is there, exactly once.
    assert info["metrics"]["early"]["count"] == 1000
    assert "loss" not in info["metrics"]
    # The log holds whole lines only (nothing cut mid-line).
    log = tiny.run("logs", run_id, check=0).stdout
    assert "early points stored" in log
    for line in (tiny.workspace / "runs" / run_id / "logs" / "rank-0.log").read_text().splitlines():
        assert len(line) > 29 and line[23] == "Z" and line[24] == " ", repr(line)

    # On the full disk (the supervisor gave back the space it held for the run's ending):
    # reading works, writing says why in plain words.
    _fill(filler)
    _assert_old_run_readable(tiny, old_id)
    assert tiny.show(run_id)["status"] == "Failed"
    refused = tiny.run("submit", "--source", src, "--entry", "train.py", check=1)
    assert f"workspace disk is full ({tiny.workspace})" in refused.stderr, refused.stderr
    assert "disk I/O error" not in refused.stderr and "sqlite" not in refused.stderr

    # Space again: the same workspace works.
    filler.unlink()
    proc = tiny.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0,
                    timeout=300)
    assert tiny.show(proc.stderr.strip().splitlines()[0])["status"] == "Completed"


def test_full_disk_before_a_run(tiny):
    src, old_id = _old_run(tiny)
    filler = tiny.mount / "filler"
    _fill(filler)
    _assert_old_run_readable(tiny, old_id)
    refused = tiny.run("submit", "--source", src, "--entry", "train.py", check=1)
    assert f"workspace disk is full ({tiny.workspace})" in refused.stderr, refused.stderr
    assert "disk I/O error" not in refused.stderr
    filler.unlink()
    proc = tiny.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0,
                    timeout=300)
    assert tiny.show(proc.stderr.strip().splitlines()[0])["status"] == "Completed"


def test_read_only_workspace_reads_and_refuses_writes(tiny):
    src, old_id = _old_run(tiny)
    subprocess.run(["mount", "-o", "remount,ro", str(tiny.mount)], check=True)
    try:
        _assert_old_run_readable(tiny, old_id)
        refused = tiny.run("submit", "--source", src, "--entry", "train.py", check=1)
        assert f"workspace is read-only ({tiny.workspace})" in refused.stderr, refused.stderr
        assert "sqlite" not in refused.stderr
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tiny.mount)], check=True)
    proc = tiny.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0,
                    timeout=300)
    assert tiny.show(proc.stderr.strip().splitlines()[0])["status"] == "Completed"
