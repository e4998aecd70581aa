"""Training scripts and programs shared by the end-to-end tests of every target."""
import shutil
import subprocess
from pathlib import Path

import pytest

# torch.distributed (gloo, env://) all-reduce of rank+1: every rank prints the sum and its host.
GLOO_SCRIPT = """
import socket, torch, torch.distributed as dist
dist.init_process_group("gloo", init_method="env://")
t = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(t)
print(f"allreduce {t.item():g} world {dist.get_world_size()} on {socket.gethostname()}", flush=True)
dist.destroy_process_group()
"""


def kill_script(rank):
    """A script whose rank `rank` kills itself with SIGKILL after a second (writing the time to
    $KILLED_AT first when set) while the others sleep."""
    return f"""
import os, signal, time
if os.environ["RANK"] == "{rank}":
    time.sleep(1)
    if "KILLED_AT" in os.environ:
        open(os.environ["KILLED_AT"], "w").write(repr(time.time()))
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(1000)
"""


def build_mpi_allreduce(dest: Path) -> Path:
    """Compiles the harness's MPI_Allreduce program into `dest`; skips without mpicc."""
    if not shutil.which("mpicc"):
        pytest.skip("mpicc (libopenmpi-dev) is not installed")
    dest.mkdir(parents=True, exist_ok=True)
    source = Path(__file__).resolve().parents[1] / "harness" / "mpi_allreduce.c"
    subprocess.run(["mpicc", "-O2", "-o", str(dest / "allreduce"), str(source)], check=True,
                   timeout=120)
    return dest
