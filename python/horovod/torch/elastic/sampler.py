"""horovod.torch.elastic.sampler: Horovod's ElasticSampler (see ElasticSampler)."""

import math
import random

import torch.utils.data

from trainyard.torch.mpi_ops import rank, size


class ElasticSampler(torch.utils.data.Sampler):
    """Splits a dataset over the ranks like DistributedSampler, and remembers which indices of
    the current epoch were processed, so that after a reset the rest of the epoch is split
    again without them.

    Use it as Horovod documents: put it in the TorchState (commit() then keeps every rank's
    processed indices), call record_batch() after each batch (or record_indices()), and call
    set_epoch() at the END of each epoch (it forgets the processed indices).

    Each epoch's order: the indices not processed yet, in dataset order, shuffled with
    random.Random(seed + epoch) when shuffle=True (the same order on every rank), padded by
    repeating its first indices to a multiple of hvd.size(); rank r takes every size()-th index
    from position r. On trainyard the ranks never change, so a reset splits the rest of the
    epoch over the same ranks.

    Args:
        dataset: the dataset (of constant length).
        shuffle: shuffle the indices each epoch (default True).
        seed: the shuffling seed, the same on every rank (default 0).
    """

    def __init__(self, dataset, shuffle=True, seed=0):
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.processed_indices = set()
        self.num_replicas = 0
        self.rank = 0
        self.remaining_indices = []
        self.indices = []
        self.num_samples = 0
        self.total_size = 0
        self.reset()

    def set_epoch(self, epoch):
        """Starts epoch `epoch`: a new order (when shuffling) and no processed indices. Call it
        at the end of an epoch, so that a part-done epoch is not processed again."""
        self.epoch = epoch
        self.processed_indices = set()
        self.reset()

    def record_batch(self, batch_idx, batch_size):
        """Marks this rank's batch number `batch_idx` of `batch_size` samples (of the current
        iteration) as processed."""
        self.record_indices(self.get_indices(batch_idx, batch_size))

    def record_indices(self, indices):
        """Marks dataset indices as processed."""
        self.processed_indices.update(indices)

    def get_indices(self, batch_idx, batch_size):
        """This rank's dataset indices of batch `batch_idx` of `batch_size` samples, in the
        order of the current iteration (__iter__)."""
        start = batch_idx * batch_size
        end = min(start + batch_size, len(self.indices))
        return self.indices[start:end]

    def load_state_dict(self, state_dict):
        self.epoch = state_dict["epoch"]
        self.processed_indices = set(state_dict["processed_indices"])
        self.reset()

    def state_dict(self):
        return dict(epoch=self.epoch, processed_indices=self.processed_indices)

    def reset(self):
        """Takes hvd.size()/hvd.rank() again and splits the indices not processed yet."""
        self.num_replicas = size()
        self.rank = rank()
        self.remaining_indices = [i for i in range(len(self.dataset))
                                  if i not in self.processed_indices]
        self.num_samples = int(math.ceil(len(self.remaining_indices) / self.num_replicas))
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self):
        order = list(self.remaining_indices)
        if self.shuffle:
            random.Random(self.seed + self.epoch).shuffle(order)
        while order and len(order) < self.total_size:  # pad to a multiple of the ranks
            order += order[:self.total_size - len(order)]
        self.indices = order[self.rank:self.total_size:self.num_replicas]
        assert len(self.indices) == self.num_samples
        return iter(self.indices)

    def __len__(self):
        return self.num_samples
