"""SyncBatchNorm: batch normalization with statistics over all ranks' batches."""

import torch
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from trainyard.torch.mpi_ops import Sum, allreduce, global_process_set


class SyncBatchNorm(_BatchNorm):
    """Like torch.nn.BatchNorm*d, but in training the mean and variance are computed over the
    batches of every rank of the process set (differentiable: the statistics are allreduced)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_set=global_process_set):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.process_set = process_set

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError("expected at least 2D input (got {}D input)".format(input.dim()))

    def forward(self, input):
        self._check_input_dim(input)
        if self.momentum is None:
            factor = 0.0
        else:
            factor = self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        if not self.training and self.track_running_stats:
            return F.batch_norm(input, self.running_mean, self.running_var, self.weight,
                                self.bias, False, 0.0, self.eps)

        channels = input.shape[1]
        x = input.transpose(0, 1).reshape(channels, -1)
        count = torch.tensor([float(x.shape[1])], dtype=input.dtype)
        stats = torch.cat([x.sum(1), (x * x).sum(1), count])
        stats = allreduce(stats, op=Sum, process_set=self.process_set)
        total = stats[-1]
        mean = stats[:channels] / total
        var = stats[channels:2 * channels] / total - mean * mean
        if self.training and self.track_running_stats:
            with torch.no_grad():
                n = float(total.item())
                unbiased = var * (n / max(n - 1.0, 1.0))
                self.running_mean.mul_(1.0 - factor).add_(mean.detach(), alpha=factor)
                self.running_var.mul_(1.0 - factor).add_(unbiased.detach(), alpha=factor)
        shape = [1, channels] + [1] * (input.dim() - 2)
        out = (input - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out
