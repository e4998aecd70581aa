"""Fixtures for end-to-end tests: a fresh workspace per test and a runner for the real binary."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

BIN = os.environ.get("TRAINYARD_BIN") or str(
    Path(__file__).resolve().parents[2] / "build" / "src" / "cli" / "trainyard")
SOURCE_DIR = Path(os.environ.get("TRAINYARD_SOURCE_DIR") or Path(__file__).resolve().parents[2])


class Trainyard:
    def __init__(self, workspace: Path, tmp: Path):
        self.workspace = workspace
        self.tmp = tmp

    def run(self, *args, check=None, timeout=120, input=None, env=None, cwd=None):
        full_env = dict(os.environ)
        full_env.pop("TRAINYARD_WORKSPACE", None)
        if env:
            full_env.update(env)
        proc = subprocess.run([BIN, "--workspace", str(self.workspace), *map(str, args)],
                              capture_output=True, text=True, timeout=timeout, input=input,
                              env=full_env, cwd=cwd)
        if check is not None:
            assert proc.returncode == check, (
                f"trainyard {' '.join(map(str, args))} exited {proc.returncode}, expected {check}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def json(self, *args, **kw):
        proc = self.run(*args, "--json", check=0, **kw)
        return json.loads(proc.stdout)

    def submit(self, *args, **kw):
        """Submits and returns the run id (no waiting)."""
        proc = self.run("submit", *args, check=0, **kw)
        return proc.stdout.strip().splitlines()[-1]

    def show(self, run_id):
        return self.json("show", run_id)

    def wait_status(self, run_id, statuses, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            info = self.show(run_id)
            if info["status"] in statuses:
                return info
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} did not reach {statuses}; last: {info['status']}")

    def processes_of(self, run_id, wait=5.0):
        """Processes (on any namespace host: they share this PID namespace) that belong to the
        run, found by TRAINYARD_RUN_ID in their environment; waits up to `wait` s for none."""
        marker = f"TRAINYARD_RUN_ID={run_id}".encode()
        deadline = time.time() + wait
        while True:
            found = []
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    if marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                        found.append(int(pid))
                except OSError:
                    pass
            if not found or time.time() > deadline:
                return found
            time.sleep(0.1)

    def project(self, name, files):
        """Writes a source folder with the given {relative path: text} and returns its path."""
        root = self.tmp / name
        for rel, text in files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        return root


def _leftover_processes(marker: str):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker in cmd or marker.encode() in env:
            out.append((int(pid), cmd))
    return out


def wait_for_leftovers(ws, seconds=10):
    """The processes of workspace `ws` still running after up to `seconds` of waiting."""
    deadline = time.time() + seconds
    left = _leftover_processes(str(ws))
    while left and time.time() < deadline:
        time.sleep(0.1)
        left = _leftover_processes(str(ws))
    return left


@pytest.fixture
def ty(tmp_path):
    ws = tmp_path / "workspace"
    t = Trainyard(ws, tmp_path)
    yield t
    # Nothing may be left running: no supervisor, no rank, no child of a rank.
    left = wait_for_leftovers(ws)
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert not left, f"processes left behind: {left}"
