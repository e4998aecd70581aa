"""A training script written for Horovod (the pytorch_mnist.py pattern, on synthetic data) runs
unchanged on two ranks: DistributedSampler, DistributedOptimizer with fp16 compression, broadcast
of the model and optimizer state, metric averaging by name; the averaged loss decreases, and ranks
that started from different weights end with the same ones.

Always on 2 or more ranks: on 2 and 3 ranks under mpirun and over Gloo, started with
torch.distributed's RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT as torchrun would (ctest
python.hvd.example.<mpi|gloo>.<N>, from the hvd-matrix line below). Started as one process (ctest
python.test_hvd_example), the test skips.
"""
# hvd-matrix: mpi gloo ranks 2 3


import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.data.distributed

pytest.importorskip("trainyard._collective", reason="needs the collective runtime's module")

import horovod.torch as hvd  # noqa: E402
from script_runner import in_a_rank  # noqa: E402

EPOCHS = 5


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, kernel_size=3)
        self.fc1 = nn.Linear(4 * 3 * 3, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = x.view(-1, 4 * 3 * 3)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


def metric_average(val, name):
    tensor = torch.tensor(val)
    avg_tensor = hvd.allreduce(tensor, name=name)
    return avg_tensor.item()


def _gathered_differ(tensors, name):
    """True when some rank's copy of any of `tensors` differs from rank 0's."""
    differ = False
    for i, t in enumerate(tensors):
        gathered = hvd.allgather(t.detach().unsqueeze(0), name=f"{name}.{i}")
        differ = differ or any(not torch.equal(gathered[k], gathered[0])
                               for k in range(1, hvd.size()))
    return differ


def _train_and_check():
    hvd.init()
    assert hvd.size() >= 2, f"this test is about ranks: start it on 2 or more, not {hvd.size()}"
    torch.manual_seed(42 + hvd.rank())  # different init per rank: the broadcast must fix it
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    data = torch.randn(64, 1, 8, 8, generator=g)
    # Learnable labels (which halves of the image sum above 0), so that the loss must go down.
    target = ((data[:, 0, :, :4].sum((1, 2)) > 0).long() +
              (data[:, 0, :, 4:].sum((1, 2)) > 0).long())
    dataset = torch.utils.data.TensorDataset(data, target)
    sampler = torch.utils.data.distributed.DistributedSampler(
        dataset, num_replicas=hvd.size(), rank=hvd.rank())
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, sampler=sampler)

    model = Net()
    assert _gathered_differ(list(model.parameters()), "initial"), \
        "the ranks started from the same weights: the final comparison would prove nothing"
    lr_scaler = hvd.size()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05 * lr_scaler, momentum=0.5)
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters(),
                                         compression=hvd.Compression.fp16, op=hvd.Average,
                                         gradient_predivide_factor=1.0)

    def evaluate():
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for batch_data, batch_target in loader:
                test_loss += F.nll_loss(model(batch_data), batch_target, reduction="sum").item()
        return metric_average(test_loss / len(sampler), "avg_loss")

    losses = [evaluate()]
    for epoch in range(EPOCHS):
        model.train()
        sampler.set_epoch(epoch)
        for batch_data, batch_target in loader:
            optimizer.zero_grad()
            loss = F.nll_loss(model(batch_data), batch_target)
            loss.backward()
            optimizer.step()
        losses.append(evaluate())
    assert all(b < a for a, b in zip(losses, losses[1:])), f"the loss rose in an epoch: {losses}"
    assert losses[-1] < 0.9 * losses[0], f"the averaged loss did not decrease enough: {losses}"
    assert not _gathered_differ(list(model.parameters()), "final"), \
        "the ranks ended with different weights"
    hvd.shutdown()


def test_horovod_mnist_style_script():
    if not in_a_rank():
        pytest.skip("runs as ranks (the python.hvd.example.* entries)")
    _train_and_check()
