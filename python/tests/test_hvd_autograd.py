"""Gradients of horovod.torch's operations, as Horovod defines them (horovod/torch/mpi_ops.py):

- allreduce / grouped_allreduce: the output gradient allreduced with the same op and scale
  factors;
- allgather / grouped_allgather: the output gradient averaged over the ranks (op=Average), of
  which each rank takes the rows it contributed;
- reducescatter / grouped_reducescatter: the output gradient, times size() for op=Sum and times
  the prescale and postscale factors, allgathered.

Expected gradients are computed here from every rank's known output gradient, not through the
operations. Run as ranks: on 2, 3 and 4 ranks under mpirun and over Gloo (ctest
python.hvd.autograd.<mpi|gloo>.<N>, from the hvd-matrix line below); as one process (ctest
python.test_hvd_autograd) the rank tests skip. Every rank runs the same collectives in the same
order."""
# hvd-matrix: mpi gloo ranks 2 3 4


import pytest
import torch

pytest.importorskip("trainyard._collective", reason="needs the MPI build")

import horovod.torch as hvd  # noqa: E402


def _grad(x):
    assert x.grad is not None
    return x.grad


# --- allgather ---

def test_allgather_gradient_is_averaged(world):
    n, r = world
    # Horovod's example: every rank contributes [1, 1] and backpropagates sum(); the gradient
    # is [1, 1] whatever the number of ranks.
    x = torch.ones(2, requires_grad=True)
    hvd.allgather(x, name="ag.ones").sum().backward()
    assert torch.equal(_grad(x), torch.ones(2))


def test_allgather_uneven_rows_value_shape_and_gradient(world):
    n, r = world
    x = torch.full((r + 1, 3), float(r), dtype=torch.float64, requires_grad=True)
    y = hvd.allgather(x, name="ag.uneven")
    rows = n * (n + 1) // 2
    assert y.shape == (rows, 3)
    expected = torch.cat([torch.full((k + 1, 3), float(k), dtype=torch.float64)
                          for k in range(n)])
    assert torch.equal(y.detach(), expected)
    # Rank k's output gradient is W * (k + 1); their average is W * (n + 1) / 2.
    w = torch.arange(rows * 3, dtype=torch.float64).reshape(rows, 3)
    (y * w * (r + 1)).sum().backward()
    offset = r * (r + 1) // 2
    assert torch.allclose(_grad(x), w[offset:offset + r + 1] * (n + 1) / 2)


def test_grouped_allgather_gradient(world):
    n, r = world
    a = torch.full((r + 1, 2), 1.0 + r, requires_grad=True)
    b = torch.full((2, 4), -1.0 - r, requires_grad=True)
    ya, yb = hvd.grouped_allgather([a, b], name="gag")
    rows_a = n * (n + 1) // 2
    assert ya.shape == (rows_a, 2) and yb.shape == (2 * n, 4)
    wa = torch.arange(rows_a * 2, dtype=torch.float32).reshape(rows_a, 2)
    wb = torch.arange(2 * n * 4, dtype=torch.float32).reshape(2 * n, 4) - 3.0
    ((ya * wa).sum() * (r + 1) + (yb * wb).sum() * (2 * r + 1)).backward()
    mean_a = sum(k + 1 for k in range(n)) / n
    mean_b = sum(2 * k + 1 for k in range(n)) / n
    offset = r * (r + 1) // 2
    assert torch.allclose(_grad(a), wa[offset:offset + r + 1] * mean_a)
    assert torch.allclose(_grad(b), wb[2 * r:2 * r + 2] * mean_b)


# --- allreduce ---

@pytest.mark.parametrize("op,pre,post", [("Sum", 1.0, 1.0), ("Average", 1.0, 1.0),
                                         ("Sum", 3.0, 0.5)])
def test_grouped_allreduce_gradient(world, op, pre, post):
    n, r = world
    code = getattr(hvd, op)
    a = torch.full((3,), float(r + 1), requires_grad=True)
    b = torch.full((2, 2), float(2 * r), dtype=torch.float64, requires_grad=True)
    outs = hvd.grouped_allreduce([a, b], op=code, prescale_factor=pre, postscale_factor=post,
                                 name="gar.{}.{}".format(op, pre))
    total_a = sum(float(k + 1) for k in range(n))
    total_b = sum(float(2 * k) for k in range(n))
    div = n if op == "Average" else 1
    assert torch.allclose(outs[0].detach(), torch.full((3,), total_a * pre * post / div))
    assert torch.allclose(outs[1].detach(),
                          torch.full((2, 2), total_b * pre * post / div, dtype=torch.float64))
    # Rank k's output gradients are (k + 1) and (k + 2); reduced with the same op and factors.
    ((outs[0] * (r + 1)).sum() + (outs[1] * (r + 2)).sum()).backward()
    ga = sum(k + 1 for k in range(n)) * pre * post / div
    gb = sum(k + 2 for k in range(n)) * pre * post / div
    assert torch.allclose(_grad(a), torch.full((3,), float(ga)))
    assert torch.allclose(_grad(b), torch.full((2, 2), float(gb), dtype=torch.float64))


# --- reducescatter ---

def _blocks(n, rows):
    """Horovod's reducescatter split of `rows` rows: the first rows % n ranks get one more."""
    return [rows // n + (1 if k < rows % n else 0) for k in range(n)]


@pytest.mark.parametrize("op,pre,post", [("Average", 1.0, 1.0), ("Sum", 1.0, 1.0),
                                         ("Sum", 2.0, 0.25), ("Average", 3.0, 1.0)])
def test_reducescatter_value_and_gradient(world, op, pre, post):
    n, r = world
    code = getattr(hvd, op)
    rows = 2 * n
    base = torch.arange(rows * 3, dtype=torch.float64).reshape(rows, 3)
    x = (base * (r + 1)).requires_grad_()
    out = hvd.reducescatter(x, op=code, prescale_factor=pre, postscale_factor=post,
                            name="rs.{}.{}.{}".format(op, pre, post))
    scale = pre * post / (n if op == "Average" else 1)
    total = sum(k + 1 for k in range(n))
    assert out.shape == (2, 3)
    assert torch.allclose(out.detach(), base[2 * r:2 * r + 2] * total * scale)
    # Rank k's output gradient is (k + 1) everywhere: the input gradient is block k filled
    # with (k + 1), times size() for Sum, times the factors.
    (out * (r + 1)).sum().backward()
    factor = (n if op == "Sum" else 1) * pre * post
    expected = torch.cat([torch.full((2, 3), float(k + 1), dtype=torch.float64)
                          for k in range(n)]) * factor
    assert torch.allclose(_grad(x), expected)


def test_reducescatter_gradient_of_average_is_ones(world):
    n, r = world
    # Horovod's own check: reducescatter(op=Average) backpropagating ones gives ones; op=Sum
    # gives size().
    x = torch.ones(4 * n, 2, requires_grad=True)
    hvd.reducescatter(x, name="rs.avg.ones").backward(torch.ones(4, 2))
    assert torch.equal(_grad(x), torch.ones(4 * n, 2))
    y = torch.ones(4 * n, 2, requires_grad=True)
    hvd.reducescatter(y, op=hvd.Sum, name="rs.sum.ones").backward(torch.ones(4, 2))
    assert torch.equal(_grad(y), torch.full((4 * n, 2), float(n)))


def test_grouped_reducescatter_gradient(world):
    n, r = world
    a = torch.full((2 * n, 2), float(r + 1), requires_grad=True)
    b = torch.full((n, 3), float(r), dtype=torch.float64, requires_grad=True)
    oa, ob = hvd.grouped_reducescatter([a, b], op=hvd.Sum, prescale_factor=0.5,
                                       postscale_factor=3.0, name="grs")
    assert oa.shape == (2, 2) and ob.shape == (1, 3)
    assert torch.allclose(oa.detach(), torch.full((2, 2), sum(k + 1.0 for k in range(n)) * 1.5))
    assert torch.allclose(ob.detach(),
                          torch.full((1, 3), sum(float(k) for k in range(n)) * 1.5,
                                     dtype=torch.float64))
    ((oa * (r + 1)).sum() + (ob * (r + 5)).sum()).backward()
    factor = n * 0.5 * 3.0
    ga = torch.cat([torch.full((2, 2), float(k + 1)) for k in range(n)]) * factor
    gb = torch.cat([torch.full((1, 3), float(k + 5), dtype=torch.float64)
                    for k in range(n)]) * factor
    assert torch.allclose(_grad(a), ga)
    assert torch.allclose(_grad(b), gb)


def test_gradients_within_a_process_set(world):
    n, r = world
    # Ranks 0 and 1 (the whole world on 2 ranks, where it is the global set).
    ps = hvd.global_process_set if n == 2 else hvd.add_process_set([0, 1])
    try:
        if r in (0, 1):
            x = torch.full((r + 1,), 1.0, requires_grad=True)
            y = hvd.allgather(x, name="ps.ag", process_set=ps)
            assert y.shape == (3,)
            (y * (r + 1)).sum().backward()  # averaged over the set's 2 ranks: 1.5
            assert torch.allclose(_grad(x), torch.full((r + 1,), 1.5))
            z = torch.ones(4, requires_grad=True)
            out = hvd.reducescatter(z, op=hvd.Sum, name="ps.rs", process_set=ps)
            assert torch.equal(out.detach(), torch.full((2,), 2.0))
            out.sum().backward()
            assert torch.equal(_grad(z), torch.full((4,), 2.0))  # times the set's size
        hvd.barrier()
    finally:
        if ps is not hvd.global_process_set:
            hvd.remove_process_set(ps)
