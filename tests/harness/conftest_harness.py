"""pytest fixtures and helpers for multi-host tests on one machine (see README.md beside this file).

Usage from a test module (with ``tests/`` on ``sys.path``, e.g. inserted by tests/e2e/conftest.py)::

    from harness import hosts, slurm_cluster      # module-scoped fixtures (imported = registered)

    HARNESS_HOST_COUNT = 2                         # optional, default 2

    def test_mpi(hosts, tmp_path):
        hf = hosts.write_hostfile(tmp_path / "hostfile", slots=2)
        subprocess.run(["mpirun", *hosts.mpirun_args(), "--hostfile", hf, "-np", "4", prog],
                       env={**os.environ, **hosts.mpi_env()}, timeout=60, check=True)

    def test_slurm(slurm_cluster):
        job = slurm_cluster.sbatch("#!/bin/bash\\nsrun hostname\\n", "-N2", "--ntasks-per-node=2")
        assert slurm_cluster.wait_job(job, timeout=30) == "COMPLETED"

The fixtures bring the infrastructure up once per module and always tear it down (also when a test
fails); they skip with a clear reason when not root, when namespaces cannot be made here, or when
packages are missing. Outside pytest, use the context managers ``netns_hosts()`` and ``slurm()``.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HARNESS_DIR = Path(__file__).resolve().parent
HOSTS_SH = HARNESS_DIR / "hosts.sh"
SLURM_SH = HARNESS_DIR / "slurm.sh"
NSRUN = HARNESS_DIR / "nsrun"
NETNS_RSH = HARNESS_DIR / "netns-rsh"

# command -> Debian package that provides it
HOST_COMMANDS = {"ip": "iproute2", "nsenter": "util-linux", "unshare": "util-linux",
                 "mpirun": "openmpi-bin", "mpicc": "libopenmpi-dev"}
SLURM_COMMANDS = {"slurmctld": "slurmctld", "slurmd": "slurmd", "sbatch": "slurm-client",
                  "srun": "slurm-client", "squeue": "slurm-client", "scontrol": "slurm-client",
                  "scancel": "slurm-client", "sinfo": "slurm-client"}

FINAL_SLURM_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                      "PREEMPTED", "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"}


def _run(cmd, timeout, env=None, check=True, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                          env=env, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
                           f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def _harness_env(prefix=None):
    env = dict(os.environ)
    if prefix:
        env["TY_HARNESS_PREFIX"] = prefix
    return env


def missing_requirements(slurm: bool = False) -> str | None:
    """Why the harness cannot run here, or None."""
    if os.geteuid() != 0:
        return "multi-host harness needs root (network namespaces, bind mounts, daemons)"
    cmds = dict(HOST_COMMANDS)
    if slurm:
        cmds.update(SLURM_COMMANDS)
    missing = sorted({pkg for cmd, pkg in cmds.items() if shutil.which(cmd) is None})
    if missing:
        return "multi-host harness needs Debian packages: " + " ".join(missing)
    try:
        probe = subprocess.run(["unshare", "--net", "--uts", "--mount", "true"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot create namespaces here: {e}"
    if probe.returncode != 0:
        return f"cannot create namespaces here: {probe.stderr.strip()}"
    return None


def _parse_env_file(path: Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v.strip('"')
    return out


@dataclass
class Hosts:
    """N fake hosts (network namespaces) made by hosts.sh."""
    prefix: str
    state: Path
    subnet: str                 # first three octets, e.g. "10.77.0"
    names: list[str]            # host names = namespace names, e.g. ["tyh-h1", "tyh-h2"]
    addrs: list[str]            # their addresses, e.g. ["10.77.0.11", "10.77.0.12"]
    root_addr: str              # the root namespace's address on the hosts' network ("" if none)
    rsh_agent: Path             # for mpirun --mca plm_rsh_agent (this instance's wrapper)
    nsrun: Path = NSRUN

    @property
    def cidr(self) -> str:
        return f"{self.subnet}.0/24"

    def addr(self, name: str) -> str:
        return self.addrs[self.names.index(name)]

    @property
    def env(self) -> dict:
        """TY_HARNESS_* settings (the agent and nsrun find this instance with them)."""
        return {"TY_HARNESS_PREFIX": self.prefix, "TY_HARNESS_STATE": str(self.state),
                "TY_HARNESS_SUBNET": self.subnet}

    def host_list(self, slots: int = 1) -> str:
        """mpirun --host value: 'tyh-h1:2,tyh-h2:2'."""
        return ",".join(f"{n}:{slots}" for n in self.names)

    def write_hostfile(self, path, slots: int = 1, use_addrs: bool = False) -> Path:
        """Open MPI hostfile ('tyh-h1 slots=2' per line); returns its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        hosts = self.addrs if use_addrs else self.names
        path.write_text("".join(f"{h} slots={slots}\n" for h in hosts))
        return path

    def mpi_env(self) -> dict:
        """Environment for mpirun in the root namespace: root allowed, launch through the agent,
        TCP only on the hosts' network."""
        return {**self.env,
                "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMPI_MCA_plm_rsh_agent": str(self.rsh_agent),
                "OMPI_MCA_oob_tcp_if_include": self.cidr,
                "OMPI_MCA_btl_tcp_if_include": self.cidr}

    def mpirun_args(self) -> list[str]:
        """The same as mpi_env(), as mpirun command-line options."""
        return ["--allow-run-as-root", "--mca", "plm_rsh_agent", str(self.rsh_agent),
                "--mca", "oob_tcp_if_include", self.cidr, "--mca", "btl_tcp_if_include", self.cidr]

    def command(self, host: str, *cmd) -> list[str]:
        """argv that runs cmd on host (its namespaces, hostname and /etc/hosts)."""
        return ["bash", str(self.nsrun), host, *map(str, cmd)]

    def run(self, host: str, *cmd, timeout: float = 60, env=None, check=False, **kw):
        e = dict(os.environ if env is None else env)
        e.update(self.env)
        return _run(self.command(host, *cmd), timeout=timeout, env=e, check=check, **kw)

    def popen(self, host: str, *cmd, env=None, **kw) -> subprocess.Popen:
        e = dict(os.environ if env is None else env)
        e.update(self.env)
        return subprocess.Popen(self.command(host, *cmd), env=e, **kw)

    def pids(self) -> list[int]:
        """Processes now running inside any of this instance's namespaces."""
        out = []
        for ns in self.names + [f"{self.prefix}-ctl", f"{self.prefix}-br"]:
            p = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10)
            out += [int(x) for x in p.stdout.split()]
        return out


def hosts_up(n: int = 2, prefix: str | None = None) -> Hosts:
    env = _harness_env(prefix)
    _run(["bash", HOSTS_SH, "down"], timeout=60, env=env, check=False)      # leftovers of a crashed run
    _run(["bash", HOSTS_SH, "up", n], timeout=60, env=env)
    info = _parse_env_file(Path(_state_dir(env)) / "harness.env")
    return Hosts(prefix=info["TY_HARNESS_PREFIX"], state=Path(info["TY_HARNESS_STATE"]),
                 subnet=info["TY_HARNESS_SUBNET"], names=info["TY_HARNESS_HOSTS"].split(),
                 addrs=info["TY_HARNESS_ADDRS"].split(), root_addr=info.get("TY_HARNESS_ROOT_ADDR", ""),
                 rsh_agent=Path(info["TY_HARNESS_RSH_AGENT"]))


def _state_dir(env) -> str:
    p = env.get("TY_HARNESS_PREFIX", "tyh")
    return env.get("TY_HARNESS_STATE") or f"{env.get('TMPDIR', '/tmp')}/{p}-harness"


def hosts_down(prefix: str | None = None) -> str:
    """Tears the hosts down; returns hosts.sh's log."""
    return _run(["bash", HOSTS_SH, "down"], timeout=60, env=_harness_env(prefix)).stderr


@contextlib.contextmanager
def netns_hosts(n: int = 2, prefix: str | None = None):
    """Context manager: N hosts up, always torn down."""
    try:
        yield hosts_up(n, prefix)
    finally:
        hosts_down(prefix)


@dataclass
class SlurmCluster:
    """A real Slurm cluster on the harness hosts made by slurm.sh (slurmctld on <P>-ctl)."""
    hosts: Hosts
    conf: Path
    nodes: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict:
        """What clients in the root namespace need (SLURM_CONF), plus the harness settings."""
        return {**self.hosts.env, "SLURM_CONF": str(self.conf)}

    @property
    def log_dir(self) -> Path:
        return self.hosts.state / "slurm" / "log"

    def full_env(self, extra=None) -> dict:
        e = dict(os.environ)
        e.update(self.env)
        e.update(extra or {})
        return e

    def run(self, *cmd, timeout: float = 60, env=None, check=False, **kw):
        """Runs a Slurm client (or anything) in the root namespace with SLURM_CONF set."""
        return _run(cmd, timeout=timeout, env=self.full_env(env), check=check, **kw)

    def sbatch(self, script: str | os.PathLike, *args, timeout: float = 30, env=None) -> str:
        """Submits a batch script (its text, or a path) and returns the job id."""
        cmd = ["sbatch", "--parsable", *map(str, args)]
        if isinstance(script, str) and script.startswith("#!"):
            proc = self.run(*cmd, timeout=timeout, env=env, check=True, input=script)
        else:
            proc = self.run(*cmd, str(script), timeout=timeout, env=env, check=True)
        return proc.stdout.strip().split(";")[0]

    def job_info(self, job_id: str) -> dict:
        """scontrol show job -o, as a dict (empty once the record is gone)."""
        proc = self.run("scontrol", "show", "job", "-o", job_id, timeout=15)
        if proc.returncode != 0:
            return {}
        return dict(m.groups() for m in re.finditer(r"(\w+)=(\S*)", proc.stdout))

    def job_state(self, job_id: str) -> str:
        return self.job_info(job_id).get("JobState", "")

    def wait_job(self, job_id: str, timeout: float = 60, interval: float = 0.05) -> str:
        """Polls until the job is in a final state; returns it (raises on timeout)."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.job_state(job_id)
            if state in FINAL_SLURM_STATES:
                return state
            time.sleep(interval)
        raise TimeoutError(f"slurm job {job_id} not finished after {timeout}s (state {state!r})")

    def node_addr(self, node: str) -> str:
        return self.hosts.addr(node)


def slurm_up(hosts: Hosts, auth: str | None = None) -> SlurmCluster:
    env = {**os.environ, **hosts.env}
    if auth:
        env["TY_SLURM_AUTH"] = auth
    _run(["bash", SLURM_SH, "up"], timeout=90, env=env)
    conf = hosts.state / "etc" / "slurm" / "slurm.conf"
    return SlurmCluster(hosts=hosts, conf=conf, nodes=list(hosts.names))


def slurm_down(hosts: Hosts) -> str:
    """Stops the cluster; returns slurm.sh's log."""
    return _run(["bash", SLURM_SH, "down"], timeout=60, env={**os.environ, **hosts.env}).stderr


@contextlib.contextmanager
def slurm(hosts: Hosts, auth: str | None = None):
    """Context manager: Slurm up on the hosts, always torn down (the hosts stay)."""
    try:
        yield slurm_up(hosts, auth)
    finally:
        slurm_down(hosts)


# ---------------------------------------------------------------- pytest fixtures

@pytest.fixture(scope="module")
def hosts(request):
    """Module-scoped fake hosts. HARNESS_HOST_COUNT in the test module sets how many (default 2)."""
    reason = missing_requirements(slurm=False)
    if reason:
        pytest.skip(reason)
    n = getattr(request.module, "HARNESS_HOST_COUNT", 2)
    with netns_hosts(n) as h:
        yield h


@pytest.fixture(scope="module")
def slurm_cluster(hosts):
    """Module-scoped Slurm cluster on the `hosts` fixture's hosts (one slurmd per host)."""
    reason = missing_requirements(slurm=True)
    if reason:
        pytest.skip(reason)
    with slurm(hosts) as c:
        yield c
