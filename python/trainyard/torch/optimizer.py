"""DistributedOptimizer: allreduces gradients as backward produces them (horovod.torch's)."""

import os
import warnings
from contextlib import contextmanager

import torch

from trainyard.torch.compression import Compression
from trainyard.torch.mpi_ops import (Adasum, Average, allreduce_async_, global_process_set, size,
                                     synchronize)


class _DistributedOptimizer(torch.optim.Optimizer):
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
        self._parameter_names = {v: "allreduce." + k if not k.startswith("allreduce.") else k
                                 for k, v in named_parameters}
        self.backward_passes_per_step = backward_passes_per_step
        self._allreduce_delay = {v: backward_passes_per_step for _, v in named_parameters}
        self.op = op
        self.gradient_predivide_factor = gradient_predivide_factor
        self.process_set = process_set
        self._handles = {}
        self._grad_accs = []
        # Gradient layout: after the first step, the gradients of each (dtype, device) become
        # views of one flat buffer, in the order the hooks started their allreduces (the order
        # the runtime agreed on), so a fused group is reduced where it lies with no copies.
        self._hook_order = []
        self._grad_views = None
        self._requires_update = set()
        self._synchronized = False
        self._should_synchronize = True
        if size() > 1 or os.environ.get("HOROVOD_ELASTIC") == "1":
            self._register_hooks()

    def set_backward_passes_per_step(self, passes):
        self.backward_passes_per_step = passes
        for p in self._allreduce_delay:
            self._allreduce_delay[p] = passes

    def _register_hooks(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.requires_grad:
                    self._requires_update.add(p)
                    p_tmp = p.expand_as(p)
                    grad_acc = p_tmp.grad_fn.next_functions[0][0]
                    grad_acc.register_hook(self._make_hook(p))
                    self._grad_accs.append(grad_acc)

    def _allreduce_grad_async(self, p):
        view = self._grad_views.get(p) if self._grad_views is not None else None
        if view is not None and (p.grad is None or p.grad.data_ptr() != view.data_ptr()):
            # zero_grad(set_to_none=True), or a gradient the user replaced: back into its place
            # (a gradient that no longer fits the place takes the parameter out of the layout).
            g = p.grad
            if g is None:
                view.zero_()
                p.grad = view
            elif (g.shape, g.dtype, g.device, g.layout) == (view.shape, view.dtype, view.device,
                                                             torch.strided):
                view.copy_(g)
                p.grad = view
            else:
                del self._grad_views[p]
        if p.grad is None:
            p.grad = p.data.new(p.size()).zero_()
        name = self._parameter_names.get(p)
        if self.op == Average:
            # The runtime divides by the set size after the postscale.
            prescale = 1.0 / self.gradient_predivide_factor
            postscale = self.gradient_predivide_factor
        else:
            prescale = postscale = 1.0
        compressed, ctx = self._compression.compress(p.grad)
        handle = allreduce_async_(compressed, name=name, op=self.op, prescale_factor=prescale,
                                  postscale_factor=postscale, process_set=self.process_set)
        return handle, (ctx, compressed)

    def _make_hook(self, p):
        def hook(*ignore):
            if p in self._handles and self._handles[p][0] is not None:
                if self._allreduce_delay[p] <= 0:
                    raise AssertionError(
                        "Gradients were computed more than backward_passes_per_step times "
                        "before call to step(). Increase backward_passes_per_step to "
                        "accumulate gradients locally.")
            assert not p.grad.requires_grad
            assert self._allreduce_delay[p] > 0
            handle, ctx = None, None
            self._allreduce_delay[p] -= 1
            if self._allreduce_delay[p] == 0:
                if self._grad_views is None:
                    self._hook_order.append(p)
                handle, ctx = self._allreduce_grad_async(p)
            self._handles[p] = (handle, ctx)
        return hook

    def synchronize(self):
        """Waits for every gradient's allreduce (starting those not started yet)."""
        missing = self._requires_update - set(self._handles.keys())
        # Same order on every rank: the parameters' order in the param groups.
        for group in self.param_groups:
            for p in group["params"]:
                if p in missing:
                    self._handles[p] = self._allreduce_grad_async(p)
        for group in self.param_groups:
            for p in group["params"]:
                entry = self._handles.get(p)
                if entry is not None and entry[0] is None:
                    self._handles[p] = self._allreduce_grad_async(p)
        for p, (handle, ctx) in self._handles.items():
            output = synchronize(handle)
            self._allreduce_delay[p] = self.backward_passes_per_step
            decompressed = self._compression.decompress(output, ctx[0])
            if decompressed.data_ptr() != p.grad.data_ptr():
                p.grad.copy_(decompressed)
        self._handles.clear()
        self._synchronized = True
        if self._grad_views is None and self._hook_order:
            self._lay_out_gradients()

    def _lay_out_gradients(self):
        """Moves the gradients into one flat buffer per (dtype, device), in hook order; later
        steps accumulate into these views (or are copied there when a gradient is replaced)."""
        self._grad_views = {}
        if self._compression is not Compression.none:
            return  # the compressed copies are what is reduced; their layout is not ours
        order = list(dict.fromkeys(self._hook_order))  # once each (a failed step may repeat)
        seen = set(order)
        for group in self.param_groups:
            order += [p for p in group["params"] if p in self._requires_update and p not in seen]
        groups = {}
        for p in order:
            g = p.grad
            if g is None or g.layout != torch.strided or g.shape != p.shape:
                continue
            groups.setdefault((g.dtype, g.device), []).append(p)
        with torch.no_grad():
            for (dtype, device), params in groups.items():
                flat = torch.empty(sum(p.numel() for p in params), dtype=dtype, device=device)
                offset = 0
                for p in params:
                    view = flat[offset:offset + p.numel()].view_as(p)
                    view.copy_(p.grad)
                    p.grad = view
                    self._grad_views[p] = view
                    offset += p.numel()

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
        if self._handles:
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
    produces them) before each step(), like horovod.torch.DistributedOptimizer."""
    if gradient_predivide_factor != 1.0 and op != Average:
        raise ValueError("gradient_predivide_factor not supported with op != Average")
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
