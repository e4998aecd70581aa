"""hvd.init() without mpirun: 2 processes started with torch.distributed's contract.

Each rank gets RANK, WORLD_SIZE=2, MASTER_ADDR=127.0.0.1 and MASTER_PORT (as torchrun would set
them) and runs RANK_SCRIPT: hvd.init() must pick the Gloo transport on its own, meet the other rank
at MASTER_PORT + 1, and reduce; the script also creates its own torch.distributed group on
MASTER_PORT itself, next to the runtime, which is why the runtime does not take that port.

Registered as ctest python.gloo.init (python/collective.cmake); runs with plain pytest too.
"""

import sys
import textwrap

import pytest
from script_runner import run_gloo_ranks

_c = pytest.importorskip("trainyard._collective", reason="needs the collective runtime's module")

RANK_SCRIPT = textwrap.dedent("""
    import os
    import torch
    import torch.distributed as dist
    import horovod.torch as hvd

    hvd.init()
    rank = int(os.environ["RANK"])
    assert hvd.gloo_enabled() and not hvd.mpi_enabled(), (hvd.gloo_enabled(), hvd.mpi_enabled())
    assert (hvd.rank(), hvd.size()) == (rank, 2), (hvd.rank(), hvd.size())
    assert (hvd.local_rank(), hvd.local_size(), hvd.cross_size()) == (rank, 2, 1)

    # The script's own process group on MASTER_PORT, next to the runtime on MASTER_PORT + 1.
    dist.init_process_group("gloo", rank=rank, world_size=2)

    t = torch.full((5,), float(rank + 1))
    assert hvd.allreduce(t, name="sum", op=hvd.Sum).tolist() == [3.0] * 5
    assert hvd.allreduce(t, name="avg").tolist() == [1.5] * 5
    h = torch.full((4,), rank + 1, dtype=torch.bfloat16)
    assert hvd.allreduce(h, name="bf16", op=hvd.Sum).tolist() == [3.0] * 4
    g = hvd.allgather(torch.tensor([rank] * (rank + 1)), name="gather")
    assert g.tolist() == [0, 1, 1], g
    b = hvd.broadcast(torch.arange(3.0) + rank, root_rank=1, name="bcast")
    assert b.tolist() == [1.0, 2.0, 3.0], b

    x = torch.ones(2)
    dist.all_reduce(x)
    assert x.tolist() == [2.0, 2.0]
    dist.destroy_process_group()
    hvd.shutdown()
    print(f"rank {rank}: ok", flush=True)
""")


def test_hvd_init_with_torch_contract_two_ranks():
    if not _c.gloo_built():
        pytest.skip("the Gloo transport is not built (no libtorch at build time)")
    results = run_gloo_ranks([sys.executable, "-c", RANK_SCRIPT], timeout=120, gloo_timeout=30)
    for rank, (code, out) in enumerate(results):
        assert code == 0, f"rank {rank} exited with {code}:\n{out}"
        assert f"rank {rank}: ok" in out, out
