"""broadcast_parameters, broadcast_optimizer_state, broadcast_object, allgather_object.

The tensors are broadcast by trainyard::dist's BroadcastParameters (all in flight at once, then
waited for), the function C++ programs use; what is Python's is reading a torch.optim optimizer's
state_dict and pickling objects."""

import collections.abc
import pickle

import torch

from trainyard import _collective as _c
from trainyard.torch.mpi_ops import _ps_id, allgather, broadcast_, global_process_set, rank


def broadcast_parameters(params, root_rank, prefix=None, process_set=global_process_set):
    """Broadcasts parameters (a state_dict, named_parameters() or a list of (name, tensor)) from
    root_rank to all ranks, in place."""
    if isinstance(params, dict):
        params = sorted(params.items())
    elif isinstance(params, list):
        params = [p for p in params]
    elif isinstance(params, collections.abc.Iterable):
        params = list(params)
    else:
        raise ValueError("invalid params of type: %s" % type(params))
    named = []
    for name, p in params:
        if p is None:
            continue
        if not torch.is_tensor(p):
            raise ValueError("broadcast_parameters: '{}' is not a tensor".format(name))
        full = "{}.{}".format(prefix, name) if prefix else str(name)
        named.append((full, p))
    ps = _ps_id(process_set)
    if named:
        _c.broadcast_parameters(named, int(root_rank), ps)


def broadcast_optimizer_state(optimizer, root_rank, model=None, process_set=global_process_set):
    """Broadcasts an optimizer's state (tensors in place) and hyperparameters from root_rank."""
    if isinstance(optimizer, torch.optim.LBFGS):
        raise ValueError("cannot broadcast torch.optim.LBFGS state")
    state_dict = optimizer.state_dict()
    # A new optimizer has no state yet: make it with a step on zero gradients (as Horovod does).
    if len(state_dict["state"]) == 0:
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.requires_grad and len(optimizer.state.get(p, {})) == 0:
                    p.grad = p.data.new(p.size()).zero_()
        # A DistributedOptimizer's step() would allreduce: call the wrapped optimizer's step.
        if type(optimizer).__dict__.get("_trainyard_distributed"):
            super(optimizer.__class__, optimizer).step()
        else:
            optimizer.step()
        state_dict = optimizer.state_dict()

    # Hyperparameters and non-tensor state go as one pickled object; tensors in place.
    options = [{k: v for k, v in g.items() if k != "params"} for g in state_dict["param_groups"]]
    scalars = {}
    tensors = []
    for pid in sorted(state_dict["state"].keys()):
        for key, value in sorted(state_dict["state"][pid].items()):
            if torch.is_tensor(value):
                tensors.append(("optimizer.state.{}.{}".format(pid, key), value))
            else:
                scalars[(pid, key)] = value
    options, scalars = broadcast_object((options, scalars), root_rank,
                                        name="optimizer.options", process_set=process_set)
    for group, opts in zip(optimizer.param_groups, options):
        group.update(opts)
    pid_list = [pid for g in state_dict["param_groups"] for pid in g["params"]]
    param_list = [p for g in optimizer.param_groups for p in g["params"]]
    id_to_param = dict(zip(pid_list, param_list))
    for (pid, key), value in scalars.items():
        p = id_to_param.get(pid)
        if p is not None and p in optimizer.state:
            optimizer.state[p][key] = value
    broadcast_parameters(tensors, root_rank, process_set=process_set)


def broadcast_object(obj, root_rank=0, name=None, process_set=global_process_set):
    """Pickles `obj` on root_rank and returns a copy of it on every rank."""
    name = name or type(obj).__name__
    if rank() == root_rank:
        data = pickle.dumps(obj)
        t = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        sz = torch.tensor([t.numel()], dtype=torch.int64)
        broadcast_(sz, root_rank, name + ".sz", process_set=process_set)
    else:
        sz = torch.tensor([0], dtype=torch.int64)
        broadcast_(sz, root_rank, name + ".sz", process_set=process_set)
        t = torch.empty(int(sz.item()), dtype=torch.uint8)
    broadcast_(t, root_rank, name + ".t", process_set=process_set)
    if rank() != root_rank:
        obj = pickle.loads(t.numpy().tobytes())
    return obj


def allgather_object(obj, name=None, process_set=global_process_set):
    """Returns the list of every rank's `obj` (in rank order of the process set)."""
    name = name or type(obj).__name__
    data = pickle.dumps(obj)
    t = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else \
        torch.empty(0, dtype=torch.uint8)
    sizes = allgather(torch.tensor([t.numel()], dtype=torch.int64), name=name + ".sz",
                      process_set=process_set)
    gathered = allgather(t, name=name + ".t", process_set=process_set)
    out = []
    offset = 0
    for s in sizes.tolist():
        out.append(pickle.loads(gathered[offset:offset + s].numpy().tobytes()))
        offset += s
    return out
