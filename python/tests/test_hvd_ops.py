"""horovod.torch operations over trainyard's collective runtime.

Run on 2, 3 and 4 ranks under mpirun and over Gloo (ctest python.hvd.ops.<mpi|gloo>.<N>, from
the hvd-matrix line below) and also as one process (python.test_hvd_ops): expected values are
computed from size() and rank(). Every test runs the same collectives in the same order on every
rank (no rank-dependent skips)."""
# hvd-matrix: mpi gloo ranks 2 3 4

import os

import pytest
import torch

pytest.importorskip("trainyard._collective", reason="needs the MPI build")

import horovod.torch as hvd  # noqa: E402
import trainyard.torch as ty  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def runtime():
    hvd.init()
    yield


def test_compat_package_is_trainyard():
    assert hvd.allreduce is ty.allreduce
    assert hvd.DistributedOptimizer is ty.DistributedOptimizer
    from horovod.common.exceptions import HorovodInternalError
    assert issubclass(HorovodInternalError, RuntimeError)


def test_topology():
    assert hvd.is_initialized()
    assert 0 <= hvd.rank() < hvd.size()
    assert 0 <= hvd.local_rank() < hvd.local_size()
    assert hvd.cross_size() >= 1
    assert hvd.mpi_built()
    # Under mpirun the runtime runs on MPI; started with torch.distributed's RANK/WORLD_SIZE it
    # runs on Gloo; as one plain process it is a single-rank world.
    assert hvd.mpi_enabled() == ("OMPI_COMM_WORLD_SIZE" in os.environ)
    assert hvd.gloo_enabled() == ("WORLD_SIZE" in os.environ
                                  and "OMPI_COMM_WORLD_SIZE" not in os.environ)
    if hvd.gloo_enabled():
        assert hvd.size() == int(os.environ["WORLD_SIZE"])
        assert hvd.rank() == int(os.environ["RANK"])
    assert not hvd.nccl_built()


FLOAT_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
INT_DTYPES = [torch.int32, torch.int64, torch.int8, torch.uint8]


def test_allreduce_ops_and_dtypes():
    n, r = hvd.size(), hvd.rank()
    for dtype in FLOAT_DTYPES + INT_DTYPES:
        base = torch.arange(6, dtype=torch.float64).reshape(2, 3)
        x = (base + r).to(dtype)
        # Sum, Min, Max, Product, Average
        expected_sum = sum(base + k for k in range(n))
        got = hvd.allreduce(x, op=hvd.Sum, name="sum." + str(dtype))
        assert got.dtype == dtype and got.shape == x.shape
        assert torch.equal(got.double(), expected_sum.to(dtype).double()), dtype
        assert torch.equal(x, (base + r).to(dtype))  # input untouched
        got = hvd.allreduce(x, op=hvd.Min)
        assert torch.equal(got.double(), base.to(dtype).double())
        got = hvd.allreduce(x, op=hvd.Max)
        assert torch.equal(got.double(), (base + n - 1).to(dtype).double())
        got = hvd.allreduce(x, op=hvd.Product)
        prod = torch.ones_like(base)
        for k in range(n):
            prod = prod * (base + k)
        assert torch.equal(got.double(), prod.to(dtype).double()), dtype
        if dtype.is_floating_point:
            got = hvd.allreduce(x)  # Average by default
            tol = 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-6
            assert torch.allclose(got.double(), (expected_sum / n).to(dtype).double(), atol=tol)


def test_allreduce_in_place_async_and_scaling():
    n, r = hvd.size(), hvd.rank()
    x = torch.full((5,), float(r + 1))
    h = hvd.allreduce_async_(x, op=hvd.Sum, name="inplace", prescale_factor=2.0,
                             postscale_factor=0.5)
    out = hvd.synchronize(h)
    assert out is x
    assert torch.allclose(x, torch.full((5,), float(n * (n + 1) / 2)))
    with pytest.warns(DeprecationWarning):
        h = hvd.allreduce_async(torch.ones(3), average=False)
    while not hvd.poll(h):
        pass
    assert torch.equal(hvd.synchronize(h), torch.full((3,), float(n)))
    y = torch.ones(3)
    assert hvd.allreduce_(y, op=hvd.Average) is y


def test_allreduce_noncontiguous_and_scalar():
    n = hvd.size()
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    t = base.t()
    assert not t.is_contiguous()
    assert torch.equal(hvd.allreduce(t, op=hvd.Sum), t * n)
    t2 = base.clone().t()
    hvd.allreduce_(t2, op=hvd.Sum)
    assert torch.equal(t2, base.t() * n)
    s = torch.tensor(2.0)
    assert torch.equal(hvd.allreduce(s, op=hvd.Sum), torch.tensor(2.0 * n))
    e = torch.empty(0)
    assert hvd.allreduce(e).numel() == 0


def test_grouped_allreduce():
    n, r = hvd.size(), hvd.rank()
    tensors = [torch.full((k + 1, 2), float(r)) for k in range(4)]
    outs = hvd.grouped_allreduce(tensors, op=hvd.Sum, name="group")
    expected = float(sum(range(n)))
    for k, o in enumerate(outs):
        assert o.shape == (k + 1, 2) and torch.all(o == expected)
    hvd.grouped_allreduce_(tensors, op=hvd.Average)
    for t in tensors:
        assert torch.allclose(t, torch.full_like(t, expected / n))
    h = hvd.grouped_allreduce_async([torch.ones(2), torch.ones(3, dtype=torch.float64)],
                                    op=hvd.Sum)
    a, b = hvd.synchronize(h)
    assert torch.equal(a, torch.full((2,), float(n)))
    assert b.dtype == torch.float64
    # Min, Max and Product apply to each tensor of the group.
    group = [torch.full((2,), float(r + 1)), torch.full((3,), r + 2, dtype=torch.int64)]
    lo, hi, prod = (hvd.grouped_allreduce(group, op=op, name="group." + tag)
                    for op, tag in ((hvd.Min, "min"), (hvd.Max, "max"), (hvd.Product, "prod")))
    assert lo[0].tolist() == [1.0] * 2 and lo[1].tolist() == [2] * 3
    assert hi[0].tolist() == [float(n)] * 2 and hi[1].tolist() == [n + 1] * 3
    fact = 1
    for k in range(n):
        fact *= k + 1
    assert prod[0].tolist() == [float(fact)] * 2 and prod[1].tolist() == [fact * (n + 1)] * 3


def test_allgather_different_first_dims():
    n, r = hvd.size(), hvd.rank()
    for dtype in [torch.float32, torch.int64, torch.float16, torch.bool]:
        x = torch.full((r + 1, 3), r, dtype=torch.int64).to(dtype)
        got = hvd.allgather(x, name="ag." + str(dtype))
        expected = torch.cat([torch.full((k + 1, 3), k, dtype=torch.int64).to(dtype)
                              for k in range(n)])
        assert got.dtype == dtype and torch.equal(got, expected)
    got = hvd.synchronize(hvd.allgather_async(torch.tensor([r])))
    assert got.tolist() == list(range(n))


def test_broadcast():
    n, r = hvd.size(), hvd.rank()
    for root in range(n):
        x = torch.full((2, 2), float(r))
        y = hvd.broadcast(x, root_rank=root, name="bc.%d" % root)
        assert torch.equal(y, torch.full((2, 2), float(root)))
        assert torch.equal(x, torch.full((2, 2), float(r)))
        z = torch.full((3,), r, dtype=torch.int32)
        assert hvd.broadcast_(z, root) is z
        assert torch.equal(z, torch.full((3,), root, dtype=torch.int32))
    h = hvd.broadcast_async(torch.tensor([r]), 0)
    assert hvd.synchronize(h).item() == 0


def test_alltoall():
    n, r = hvd.size(), hvd.rank()
    # even split: rank r sends value 100*r + dest to dest
    x = torch.tensor([100 * r + d for d in range(n)], dtype=torch.float32)
    out = hvd.alltoall(x)
    assert out.tolist() == [100 * s + r for s in range(n)]
    # uneven splits: rank r sends (d + 1) rows to rank d
    splits = [d + 1 for d in range(n)]
    rows = torch.cat([torch.full((d + 1, 2), float(10 * r + d)) for d in range(n)])
    out, received = hvd.alltoall(rows, splits=splits)
    assert received.tolist() == [r + 1] * n
    expected = torch.cat([torch.full((r + 1, 2), float(10 * s + r)) for s in range(n)])
    assert torch.equal(out, expected)


def test_reducescatter():
    n, r = hvd.size(), hvd.rank()
    x = torch.arange(2 * n, dtype=torch.float32).reshape(2 * n, 1) + r
    out = hvd.reducescatter(x, op=hvd.Sum)
    full = sum(torch.arange(2 * n, dtype=torch.float32).reshape(2 * n, 1) + k for k in range(n))
    assert torch.equal(out, full[2 * r:2 * r + 2])
    out = hvd.reducescatter(x)  # Average
    assert torch.allclose(out, full[2 * r:2 * r + 2] / n)


def test_barrier_and_join():
    hvd.barrier()
    last = hvd.join()
    assert 0 <= last < hvd.size()


def test_autograd():
    n, r = hvd.size(), hvd.rank()
    x = torch.full((3,), float(r + 1), requires_grad=True)
    y = hvd.allreduce(x, op=hvd.Sum)
    y.sum().backward()
    assert torch.equal(x.grad, torch.full((3,), float(n)))

    x = torch.full((r + 1, 2), 1.0, requires_grad=True)
    g = hvd.allgather(x)
    (g * 2).sum().backward()
    # Horovod's gradient of allgather averages the ranks' output gradients (all 2 here).
    assert torch.equal(x.grad, torch.full((r + 1, 2), 2.0))

    x = torch.full((2,), float(r), requires_grad=True)
    b = hvd.broadcast(x, 0)
    b.sum().backward()
    assert torch.equal(x.grad, torch.full((2,), 1.0 if r == 0 else 0.0))

    # Broadcast from the last rank, rank k's output gradient (k + 1): Horovod averages the
    # output gradients and keeps them on the root only.
    x = torch.full((2,), float(r), requires_grad=True)
    b = hvd.broadcast(x, n - 1, name="bc.grad.last")
    assert torch.equal(b.detach(), torch.full((2,), float(n - 1)))
    (b * (r + 1)).sum().backward()
    want = (n + 1) / 2 if r == n - 1 else 0.0
    assert torch.allclose(x.grad, torch.full((2,), want))

    # allreduce with op=Average and scale factors: the gradient is reduced the same way.
    x = torch.full((3,), float(r + 1), requires_grad=True)
    y = hvd.allreduce(x, op=hvd.Average, prescale_factor=2.0, postscale_factor=3.0,
                      name="ar.grad.avg")
    assert torch.allclose(y.detach(), torch.full((3,), 6.0 * (n + 1) / 2))
    (y * (r + 1)).sum().backward()
    assert torch.allclose(x.grad, torch.full((3,), 6.0 * (n + 1) / 2))


def test_objects():
    r = hvd.rank()
    obj = hvd.broadcast_object({"rank": r, "data": [1, 2, 3]}, root_rank=0)
    assert obj == {"rank": 0, "data": [1, 2, 3]}
    got = hvd.allgather_object(("r", r, "x" * r))
    assert got == [("r", k, "x" * k) for k in range(hvd.size())]
    # Horovod's examples: the root's object reaches every rank (here the last rank's), and
    # allgather_object keeps each rank's own object, whatever its shape.
    n = hvd.size()
    expected = {"hello": 123, 0: [1, 2]}
    obj = hvd.broadcast_object(expected if r == n - 1 else {}, root_rank=n - 1,
                               name="bo.last")
    assert obj == expected
    d = {"metric_val_1": r}
    if r == 1:
        d["metric_val_2"] = 42
    want = [{"metric_val_1": k} for k in range(n)]
    if n > 1:
        want[1] = {"metric_val_1": 1, "metric_val_2": 42}
    assert hvd.allgather_object(d) == want


def test_process_sets():
    n, r = hvd.size(), hvd.rank()
    assert hvd.global_process_set.process_set_id == 0
    if n < 2:
        pytest.skip("needs 2 ranks ([0] is the global set)")
    ps = hvd.add_process_set([0])
    try:
        assert ps.process_set_id > 0
        assert ps.size() == 1 and ps.included() == (r == 0)
        if r == 0:
            x = torch.ones(2)
            # named: unnamed operations count per rank, and only rank 0 runs this one
            assert torch.equal(hvd.allreduce(x, op=hvd.Sum, name="ps.only", process_set=ps), x)
    finally:
        assert hvd.remove_process_set(ps)
    assert ps.process_set_id is None
    # the global set through the kwarg
    got = hvd.allreduce(torch.ones(1), op=hvd.Sum, process_set=hvd.global_process_set)
    assert got.item() == n


def test_errors():
    # Adasum of an integer tensor and duplicate names in flight: test_hvd_errors.py.
    with pytest.raises(ValueError, match="dtype"):
        hvd.allreduce(torch.ones(2, dtype=torch.complex64))
    # Horovod: synchronize() of an unknown handle returns None; poll() raises ValueError.
    assert hvd.synchronize(123456789) is None
    with pytest.raises(ValueError, match="not found"):
        hvd.poll(123456789)


def test_mismatch_raises_on_every_rank():
    n, r = hvd.size(), hvd.rank()
    if n < 2:
        pytest.skip("needs 2 ranks")
    x = torch.ones(4 + r)
    with pytest.raises(hvd.HorovodInternalError, match="mismatched shapes.*'mm'"):
        hvd.allreduce(x, name="mm")
    x = torch.ones(4, dtype=torch.float32 if r == 0 else torch.float64)
    with pytest.raises(RuntimeError, match="mm2"):
        hvd.allreduce(x, name="mm2")
    # the runtime still works afterwards
    assert hvd.allreduce(torch.ones(1), op=hvd.Sum).item() == n


def _adasum_pair(a, b):
    """Horovod's Adasum of two gradients: (1 - a.b/2|a|^2) a + (1 - a.b/2|b|^2) b."""
    dot = float(a @ b)
    return (1 - dot / (2 * float(a @ a))) * a + (1 - dot / (2 * float(b @ b))) * b


def test_adasum():
    n, r = hvd.size(), hvd.rank()
    # The same gradient on every rank: Adasum gives it back (not n times it).
    same = torch.arange(1.0, 5.0)
    assert torch.allclose(hvd.allreduce(same, op=hvd.Adasum, name="adasum.same"), same)
    if n & (n - 1):
        return  # Horovod's Adasum combines ranks pairwise: a power of two of them
    # Orthogonal gradients add up (at every level of the pairing).
    x = torch.zeros(n, dtype=torch.float64)
    x[r] = float(r + 3)
    got = hvd.allreduce(x, op=hvd.Adasum, name="adasum.ortho")
    assert torch.allclose(got, torch.arange(3.0, n + 3.0, dtype=torch.float64))
    # In general: ranks paired with rank ^ 1, then the pairs' results with rank ^ 2, ...
    grads = [torch.tensor([1.0 + k, 2.0 - k, 2.0, 0.5 * k], dtype=torch.float64)
             for k in range(n)]
    level = grads
    while len(level) > 1:
        level = [_adasum_pair(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    got = hvd.allreduce(grads[r], op=hvd.Adasum, name="adasum.general")
    assert torch.allclose(got, level[0], atol=1e-6), (got, level[0])


def test_join_with_uneven_data():
    n, r = hvd.size(), hvd.rank()
    if n < 2:
        pytest.skip("needs 2 ranks")
    # Rank 0 has one more batch than the others: they join and take part with zeros.
    if r == 0:
        got = hvd.allreduce(torch.full((2,), 5.0), name="uneven", op=hvd.Sum)
        assert torch.equal(got, torch.full((2,), 5.0))
    assert hvd.join() == 0

def test_non_cpu_tensor_is_refused():
    with pytest.raises(ValueError, match="CPU tensors only"):
        hvd.allreduce(torch.empty(2, device="meta"))


def test_timeline(tmp_path):
    import json
    path = str(tmp_path / "timeline.{rank}.json")
    hvd.start_timeline(path)
    hvd.allreduce(torch.ones(8), name="timeline.t")
    hvd.stop_timeline()
    with open(str(tmp_path / "timeline.{}.json".format(hvd.rank()))) as f:
        text = f.read()
    assert "timeline.t" in text
    json.loads(text)


def test_shutdown_and_init_again():
    # Last test of the file: the runtime can be restarted.
    n = hvd.size()
    hvd.shutdown()
    assert not hvd.is_initialized()
    with pytest.raises(ValueError, match="not been initialized"):
        hvd.rank()
    hvd.init()
    assert hvd.is_initialized() and hvd.size() == n
    assert hvd.allreduce(torch.ones(1), op=hvd.Sum, name="again").item() == n
