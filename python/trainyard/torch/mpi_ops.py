"""horovod.torch's operations over trainyard's collective runtime: a thin layer over
trainyard::dist (include/trainyard/dist.h) through its binding, trainyard._collective.

Tensors: CPU tensors of dtype uint8, int8, int16, int32, int64, float16, bfloat16, float32,
float64 or bool; CUDA tensors where the runtime was built with NCCL (nccl_built(): allreduce,
grouped allreduce, allgather, broadcast, alltoall run on the device; reducescatter is refused). The
ranks are connected by MPI (under mpirun), Gloo (under torch.distributed's RANK/WORLD_SIZE
contract, or HOROVOD_CPU_OPERATIONS=gloo) or are a single process; see mpi_enabled() and
gloo_enabled(). Dtype checks, views, non-contiguous tensors and outputs sized by the other ranks
are handled in C++ (trainyard::dist), the same code C++ programs use, on the same runtime: a C++
extension linking trainyard::dist in this process sees the runtime hvd.init() started.

Every asynchronous operation returns an integer handle; `poll(handle)` says whether it finished
and `synchronize(handle)` waits and returns its result. The tensors an operation reads or writes
are kept alive by the runtime's handle until it is done.
"""

import atexit
import threading
import warnings
from contextlib import contextmanager

import torch

from trainyard import _collective as _c

HorovodInternalError = _c.HorovodInternalError

# Reduction operations (the values of collective::ReduceOp, which are Horovod's).
Average = 0
Sum = 1
Adasum = 2
Min = 3
Max = 4
Product = 5


class ProcessSet:
    """A subset of the ranks (global ranks). Register it at init(process_sets=[...]) or with
    add_process_set(); operations take it as `process_set=`."""

    def __init__(self, ranks):
        self.ranks = sorted(int(r) for r in ranks)
        self.process_set_id = None

    def _invalidate(self):
        self.process_set_id = None

    def size(self):
        if self.process_set_id is None:
            return None
        return len(_c.process_set_info(self.process_set_id)[0])

    def rank(self):
        if self.process_set_id is None:
            return None
        return _c.process_set_info(self.process_set_id)[1]

    def included(self):
        if self.process_set_id is None:
            return None
        return _c.process_set_info(self.process_set_id)[1] >= 0

    def __eq__(self, other):
        return isinstance(other, ProcessSet) and self.ranks == other.ranks and \
            self.process_set_id == other.process_set_id

    def __hash__(self):
        return hash((tuple(self.ranks), self.process_set_id))

    def __repr__(self):
        if self.process_set_id == 0:
            return "ProcessSet(process_set_id=0, ranks=all)"
        return "ProcessSet(process_set_id={}, ranks={})".format(self.process_set_id, self.ranks)


global_process_set = ProcessSet([])
global_process_set.process_set_id = 0
_process_sets = {}  # id -> ProcessSet (not the global one)


# --- lifecycle and topology ---

def init(comm=None, process_sets=None):
    """Starts the runtime (collective: every rank calls it). `comm` (an mpi4py communicator) is
    not supported other than None; `process_sets` is a list of ProcessSet to register."""
    if comm is not None:
        raise ValueError("trainyard.torch.init: `comm` (an MPI communicator or a list of ranks) "
                         "is not supported; use process_sets")
    sets = list(process_sets or [])
    _c.init([ps.ranks for ps in sets])
    global_process_set.ranks = list(range(_c.size()))
    for i, ps in enumerate(sets):
        ps.process_set_id = i + 1
        _process_sets[ps.process_set_id] = ps


def shutdown():
    _handles.clear()
    for ps in _process_sets.values():
        ps._invalidate()
    _process_sets.clear()
    _c.shutdown()


atexit.register(lambda: _c.is_initialized() and _c.shutdown())


def is_initialized():
    return _c.is_initialized()


def size():
    return _c.size()


def rank():
    return _c.rank()


def local_size():
    return _c.local_size()


def local_rank():
    return _c.local_rank()


def cross_size():
    return _c.cross_size()


def cross_rank():
    return _c.cross_rank()


def mpi_threads_supported():
    return True


def mpi_enabled():
    """True when the runtime runs on MPI (after init; see gloo_enabled)."""
    return _c.transport() == "mpi"


def mpi_built():
    return bool(_c.mpi_built())


def gloo_enabled():
    """True when the runtime runs on Gloo: started with torch.distributed's RANK/WORLD_SIZE
    (no mpirun), or forced with HOROVOD_CPU_OPERATIONS=gloo / HOROVOD_CONTROLLER=gloo."""
    return _c.transport() == "gloo"


def gloo_built():
    return bool(_c.gloo_built())


def nccl_built():
    return bool(_c.nccl_built())


def ddl_built():
    return False


def ccl_built():
    return False


def cuda_built():
    # CUDA tensors are supported exactly when they are routed to NCCL.
    return nccl_built()


def rocm_built():
    return False


def start_timeline(file_path, mark_cycles=False):
    _c.start_timeline(str(file_path), bool(mark_cycles))


def stop_timeline():
    _c.stop_timeline()


# --- process sets ---

def add_process_set(process_set):
    """Registers a process set (collective on all ranks); accepts a ProcessSet or a list of
    ranks and returns the registered ProcessSet."""
    if not isinstance(process_set, ProcessSet):
        process_set = ProcessSet(process_set)
    if process_set.process_set_id is not None:
        raise ValueError("{} is already registered".format(process_set))
    process_set.process_set_id = _c.add_process_set(process_set.ranks)
    _process_sets[process_set.process_set_id] = process_set
    return process_set


def remove_process_set(process_set):
    """Removes a registered process set (collective on all ranks). Returns True if removed."""
    if process_set.process_set_id is None or process_set.process_set_id == 0:
        return False
    _c.remove_process_set(process_set.process_set_id)
    _process_sets.pop(process_set.process_set_id, None)
    process_set._invalidate()
    return True


def _ps_id(process_set):
    if process_set is None:
        return 0
    if not isinstance(process_set, ProcessSet):
        raise TypeError("process_set must be a ProcessSet, got {}".format(type(process_set)))
    if process_set.process_set_id is None:
        raise ValueError("{} is not registered (use add_process_set)".format(process_set))
    return process_set.process_set_id


def _ps_size(process_set):
    return len(_c.process_set_info(_ps_id(process_set))[0])


# --- tensors and handles ---

def _op_code(op, average, fn):
    if average is not None:
        if op is not None:
            raise ValueError("The op parameter supersedes average; please provide only one")
        warnings.warn("Parameter `average` has been replaced with `op` and will be removed",
                      DeprecationWarning)
        op = Average if average else Sum
    if op is None:
        op = Average
    if op not in (Average, Sum, Adasum, Min, Max, Product):
        raise ValueError("{}: unknown reduction op {!r}".format(fn, op))
    return op


def _name(name):
    return "" if name is None else str(name)


def _check_tensor(tensor):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError("expected a torch.Tensor, got {}".format(type(tensor).__name__))
    return tensor


@contextmanager
def _checks(kind, names, process_set):
    """Python's own argument checks of a `kind` operation ("allreduce", ...) of `names`, made
    before it reaches the runtime: a TypeError or ValueError raised inside is also refused through
    the runtime (trainyard::dist::Refuse), so that the other ranks' operation of those names fails
    (HorovodInternalError, naming this rank) instead of waiting for this rank forever; then it is
    raised here (docs/collective.md, "Refusals"). Errors of the runtime's own checks are
    negotiated by the runtime: keep the _c calls out of this block."""
    try:
        yield
    except (TypeError, ValueError) as e:
        try:
            _c.refuse(kind, [_name(n) for n in names], "{}: {}".format(type(e).__name__, e),
                      isinstance(e, ValueError), _ps_id(process_set))
        except Exception:  # noqa: BLE001 (not initialized, or not a member: nobody to tell)
            pass
        raise


def _group_names(name, count):
    return [_group_name(name, i) for i in range(count)]


def _start_each(starts):
    """Starts one operation per callable of `starts` (each returns a native handle). A refusal
    at one call does not stop the others (the other ranks wait for them) nor drop the ones
    started (they still use their tensors): every one is started, the started ones are waited
    for, then the first refusal is raised. Returns the native handles."""
    natives, error = [], None
    for start in starts:
        try:
            natives.append(start())
        except Exception as e:  # noqa: BLE001 (re-raised below)
            error = error or e
    if error is not None:
        for n in natives:
            try:
                n.wait()
            except Exception:  # noqa: BLE001 (the refusal above is what is reported)
                pass
        raise error
    return natives


_handles = {}
_handles_lock = threading.Lock()
_next_handle = [0]


def _register(native, finish):
    """An integer handle for `native` (a trainyard::dist Handle, which keeps the tensors it uses
    alive); `finish(native)` makes synchronize()'s result."""
    with _handles_lock:
        h = _next_handle[0]
        _next_handle[0] += 1
        _handles[h] = (native, finish)
    return h


def poll(handle):
    """True once the operation behind `handle` finished (never blocks)."""
    with _handles_lock:
        entry = _handles.get(handle)
    if entry is None:
        raise ValueError("Handle {} was not found (already synchronized?)".format(handle))
    return entry[0].poll()


def synchronize(handle):
    """Waits for the operation behind `handle` and returns its result; None for a handle that is
    unknown or already synchronized (as Horovod)."""
    with _handles_lock:
        entry = _handles.pop(handle, None)
    if entry is None:
        return None
    native, finish = entry
    return finish(native)  # raises HorovodInternalError (a RuntimeError) with the runtime's message


def _wait(native):
    return native.wait()


def _returns(tensor):
    """For in-place operations: wait (trainyard::dist writes a staged copy of a non-contiguous
    tensor back), then return the caller's tensor object."""
    def finish(native):
        native.wait()
        return tensor
    return finish


# --- allreduce ---

def _allreduce_async(tensor, name, op, prescale_factor, postscale_factor, process_set, in_place):
    with _checks("allreduce", [name], process_set):
        _check_tensor(tensor)
        prescale_factor, postscale_factor = float(prescale_factor), float(postscale_factor)
    native = _c.allreduce_async(tensor, _name(name), op, prescale_factor, postscale_factor,
                                _ps_id(process_set), in_place)
    return _register(native, _returns(tensor) if in_place else _wait)


def allreduce_async(tensor, average=None, name=None, op=None, prescale_factor=1.0,
                    postscale_factor=1.0, process_set=global_process_set):
    with _checks("allreduce", [name], process_set):
        op = _op_code(op, average, "allreduce_async")
    return _allreduce_async(tensor, name, op, prescale_factor, postscale_factor, process_set,
                            False)


def allreduce_async_(tensor, average=None, name=None, op=None, prescale_factor=1.0,
                     postscale_factor=1.0, process_set=global_process_set):
    with _checks("allreduce", [name], process_set):
        op = _op_code(op, average, "allreduce_async_")
    return _allreduce_async(tensor, name, op, prescale_factor, postscale_factor, process_set,
                            True)


class HorovodAllreduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, name, op, prescale_factor, postscale_factor, process_set):
        ctx.op = op
        ctx.prescale_factor = prescale_factor
        ctx.postscale_factor = postscale_factor
        ctx.process_set = process_set
        return synchronize(allreduce_async(tensor, None, name, op, prescale_factor,
                                           postscale_factor, process_set))

    @staticmethod
    def backward(ctx, grad_output):
        grad = allreduce(grad_output, op=ctx.op, prescale_factor=ctx.prescale_factor,
                         postscale_factor=ctx.postscale_factor, process_set=ctx.process_set)
        return grad, None, None, None, None, None


def allreduce(tensor, average=None, name=None, compression=None, op=None, prescale_factor=1.0,
              postscale_factor=1.0, process_set=global_process_set):
    """Reduces `tensor` over all ranks (default: average) and returns the result; `tensor` is
    not changed. Differentiable."""
    from trainyard.torch.compression import Compression
    compression = compression or Compression.none
    with _checks("allreduce", [name], process_set):
        op = _op_code(op, average, "allreduce")
    compressed, ctx = compression.compress(tensor)
    reduced = HorovodAllreduce.apply(compressed, name, op, prescale_factor, postscale_factor,
                                     process_set)
    return compression.decompress(reduced, ctx)


def allreduce_(tensor, average=None, name=None, op=None, prescale_factor=1.0,
               postscale_factor=1.0, process_set=global_process_set):
    """In-place allreduce; returns `tensor`."""
    return synchronize(allreduce_async_(tensor, average, name, op, prescale_factor,
                                        postscale_factor, process_set))


def _grouped_async(tensors, name, op, prescale_factor, postscale_factor, process_set,
                   in_place):
    # Tensor i is named "<name>.<i>" (trainyard::dist's GroupedAllreduce).
    with _checks("allreduce", _group_names(name, len(tensors)), process_set):
        tensors = [_check_tensor(t) for t in tensors]
        prescale_factor, postscale_factor = float(prescale_factor), float(postscale_factor)
    native = _c.grouped_allreduce_async(tensors, _name(name), op, prescale_factor,
                                        postscale_factor, _ps_id(process_set), in_place)
    if in_place:
        def finish(n):
            n.wait_all()
            return list(tensors)
    else:
        def finish(n):
            return n.wait_all()
    return _register(native, finish)


def grouped_allreduce_async(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                            postscale_factor=1.0, process_set=global_process_set):
    tensors = list(tensors)
    with _checks("allreduce", _group_names(name, len(tensors)), process_set):
        op = _op_code(op, average, "grouped_allreduce_async")
    return _grouped_async(tensors, name, op, prescale_factor, postscale_factor,
                          process_set, False)


def grouped_allreduce_async_(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                             postscale_factor=1.0, process_set=global_process_set):
    tensors = list(tensors)
    with _checks("allreduce", _group_names(name, len(tensors)), process_set):
        op = _op_code(op, average, "grouped_allreduce_async_")
    return _grouped_async(tensors, name, op, prescale_factor, postscale_factor,
                          process_set, True)


class HorovodGroupedAllreduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, name, op, prescale_factor, postscale_factor, process_set, *tensors):
        ctx.op = op
        ctx.prescale_factor = prescale_factor
        ctx.postscale_factor = postscale_factor
        ctx.process_set = process_set
        return tuple(synchronize(grouped_allreduce_async(
            list(tensors), None, name, op, prescale_factor, postscale_factor, process_set)))

    @staticmethod
    def backward(ctx, *grad_output):
        grads = grouped_allreduce(list(grad_output), op=ctx.op,
                                  prescale_factor=ctx.prescale_factor,
                                  postscale_factor=ctx.postscale_factor,
                                  process_set=ctx.process_set)
        return (None, None, None, None, None) + tuple(grads)


def grouped_allreduce(tensors, average=None, name=None, compression=None, op=None,
                      prescale_factor=1.0, postscale_factor=1.0, process_set=global_process_set):
    """allreduce of each tensor of `tensors`, as one group; returns a list. Differentiable
    (each tensor's gradient as allreduce's)."""
    from trainyard.torch.compression import Compression
    compression = compression or Compression.none
    tensors = list(tensors)
    with _checks("allreduce", _group_names(name, len(tensors)), process_set):
        op = _op_code(op, average, "grouped_allreduce")
    pairs = [compression.compress(t) for t in tensors]
    if not pairs:
        # trainyard::dist refuses an empty group; let it say so.
        return synchronize(grouped_allreduce_async([], None, name, op, prescale_factor,
                                                   postscale_factor, process_set))
    outs = HorovodGroupedAllreduce.apply(name, op, prescale_factor, postscale_factor,
                                         process_set, *[p[0] for p in pairs])
    return [compression.decompress(o, p[1]) for o, p in zip(outs, pairs)]


def grouped_allreduce_(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                       postscale_factor=1.0, process_set=global_process_set):
    return synchronize(grouped_allreduce_async_(tensors, average, name, op, prescale_factor,
                                                postscale_factor, process_set))


# --- allgather ---

def allgather_async(tensor, name=None, process_set=global_process_set):
    with _checks("allgather", [name], process_set):
        _check_tensor(tensor)
    native = _c.allgather_async(tensor, _name(name), _ps_id(process_set))
    return _register(native, _wait)


def _ps_rank_size(process_set):
    """(this rank's rank in `process_set`, its size)."""
    ranks, r = _c.process_set_info(_ps_id(process_set))
    return r, len(ranks)


def _slice_offset(dims, r):
    return int(sum(int(d) for d in dims.reshape(-1)[:r].tolist()))


class HorovodAllgather(torch.autograd.Function):
    """allgather; its gradient is Horovod's: the output gradient averaged over the process set
    (allreduce op=Average), of which this rank takes the rows it contributed."""

    @staticmethod
    def forward(ctx, tensor, name, process_set):
        ctx.dim = tensor.shape[0] if tensor.dim() > 0 else 1
        ctx.process_set = process_set
        return synchronize(allgather_async(tensor, name, process_set))

    @staticmethod
    def backward(ctx, grad_output):
        grad_reduced = allreduce(grad_output, op=Average, process_set=ctx.process_set)
        dims = allgather(torch.tensor([ctx.dim], dtype=torch.int64),
                         process_set=ctx.process_set)
        r, _ = _ps_rank_size(ctx.process_set)
        offset = _slice_offset(dims, r)
        return grad_reduced.narrow(0, offset, ctx.dim), None, None


def allgather(tensor, name=None, process_set=global_process_set):
    """Concatenates the ranks' tensors along dimension 0 (which may differ between ranks).
    Differentiable (Horovod's gradient: the averaged output gradient's rows of this rank)."""
    return HorovodAllgather.apply(tensor, name, process_set)


class _Group:
    """Several per-tensor handles behind one: enqueued together, synchronized together."""

    def __init__(self, natives):
        self.natives = natives

    def poll(self):
        return all(n.poll() for n in self.natives)


def _group_name(name, i):
    return None if name is None else "{}.{}".format(name, i)


def _register_group(natives):
    def finish(group):
        results, error = [], None
        for n in group.natives:  # wait for every member, even after one failed
            try:
                results.append(n.wait())
            except Exception as e:  # noqa: BLE001 (re-raised below)
                if error is None:
                    error = e
        if error is not None:
            raise error
        return results
    return _register(_Group(natives), finish)


def grouped_allgather_async(tensors, name=None, process_set=global_process_set):
    """Starts an allgather of every tensor of `tensors` (tensor i named "<name>.<i>" when
    `name` is given); synchronize() returns the list of gathered tensors."""
    tensors = list(tensors)
    with _checks("allgather", _group_names(name, len(tensors)), process_set):
        tensors = [_check_tensor(t) for t in tensors]
    ps = _ps_id(process_set)
    return _register_group(_start_each(
        (lambda t=t, i=i: _c.allgather_async(t, _name(_group_name(name, i)), ps))
        for i, t in enumerate(tensors)))


class _CallableHandle(int):
    """A handle that is also callable, as Horovod's sparse_allreduce_async returns a function:
    handle() is synchronize(handle)."""

    def __call__(self):
        return synchronize(self)


def sparse_allreduce_async(tensor, name, op, process_set=global_process_set):
    """Starts Horovod's sparse allreduce of the sparse COO tensor `tensor`: two allgathers over
    `process_set`, of its indices (one row per nonzero, named "<name>.indices") and of its values
    ("<name>.values"). synchronize() returns a sparse tensor of `tensor`'s size holding every
    rank's nonzeros (uncoalesced: entries at the same index add up), with the values divided by
    the set size for op=Average (Sum keeps them); poll() works on the handle as on any other.
    As in Horovod, the handle can also be called: handle() returns the same result."""
    parts = [None if name is None else name + ".indices",
             None if name is None else name + ".values"]
    with _checks("allgather", parts, process_set):
        _check_tensor(tensor)
        if not tensor.is_sparse:
            raise ValueError("sparse_allreduce_async: expected a sparse COO tensor (got layout "
                             "{})".format(tensor.layout))
        op = _op_code(op, None, "sparse_allreduce_async")
        if op not in (Average, Sum):
            raise ValueError("sparse_allreduce_async: op must be Average or Sum")
    ps = _ps_id(process_set)
    # Allgather concatenates along dimension 0: the indices travel transposed.
    indices = tensor._indices().transpose(0, 1).contiguous()
    values = tensor._values().contiguous()
    natives = _start_each([lambda: _c.allgather_async(indices, _name(parts[0]), ps),
                           lambda: _c.allgather_async(values, _name(parts[1]), ps)])
    size, shape = _ps_size(process_set), tensor.size()

    def finish(group):
        error = None
        gathered = []
        for n in reversed(group.natives):  # values first (as Horovod), both even after an error
            try:
                gathered.append(n.wait())
            except Exception as e:  # noqa: BLE001 (re-raised below)
                error = error or e
        if error is not None:
            raise error
        all_values, all_indices = gathered
        if op == Average:
            all_values = all_values / size
        return torch.sparse_coo_tensor(all_indices.transpose(0, 1), all_values, shape,
                                       dtype=all_values.dtype, device=tensor.device)
    return _CallableHandle(_register(_Group(natives), finish))


class HorovodGroupedAllgather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, name, process_set, *tensors):
        ctx.dims = [t.shape[0] if t.dim() > 0 else 1 for t in tensors]
        ctx.process_set = process_set
        return tuple(synchronize(grouped_allgather_async(list(tensors), name, process_set)))

    @staticmethod
    def backward(ctx, *grad_output):
        grads_reduced = grouped_allreduce(list(grad_output), op=Average,
                                          process_set=ctx.process_set)
        dims = grouped_allgather([torch.tensor([d], dtype=torch.int64) for d in ctx.dims],
                                 process_set=ctx.process_set)
        r, _ = _ps_rank_size(ctx.process_set)
        grads = [g.narrow(0, _slice_offset(d, r), dim)
                 for g, d, dim in zip(grads_reduced, dims, ctx.dims)]
        return (None, None) + tuple(grads)


def grouped_allgather(tensors, name=None, process_set=global_process_set):
    """allgather of each tensor of `tensors`, as one group; returns a list. Differentiable
    (each tensor's gradient as allgather's)."""
    tensors = list(tensors)
    if not tensors:
        return []
    return list(HorovodGroupedAllgather.apply(name, process_set, *tensors))


# --- broadcast ---

def _broadcast_async(tensor, root_rank, name, process_set, in_place):
    with _checks("broadcast", [name], process_set):
        _check_tensor(tensor)
        root_rank = int(root_rank)
    return _c.broadcast_async(tensor, root_rank, _name(name), _ps_id(process_set), in_place)


def broadcast_async(tensor, root_rank, name=None, process_set=global_process_set):
    return _register(_broadcast_async(tensor, root_rank, name, process_set, False), _wait)


def broadcast_async_(tensor, root_rank, name=None, process_set=global_process_set):
    return _register(_broadcast_async(tensor, root_rank, name, process_set, True),
                     _returns(tensor))


class HorovodBroadcast(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, root_rank, name, process_set):
        ctx.root_rank = root_rank
        ctx.process_set = process_set
        return synchronize(broadcast_async(tensor, root_rank, name, process_set))

    @staticmethod
    def backward(ctx, grad_output):
        grad_reduced = allreduce(grad_output, op=Average, process_set=ctx.process_set)
        if rank() != ctx.root_rank:
            grad_reduced = grad_reduced * 0
        return grad_reduced, None, None, None


def broadcast(tensor, root_rank, name=None, process_set=global_process_set):
    """Returns root_rank's tensor on every rank; `tensor` is not changed. Differentiable."""
    return HorovodBroadcast.apply(tensor, root_rank, name, process_set)


def broadcast_(tensor, root_rank, name=None, process_set=global_process_set):
    """In-place broadcast; returns `tensor`."""
    return synchronize(broadcast_async_(tensor, root_rank, name, process_set))


# --- alltoall ---

def alltoall_async(tensor, splits=None, name=None, process_set=global_process_set):
    split_list = []
    with _checks("alltoall", [name], process_set):
        _check_tensor(tensor)
        if splits is not None:
            # Horovod's argument errors: a splits tensor must be 1-D and of integers (ValueError).
            if not torch.is_tensor(splits):
                splits = torch.tensor(splits, dtype=torch.int64)
            if splits.dim() > 1:
                raise ValueError("alltoall expects a 1D splits tensor")
            if splits.is_floating_point() or splits.is_complex() or splits.dtype == torch.bool:
                raise ValueError("alltoall expects splits to contain integer elements")
            split_list = [int(v) for v in splits.tolist()]
    native = _c.alltoall_async(tensor, split_list, _name(name), _ps_id(process_set))

    def finish(n):
        return n.wait(), torch.tensor(n.received_splits(), dtype=torch.int32)

    return _register(native, finish)


class HorovodAlltoall(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, splits, name, process_set):
        ctx.process_set = process_set
        output, received = synchronize(alltoall_async(tensor, splits, name, process_set))
        ctx.received = received
        ctx.mark_non_differentiable(received)
        return output, received

    @staticmethod
    def backward(ctx, grad_output, _grad_splits):
        grad, _ = synchronize(alltoall_async(grad_output.contiguous(), ctx.received,
                                             process_set=ctx.process_set))
        return grad, None, None, None


def alltoall(tensor, splits=None, name=None, process_set=global_process_set):
    """Scatters rows of `tensor` to the ranks (`splits` rows each, or evenly) and gathers what
    they sent. Returns the output, plus the received splits when `splits` is given."""
    output, received = HorovodAlltoall.apply(tensor, splits, name, process_set)
    if splits is None:
        return output
    return output, received


# --- reducescatter ---

def reducescatter_async(tensor, name=None, op=Average, prescale_factor=1.0, postscale_factor=1.0,
                        process_set=global_process_set):
    with _checks("reducescatter", [name], process_set):
        op = _op_code(op, None, "reducescatter_async")
        _check_tensor(tensor)
        prescale_factor, postscale_factor = float(prescale_factor), float(postscale_factor)
    native = _c.reducescatter_async(tensor, _name(name), op, prescale_factor, postscale_factor,
                                    _ps_id(process_set))
    return _register(native, _wait)


def _reducescatter_grad_scale(op, prescale_factor, postscale_factor, process_set):
    # Horovod's backward of reducescatter: the output gradient times size() for Sum, times the
    # prescale and postscale factors, allgathered.
    scale = 1.0
    if op == Sum:
        scale *= _ps_rank_size(process_set)[1]
    return scale * float(prescale_factor) * float(postscale_factor)


class HorovodReducescatter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, name, op, prescale_factor, postscale_factor, process_set):
        ctx.scale = _reducescatter_grad_scale(op, prescale_factor, postscale_factor, process_set)
        ctx.process_set = process_set
        return synchronize(reducescatter_async(tensor, name, op, prescale_factor,
                                               postscale_factor, process_set))

    @staticmethod
    def backward(ctx, grad_output):
        if ctx.scale != 1.0:
            grad_output = grad_output * ctx.scale
        return allgather(grad_output, process_set=ctx.process_set), None, None, None, None, None


def reducescatter(tensor, name=None, compression=None, op=Average, prescale_factor=1.0,
                  postscale_factor=1.0, process_set=global_process_set):
    """Reduces `tensor` over the ranks and returns this rank's block of rows. Differentiable
    (Horovod's gradient: the output gradient, times size() for Sum and times the scale
    factors, allgathered)."""
    from trainyard.torch.compression import Compression
    compression = compression or Compression.none
    with _checks("reducescatter", [name], process_set):
        op = _op_code(op, None, "reducescatter")
    compressed, ctx = compression.compress(tensor)
    out = HorovodReducescatter.apply(compressed, name, op, prescale_factor, postscale_factor,
                                     process_set)
    return compression.decompress(out, ctx)


def grouped_reducescatter_async(tensors, name=None, op=Average, prescale_factor=1.0,
                                postscale_factor=1.0, process_set=global_process_set):
    """Starts a reducescatter of every tensor of `tensors` (tensor i named "<name>.<i>" when
    `name` is given); synchronize() returns the list of this rank's blocks."""
    tensors = list(tensors)
    with _checks("reducescatter", _group_names(name, len(tensors)), process_set):
        op = _op_code(op, None, "grouped_reducescatter_async")
        tensors = [_check_tensor(t) for t in tensors]
        prescale_factor, postscale_factor = float(prescale_factor), float(postscale_factor)
    ps = _ps_id(process_set)
    return _register_group(_start_each(
        (lambda t=t, i=i: _c.reducescatter_async(t, _name(_group_name(name, i)), op,
                                                 prescale_factor, postscale_factor, ps))
        for i, t in enumerate(tensors)))


class HorovodGroupedReducescatter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, name, op, prescale_factor, postscale_factor, process_set, *tensors):
        ctx.scale = _reducescatter_grad_scale(op, prescale_factor, postscale_factor, process_set)
        ctx.process_set = process_set
        return tuple(synchronize(grouped_reducescatter_async(
            list(tensors), name, op, prescale_factor, postscale_factor, process_set)))

    @staticmethod
    def backward(ctx, *grad_output):
        grads = list(grad_output)
        if ctx.scale != 1.0:
            grads = [g * ctx.scale for g in grads]
        return (None, None, None, None, None) + tuple(
            grouped_allgather(grads, process_set=ctx.process_set))


def grouped_reducescatter(tensors, name=None, compression=None, op=Average, prescale_factor=1.0,
                          postscale_factor=1.0, process_set=global_process_set):
    """reducescatter of each tensor of `tensors`, as one group; returns a list.
    Differentiable (each tensor's gradient as reducescatter's)."""
    from trainyard.torch.compression import Compression
    compression = compression or Compression.none
    tensors = list(tensors)
    with _checks("reducescatter", _group_names(name, len(tensors)), process_set):
        op = _op_code(op, None, "grouped_reducescatter")
    if not tensors:
        return []
    pairs = [compression.compress(t) for t in tensors]
    outs = HorovodGroupedReducescatter.apply(name, op, prescale_factor, postscale_factor,
                                             process_set, *[p[0] for p in pairs])
    return [compression.decompress(o, p[1]) for o, p in zip(outs, pairs)]


# --- barrier, join ---

def barrier(process_set=global_process_set):
    _c.barrier(_ps_id(process_set))


def join(device=-1, process_set=global_process_set):
    """This rank has no more data; takes part in the others' operations with zeros until all
    ranks joined. Returns the rank that joined last."""
    return _c.join(_ps_id(process_set))
