"""An unchanged Horovod PyTorch script under `trainyard submit`: the horovod compatibility package
maps onto trainyard's collective runtime, over MPI (distributed_backend: mpi) or over Gloo
(distributed_backend: pytorch, whose torch.distributed contract hvd.init() picks up)."""
import re

import pytest

HVD_SCRIPT = """
import torch
import horovod.torch as hvd

hvd.init()
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01 * hvd.size(), momentum=0.9)
optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())
hvd.broadcast_parameters(model.state_dict(), root_rank=0)
hvd.broadcast_optimizer_state(optimizer, root_rank=0)
g = torch.Generator().manual_seed(100 + hvd.rank())   # every rank sees different data
for step in range(20):
    x = torch.randn(32, 8, generator=g)
    y = x.sum(dim=1, keepdim=True)
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
avg = hvd.allreduce(loss.detach(), name="final_loss")
checksum = sum(p.sum().item() for p in model.parameters())
transport = "gloo" if hvd.gloo_enabled() else "mpi" if hvd.mpi_enabled() else "other"
print(f"rank {hvd.rank()}/{hvd.size()} local {hvd.local_rank()} checksum {checksum:.6f} "
      f"loss {avg.item():.6f} over {transport}", flush=True)
"""


@pytest.mark.parametrize("procs,backend", [(2, "mpi"), (4, "mpi"), (2, "pytorch")])
def test_horovod_script_runs_unchanged(ty, procs, backend):
    src = ty.project("proj", {"train.py": HVD_SCRIPT})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--set",
                  f"process_count_per_node={procs}", "--set", f"distributed_backend={backend}",
                  "--wait", check=0, timeout=300)
    run_id = proc.stderr.strip().splitlines()[0]
    logs = ty.run("logs", run_id, check=0).stdout
    found = re.findall(r"rank (\d+)/(\d+) local \d+ checksum (\S+) loss (\S+) over (\w+)",
                       logs)
    assert sorted(int(r) for r, _, _, _, _ in found) == list(range(procs)), logs
    assert {int(n) for _, n, _, _, _ in found} == {procs}
    assert {t for *_, t in found} == {"gloo" if backend == "pytorch" else "mpi"}, found
    # Data-parallel training keeps every rank's weights identical.
    assert len({c for _, _, c, _, _ in found}) == 1, found
    assert len({l for _, _, _, l, _ in found}) == 1, found


TOPOLOGY_SCRIPT = """
import os
import horovod.torch as hvd
hvd.init()
print(f"rank {hvd.rank()} local {hvd.local_rank()}/{hvd.local_size()} "
      f"cross {hvd.cross_rank()}/{hvd.cross_size()} "
      f"env {os.environ['LOCAL_RANK']}/{os.environ['LOCAL_WORLD_SIZE']} {os.environ['NODE_RANK']}",
      flush=True)
"""


@pytest.mark.parametrize("backend", ["mpi", "pytorch"])
def test_simulated_nodes_are_horovods_hosts(ty, backend):
    """A local target that simulates 2 nodes x 2 processes: hvd's local and cross ranks follow
    the nodes trainyard gives the ranks (LOCAL_RANK, NODE_RANK), over MPI as over Gloo."""
    src = ty.project("proj", {"train.py": TOPOLOGY_SCRIPT})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--set", "node_count=2",
                  "--set", "process_count_per_node=2", "--set", f"distributed_backend={backend}",
                  "--wait", check=0, timeout=300)
    run_id = proc.stderr.strip().splitlines()[0]
    logs = ty.run("logs", run_id, check=0).stdout
    found = re.findall(r"rank (\d) local (\d)/(\d) cross (\d)/(\d) env (\d)/(\d) (\d)", logs)
    assert len(found) == 4, logs
    for rank, local, local_size, cross, cross_size, env_local, env_size, node in found:
        assert (local, local_size) == (env_local, env_size) == (str(int(rank) % 2), "2"), logs
        assert (cross, cross_size) == (node, "2") == (str(int(rank) // 2), "2"), logs
