"""horovod.torch.elastic.state: Horovod's TorchState and the handlers that save, restore and
sync models, optimizers, learning-rate schedulers and ElasticSamplers."""

import copy

import torch

from horovod.common.elastic import ObjectState
from horovod.common.exceptions import HorovodInternalError
from horovod.torch.elastic.sampler import ElasticSampler
from trainyard.torch.functions import (allgather_object, broadcast_object,
                                       broadcast_optimizer_state, broadcast_parameters)
from trainyard.torch.mpi_ops import rank


class TorchState(ObjectState):
    """The state of a PyTorch training process for hvd.elastic.run.

    Every keyword argument becomes an attribute (state.model, state.optimizer, state.epoch,
    ...). Models (torch.nn.Module), optimizers, learning-rate schedulers and ElasticSamplers are
    handled by their type: commit() keeps a deep copy of their state_dict() in memory, restore()
    loads it back, and sync() broadcasts rank 0's (parameters and buffers, optimizer state,
    scheduler state, sampler state). Every other value is an ordinary Python object (pickled by
    sync()). Assigning a new object to a handled attribute (state.model = other) saves it.

    Args:
        model: a torch.nn.Module (optional).
        optimizer: a torch.optim.Optimizer (optional).
        kwargs: more attributes to keep in step.
    """

    def __init__(self, model=None, optimizer=None, **kwargs):
        kwargs.update(dict(model=model, optimizer=optimizer))
        self._handlers, kwargs = _get_handlers(kwargs)
        for name, handler in self._handlers.items():
            setattr(self, name, handler.value)
        super().__init__(bcast_object=broadcast_object, get_rank=rank, **kwargs)

    def save(self):
        for handler in self._handlers.values():
            handler.save()
        super().save()

    def restore(self):
        for handler in self._handlers.values():
            handler.restore()
        super().restore()

    def sync(self):
        for handler in self._handlers.values():
            handler.sync()
        super().sync()

    def __setattr__(self, name, value):
        if hasattr(self, name) and name in self._handlers:
            self._handlers[name].set_value(value)
        super().__setattr__(name, value)


class StateHandler:
    """Saves, restores and syncs one object of a TorchState."""

    def __init__(self, value):
        self.value = value

    def save(self):
        raise NotImplementedError()

    def restore(self):
        raise NotImplementedError()

    def sync(self):
        raise NotImplementedError()

    def set_value(self, value):
        self.value = value
        self.save()


class _StateDictHandler(StateHandler):
    """An object with state_dict()/load_state_dict(): a deep copy of its state_dict() in
    memory; subclasses say how sync() reaches rank 0's state."""

    def __init__(self, value):
        super().__init__(value)
        self._saved = copy.deepcopy(value.state_dict())

    def save(self):
        self._saved = copy.deepcopy(self.value.state_dict())

    def restore(self):
        self.value.load_state_dict(self._saved)


class ModelStateHandler(_StateDictHandler):
    """A torch.nn.Module: its state_dict() in memory; sync broadcasts rank 0's parameters and
    buffers."""

    def sync(self):
        broadcast_parameters(self.value.state_dict(), root_rank=0)


class OptimizerStateHandler(_StateDictHandler):
    """A torch.optim.Optimizer: its state_dict() in memory; sync broadcasts rank 0's state.

    restore() of a hvd.DistributedOptimizer whose gradient allreduces are still in flight (the
    failure came between loss.backward() and optimizer.step()) first waits for them, so that the
    retried function's zero_grad() does not refuse to run; Horovod leaves them pending (its
    zero_grad() then raises AssertionError on the retry). The gradients are dropped by the
    retry's zero_grad() as usual."""

    def restore(self):
        _finish_gradient_allreduces(self.value)
        super().restore()

    def sync(self):
        broadcast_optimizer_state(self.value, root_rank=0)


class LRSchedulerStateHandler(_StateDictHandler):
    """A learning-rate scheduler: its state_dict() in memory; sync loads rank 0's."""

    def sync(self):
        self.value.load_state_dict(broadcast_object(self.value.state_dict()))


class SamplerStateHandler(StateHandler):
    """An ElasticSampler: save() keeps the union of every rank's processed indices (a
    collective call), so that a restore splits only what no rank processed yet; sync loads
    rank 0's sampler state."""

    def __init__(self, sampler):
        super().__init__(sampler)
        self._saved = copy.deepcopy(sampler.state_dict())

    def save(self):
        every_rank = allgather_object(self.value.processed_indices)
        saved = copy.deepcopy(self.value.state_dict())
        saved["processed_indices"] = set().union(*every_rank)
        self._saved = saved

    def restore(self):
        self.value.load_state_dict(self._saved)

    def sync(self):
        self.value.load_state_dict(broadcast_object(self.value.state_dict()))


def _finish_gradient_allreduces(optimizer):
    """Waits for a trainyard DistributedOptimizer's in-flight gradient allreduces (every rank
    restores, so every rank waits for the same ones); a collective failure here means the
    runtime is down, and the reset that follows decides what happens."""
    reducer = getattr(optimizer, "_reducer", None)
    pending = getattr(reducer, "pending", None)
    if not getattr(optimizer, "_trainyard_distributed", False) or pending is None or not pending():
        return
    try:
        optimizer.synchronize()
    except HorovodInternalError:
        pass
    optimizer._synchronized = False  # the next step() synchronizes without a warning


_LR_SCHEDULER = getattr(torch.optim.lr_scheduler, "LRScheduler",
                        torch.optim.lr_scheduler._LRScheduler)

_handler_registry = [
    (torch.nn.Module, ModelStateHandler),
    (torch.optim.Optimizer, OptimizerStateHandler),
    (_LR_SCHEDULER, LRSchedulerStateHandler),
    (ElasticSampler, SamplerStateHandler),
]


def get_handler_registry():
    """The (type, handler class) pairs TorchState looks a keyword argument's type up in."""
    return _handler_registry


def set_handler_registry(registry):
    """Replaces the (type, handler class) pairs (e.g. to add a handler for another type)."""
    global _handler_registry
    _handler_registry = registry


def _get_handler(value):
    for handled_type, handler_class in _handler_registry:
        if isinstance(value, handled_type):
            return handler_class(value)
    return None


def _get_handlers(kwargs):
    handlers, plain = {}, {}
    for name, value in kwargs.items():
        handler = _get_handler(value)
        if handler is not None:
            handlers[name] = handler
        else:
            plain[name] = value
    return handlers, plain
