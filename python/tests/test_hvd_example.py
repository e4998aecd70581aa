"""A training script written for Horovod (the pytorch_mnist.py pattern, on synthetic data) runs
unchanged: DistributedSampler, DistributedOptimizer with fp16 compression, broadcast of the
model and optimizer state, metric averaging by name, and all ranks end with the same weights.

Run under `mpirun -np 2` (ctest python.hvd.example) and as one process (python.test_hvd_example).
"""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.data.distributed

pytest.importorskip("trainyard._collective", reason="needs the MPI build")

import horovod.torch as hvd  # noqa: E402


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


def test_horovod_mnist_style_script():
    hvd.init()
    torch.manual_seed(42 + hvd.rank())  # different init per rank: the broadcast must fix it
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    data = torch.randn(64, 1, 8, 8, generator=g)
    target = torch.randint(0, 3, (64,), generator=g)
    dataset = torch.utils.data.TensorDataset(data, target)
    sampler = torch.utils.data.distributed.DistributedSampler(
        dataset, num_replicas=hvd.size(), rank=hvd.rank())
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, sampler=sampler)

    model = Net()
    lr_scaler = hvd.size()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01 * lr_scaler, momentum=0.5)
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters(),
                                         compression=hvd.Compression.fp16, op=hvd.Average,
                                         gradient_predivide_factor=1.0)
    losses = []
    for epoch in range(2):
        model.train()
        sampler.set_epoch(epoch)
        for batch_data, batch_target in loader:
            optimizer.zero_grad()
            loss = F.nll_loss(model(batch_data), batch_target)
            loss.backward()
            optimizer.step()
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for batch_data, batch_target in loader:
                test_loss += F.nll_loss(model(batch_data), batch_target, reduction="sum").item()
        test_loss /= len(sampler)
        losses.append(metric_average(test_loss, "avg_loss"))
    assert losses[1] < losses[0] + 0.5
    for name, p in model.named_parameters():
        gathered = hvd.allgather(p.detach().unsqueeze(0), name="final." + name)
        for k in range(hvd.size()):
            assert torch.equal(gathered[k], p.detach()), name
