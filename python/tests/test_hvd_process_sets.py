"""horovod.torch operations restricted to process sets, from Horovod's documentation: every
operation takes `process_set=` ("Process set object to limit this operation to a subset of
Horovod processes. Default is the global process set."); add_process_set(ranks) is called by
every rank alike and returns a ProcessSet whose size(), rank() (the rank within the set) and
included() describe it; a root_rank is a global rank in the set; ranks outside a set do not call
its operations; barrier(process_set) synchronizes the set's ranks only.

Two set layouts, as Horovod's own process-set tests use: even and odd ranks (every rank is in
one, and both sets run at once), and the set without the last rank (the last rank sits out).
Expected values are computed from size(), rank() and the sets' rank lists.

Run as ranks: on 2, 3 and 4 ranks under mpirun and over Gloo (ctest
python.hvd.process_sets.<mpi|gloo>.<N>, from the hvd-matrix line below); as one process (ctest
python.test_hvd_process_sets) the rank tests skip."""
# hvd-matrix: mpi gloo ranks 2 3 4


import pytest
import torch

pytest.importorskip("trainyard._collective", reason="needs the collective runtime's module")

import horovod.torch as hvd  # noqa: E402


@pytest.fixture
def even_odd(world):
    """(ranks of my set, my set) for the even/odd layout; both sets removed afterwards."""
    n, r = world
    even = [k for k in range(n) if k % 2 == 0]
    odd = [k for k in range(n) if k % 2 == 1]
    even_set, odd_set = hvd.add_process_set(even), hvd.add_process_set(odd)
    try:
        yield (even, even_set) if r % 2 == 0 else (odd, odd_set)
    finally:
        hvd.remove_process_set(odd_set)
        hvd.remove_process_set(even_set)


@pytest.fixture
def all_but_last(world):
    """(ranks, set) of the set of every rank but the last one; removed afterwards."""
    n, _ = world
    ranks = list(range(n - 1))
    ps = hvd.add_process_set(ranks)
    try:
        yield ranks, ps
    finally:
        hvd.remove_process_set(ps)


def test_set_topology(world, even_odd):
    n, r = world
    ranks, ps = even_odd
    assert ps.size() == len(ranks) and ps.included()
    assert ps.rank() == ranks.index(r)
    assert ps.process_set_id not in (None, 0)


def test_allreduce_in_a_set(world, even_odd):
    n, r = world
    ranks, ps = even_odd
    for dtype in (torch.float32, torch.float64, torch.int32, torch.int64):
        x = torch.full((3, 2), r + 1).to(dtype)
        total = sum(k + 1 for k in ranks)
        got = hvd.allreduce(x, op=hvd.Sum, name="ps.ar.sum." + str(dtype), process_set=ps)
        assert got.dtype == dtype and torch.equal(got, torch.full((3, 2), total).to(dtype))
        got = hvd.allreduce(x, op=hvd.Max, name="ps.ar.max." + str(dtype), process_set=ps)
        assert torch.equal(got, torch.full((3, 2), max(ranks) + 1).to(dtype))
    x = torch.full((4,), float(r + 1))
    got = hvd.allreduce(x, name="ps.ar.avg", process_set=ps)  # Average over the set's ranks
    assert torch.allclose(got, torch.full((4,), sum(k + 1 for k in ranks) / len(ranks)))
    y = x.clone()
    out = hvd.synchronize(hvd.allreduce_async_(y, op=hvd.Sum, name="ps.ar_", process_set=ps,
                                               prescale_factor=2.0, postscale_factor=0.5))
    assert out.data_ptr() == y.data_ptr()
    assert torch.equal(y, torch.full((4,), float(sum(k + 1 for k in ranks))))


def test_grouped_allreduce_in_a_set(world, even_odd):
    n, r = world
    ranks, ps = even_odd
    outs = hvd.grouped_allreduce([torch.full((2,), float(r)), torch.full((3, 1), r + 1)],
                                 op=hvd.Sum, name="ps.gar", process_set=ps)
    assert torch.equal(outs[0], torch.full((2,), float(sum(ranks))))
    assert torch.equal(outs[1], torch.full((3, 1), sum(k + 1 for k in ranks)))


def test_allgather_in_a_set(world, even_odd):
    n, r = world
    ranks, ps = even_odd
    x = torch.full((r + 1, 2), r, dtype=torch.int64)
    got = hvd.allgather(x, name="ps.ag", process_set=ps)
    want = torch.cat([torch.full((k + 1, 2), k, dtype=torch.int64) for k in ranks])
    assert torch.equal(got, want)
    got = hvd.synchronize(hvd.allgather_async(torch.tensor([r]), name="ps.ag.async",
                                              process_set=ps))
    assert got.tolist() == ranks
    outs = hvd.grouped_allgather([torch.tensor([r]), torch.full((1, 3), float(r))],
                                 name="ps.gag", process_set=ps)
    assert outs[0].tolist() == ranks
    assert torch.equal(outs[1], torch.tensor([[float(k)] * 3 for k in ranks]))


def test_allgather_gradient_in_a_set(world, even_odd):
    n, r = world
    ranks, ps = even_odd
    x = torch.ones(r + 1, requires_grad=True)
    y = hvd.allgather(x, name="ps.ag.grad", process_set=ps)
    # Every rank's output gradient is its own rank + 1; the set averages them.
    (y * (r + 1)).sum().backward()
    mean = sum(k + 1 for k in ranks) / len(ranks)
    assert torch.allclose(x.grad, torch.full((r + 1,), mean))


def test_broadcast_in_a_set(world, even_odd):
    n, r = world
    ranks, ps = even_odd
    for root in ranks:  # a root_rank is a global rank in the set
        x = torch.full((2, 3), float(r))
        got = hvd.broadcast(x, root, name="ps.bc.%d" % root, process_set=ps)
        assert torch.equal(got, torch.full((2, 3), float(root)))
        assert torch.equal(x, torch.full((2, 3), float(r)))  # input untouched
        z = torch.full((3,), r, dtype=torch.int32)
        assert hvd.broadcast_(z, root, name="ps.bc_.%d" % root, process_set=ps) is z
        assert torch.equal(z, torch.full((3,), root, dtype=torch.int32))


def test_broadcast_gradient_in_a_set(world, even_odd):
    n, r = world
    ranks, ps = even_odd
    root = ranks[-1]
    x = torch.full((2,), float(r), requires_grad=True)
    y = hvd.broadcast(x, root, name="ps.bc.grad", process_set=ps)
    (y * (r + 1)).sum().backward()
    # Horovod: the output gradients averaged over the set, kept on the root, zero elsewhere.
    want = sum(k + 1 for k in ranks) / len(ranks) if r == root else 0.0
    assert torch.allclose(x.grad, torch.full((2,), want))


def test_alltoall_in_a_set(world, even_odd):
    n, r = world
    ranks, ps = even_odd
    m = len(ranks)
    me = ranks.index(r)
    # Set rank i sends i + j + 1 rows of value 10 * i + j to set rank j.
    rows = torch.cat([torch.full((me + j + 1, 2), float(10 * me + j)) for j in range(m)])
    out, received = hvd.alltoall(rows, splits=[me + j + 1 for j in range(m)], name="ps.a2a",
                                 process_set=ps)
    assert received.tolist() == [i + me + 1 for i in range(m)]
    want = torch.cat([torch.full((i + me + 1, 2), float(10 * i + me)) for i in range(m)])
    assert torch.equal(out, want)


def test_reducescatter_in_a_set(world, even_odd):
    n, r = world
    ranks, ps = even_odd
    m = len(ranks)
    me = ranks.index(r)
    base = torch.arange(2 * m * 2, dtype=torch.float32).reshape(2 * m, 2)
    out = hvd.reducescatter(base * (r + 1), op=hvd.Sum, name="ps.rs", process_set=ps)
    total = sum(k + 1 for k in ranks)
    assert torch.equal(out, base[2 * me:2 * me + 2] * total)
    (out2,) = hvd.grouped_reducescatter([base * (r + 1)], name="ps.grs", process_set=ps)
    assert torch.allclose(out2, base[2 * me:2 * me + 2] * total / m)  # Average


def test_objects_in_a_set(world, even_odd):
    n, r = world
    ranks, ps = even_odd
    obj = hvd.broadcast_object({"from": r}, root_rank=ranks[0], process_set=ps)
    assert obj == {"from": ranks[0]}
    assert hvd.allgather_object(("r", r), process_set=ps) == [("r", k) for k in ranks]


def test_set_without_the_last_rank(world, all_but_last):
    n, r = world
    ranks, ps = all_but_last
    assert ps.size() == n - 1 and ps.included() == (r < n - 1)
    assert ps.process_set_id not in (None, 0)
    if r < n - 1:
        assert ps.rank() == r
        got = hvd.allreduce(torch.full((3,), float(r + 1)), op=hvd.Sum, name="abl.ar",
                            process_set=ps)
        assert torch.equal(got, torch.full((3,), float(sum(k + 1 for k in ranks))))
        assert hvd.allgather(torch.tensor([r]), name="abl.ag", process_set=ps).tolist() == ranks
        got = hvd.broadcast(torch.tensor([float(r)]), 0, name="abl.bc", process_set=ps)
        assert got.tolist() == [0.0]
        hvd.barrier(process_set=ps)
    # Everyone, the last rank included, meets again on the global set.
    got = hvd.allreduce(torch.ones(1), op=hvd.Sum, name="abl.after",
                        process_set=hvd.global_process_set)
    assert got.item() == n


def test_barrier_in_sets(world, even_odd):
    n, r = world
    ranks, ps = even_odd
    hvd.barrier(process_set=ps)
    hvd.barrier()
