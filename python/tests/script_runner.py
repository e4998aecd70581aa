"""Runs a small training script in a fresh interpreter, as trainyard would."""

import os
import socket
import subprocess
import sys
import textwrap

_CLEARED = ("TRAINYARD_", "RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID")


def run_script(code, env=None, timeout=180, expect_returncode=0):
    base = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED)}
    base.update(env or {})
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == expect_returncode, (
        f"script failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return result


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def master_port():
    """A MASTER_PORT that was free a moment ago, with the next one free too: the collective
    runtime's Gloo rendezvous takes MASTER_PORT + 1 (docs/collective.md)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65000 and _port_free(port + 1):
            return port


def run_gloo_ranks(argv, n=2, timeout=120, gloo_timeout=30):
    """Runs `argv` as `n` ranks with torch.distributed's contract (RANK, WORLD_SIZE, MASTER_*; no
    mpirun, so hvd.init() takes Gloo) and returns [(returncode, output)] per rank. Every rank is
    killed by `timeout` seconds."""
    import time
    port = master_port()
    procs = []
    for rank in range(n):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OMPI_", "PMIX_", "HOROVOD_", "LOCAL_"))}
        env.update(RANK=str(rank), WORLD_SIZE=str(n), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), HOROVOD_GLOO_TIMEOUT_SECONDS=str(gloo_timeout),
                   OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    deadline = time.monotonic() + timeout
    results = []
    try:
        for p in procs:
            try:
                out, _ = p.communicate(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            results.append((p.returncode, out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def pytest_argv(path):
    """The argv that runs the pytest file `path` quietly (each rank of a multi-rank test)."""
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
            "no:hypothesispytest", os.path.abspath(path)]


def run_mpi_ranks(argv, n, timeout=240):
    """Runs `argv` as `n` ranks under mpiexec (as root, oversubscribed, unbound) and returns
    (returncode, output), or None when there is no mpiexec."""
    import shutil
    mpiexec = shutil.which("mpiexec") or shutil.which("mpirun")
    if mpiexec is None:
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_mpi_yield_when_idle="1", OMP_NUM_THREADS="1")
    result = subprocess.run([mpiexec, "--allow-run-as-root", "--oversubscribe", "--bind-to",
                             "none", "-np", str(n)] + argv,
                            env=env, capture_output=True, text=True, timeout=timeout)
    return result.returncode, result.stdout + result.stderr
