"""alltoall and alltoall_async, from Horovod's documentation (horovod/torch/mpi_ops.py):

"scatters slices of the input tensor to all other Horovod processes and returns a tensor of
gathered slices from all other Horovod processes. The input tensor is not modified. The slicing
is done on the first dimension, so the input tensors on the different processes must have the
same rank and shape, except for the first dimension, which is allowed to be different."
`splits`: "A tensor of integers in rank order describing how many elements in `tensor` to send
to each worker [...] If `splits` is not provided, the first dimension is split equally by the
number of Horovod processes." Returns the gathered tensor and, if `splits` was given, "A tensor
of integers in rank order describing how many elements in the output tensor have been received
from each worker". Gradient: the output gradient sent back with alltoall, split by the received
splits (each rank gets the gradient of the rows it sent).

Expected values are computed from size() and rank(). Run as ranks: on 2, 3 and 4 ranks under
mpirun and over Gloo (ctest python.hvd.alltoall.<mpi|gloo>.<N>, from the hvd-matrix line below);
as one process (ctest python.test_hvd_alltoall) the rank tests skip. Every dtype:
test_hvd_dtypes.py; argument errors: test_hvd_errors.py."""
# hvd-matrix: mpi gloo ranks 2 3 4


import pytest
import torch

pytest.importorskip("trainyard._collective", reason="needs the collective runtime's module")

import horovod.torch as hvd  # noqa: E402


def _block(s, d, rows, cols=3, dtype=torch.float32):
    """The rows rank s sends to rank d: value 100 * s + d."""
    return torch.full((rows, cols), 100 * s + d).to(dtype)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_even_split(world, dims):
    n, r = world
    shape = (2 * n,) + (3,) * (dims - 1)
    x = torch.cat([torch.full((2,) + shape[1:], float(100 * r + d)) for d in range(n)])
    before = x.clone()
    out = hvd.alltoall(x, name="even.%d" % dims)
    assert isinstance(out, torch.Tensor)  # no splits given: the tensor alone
    assert out.shape == shape
    want = torch.cat([torch.full((2,) + shape[1:], float(100 * s + r)) for s in range(n)])
    assert torch.equal(out, want)
    assert torch.equal(x, before)  # the input is not modified


@pytest.mark.parametrize("kind", ["list", "tensor"])
def test_uneven_splits_and_received_splits(world, kind):
    n, r = world
    # Rank s sends (s + d) % 3 rows to rank d: some ranks get nothing from some others.
    counts = [(r + d) % 3 for d in range(n)]
    x = torch.cat([_block(r, d, counts[d]) for d in range(n)])
    splits = counts if kind == "list" else torch.tensor(counts, dtype=torch.int32)
    out, received = hvd.alltoall(x, splits=splits, name="uneven." + kind)
    assert received.tolist() == [(s + r) % 3 for s in range(n)]
    want = torch.cat([_block(s, r, (s + r) % 3) for s in range(n)])
    assert out.shape == want.shape and torch.equal(out, want)


def test_nothing_to_send(world):
    n, r = world
    # Every rank sends everything to rank 0.
    x = torch.full((r + 1, 2), float(r))
    splits = [r + 1] + [0] * (n - 1)
    out, received = hvd.alltoall(x, splits=splits, name="to.zero")
    if r == 0:
        assert received.tolist() == [k + 1 for k in range(n)]
        assert torch.equal(out, torch.cat([torch.full((k + 1, 2), float(k)) for k in range(n)]))
    else:
        assert received.tolist() == [0] * n
        assert out.shape == (0, 2)


def test_async_returns_output_and_received_splits(world):
    n, r = world
    x = torch.cat([_block(r, d, d + 1, dtype=torch.int64) for d in range(n)])
    h = hvd.alltoall_async(x, splits=[d + 1 for d in range(n)], name="async")
    while not hvd.poll(h):
        pass
    out, received = hvd.synchronize(h)
    assert received.tolist() == [r + 1] * n
    assert torch.equal(out, torch.cat([_block(s, r, r + 1, dtype=torch.int64) for s in range(n)]))


def test_gradient(world):
    n, r = world
    counts = [(r + d) % 3 + 1 for d in range(n)]
    x = torch.cat([_block(r, d, counts[d], cols=2, dtype=torch.float64)
                   for d in range(n)]).requires_grad_()
    out, received = hvd.alltoall(x, splits=counts, name="grad")
    # Rank d weights what it received by (d + 1): the rows rank r sent to d get gradient d + 1.
    (out * (r + 1)).sum().backward()
    want = torch.cat([torch.full((counts[d], 2), float(d + 1), dtype=torch.float64)
                      for d in range(n)])
    assert x.grad is not None and torch.equal(x.grad, want)


def test_gradient_even_split(world):
    n, r = world
    x = torch.ones(2 * n, 2, requires_grad=True)
    out = hvd.alltoall(x, name="grad.even")
    w = torch.arange(2 * n * 2, dtype=torch.float32).reshape(2 * n, 2)
    (out * w * (r + 1)).sum().backward()
    # Rank r's rows 2d, 2d + 1 went to rank d, which received them as its rows 2r, 2r + 1.
    want = torch.cat([w[2 * r:2 * r + 2] * (d + 1) for d in range(n)])
    assert torch.equal(x.grad, want)
