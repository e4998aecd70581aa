"""Horovod's elastic training on trainyard's fixed set of ranks, end to end: `horovodrun -np 2
--min-np 2 --max-np 2 [--gloo|--mpi] python train.py` with a script written the way Horovod's
elastic examples are (pytorch_mnist_elastic.py / pytorch_synthetic_benchmark_elastic.py:
hvd.elastic.run, TorchState with the model, optimizer and an ElasticSampler, commits, a reset
callback rescaling the learning rate). Once, in epoch 1, every rank makes an allreduce with a
shape that differs by rank: the run must roll back to the last commit, re-initialize on the same
2 ranks, call the reset callback and finish every epoch, and the recorded run is Completed. On
the local target (--gloo and --mpi) and on an mpi target over the harness's fake hosts
(tests/harness; skipped where it cannot make them)."""
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
import torch
import torch.nn.functional as F
import horovod.torch as hvd

hvd.init()
torch.manual_seed(1234)
gen = torch.Generator().manual_seed(7)
data = torch.utils.data.TensorDataset(torch.randn(64, 8, generator=gen),
                                      torch.randint(0, 2, (64,), generator=gen))
model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
base_lr = 0.01
optimizer = torch.optim.SGD(model.parameters(), lr=base_lr * hvd.size(), momentum=0.9)
optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())
sampler = hvd.elastic.ElasticSampler(data, shuffle=True)
loader = torch.utils.data.DataLoader(data, batch_size=4, sampler=sampler)
injected = []


def on_state_reset():
    for group in optimizer.param_groups:
        group["lr"] = base_lr * hvd.size()
    print(f"rank {hvd.rank()} reset, size {hvd.size()}", flush=True)


@hvd.elastic.run
def train(state):
    print(f"rank {hvd.rank()} starts at epoch {state.epoch} batch {state.batch}", flush=True)
    for state.epoch in range(state.epoch, 3):
        for batch_idx, (x, y) in enumerate(loader):
            if state.epoch == 1 and state.batch == 3 and not injected:
                injected.append(1)
                hvd.allreduce(torch.ones(2 + hvd.rank()), name="injected")
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            state.sampler.record_batch(batch_idx, 4)
            state.batch += 1
            if state.batch % 2 == 0:
                state.commit()
        state.batch = 0
        state.sampler.set_epoch(state.epoch + 1)
        state.commit()
    return loss.item()


state = hvd.elastic.TorchState(model, optimizer, sampler=sampler, epoch=0, batch=0)
state.register_reset_callbacks([on_state_reset])
loss = train(state)
weights = hvd.allgather_object(model[0].weight.sum().item())
assert all(w == weights[0] for w in weights), weights
print(f"rank {hvd.rank()} finished epoch {state.epoch} of 3, loss {loss:.3f}", flush=True)
"""


def horovodrun(ty, *args, cwd, timeout=300):
    env = dict(os.environ)
    env["TRAINYARD_WORKSPACE"] = str(ty.workspace)
    return subprocess.run([HOROVODRUN, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def _check_rolled_back_and_finished(ty, proc):
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "trainyard does no elastic scaling" in proc.stderr, proc.stderr
    assert "HOROVOD_RESET_LIMIT=3" in out, out
    for rank in (0, 1):
        starts = re.findall(rf"rank {rank} starts at epoch (\d) batch (\d+)", out)
        assert starts == [("0", "0"), ("1", "2")], out  # then again from the commit at batch 2
        assert f"rank {rank} reset, size 2" in out, out
        assert f"rank {rank} finished epoch 2 of 3" in out, out
    listed = ty.json("list")
    assert len(listed) == 1 and listed[0]["status"] == "Completed", listed
    return listed[0]


@pytest.mark.parametrize("flag", ["--gloo", "--mpi"])
def test_elastic_script_rolls_back_and_finishes_on_the_same_ranks(ty, flag):
    src = ty.project("proj", {"train.py": SCRIPT})
    proc = horovodrun(ty, "-np", "2", "--min-np", "2", "--max-np", "2", "--reset-limit", "3",
                      "--verbose", flag, "python", "train.py", cwd=src)
    _check_rolled_back_and_finished(ty, proc)


def test_elastic_script_on_mpi_hosts(ty, hosts):
    """One rank on each of 2 fake hosts: the reset re-initializes over MPI across hosts. The mpi
    target horovodrun-<hash> is saved first with what the fake hosts need (as test_horovodrun)."""
    src = ty.project("proj", {"train.py": SCRIPT})
    host_list = ",".join(f"{a}:1" for a in hosts.addrs)
    args = ["-np", "2", "--min-np", "2", "--max-np", "2", "--reset-limit", "3", "-H", host_list,
            "--mpi"]
    dry = horovodrun(ty, *args, "--dry-run", "python", "train.py", cwd=src)
    assert dry.returncode == 0, dry.stderr
    name = re.search(r"target: (horovodrun-[0-9a-f]{16}) \(mpi\)", dry.stdout).group(1)
    cidr = hosts.cidr
    ty.run("target", "add", name, "--type", "mpi", "-o", "hosts=" + host_list,
           "-o", f"launch_agent={hosts.rsh_agent}", "-o", f"tracking_address={hosts.root_addr}",
           "-o", f"mpirun_args=--mca oob_tcp_if_include {cidr} --mca btl_tcp_if_include {cidr}",
           check=0)
    proc = horovodrun(ty, *args, "--verbose", "python", "train.py", cwd=src)
    run = _check_rolled_back_and_finished(ty, proc)
    assert ty.show(run["id"])["target"] == name
