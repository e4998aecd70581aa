"""horovod.torch's operations on CPU tensors (CUDA tensors through NCCL where built, see
_dtype_code), over trainyard's collective runtime (_collective).

Every asynchronous operation returns an integer handle; `poll(handle)` says whether it finished
and `synchronize(handle)` waits and returns its result. The tensors an operation reads or writes
are kept alive with the handle until it is synchronized.
"""

import atexit
import threading
import warnings

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

_DTYPES = {
    torch.uint8: 0,
    torch.int8: 1,
    torch.int32: 2,
    torch.int64: 3,
    torch.float16: 4,
    torch.bfloat16: 5,
    torch.float32: 6,
    torch.float64: 7,
    torch.bool: 8,
}


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

def _dtype_code(tensor, cuda_ok=False):
    """The runtime's dtype code of `tensor`. CUDA tensors are accepted only where `cuda_ok`
    (allreduce, grouped allreduce, broadcast) and only when the runtime routes them to NCCL
    (nccl_built()); the runtime itself refuses them when it has no NCCL communicator."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError("expected a torch.Tensor, got {}".format(type(tensor).__name__))
    if tensor.device.type != "cpu":
        if tensor.device.type == "cuda" and nccl_built():
            if not cuda_ok:
                raise ValueError(
                    "trainyard.torch: this operation supports CPU tensors only (got a tensor on "
                    "{}); CUDA tensors work with allreduce, grouped_allreduce and broadcast; "
                    "move the tensor to the CPU".format(tensor.device))
        else:
            raise ValueError(
                "trainyard.torch supports CPU tensors only (got a tensor on {}): this build has "
                "no NCCL; move the tensor to the CPU".format(tensor.device))
    if tensor.is_sparse:
        raise ValueError("trainyard.torch does not support sparse tensors")
    code = _DTYPES.get(tensor.dtype)
    if code is None:
        raise ValueError("trainyard.torch does not support dtype {}".format(tensor.dtype))
    return code


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


def _device(tensor):
    """-1 for a CPU tensor, else its CUDA device index. The runtime's NCCL communicator works on
    the device's default stream: work queued on another current stream is waited for first."""
    if tensor.device.type == "cpu":
        return -1
    stream = torch.cuda.current_stream(tensor.device)
    if stream != torch.cuda.default_stream(tensor.device):
        stream.synchronize()
    return tensor.device.index


def _name(name):
    return "" if name is None else str(name)


_handles = {}
_handles_lock = threading.Lock()
_next_handle = [0]


def _register(native, keep, finish):
    with _handles_lock:
        h = _next_handle[0]
        _next_handle[0] += 1
        _handles[h] = (native, keep, finish)
    return h


def poll(handle):
    """True once the operation behind `handle` finished (never blocks)."""
    with _handles_lock:
        entry = _handles.get(handle)
    if entry is None:
        raise ValueError("Handle {} was not found (already synchronized?)".format(handle))
    return entry[0].poll()


def synchronize(handle):
    """Waits for the operation behind `handle` and returns its result."""
    with _handles_lock:
        entry = _handles.pop(handle, None)
    if entry is None:
        raise ValueError("Handle {} was not found (already synchronized?)".format(handle))
    native, _keep, finish = entry
    native.wait()  # raises HorovodInternalError (a RuntimeError) with the runtime's message
    return finish(native)


def _contiguous_like(tensor):
    return torch.empty_like(tensor, memory_format=torch.contiguous_format)


def _owned_output(native, like):
    out = torch.empty(native.output_shape(), dtype=like.dtype)
    if out.numel() > 0:
        native.copy_output(out.data_ptr())
    return out


# --- allreduce ---

def _allreduce_async(tensor, output, name, op, prescale_factor, postscale_factor, process_set):
    code = _dtype_code(tensor, cuda_ok=True)
    src = tensor.contiguous()
    dst = output if output.is_contiguous() else _contiguous_like(output)
    native = _c.allreduce_async(_name(name), src.data_ptr(), dst.data_ptr(), code,
                                list(src.shape), op, float(prescale_factor),
                                float(postscale_factor), _ps_id(process_set), _device(src))

    def finish(_n):
        if dst is not output:
            output.copy_(dst)
        return output

    return _register(native, (tensor, src, dst, output), finish)


def allreduce_async(tensor, average=None, name=None, op=None, prescale_factor=1.0,
                    postscale_factor=1.0, process_set=global_process_set):
    op = _op_code(op, average, "allreduce_async")
    output = torch.empty_like(tensor, memory_format=torch.contiguous_format)
    return _allreduce_async(tensor, output, name, op, prescale_factor, postscale_factor,
                            process_set)


def allreduce_async_(tensor, average=None, name=None, op=None, prescale_factor=1.0,
                     postscale_factor=1.0, process_set=global_process_set):
    op = _op_code(op, average, "allreduce_async_")
    return _allreduce_async(tensor, tensor, name, op, prescale_factor, postscale_factor,
                            process_set)


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


def _grouped_async(tensors, outputs, name, op, prescale_factor, postscale_factor, process_set):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("grouped_allreduce: no tensors")
    codes = [_dtype_code(t, cuda_ok=True) for t in tensors]
    srcs = [t.contiguous() for t in tensors]
    dsts = [o if o.is_contiguous() else _contiguous_like(o) for o in outputs]
    if name is None:
        names = [""] * len(tensors)
    else:
        names = ["{}.{}".format(name, i) for i in range(len(tensors))]
    native = _c.grouped_allreduce_async(names, [s.data_ptr() for s in srcs],
                                        [d.data_ptr() for d in dsts], codes,
                                        [list(s.shape) for s in srcs], op,
                                        float(prescale_factor), float(postscale_factor),
                                        _ps_id(process_set), [_device(s) for s in srcs])

    def finish(_n):
        for d, o in zip(dsts, outputs):
            if d is not o:
                o.copy_(d)
        return list(outputs)

    return _register(native, (tensors, srcs, dsts, outputs), finish)


def grouped_allreduce_async(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                            postscale_factor=1.0, process_set=global_process_set):
    op = _op_code(op, average, "grouped_allreduce_async")
    tensors = list(tensors)
    outputs = [torch.empty_like(t, memory_format=torch.contiguous_format) for t in tensors]
    return _grouped_async(tensors, outputs, name, op, prescale_factor, postscale_factor,
                          process_set)


def grouped_allreduce_async_(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                             postscale_factor=1.0, process_set=global_process_set):
    op = _op_code(op, average, "grouped_allreduce_async_")
    tensors = list(tensors)
    return _grouped_async(tensors, tensors, name, op, prescale_factor, postscale_factor,
                          process_set)


def grouped_allreduce(tensors, average=None, name=None, compression=None, op=None,
                      prescale_factor=1.0, postscale_factor=1.0, process_set=global_process_set):
    from trainyard.torch.compression import Compression
    compression = compression or Compression.none
    pairs = [compression.compress(t) for t in tensors]
    outs = synchronize(grouped_allreduce_async([p[0] for p in pairs], average, name, op,
                                               prescale_factor, postscale_factor, process_set))
    return [compression.decompress(o, p[1]) for o, p in zip(outs, pairs)]


def grouped_allreduce_(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                       postscale_factor=1.0, process_set=global_process_set):
    return synchronize(grouped_allreduce_async_(tensors, average, name, op, prescale_factor,
                                                postscale_factor, process_set))


# --- allgather ---

def allgather_async(tensor, name=None, process_set=global_process_set):
    code = _dtype_code(tensor)
    src = tensor.contiguous()
    native = _c.allgather_async(_name(name), src.data_ptr(), code, list(src.shape),
                                _ps_id(process_set))
    return _register(native, (tensor, src), lambda n: _owned_output(n, src))


class HorovodAllgather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, name, process_set):
        ctx.dim = tensor.shape[0] if tensor.dim() > 0 else 1
        ctx.process_set = process_set
        return synchronize(allgather_async(tensor, name, process_set))

    @staticmethod
    def backward(ctx, grad_output):
        grad_reduced = allreduce(grad_output, op=Sum, process_set=ctx.process_set)
        dims = allgather(torch.tensor([ctx.dim], dtype=torch.int64),
                         process_set=ctx.process_set)
        r = ctx.process_set.rank() if ctx.process_set.process_set_id else rank()
        offset = int(dims[:r].sum().item())
        return grad_reduced.narrow(0, offset, ctx.dim), None, None


def allgather(tensor, name=None, process_set=global_process_set):
    """Concatenates the ranks' tensors along dimension 0 (which may differ between ranks).
    Differentiable."""
    return HorovodAllgather.apply(tensor, name, process_set)


# --- broadcast ---

def _broadcast_async(tensor, output, root_rank, name, process_set):
    code = _dtype_code(tensor, cuda_ok=True)
    src = tensor.contiguous()
    dst = output if output.is_contiguous() else _contiguous_like(output)
    native = _c.broadcast_async(_name(name), src.data_ptr(), dst.data_ptr(), code,
                                list(src.shape), int(root_rank), _ps_id(process_set),
                                _device(src))

    def finish(_n):
        if dst is not output:
            output.copy_(dst)
        return output

    return _register(native, (tensor, src, dst, output), finish)


def broadcast_async(tensor, root_rank, name=None, process_set=global_process_set):
    output = torch.empty_like(tensor, memory_format=torch.contiguous_format)
    return _broadcast_async(tensor, output, root_rank, name, process_set)


def broadcast_async_(tensor, root_rank, name=None, process_set=global_process_set):
    return _broadcast_async(tensor, tensor, root_rank, name, process_set)


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
    code = _dtype_code(tensor)
    src = tensor.contiguous()
    if splits is None:
        split_list = []
    else:
        split_list = [int(v) for v in (splits.tolist() if torch.is_tensor(splits) else splits)]
    native = _c.alltoall_async(_name(name), src.data_ptr(), code, list(src.shape), split_list,
                               _ps_id(process_set))

    def finish(n):
        return _owned_output(n, src), torch.tensor(n.received_splits(), dtype=torch.int32)

    return _register(native, (tensor, src), finish)


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
    op = _op_code(op, None, "reducescatter_async")
    code = _dtype_code(tensor)
    src = tensor.contiguous()
    native = _c.reducescatter_async(_name(name), src.data_ptr(), code, list(src.shape), op,
                                    float(prescale_factor), float(postscale_factor),
                                    _ps_id(process_set))
    return _register(native, (tensor, src), lambda n: _owned_output(n, src))


def reducescatter(tensor, name=None, compression=None, op=Average, prescale_factor=1.0,
                  postscale_factor=1.0, process_set=global_process_set):
    """Reduces `tensor` over the ranks and returns this rank's block of rows."""
    from trainyard.torch.compression import Compression
    compression = compression or Compression.none
    compressed, ctx = compression.compress(tensor)
    out = synchronize(reducescatter_async(compressed, name, op, prescale_factor,
                                          postscale_factor, process_set))
    return compression.decompress(out, ctx)


# --- barrier, join ---

def barrier(process_set=global_process_set):
    _c.barrier(_ps_id(process_set))


def join(device=-1, process_set=global_process_set):
    """This rank has no more data; takes part in the others' operations with zeros until all
    ranks joined. Returns the rank that joined last."""
    native = _c.join_async(_ps_id(process_set))
    native.wait()
    return native.last_joined_rank()
