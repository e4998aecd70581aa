"""Self-test of the multi-host harness: 2 fake hosts, Open MPI through the launch agent, torch.distributed
(gloo) across hosts, a real Slurm cluster (sbatch, srun, scancel, srun -K1 gang teardown), and a
teardown that leaves nothing behind. Needs root; skips with the reason otherwise.
Run: /usr/bin/python3 -m pytest -q tests/harness/test_harness.py
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import hosts, slurm_cluster  # noqa: E402,F401  (fixtures)
from harness import conftest_harness as H  # noqa: E402

HARNESS_HOST_COUNT = 2
HERE = Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3"          # Debian's python3 with torch


def _ok_lines(text):
    return [line for line in text.splitlines() if line.rstrip().endswith(" OK") or " OK " in line]


def _alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(line.startswith("State:") and "Z" in line for line in f)
    except FileNotFoundError:
        return False


def _wait_file(path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def allreduce(tmp_path_factory, hosts):
    out = tmp_path_factory.mktemp("mpi") / "allreduce"
    subprocess.run(["mpicc", "-O2", "-o", str(out), str(HERE / "mpi_allreduce.c")],
                   check=True, timeout=120)
    return out


def _mpirun(hosts, args, timeout=30, tries=2, extra_env=None):
    """mpirun from the root namespace into the hosts. Open MPI 4.1 sometimes hangs at start-up
    (baselines finding 5): a timed-out attempt is cleaned up and retried once."""
    env = {**os.environ, **hosts.mpi_env(), **(extra_env or {})}
    for attempt in range(tries):
        try:
            return subprocess.run(["mpirun", *map(str, args)], capture_output=True, text=True,
                                  timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            for pid in hosts.pids():      # orted/ranks left by the killed mpirun
                try:
                    if open(f"/proc/{pid}/comm").read().strip() not in ("slurmd", "slurmctld", "slurmstepd"):
                        os.kill(pid, signal.SIGKILL)
                except (FileNotFoundError, ProcessLookupError):
                    pass
            if attempt == tries - 1:
                raise
            print(f"mpirun timed out after {timeout}s; retrying", file=sys.stderr)


def test_hosts_have_names_addresses_and_no_way_out(hosts):
    assert hosts.names == [f"{hosts.prefix}-h1", f"{hosts.prefix}-h2"]
    for name, addr in zip(hosts.names, hosts.addrs):
        p = hosts.run(name, "sh", "-c", "hostname; getent hosts " + " ".join(hosts.names) + "; ip -4 route",
                      timeout=10, check=True)
        lines = p.stdout.splitlines()
        assert lines[0] == name
        assert f"{hosts.addrs[0]}" in p.stdout and f"{hosts.addrs[1]}" in p.stdout
        assert "default" not in p.stdout, "a harness host must have no route out"
    # the agent accepts an address and runs the command with a clean environment
    p = subprocess.run([str(hosts.rsh_agent), "-x", hosts.addrs[1], "hostname;", "echo", "${SECRET:-clean}"],
                       capture_output=True, text=True, timeout=10, env={**os.environ, "SECRET": "leak"})
    assert p.stdout.split() == [hosts.names[1], "clean"], p.stderr


def test_mpirun_allreduce_across_two_hosts(hosts, allreduce):
    t0 = time.monotonic()
    p = _mpirun(hosts, ["--host", hosts.host_list(slots=2), "-np", "4", allreduce])
    dt = time.monotonic() - t0
    assert p.returncode == 0, p.stdout + p.stderr
    ok = _ok_lines(p.stdout)
    assert len(ok) == 4, p.stdout + p.stderr
    for name in hosts.names:
        assert sum(f" on {name} " in line for line in ok) == 2, p.stdout
    print(f"mpirun 2 hosts x 2 ranks: {dt:.2f}s")


def test_mpirun_with_hostfile_of_addresses(hosts, allreduce, tmp_path):
    hf = hosts.write_hostfile(tmp_path / "hostfile", slots=1, use_addrs=True)
    p = _mpirun(hosts, ["--hostfile", hf, "-np", "2", allreduce])
    assert p.returncode == 0 and len(_ok_lines(p.stdout)) == 2, p.stdout + p.stderr


def test_torch_gloo_allreduce_across_two_hosts(hosts):
    t0 = time.monotonic()
    procs = [hosts.popen(name, "env", f"MASTER_ADDR={hosts.addrs[0]}", "MASTER_PORT=29555",
                         f"RANK={r}", "WORLD_SIZE=2", PYTHON, HERE / "gloo_allreduce.py",
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r, name in enumerate(hosts.names)]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=60)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    dt = time.monotonic() - t0
    for r, (p, out) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, out
        assert f"rank {r}/2 host={hosts.names[r]} " in out and " OK " in out, out
    print(f"torch gloo 2 hosts: {dt:.2f}s")


def test_sbatch_two_node_job(slurm_cluster, tmp_path):
    script = ("#!/bin/bash\n#SBATCH --nodes=2 --ntasks-per-node=2 --time=2\n"
              "srun -l bash -c 'echo task=$SLURM_PROCID node=$SLURMD_NODENAME host=$(hostname)'\n")
    t0 = time.monotonic()
    job = slurm_cluster.sbatch(script, "-o", tmp_path / "out-%j.txt")
    state = slurm_cluster.wait_job(job, timeout=30)
    dt = time.monotonic() - t0
    out = (tmp_path / f"out-{job}.txt").read_text()
    assert state == "COMPLETED", out
    for name in slurm_cluster.nodes:
        assert out.count(f"node={name} host={name}") == 2, out
    info = slurm_cluster.job_info(job)
    assert info["NodeList"] == f"{slurm_cluster.hosts.prefix}-h[1-2]" and info["ExitCode"] == "0:0"
    # sbatch --wait (what a user would do) also works; its own poll interval makes it ~2 s
    p = slurm_cluster.run("sbatch", "--wait", "-N2", "-o", "/dev/null", "--wrap", "srun true", timeout=60)
    assert p.returncode == 0, p.stderr
    print(f"sbatch 2-node job submit->COMPLETED: {dt:.2f}s")


def test_srun_hostnames_and_pmix_allreduce(slurm_cluster, allreduce):
    p = slurm_cluster.run("srun", "-N2", "-n4", "hostname", timeout=30, check=True)
    assert sorted(p.stdout.split()) == sorted(slurm_cluster.nodes * 2)
    for attempt in range(2):
        p = slurm_cluster.run("srun", "--mpi=pmix", "-N2", "-n4", allreduce, timeout=60,
                              env={"OMPI_MCA_btl": "tcp,self"})
        # Open MPI 4.1's btl/tcp gives up on a connect that is still in progress when the machine
        # is overloaded ("failed to TCP connect ... Operation now in progress (115)", then a
        # crash; open-mpi/ompi#11508: timeouts outside Open MPI). Seen once in CI on the 2-core
        # VM while other builds ran; that one case is tried again, once.
        if p.returncode == 0 or "failed to TCP connect" not in p.stderr + p.stdout:
            break
        print("Open MPI failed a TCP connect under load; trying once more", file=sys.stderr)
    assert p.returncode == 0 and len(_ok_lines(p.stdout)) == 4, p.stdout + p.stderr


def test_squeue_and_scancel(slurm_cluster):
    job = slurm_cluster.sbatch("#!/bin/bash\nsrun sleep 300\n", "-N2", "-o", "/dev/null")
    deadline = time.monotonic() + 20
    while slurm_cluster.job_state(job) != "RUNNING":
        assert time.monotonic() < deadline, "job did not start"
        time.sleep(0.05)
    p = slurm_cluster.run("squeue", "-h", "-j", job, "-o", "%i %T %N", timeout=10, check=True)
    assert p.stdout.split() == [job, "RUNNING", f"{slurm_cluster.hosts.prefix}-h[1-2]"]
    t0 = time.monotonic()
    slurm_cluster.run("scancel", job, timeout=10, check=True)
    assert slurm_cluster.wait_job(job, timeout=20) == "CANCELLED"
    print(f"scancel -> CANCELLED: {time.monotonic() - t0:.2f}s")
    deadline = time.monotonic() + 10           # no `sleep 300` left on any host
    while any(open(f"/proc/{pid}/comm").read().strip() == "sleep"
              for pid in slurm_cluster.hosts.pids() if _alive(pid)):
        assert time.monotonic() < deadline, "job processes left after scancel"
        time.sleep(0.05)


def test_srun_kill_one_rank_tears_down_the_gang(slurm_cluster, allreduce, tmp_path):
    piddir = tmp_path / "pids"
    piddir.mkdir()
    env = slurm_cluster.full_env({"PIDDIR": str(piddir), "OMPI_MCA_btl": "tcp,self"})
    srun = subprocess.Popen(["srun", "-K1", "-N2", "-n4", str(allreduce), "60"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert all(_wait_file(piddir / f"rank{r}.pid", 30) for r in range(4)), "ranks did not start"
        pids = [int((piddir / f"rank{r}.pid").read_text()) for r in range(4)]
        t0 = time.monotonic()
        os.kill(pids[3], signal.SIGKILL)
        out = srun.communicate(timeout=30)[0]
        dt = time.monotonic() - t0
    finally:
        if srun.poll() is None:
            srun.kill()
            srun.wait(timeout=10)
    assert srun.returncode != 0, out
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids):
        assert time.monotonic() < deadline, f"ranks still alive after srun exited: {out}"
        time.sleep(0.05)
    print(f"srun -K1: SIGKILL of rank 3 -> srun exit {srun.returncode} in {dt:.2f}s")
    assert dt < 5, f"gang teardown took {dt:.2f}s\n{out}"


def test_teardown_leaves_nothing(hosts, slurm_cluster):
    """Runs last (file order): tears down explicitly and checks that nothing is left."""
    before = hosts.pids()
    assert before, "expected slurm daemons in the hosts"
    t0 = time.monotonic()
    print(H.slurm_down(hosts), end="")
    t1 = time.monotonic()
    print(H.hosts_down(hosts.prefix), end="")
    t2 = time.monotonic()
    print(f"slurm down {t1 - t0:.2f}s, hosts down {t2 - t1:.2f}s")
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    assert not [l for l in netns.splitlines() if l.startswith(f"{hosts.prefix}-")], netns
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, timeout=10).stdout
    assert f"{hosts.prefix}-gw" not in links
    mounts = Path("/proc/self/mounts").read_text()
    assert f"/{hosts.prefix}-" not in mounts
    assert not hosts.state.exists()
    assert not [p for p in before if _alive(p)], "processes of the hosts survived teardown"
    for name in ("slurmctld", "slurmd", "slurmstepd", "orted"):
        p = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True, timeout=10)
        assert not [pid for pid in p.stdout.split() if _alive(int(pid))], f"{name} still running"
