"""The product page's code (../shared/seed/pytorch-estimator.de.md), run unchanged against a fresh
local workspace.

Every code block of the page is copied here verbatim (and compared with the page when the seed is
there) and executed with `exec`, after a preamble that defines what the page says you already have:
`ds` (the workspace's default datastore), `compute_target` (ComputeTarget.create of a GPU cluster
configuration) and `exp`. The single-node block trains on the datastore mounted as --data_dir;
the distributed block runs 2 nodes x 1 process on the mpi backend with a train.py that begins with
the page's `import torch` / `import horovod` block and allreduces over horovod.torch. use_gpu=True
works on a machine without GPU because the compute target created here is a local target that
falls back to the CPU (and the run's log says so).
"""
import json
import os
import random
import re
import shutil
from pathlib import Path

import pytest

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "pytorch-estimator.de.md"

# ---- the page's code blocks, verbatim ----

SINGLE_NODE = """\
from azureml.train.dnn import PyTorch

script_params = {
    '--data_dir': ds
}

pt_est = PyTorch(source_directory='./my-pytorch-proj',
                 script_params=script_params,
                 compute_target=compute_target,
                 entry_script='train.py',
                 use_gpu=True)
"""

SUBMIT = """\
run = exp.submit(pt_est)
"""

DISTRIBUTED = """\
from azureml.train.dnn import PyTorch

pt_est = PyTorch(source_directory='./my-pytorch-project',
                 script_params={},
                 compute_target=compute_target,
                 entry_script='train.py',
                 node_count=2,
                 process_count_per_node=1,
                 distributed_backend='mpi',
                 use_gpu=True)
"""

TRAIN_IMPORTS = """\
import torch
import horovod
"""

# ---- the training scripts the page leaves to the reader ----

SINGLE_NODE_TRAIN = """\
import argparse
import os

import torch
from azureml.core.run import Run

parser = argparse.ArgumentParser()
parser.add_argument('--data_dir', required=True)
args = parser.parse_args()

with open(os.path.join(args.data_dir, 'numbers', 'values.txt')) as f:
    values = torch.tensor([float(v) for v in f.read().split()])
weight = torch.zeros(1, requires_grad=True)
optimizer = torch.optim.SGD([weight], lr=0.1)
for epoch in range(20):               # fits weight to the mean of the values
    optimizer.zero_grad()
    loss = ((values - weight) ** 2).mean()
    loss.backward()
    optimizer.step()
run = Run.get_context()
run.log('loss', loss.item())
run.log('total', values.sum().item())
os.makedirs('outputs', exist_ok=True)
torch.save({'weight': weight.detach()}, 'outputs/model.pt')
print('read {} values from {}; cuda: {}'.format(len(values), args.data_dir,
                                               torch.cuda.is_available()), flush=True)
"""

DISTRIBUTED_TRAIN = TRAIN_IMPORTS + """\
import os

import horovod.torch as hvd
from azureml.core.run import Run

hvd.init()
mine = torch.tensor([float(hvd.rank() + 1)])
total = hvd.allreduce(mine, op=hvd.Sum, name='rank_sum')
run = Run.get_context()
run.log('rank', hvd.rank())
if hvd.rank() == 0:
    run.log('rank_sum', total.item())
print('rank {} of {} (node {}, local rank {}): allreduce {}'.format(
    hvd.rank(), hvd.size(), os.environ['NODE_RANK'], os.environ['LOCAL_RANK'], total.item()),
    flush=True)
"""


def _seed_blocks():
    return re.findall(r"```Python\n(.*?)```", SEED.read_text(encoding="utf-8"), re.S)


def test_the_blocks_here_are_the_pages_own():
    if not SEED.exists():
        pytest.skip(f"the seed page is not here ({SEED})")
    blocks = _seed_blocks()
    for block in (SINGLE_NODE, SUBMIT, DISTRIBUTED, TRAIN_IMPORTS):
        assert block in blocks, block
    # The page's order: single node, submit, distributed, the script's imports, submit.
    assert blocks == [SINGLE_NODE, SUBMIT, DISTRIBUTED, TRAIN_IMPORTS, SUBMIT]


@pytest.fixture
def page(tmp_path, monkeypatch):
    """A fresh local workspace and the preamble the page assumes: ds, compute_target, exp (with
    the current folder where the page's relative source_directory values point)."""
    monkeypatch.delenv("TRAINYARD_WORKSPACE", raising=False)
    monkeypatch.setenv("TRAINYARD_WORKSPACES", str(tmp_path / "workspaces"))
    notebook = tmp_path / "notebook"
    notebook.mkdir()
    (notebook / "config.json").write_text(json.dumps({
        "subscription_id": "00000000-0000-0000-0000-000000000000",
        "resource_group": "page-rg",
        "workspace_name": "page",
        "trainyard_workspace": str(tmp_path / "ws"),
    }))
    monkeypatch.chdir(notebook)

    from azureml.core import Experiment, Workspace
    from azureml.core.compute import AmlCompute, ComputeTarget

    ws = Workspace.from_config()
    compute_target = ComputeTarget.create(
        ws, "gpucluster", AmlCompute.provisioning_configuration(vm_size="STANDARD_NC6",
                                                               max_nodes=4))
    compute_target.wait_for_completion(show_output=True)
    ds = ws.get_default_datastore()
    exp = Experiment(ws, "pytorch-page")
    namespace = {"ds": ds, "compute_target": compute_target, "exp": exp}
    yield namespace, notebook, ws
    run = namespace.get("run")
    if run is not None and run.get_status() not in ("Completed", "Failed", "Canceled"):
        run.cancel()
        run.wait_for_completion(raise_on_error=False)
    monkeypatch.chdir(tmp_path)
    shutil.rmtree(tmp_path / "ws", ignore_errors=True)


def _exec(block, namespace):
    exec(compile(block, str(SEED.name), "exec"), namespace)


def _no_gpu():
    import torch

    return not torch.cuda.is_available()


def test_single_node_block_trains_on_the_mounted_datastore(page, capfd):
    namespace, notebook, ws = page
    values = [round(random.uniform(-10, 10), 3) for _ in range(50)]
    data = notebook / "data" / "numbers"
    data.mkdir(parents=True)
    (data / "values.txt").write_text(" ".join(map(str, values)))
    namespace["ds"].upload(src_dir=str(notebook / "data"), overwrite=True, show_progress=False)
    project = notebook / "my-pytorch-proj"
    project.mkdir()
    (project / "train.py").write_text(SINGLE_NODE_TRAIN)

    _exec(SINGLE_NODE, namespace)
    _exec(SUBMIT, namespace)
    run = namespace["run"]
    assert run.get_status() in ("Queued", "Preparing", "Starting", "Running", "Finalizing",
                                "Completed")
    details = run.wait_for_completion(show_output=True)
    out = capfd.readouterr().out
    assert details["status"] == "Completed", details
    assert run.get_status() == "Completed"
    assert details["target"] == "gpucluster"
    mounted = re.search(r"read 50 values from (\S+); cuda: (\w+)", out)
    assert mounted, out
    if _no_gpu():
        assert mounted.group(2) == "False"
        assert "running on the CPU" in out, out

    metrics = run.get_metrics()
    assert metrics["total"] == pytest.approx(sum(values), rel=1e-5)
    assert isinstance(metrics["loss"], float)      # logged once: a scalar, as hosted
    assert "outputs/model.pt" in run.get_file_names()


def test_distributed_block_runs_two_horovod_ranks_over_mpi(page, capfd):
    namespace, notebook, ws = page
    project = notebook / "my-pytorch-project"
    project.mkdir()
    (project / "train.py").write_text(DISTRIBUTED_TRAIN)

    _exec(DISTRIBUTED, namespace)
    plan = namespace["pt_est"].dry_run(ws)["plan"]
    assert "mpirun" in json.dumps(plan), plan
    _exec(SUBMIT, namespace)
    run = namespace["run"]
    details = run.wait_for_completion(show_output=True)
    out = capfd.readouterr().out
    assert details["status"] == "Completed", details

    ranks = re.findall(r"rank (\d) of (\d) \(node (\d), local rank (\d)\): allreduce (\S+)",
                       out)
    assert sorted(r[0] for r in ranks) == ["0", "1"], out
    assert {r[1] for r in ranks} == {"2"}
    # Two nodes of one process each: one rank per node, local rank 0 on each.
    assert sorted(r[2] for r in ranks) == ["0", "1"]
    assert {r[3] for r in ranks} == {"0"}
    assert {float(r[4]) for r in ranks} == {3.0}    # 1 + 2, summed across the ranks

    metrics = run.get_metrics()
    assert metrics["rank_sum"] == 3.0                # logged once (rank 0): a scalar
    assert sorted(metrics["rank"]) == [0, 1]         # logged by each rank: a list
    if _no_gpu():
        assert "running on the CPU" in out, out
