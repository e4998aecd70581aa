"""horovod.torch's errors at the call, as Horovod raises them (issue 12, "Errors" and "Symmetry").

- A second in-flight operation with the name of one still in progress (`*_async` twice with one
  name, before synchronize) raises ValueError at the second call: Horovod's DUPLICATE_NAME_ERROR
  is an InvalidArgument status, which its torch binding raises as ValueError (Horovod's own
  test_horovod_allreduce_duplicate_name_error expects `(torch.FatalError, ValueError)`). The first
  operation still completes, and its name may be used again once it did.
- alltoall: a `splits` tensor that is not 1-D or not of integers is a ValueError at the call
  (Horovod: "alltoall expects a 1D splits tensor" / "... 32-bit integer elements", InvalidArgument);
  splits that do not fit the tensor (wrong length, a sum other than the first dimension, or no
  splits and a first dimension the ranks do not divide) are a RuntimeError (Horovod's
  test_horovod_alltoall_splits_error and _equal_split_length_error expect RuntimeError).
- A refusal on ONE rank only (an unsupported dtype, Adasum of an integer tensor) raises at that
  rank's call, and the other ranks' operation of that name fails at synchronize() with
  HorovodInternalError "... rank 0 refused it: ..." instead of waiting forever; the next
  operations run on every rank.
- While a rank has joined, allgather and broadcast raise RuntimeError on the ranks that called
  them (Horovod's coordinator: "Allgather is not supported with Join at this time", "Broadcast
  is not supported with Join at this time"); the join then completes.

Always on 2 ranks: under `mpirun -np 2` (ctest python.hvd.errors, MPI), and, started as one
process (ctest python.test_hvd_errors), the test starts 2 ranks of itself with torch.distributed's
RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT (Gloo).
"""

import os
import re
import sys

import pytest
import torch

_c = pytest.importorskip("trainyard._collective", reason="needs the collective runtime's module")

import horovod.torch as hvd  # noqa: E402
from script_runner import in_a_rank, run_gloo_ranks  # noqa: E402


in_ranks = pytest.mark.skipif(not in_a_rank(), reason="runs in the ranks test_on_two_gloo_ranks "
                                                      "or mpirun starts")


@pytest.fixture(scope="module", autouse=True)
def runtime():
    if in_a_rank():
        hvd.init()
        assert hvd.size() >= 2
    yield


def _check_duplicate(start, check, name):
    """Horovod's test_horovod_*_duplicate_name_error, made deterministic. start(key) enqueues an
    operation named `key` as every other rank's start(key) does. In turn, one rank enqueues a key
    while the others surely have not (they wait in an allreduce that rank enters only afterwards),
    so the first operation is still in flight and a second start(key) raises ValueError at the
    call. Then the others enqueue the key, the first operation completes everywhere with check()
    passing, and the name is free again."""
    r, n = hvd.rank(), hvd.size()
    handles = []
    for checker in (n - 1, 0):
        key = "{}.{}".format(name, checker)
        if r == checker:
            handles.append(start(key))
            with pytest.raises(ValueError, match="same name"):
                start(key)
        hvd.allreduce(torch.ones(1), name="{}.sync.{}".format(name, checker))
        if r != checker:
            handles.append(start(key))
    for h in handles:
        check(hvd.synchronize(h))
    check(hvd.synchronize(start(key)))


@in_ranks
def test_duplicate_name_allreduce():
    n = hvd.size()
    t = torch.ones(4)
    _check_duplicate(lambda key: hvd.allreduce_async(t, name=key, op=hvd.Sum),
                     lambda out: torch.testing.assert_close(out, torch.full((4,), float(n))),
                     "dup.allreduce")


@in_ranks
def test_duplicate_name_allreduce_in_place():
    n = hvd.size()
    ts = {}
    u = torch.ones(4)

    def start(key):
        ts[key] = torch.ones(4)
        return hvd.allreduce_async_(ts[key], name=key, op=hvd.Sum)

    r = hvd.rank()
    handles = []
    for checker in (n - 1, 0):  # as _check_duplicate, with another tensor for the refused call
        key = "dup.allreduce_.{}".format(checker)
        if r == checker:
            handles.append(start(key))
            with pytest.raises(ValueError, match="same name"):
                hvd.allreduce_async_(u, name=key, op=hvd.Sum)
        hvd.allreduce(torch.ones(1), name="dup.allreduce_.sync.{}".format(checker))
        if r != checker:
            handles.append(start(key))
    for h in handles:
        hvd.synchronize(h)
    for t in ts.values():
        torch.testing.assert_close(t, torch.full((4,), float(n)))
    torch.testing.assert_close(u, torch.ones(4))  # the refused one never ran


@in_ranks
def test_duplicate_name_grouped_allreduce():
    n = hvd.size()
    ts = [torch.ones(2), torch.ones(3)]

    def check(outs):
        assert [o.tolist() for o in outs] == [[float(n)] * 2, [float(n)] * 3]

    _check_duplicate(lambda key: hvd.grouped_allreduce_async(ts, name=key, op=hvd.Sum),
                     check, "dup.grouped")


@in_ranks
def test_duplicate_name_allgather():
    n, r = hvd.size(), hvd.rank()
    t = torch.full((1, 2), float(r))
    _check_duplicate(lambda key: hvd.allgather_async(t, name=key),
                     lambda out: torch.testing.assert_close(
                         out, torch.arange(n, dtype=torch.float32).repeat_interleave(2).view(n, 2)),
                     "dup.allgather")


@in_ranks
def test_duplicate_name_broadcast():
    r = hvd.rank()
    t = torch.full((3,), float(r + 5))
    _check_duplicate(lambda key: hvd.broadcast_async(t, 0, name=key),
                     lambda out: torch.testing.assert_close(out, torch.full((3,), 5.0)),
                     "dup.broadcast")


@in_ranks
def test_duplicate_name_reducescatter():
    n = hvd.size()
    t = torch.ones(2 * n, 3)
    _check_duplicate(lambda key: hvd.reducescatter_async(t, name=key, op=hvd.Sum),
                     lambda out: torch.testing.assert_close(out, torch.full((2, 3), float(n))),
                     "dup.reducescatter")


@in_ranks
def test_duplicate_name_alltoall():
    n, r = hvd.size(), hvd.rank()
    t = torch.full((n, 2), float(r))

    def check(result):
        out, received = result
        torch.testing.assert_close(
            out, torch.arange(n, dtype=torch.float32).repeat_interleave(2).view(n, 2))
        assert received.tolist() == [1] * n

    _check_duplicate(lambda key: hvd.alltoall_async(t, splits=[1] * n, name=key), check,
                     "dup.alltoall")


def _next_ops_run():
    """A named and an unnamed allreduce both complete on every rank (they would hang if a rank
    still waited for a refused operation, or if automatic names were out of step)."""
    n = hvd.size()
    torch.testing.assert_close(hvd.allreduce(torch.ones(2), op=hvd.Sum, name="after.refusal"),
                               torch.full((2,), float(n)))
    torch.testing.assert_close(hvd.allreduce(torch.ones(2), op=hvd.Sum),
                               torch.full((2,), float(n)))


@in_ranks
def test_one_sided_unsupported_dtype_fails_on_every_rank():
    r = hvd.rank()
    for name in ("one_sided.dtype", None):  # named, and with automatic names
        if r == 0:
            with pytest.raises(ValueError, match="(?i)complex"):
                hvd.allreduce_async(torch.ones(3, dtype=torch.complex64), name=name, op=hvd.Sum)
        else:
            h = hvd.allreduce_async(torch.ones(3), name=name, op=hvd.Sum)
            with pytest.raises(RuntimeError, match="(?i)rank 0 refused it: .*complex"):
                hvd.synchronize(h)
        _next_ops_run()


@in_ranks
def test_one_sided_adasum_of_an_integer_tensor_fails_on_every_rank():
    r = hvd.rank()
    if r == 0:
        with pytest.raises(ValueError, match="Adasum needs a floating-point tensor"):
            hvd.allreduce(torch.ones(4, dtype=torch.int32), name="one_sided.adasum", op=hvd.Adasum)
    else:
        with pytest.raises(RuntimeError, match="rank 0 refused it: Adasum needs a floating"):
            hvd.allreduce(torch.ones(4), name="one_sided.adasum", op=hvd.Adasum)
    _next_ops_run()


@in_ranks
def test_one_sided_refusal_of_an_allgather():
    if hvd.rank() == 0:
        with pytest.raises(ValueError, match="(?i)complex"):
            hvd.allgather(torch.ones(1, 2, dtype=torch.complex64), name="one_sided.gather")
    else:
        with pytest.raises(RuntimeError, match="rank 0 refused it"):
            hvd.allgather(torch.ones(1, 2), name="one_sided.gather")
    _next_ops_run()


@in_ranks
def test_one_sided_python_argument_errors_fail_on_every_rank():
    # Errors found in Python before the runtime sees the operation (not a tensor, an unknown op,
    # splits that are not integers) are negotiated too: the other ranks' operation fails.
    n, r = hvd.size(), hvd.rank()
    cases = [
        (TypeError, lambda: hvd.allreduce([1.0, 2.0], name="py.type"),
         lambda: hvd.allreduce(torch.ones(2), name="py.type")),
        (ValueError, lambda: hvd.allreduce_async(torch.ones(2), name="py.op", op=99),
         lambda: hvd.synchronize(hvd.allreduce_async(torch.ones(2), name="py.op"))),
        (ValueError,
         lambda: hvd.alltoall(torch.ones(n), splits=torch.full((n,), 0.5), name="py.splits"),
         lambda: hvd.alltoall(torch.ones(n), splits=[1] * n, name="py.splits")),
        (TypeError, lambda: hvd.reducescatter("not a tensor"),  # an automatic name
         lambda: hvd.reducescatter(torch.ones(n))),
    ]
    for error, refused, good in cases:
        if r == 0:
            with pytest.raises(error):
                refused()
        else:
            with pytest.raises(RuntimeError, match="rank 0 refused it"):
                good()
        _next_ops_run()


@in_ranks
def test_one_sided_refusal_inside_a_grouped_allgather_keeps_the_others_started():
    # Tensor 1 is refused on rank 0 at its call: tensors 0 and 2 still run on every rank, and
    # rank 0 raises after they finished (it must not drop tensors still in use).
    r = hvd.rank()
    bad = torch.ones(1, dtype=torch.complex64) if r == 0 else torch.ones(1)
    tensors = [torch.full((1,), float(r)), bad, torch.full((2,), float(r))]
    if r == 0:
        with pytest.raises(ValueError, match="(?i)complex"):
            hvd.grouped_allgather_async(tensors, name="py.group")
    else:
        with pytest.raises(RuntimeError, match="rank 0 refused it"):
            hvd.synchronize(hvd.grouped_allgather_async(tensors, name="py.group"))
    _next_ops_run()


@in_ranks
def test_symmetric_refusal_raises_at_the_call_and_the_name_is_reusable():
    # Every rank refuses it; the name is usable again at once (the new operation waits for the
    # refusals to be settled instead of being a duplicate).
    for _ in range(3):
        with pytest.raises(ValueError, match="(?i)complex"):
            hvd.broadcast_async(torch.ones(2, dtype=torch.complex64), 0, name="sym.refused")
        out = hvd.broadcast(torch.full((2,), float(hvd.rank())), 0, name="sym.refused")
        torch.testing.assert_close(out, torch.zeros(2))


@in_ranks
def test_join_with_allgather_raises_on_the_other_ranks():
    # Horovod's test_horovod_join_allgather.
    if hvd.rank() == 0:
        hvd.join()
    else:
        with pytest.raises(RuntimeError, match="Allgather is not supported with Join"):
            hvd.allgather(torch.ones(2, 3), name="join.allgather")
        hvd.join()
    _next_ops_run()


@in_ranks
def test_join_with_broadcast_raises_on_the_other_ranks():
    # Horovod's test_horovod_join_broadcast: the root is a rank that has not joined.
    if hvd.rank() == 0:
        hvd.join()
    else:
        with pytest.raises(RuntimeError, match="Broadcast is not supported with Join"):
            hvd.broadcast(torch.ones(3), root_rank=1, name="join.broadcast")
        hvd.join()
    _next_ops_run()


@in_ranks
def test_join_with_allreduce_and_reducescatter_contributes_zeros():
    n = hvd.size()
    if hvd.rank() == 0:
        hvd.join()
    else:
        out = hvd.allreduce(torch.ones(3), op=hvd.Sum, name="join.allreduce")
        torch.testing.assert_close(out, torch.full((3,), float(n - 1)))
        out = hvd.reducescatter(torch.ones(n, 2), op=hvd.Sum, name="join.reducescatter")
        torch.testing.assert_close(out, torch.full((1, 2), float(n - 1)))
        hvd.join()
    _next_ops_run()


@in_ranks
def test_alltoall_splits_not_1d_or_not_integers_is_a_value_error():
    n = hvd.size()
    t = torch.ones(n, 2)
    with pytest.raises(ValueError):
        hvd.alltoall(t, splits=torch.ones(1, n, dtype=torch.int32))
    with pytest.raises(ValueError):
        hvd.alltoall(t, splits=torch.ones(n, dtype=torch.float32))
    with pytest.raises(ValueError):
        hvd.alltoall_async(t, splits=torch.ones(n, dtype=torch.float32), name="a2a.badtype")
    # Nothing was enqueued: the same name works at once, on every rank.
    out, received = hvd.alltoall(t, splits=torch.ones(n, dtype=torch.int32), name="a2a.badtype")
    assert out.shape == (n, 2) and received.tolist() == [1] * n


@in_ranks
def test_alltoall_splits_that_do_not_fit_are_a_runtime_error_at_the_call():
    n = hvd.size()
    # Horovod's test_horovod_alltoall_splits_error: the splits sum past the first dimension.
    with pytest.raises(RuntimeError):
        hvd.alltoall(torch.ones(n - 1), splits=torch.ones(n, dtype=torch.int32))
    # One entry per rank is required.
    with pytest.raises(RuntimeError):
        hvd.alltoall_async(torch.ones(n + 1), splits=[1] * (n + 1), name="a2a.len")
    # Horovod's test_horovod_alltoall_equal_split_length_error: no splits, rows not divisible.
    with pytest.raises(RuntimeError):
        hvd.alltoall_async(torch.ones(n + 1), name="a2a.even")
    # The refused calls left nothing pending: the next operations run (they would hang if a rank
    # waited for a refused one).
    out = hvd.alltoall(torch.full((n,), float(hvd.rank())), name="a2a.even")
    torch.testing.assert_close(out, torch.arange(n, dtype=torch.float32))
    torch.testing.assert_close(hvd.allreduce(torch.ones(2), op=hvd.Sum), torch.full((2,), float(n)))


def test_on_two_gloo_ranks():
    if in_a_rank():
        pytest.skip("already a rank")
    if not _c.gloo_built():
        pytest.skip("started as one process and the Gloo transport is not built; "
                    "python.hvd.errors runs this module on 2 ranks under mpirun")
    results = run_gloo_ranks([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "-p", "no:hypothesispytest", os.path.abspath(__file__)],
                             timeout=200, gloo_timeout=60)
    for rank, (code, out) in enumerate(results):
        assert code == 0 and not re.search(r"\b\d+ failed", out) and " passed" in out, \
            f"rank {rank} ({code}):\n{out}"
