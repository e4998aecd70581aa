"""DistributedOptimizer: allreduces gradients as backward produces them (horovod.torch's).

The work is trainyard::dist's GradientReducer (the engine of the C++ DistributedOptimizer,
src/collective/torch/optimizer.cc), bound by trainyard._collective: the autograd hooks on the
parameters' gradient accumulators, the in-place allreduces they start, compression, and the flat
gradient layout, explicit groups (one grouped allreduce per group), sparse gradients (allgathered,
or densified with sparse_as_dense). What stays here is the Python side of horovod.torch's
contract: the optimizer subclass, step/zero_grad/synchronize/skip_synchronize, the validation of
`groups`, and their warnings and errors.

On a rank outside `process_set` (as in Horovod) nothing is distributed: no hooks, synchronize()
does nothing, step() updates the parameters with the rank's own gradients."""

import os
import warnings
from contextlib import contextmanager

import torch

from trainyard import _collective as _c
from trainyard.torch.compression import Compression, FP16Compressor, NoneCompressor
from trainyard.torch.mpi_ops import (Adasum, Average, _ps_id, allreduce_async_,
                                     global_process_set, synchronize)


def _compression_kind(compression):
    if compression is None or compression is Compression.none or \
            compression is NoneCompressor or isinstance(compression, NoneCompressor):
        return "none"
    if compression is Compression.fp16 or compression is FP16Compressor or \
            isinstance(compression, FP16Compressor):
        return "fp16"
    return "custom"


def _check_groups(groups):
    """Horovod's validation of DistributedOptimizer's `groups` (its ValueErrors)."""
    if groups is None:
        return
    if not (isinstance(groups, list) or groups > 0):
        raise ValueError("groups should be a non-negative integer or a list of list of "
                         "torch.Tensor.")
    if isinstance(groups, list):
        seen = set()
        for group in groups:
            for p in group:
                if not isinstance(p, torch.Tensor):
                    raise ValueError("groups must consist of torch.Tensor.")
                if id(p) in seen:
                    raise ValueError("A parameter can only appear once in groups.")
                seen.add(id(p))


class _DistributedOptimizer(torch.optim.Optimizer):
    _trainyard_distributed = True  # functions.broadcast_optimizer_state steps the wrapped class

    def __init__(self, params, named_parameters, compression, backward_passes_per_step=1,
                 op=Average, gradient_predivide_factor=1.0, groups=None, sparse_as_dense=False,
                 process_set=global_process_set):
        super(self.__class__, self).__init__(params)
        self._compression = compression
        if named_parameters is not None:
            named_parameters = list(named_parameters)
        else:
            named_parameters = [("allreduce.noname.%s.%s" % (i, j), v)
                                for i, group in enumerate(self.param_groups)
                                for j, v in enumerate(group["params"])]
        if any(not isinstance(p, tuple) for p in named_parameters):
            raise ValueError("named_parameters should be a sequence of tuples (name, parameter), "
                             "usually produced by model.named_parameters().")
        names = [k for k, _ in named_parameters]
        dups = sorted({k for k in names if names.count(k) > 1})
        if dups:
            raise ValueError("Parameter names in named_parameters must be unique. Found "
                             "duplicates: %s" % ", ".join(dups))
        all_param_ids = {id(v) for group in self.param_groups for v in group["params"]}
        named_param_ids = {id(v) for _, v in named_parameters}
        unnamed = all_param_ids - named_param_ids
        if unnamed:
            raise ValueError("named_parameters was specified, but one or more model parameters "
                             "were not named. Python object ids: %s"
                             % ", ".join(str(i) for i in sorted(unnamed)))
        self._parameter_names = {v: k for k, v in named_parameters}
        self.backward_passes_per_step = backward_passes_per_step
        self.op = op
        self.gradient_predivide_factor = gradient_predivide_factor
        self.process_set = process_set
        self.sparse_as_dense = sparse_as_dense
        self._synchronized = False
        self._should_synchronize = True
        _check_groups(groups)
        self._groups = groups
        # In param-group order (the same on every rank); the reducer skips parameters that do
        # not require grad, and registers no hooks on a single rank (unless HOROVOD_ELASTIC=1)
        # nor on a rank outside the process set.
        ordered = [(self._parameter_names[p], p) for group in self.param_groups
                   for p in group["params"]]
        num_groups, index_groups = 0, []
        if isinstance(groups, list):
            # Indices into `ordered`; parameters the optimizer does not hold are left out (as in
            # Horovod), and the reducer drops those that do not require grad.
            position = {id(p): i for i, (_, p) in enumerate(ordered)}
            index_groups = [[position[id(p)] for p in g if id(p) in position] for g in groups]
        elif groups is not None:
            num_groups = int(groups)
        self._reducer = _c.GradientReducer(
            ordered, backward_passes_per_step, _compression_kind(compression), compression, op,
            float(gradient_predivide_factor), _ps_id(process_set),
            os.environ.get("HOROVOD_ELASTIC") == "1", bool(sparse_as_dense), num_groups,
            index_groups)

    def set_backward_passes_per_step(self, passes):
        self.backward_passes_per_step = passes
        self._reducer.set_backward_passes_per_step(passes)

    def synchronize(self):
        """Waits for every gradient's allreduce (starting those not started yet); a no-op on a
        rank outside the process set."""
        self._reducer.synchronize()
        self._synchronized = True

    @contextmanager
    def skip_synchronize(self):
        """Use after an explicit synchronize(): step() then does not synchronize again."""
        self._should_synchronize = False
        try:
            yield
        finally:
            self._should_synchronize = True

    def step(self, closure=None):
        if self._should_synchronize:
            if self._synchronized:
                warnings.warn("optimizer.step() called without optimizer.skip_synchronize() "
                              "context after optimizer.synchronize(). This can cause training "
                              "slowdown. You may want to consider using "
                              "optimizer.skip_synchronize() context if you use "
                              "optimizer.synchronize() in your code.")
            self.synchronize()
        self._synchronized = False
        return super(self.__class__, self).step(closure)

    def zero_grad(self, *args, **kwargs):
        if self._reducer.pending():
            raise AssertionError("optimizer.zero_grad() was called after loss.backward() but "
                                 "before optimizer.step() or optimizer.synchronize(). This is "
                                 "prohibited as it can cause a race condition.")
        return super(self.__class__, self).zero_grad(*args, **kwargs)


class _DistributedAdasumOptimizer(torch.optim.Optimizer):
    """Horovod's Adasum optimizer: every rank takes the wrapped optimizer's step on its own
    gradients, and the parameter deltas of the ranks are combined with the Adasum reduction.

    Unlike Horovod's, the deltas are reduced after backward (one grouped allreduce in step()),
    not overlapped with it; the result is the same."""

    def __init__(self, params, named_parameters, compression, process_set=global_process_set):
        super(self.__class__, self).__init__(params)
        self._compression = compression
        self.process_set = process_set
        if named_parameters is not None:
            names = {v: k for k, v in named_parameters}
        else:
            names = {}
        self._adasum_names = [
            "adasum." + names.get(p, "noname.%d.%d" % (i, j))
            for i, group in enumerate(self.param_groups) for j, p in enumerate(group["params"])]

    def synchronize(self):
        pass

    @contextmanager
    def skip_synchronize(self):
        yield

    def step(self, closure=None):
        params = [p for group in self.param_groups for p in group["params"]]
        start = [p.detach().clone() for p in params]
        loss = super(self.__class__, self).step(closure)
        names, deltas, ctxs = [], [], []
        with torch.no_grad():
            for name, p, p0 in zip(self._adasum_names, params, start):
                delta, ctx = self._compression.compress(p.detach() - p0)
                names.append(name)
                deltas.append(delta)
                ctxs.append(ctx)
            handles = [allreduce_async_(d, name=n, op=Adasum, process_set=self.process_set)
                       for n, d in zip(names, deltas)]
            for p, p0, h, ctx in zip(params, start, handles, ctxs):
                p.copy_(p0 + self._compression.decompress(synchronize(h), ctx))
        return loss


def DistributedOptimizer(optimizer, named_parameters=None, compression=Compression.none,
                         backward_passes_per_step=1, op=Average, gradient_predivide_factor=1.0,
                         num_groups=0, groups=None, sparse_as_dense=False,
                         process_set=global_process_set):
    """Wraps `optimizer` so that gradients are averaged over the ranks (allreduced as backward
    produces them) before each step(), like horovod.torch.DistributedOptimizer.

    groups: a positive int (the parameters, in order, split into that many groups) or a list of
    lists of parameters; the gradients of a group are reduced in one grouped allreduce once the
    whole group is ready, parameters in no group alone. num_groups: deprecated form of an int
    `groups`. sparse_as_dense: sparse gradients are reduced densely and turned back into sparse
    tensors for the update (else they are allgathered, as sparse_allreduce_async does).
    process_set: the ranks that reduce together; on other ranks step() is a local step."""
    if gradient_predivide_factor != 1.0 and op != Average:
        raise ValueError("gradient_predivide_factor not supported with op != Average")
    if num_groups != 0:
        warnings.warn("Parameter `num_groups` has been replaced by `groups` and will be removed "
                      "in v0.23.0.", DeprecationWarning)
        if groups is None:
            groups = num_groups
    if op == Adasum:
        if backward_passes_per_step != 1:
            raise ValueError("DistributedOptimizer: op=Adasum takes backward_passes_per_step=1")
        cls = type(optimizer.__class__.__name__, (optimizer.__class__,),
                   dict(_DistributedAdasumOptimizer.__dict__))
        return cls(optimizer.param_groups, named_parameters, compression, process_set)
    cls = type(optimizer.__class__.__name__, (optimizer.__class__,),
               dict(_DistributedOptimizer.__dict__))
    return cls(optimizer.param_groups, named_parameters, compression, backward_passes_per_step,
               op, gradient_predivide_factor, groups, sparse_as_dense, process_set)
