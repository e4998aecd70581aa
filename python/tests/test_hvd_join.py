"""barrier, join, poll and synchronize, from Horovod's documentation (horovod/torch/mpi_ops.py):

- join(): "indicates that the rank finished processing data. All ranks that did not call join()
  continue to process allreduce operations. This function blocks Python thread until all ranks
  join. Returns: Id of the rank that joined last." A joined rank takes part in the others'
  allreduces with zeros; Average still divides by size() (Horovod's test_horovod_join_allreduce
  expects tensor * (size - 1) / size when one rank has joined).
- barrier(process_set): "Ranks that reach this function call will stall until all other ranks
  have reached."
- poll(handle): "After poll() returns True, synchronize() will return without blocking."
- synchronize(handle): "Returns the result of the operation": the output tensor (in place: the
  input itself), a list for the grouped operations, (output, received_splits) for alltoall.

Expected values are computed from size() and rank(). Run as ranks: on 2, 3 and 4 ranks under
mpirun and over Gloo (ctest python.hvd.join.<mpi|gloo>.<N>, from the hvd-matrix line below); as
one process (ctest python.test_hvd_join) the rank tests skip. Join with allgather/broadcast
(errors): test_hvd_errors.py."""
# hvd-matrix: mpi gloo ranks 2 3 4

import time

import pytest
import torch

pytest.importorskip("trainyard._collective", reason="needs the collective runtime's module")

import horovod.torch as hvd  # noqa: E402


def test_barrier(world):
    n, r = world
    # The last rank arrives late: nobody leaves the barrier before it has arrived.
    arrived = 0.0
    if r == n - 1:
        time.sleep(0.5)
        arrived = time.time()
    hvd.barrier()
    left = time.time()
    stamps = hvd.allgather(torch.tensor([[arrived, left]], dtype=torch.float64),
                           name="barrier.stamps")
    late_arrival = stamps[n - 1, 0].item()
    assert all(s >= late_arrival for s in stamps[:, 1].tolist()), stamps
    hvd.barrier(process_set=hvd.global_process_set)


def test_join_returns_the_rank_that_joined_last(world):
    n, r = world
    for last in sorted({0, n - 1}):
        # Every rank but `last` joins at once; `last` does one more allreduce on its own first
        # (the joined ranks contribute zeros) and then joins.
        if r == last:
            got = hvd.allreduce(torch.full((3,), 7.0), op=hvd.Sum, name="join.last.%d" % last)
            assert torch.equal(got, torch.full((3,), 7.0))
        assert hvd.join() == last
    # After everyone joined, operations work as before.
    assert hvd.allreduce(torch.ones(1), op=hvd.Sum, name="join.after").item() == n


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.float32, torch.float64])
def test_joined_ranks_contribute_zeros(world, dtype):
    n, r = world
    # Rank r runs r + 1 steps, then joins: at step i the ranks >= i contribute r + 1, the
    # others have joined and contribute zeros.
    for i in range(r + 1):
        x = torch.full((2, 3), r + 1).to(dtype)
        active = [k + 1 for k in range(n) if k >= i]
        got = hvd.allreduce(x, op=hvd.Sum, name="zeros.sum.%s.%d" % (dtype, i))
        assert got.dtype == dtype
        assert torch.equal(got, torch.full((2, 3), sum(active)).to(dtype)), (i, got)
        # Average divides by size(), the joined ranks counted (integers: floor division, the
        # values being positive).
        got = hvd.allreduce(x, op=hvd.Average, name="zeros.avg.%s.%d" % (dtype, i))
        if dtype.is_floating_point:
            want = torch.full((2, 3), sum(active) / n, dtype=dtype)
            assert torch.allclose(got, want), (i, got)
        else:
            assert torch.equal(got, torch.full((2, 3), sum(active) // n).to(dtype)), (i, got)
    assert hvd.join() == n - 1


def test_join_with_async_allreduces_in_flight(world):
    n, r = world
    # Horovod's test_horovod_join_allreduce: the first rank joins at once, the others reduce two
    # tensors asynchronously (Average) and then join.
    a = torch.arange(5, dtype=torch.float32) + 1
    b = torch.arange(17, dtype=torch.float64) - 3
    if r == 0:
        last = hvd.join()
    else:
        ha = hvd.allreduce_async(a, name="join.a", op=hvd.Average)
        hb = hvd.allreduce_async(b, name="join.b", op=hvd.Average)
        got_a, got_b = hvd.synchronize(ha), hvd.synchronize(hb)
        last = hvd.join()
        assert torch.allclose(got_a, a * (n - 1) / n)
        assert torch.allclose(got_b, b * (n - 1) / n)
    assert 1 <= last < n if n > 1 else last == 0


def test_poll_then_synchronize(world):
    n, r = world
    x = torch.full((4,), float(r))
    h = hvd.allreduce_async(x, op=hvd.Sum, name="poll.ar")
    deadline = time.monotonic() + 60
    while not hvd.poll(h):
        assert time.monotonic() < deadline, "poll() never became True"
        time.sleep(0.001)
    assert hvd.poll(h)
    t0 = time.monotonic()
    out = hvd.synchronize(h)
    assert time.monotonic() - t0 < 1.0  # done: does not block
    assert torch.equal(out, torch.full((4,), float(sum(range(n)))))
    assert torch.equal(x, torch.full((4,), float(r)))  # out of place


def test_poll_is_false_while_a_rank_has_not_submitted(world):
    n, r = world
    if n < 2:
        pytest.skip("needs 2 ranks")
    # Rank 0 submits "late" first; the others submit it only after a barrier that rank 0 enters
    # after polling, so rank 0's poll() sees the operation not done.
    if r == 0:
        h = hvd.allreduce_async(torch.ones(2), op=hvd.Sum, name="poll.late")
        assert not hvd.poll(h)
        hvd.barrier()
    else:
        hvd.barrier()
        h = hvd.allreduce_async(torch.ones(2), op=hvd.Sum, name="poll.late")
    assert torch.equal(hvd.synchronize(h), torch.full((2,), float(n)))


def test_synchronize_returns_each_operations_result(world):
    n, r = world
    x = torch.full((3,), float(r + 1))
    out = hvd.synchronize(hvd.allreduce_async_(x, op=hvd.Sum, name="sync.ar_"))
    assert out is x or out.data_ptr() == x.data_ptr()
    assert torch.equal(x, torch.full((3,), float(n * (n + 1) // 2)))

    outs = hvd.synchronize(hvd.grouped_allreduce_async(
        [torch.ones(2), torch.full((1,), float(r))], op=hvd.Sum, name="sync.gar"))
    assert isinstance(outs, (list, tuple)) and len(outs) == 2
    assert outs[0].tolist() == [float(n)] * 2 and outs[1].tolist() == [float(sum(range(n)))]

    got = hvd.synchronize(hvd.allgather_async(torch.tensor([r, r]), name="sync.ag"))
    assert got.tolist() == [k for k in range(n) for _ in range(2)]

    y = torch.tensor([float(r)])
    got = hvd.synchronize(hvd.broadcast_async_(y, n - 1, name="sync.bc_"))
    assert y.item() == float(n - 1) and got.data_ptr() == y.data_ptr()

    rows = torch.arange(n, dtype=torch.float32) + 100 * r
    out, received = hvd.synchronize(
        hvd.alltoall_async(rows, splits=torch.ones(n, dtype=torch.int32), name="sync.a2a"))
    assert out.tolist() == [float(100 * s + r) for s in range(n)]
    assert received.tolist() == [1] * n

    out = hvd.synchronize(hvd.reducescatter_async(torch.ones(2 * n, 2), op=hvd.Sum,
                                                  name="sync.rs"))
    assert torch.equal(out, torch.full((2, 2), float(n)))


def test_many_handles_in_flight(world):
    n, r = world
    handles = [hvd.allreduce_async(torch.full((k + 1,), float(r + k)), op=hvd.Sum,
                                   name="many.%d" % k) for k in range(16)]
    # Synchronized in reverse order of submission.
    for k in reversed(range(16)):
        got = hvd.synchronize(handles[k])
        assert torch.equal(got, torch.full((k + 1,), float(sum(range(n)) + n * k)))
