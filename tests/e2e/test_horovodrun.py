"""`horovodrun` as Horovod users type it: a thin front end over `trainyard submit --stream` (the
launch is a recorded run), with --gloo and --mpi, --dry-run that records nothing, and bad options
refused by name (exit 2); -H over the harness's fake hosts (tests/harness)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import hosts  # noqa: E402,F401  (module-scoped fixture, for the hosts test only)

HARNESS_HOST_COUNT = 2

HOROVODRUN = os.environ.get("HOROVODRUN_BIN") or str(Path(BIN).parent / "horovodrun")

SCRIPT = """
import sys
import torch
import horovod.torch as hvd

hvd.init()
total = hvd.allreduce(torch.tensor([float(hvd.rank() + 1)]), op=hvd.Sum, name="total")
transport = "gloo" if hvd.gloo_enabled() else "mpi" if hvd.mpi_enabled() else "other"
print(f"rank {hvd.rank()}/{hvd.size()} sum {total.item():.0f} over {transport} "
      f"args {' '.join(sys.argv[1:])}", flush=True)
"""


def horovodrun(ty, *args, cwd, timeout=300):
    env = dict(os.environ)
    env["TRAINYARD_WORKSPACE"] = str(ty.workspace)
    return subprocess.run([HOROVODRUN, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def runs(ty):
    return ty.json("list") if ty.workspace.exists() else []


@pytest.mark.parametrize("flag,transport", [("--gloo", "gloo"), ("--mpi", "mpi"), (None, "mpi")])
def test_launch_is_a_recorded_run(ty, flag, transport):
    src = ty.project("proj", {"train.py": SCRIPT})
    opts = ["-np", "2"] + ([flag] if flag else [])
    proc = horovodrun(ty, *opts, "python", "train.py", "--x", "1", cwd=src)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Both ranks' output streamed here, each rank seeing the sum over both and its arguments.
    found = re.findall(r"rank (\d)/2 sum 3 over (\w+) args --x 1", proc.stdout)
    assert sorted(found) == [("0", transport), ("1", transport)], proc.stdout
    listed = runs(ty)
    assert len(listed) == 1 and listed[0]["status"] == "Completed", listed
    info = ty.show(listed[0]["id"])
    logs = ty.run("logs", info["id"], check=0).stdout
    assert len(re.findall(r"rank \d/2 sum 3", logs)) == 2, logs


def test_failing_script_fails_the_run(ty):
    src = ty.project("proj", {"train.py": "import sys\nsys.exit(3)\n"})
    proc = horovodrun(ty, "-np", "2", "--gloo", "python", "train.py", cwd=src)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    listed = runs(ty)
    assert len(listed) == 1 and listed[0]["status"] == "Failed", listed


def test_dry_run_prints_the_plan_and_records_nothing(ty):
    src = ty.project("proj", {"train.py": SCRIPT})
    proc = horovodrun(ty, "-np", "2", "--gloo", "--dry-run", "python", "train.py", "--x", "1",
                      cwd=src)
    assert proc.returncode == 0, proc.stderr
    assert "dry run: nothing was recorded or started" in proc.stdout
    assert "target: local (local), world size 2" in proc.stdout
    assert "HOROVOD_CONTROLLER=gloo" in proc.stdout
    assert "train.py --x 1" in proc.stdout
    assert runs(ty) == []
    # With hosts: the plan is an mpirun over them, and the target made for it is removed again.
    proc = horovodrun(ty, "-np", "4", "-H", "node1:2,node2:2", "--dry-run", "python", "train.py",
                      cwd=src)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"target: horovodrun-[0-9a-f]{16} \(mpi\), world size 4", proc.stdout)
    assert "--host node1:2,node2:2 -np 4 --map-by ppr:2:node" in proc.stdout
    assert runs(ty) == []
    assert [t["name"] for t in ty.json("target", "list")] == ["local"]


def test_verbose_shows_the_commands_and_the_plan(ty):
    src = ty.project("proj", {"train.py": SCRIPT})
    proc = horovodrun(ty, "-np", "1", "--verbose", "python", "train.py", cwd=src)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "--dry-run --" in proc.stderr and "--stream --" in proc.stderr, proc.stderr
    assert "dry run: nothing was recorded or started" in proc.stdout
    assert "rank 0/1 sum 1" in proc.stdout
    assert len(runs(ty)) == 1


@pytest.mark.parametrize("args,message", [
    (["-np", "2", "--start-timeout", "30", "python", "train.py"],
     "horovodrun option --start-timeout is not supported here"),
    (["-np", "2", "--frobnicate", "python", "train.py"], "unknown option --frobnicate"),
    (["python", "train.py"], "-np N (the number of processes) is required"),
    (["-np", "2", "--gloo", "--mpi", "python", "train.py"], "--gloo and --mpi: choose one"),
    (["-np", "5", "-H", "a:2,b:2", "python", "train.py"],
     "-np 5 is more than the 4 slots of the hosts (a:2,b:2)"),
])
def test_bad_options_are_refused(ty, args, message):
    src = ty.project("proj", {"train.py": SCRIPT})
    proc = horovodrun(ty, *args, cwd=src)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("horovodrun: error: "), proc.stderr
    assert message in proc.stderr
    assert runs(ty) == []


def test_invalid_job_is_trainyards_usage_error(ty):
    src = ty.project("proj", {"train.py": SCRIPT})
    proc = horovodrun(ty, "-np", "2", "python", "missing.py", cwd=src)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "missing.py" in proc.stderr
    assert runs(ty) == []


def test_help():
    proc = subprocess.run([HOROVODRUN, "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    assert "-np, --num-proc N" in proc.stdout and "--disable-cache" in proc.stdout


def test_hosts_run_on_the_saved_target(ty, hosts):
    """-H over other hosts goes to the mpi target horovodrun-<hash>, reused as saved: here it is
    saved first with what the harness's fake hosts need (their launch agent and addresses)."""
    src = ty.project("proj", {"train.py": SCRIPT})
    host_list = ",".join(f"{a}:2" for a in hosts.addrs)
    dry = horovodrun(ty, "-np", "4", "-H", host_list, "--dry-run", "python", "train.py", cwd=src)
    assert dry.returncode == 0, dry.stderr
    name = re.search(r"target: (horovodrun-[0-9a-f]{16}) \(mpi\)", dry.stdout).group(1)
    cidr = hosts.cidr
    ty.run("target", "add", name, "--type", "mpi", "-o", "hosts=" + host_list,
           "-o", f"launch_agent={hosts.rsh_agent}", "-o", f"tracking_address={hosts.root_addr}",
           "-o", f"mpirun_args=--mca oob_tcp_if_include {cidr} --mca btl_tcp_if_include {cidr}",
           check=0)
    proc = horovodrun(ty, "-np", "4", "-H", host_list, "--mpi", "python", "train.py", "--x", "1",
                      cwd=src)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = re.findall(r"rank (\d)/4 sum 10 over mpi args --x 1", proc.stdout)
    assert sorted(found) == ["0", "1", "2", "3"], proc.stdout
    listed = runs(ty)
    assert len(listed) == 1 and listed[0]["status"] == "Completed", listed
    assert ty.show(listed[0]["id"])["target"] == name
