"""Runs a small training script in a fresh interpreter, as trainyard would."""

import os
import subprocess
import sys
import textwrap

_CLEARED = ("TRAINYARD_", "RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID")


def in_a_rank():
    """True in a rank started by mpirun or with torch.distributed's contract (RANK/WORLD_SIZE,
    as gloo_ranks.py starts them)."""
    return "OMPI_COMM_WORLD_SIZE" in os.environ or ("RANK" in os.environ
                                                    and "WORLD_SIZE" in os.environ)


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


def master_port():
    """A free MASTER_PORT (and MASTER_PORT + 1, the Gloo rendezvous): gloo_ranks.master_port."""
    import gloo_ranks
    return gloo_ranks.master_port()


def run_gloo_ranks(argv, n=2, timeout=120, gloo_timeout=30):
    """Runs `argv` as `n` ranks with torch.distributed's contract (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_*; no mpirun, so hvd.init() takes Gloo) and returns [(returncode, output)] per rank.
    The first rank to fail, or `timeout` seconds, stops every rank (gloo_ranks.run)."""
    import gloo_ranks
    _, results = gloo_ranks.run(argv, n, timeout=timeout, gloo_timeout=gloo_timeout)
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
