"""Every dtype horovod.torch accepts, through every operation (issue #12, "dtypes").

Horovod's torch binding maps uint8, int8, int16, int32, int64, float16, bfloat16, float32,
float64 and bool tensors (horovod/torch/adapter_v2.cc); allreduce takes Sum, Min, Max, Product
and Average on them (Average of integers is the sum scaled by 1/size, truncated: the values here
are non-negative so that floor and truncation agree). Expected values are computed from size()
and rank() with torch in int64/float64, independently of the runtime, then cast to the dtype.

Runs on 2, 3 and 4 ranks under mpirun and over Gloo (ctest python.hvd.dtypes.<mpi|gloo>.<N>, from
the hvd-matrix line below) and as one process (python.test_hvd_dtypes). Every check runs the same
collectives in the same order on every rank.
"""
# hvd-matrix: mpi gloo ranks 2 3 4

import pytest
import torch

pytest.importorskip("trainyard._collective", reason="needs the collective runtime's module")

import horovod.torch as hvd  # noqa: E402

DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16,
          torch.bfloat16, torch.float32, torch.float64, torch.bool]
NUMERIC = [d for d in DTYPES if d is not torch.bool]


def _wide(dtype):
    return torch.float64 if dtype.is_floating_point else torch.int64


def _input(dtype, r, shape=(2, 3)):
    """Rank r's tensor: small non-negative values (bool: a rank-dependent pattern)."""
    k = torch.arange(shape[0] * shape[1], dtype=torch.int64).reshape(shape)
    if dtype is torch.bool:
        return ((k + r) % 3 == 0)
    return ((k % 4) + r).to(dtype)


def _same(got, expected, dtype, what):
    assert got.dtype == dtype, (what, got.dtype)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    if dtype in (torch.float16, torch.bfloat16):
        ok = torch.allclose(got.double(), expected.double(), atol=2e-2, rtol=1e-2)
    else:
        ok = torch.equal(got, expected)
    assert ok, (what, got, expected)


def check_allreduce():
    n, r = hvd.size(), hvd.rank()
    for dtype in DTYPES:
        x = _input(dtype, r)
        before = x.clone()
        everyone = torch.stack([_input(dtype, k).to(_wide(dtype)) for k in range(n)])
        if dtype is torch.bool:
            # Sum and Max are logical or, Min and Product logical and.
            expected = {hvd.Sum: everyone.any(0), hvd.Max: everyone.any(0),
                        hvd.Min: everyone.all(0), hvd.Product: everyone.all(0)}
        else:
            expected = {hvd.Sum: everyone.sum(0).to(dtype),
                        hvd.Min: everyone.min(0).values.to(dtype),
                        hvd.Max: everyone.max(0).values.to(dtype),
                        hvd.Product: everyone.prod(0).to(dtype)}
            if dtype.is_floating_point:
                expected[hvd.Average] = (everyone.sum(0) / n).to(dtype)
            else:
                expected[hvd.Average] = torch.div(everyone.sum(0), n,
                                                  rounding_mode="floor").to(dtype)
        for op, want in expected.items():
            what = f"allreduce {dtype} op {op}"
            _same(hvd.allreduce(x, op=op, name=f"ar.{dtype}.{op}"), want, dtype, what)
            assert torch.equal(x, before), what  # out of place: input untouched
            y = x.clone()
            out = hvd.synchronize(hvd.allreduce_async_(y, op=op, name=f"ar_.{dtype}.{op}"))
            _same(y, want, dtype, "in place " + what)
            assert out.data_ptr() == y.data_ptr()


def check_allreduce_refusals():
    # Average of bool tensors is refused on every rank alike (the exception class at the call is
    # test_hvd_errors.py's business); then the runtime goes on: the allreduce after it works.
    with pytest.raises((ValueError, RuntimeError), match="bool"):
        hvd.allreduce(torch.tensor([True, False]), op=hvd.Average, name="bool.avg")
    # A dtype Horovod's binding does not map (complex) is refused by every operation.
    c = torch.zeros(4, dtype=torch.complex64)
    for call in (lambda: hvd.allreduce(c, op=hvd.Sum, name="cx.ar"),
                 lambda: hvd.allgather(c, name="cx.ag"),
                 lambda: hvd.broadcast(c, 0, name="cx.bc"),
                 lambda: hvd.alltoall(c, name="cx.a2a")):
        with pytest.raises(ValueError, match="not supported"):
            call()
    got = hvd.allreduce(torch.ones(3, dtype=torch.int16), op=hvd.Sum, name="after.refusals")
    assert got.tolist() == [hvd.size()] * 3


def check_grouped_allreduce():
    n, r = hvd.size(), hvd.rank()
    xs = [_input(dtype, r) for dtype in NUMERIC]
    outs = hvd.grouped_allreduce(xs, op=hvd.Sum, name="grouped")
    for dtype, got in zip(NUMERIC, outs):
        want = sum(_input(dtype, k).to(_wide(dtype)) for k in range(n)).to(dtype)
        _same(got, want, dtype, f"grouped_allreduce {dtype}")


def check_allgather():
    n, r = hvd.size(), hvd.rank()
    for dtype in DTYPES:
        # Rank k contributes k + 1 rows.
        got = hvd.allgather(_input(dtype, r, (r + 1, 3)), name=f"ag.{dtype}")
        want = torch.cat([_input(dtype, k, (k + 1, 3)) for k in range(n)])
        _same(got, want, dtype, f"allgather {dtype}")


def check_broadcast():
    n, r = hvd.size(), hvd.rank()
    for dtype in DTYPES:
        for root in sorted({0, n - 1}):
            want = _input(dtype, root)
            x = _input(dtype, r)
            _same(hvd.broadcast(x, root, name=f"bc.{dtype}.{root}"), want, dtype,
                  f"broadcast {dtype} root {root}")
            assert torch.equal(x, _input(dtype, r))
            y = _input(dtype, r)
            hvd.broadcast_(y, root, name=f"bc_.{dtype}.{root}")
            _same(y, want, dtype, f"broadcast_ {dtype} root {root}")


def _a2a_input(dtype, s, n):
    """What rank s sends: rank d gets d + 1 rows, row values 10 * s + d (bool: parity)."""
    rows = torch.cat([torch.full((d + 1, 2), 10 * s + d, dtype=torch.int64) for d in range(n)])
    return (rows % 2 == 1) if dtype is torch.bool else rows.to(dtype)


def check_alltoall():
    n, r = hvd.size(), hvd.rank()
    for dtype in DTYPES:
        # Even splits: 2 rows to each rank.
        x = torch.arange(2 * n * 2, dtype=torch.int64).reshape(2 * n, 2) + 20 * r
        x = (x % 2 == 1) if dtype is torch.bool else x.to(dtype)
        got = hvd.alltoall(x, name=f"a2a.{dtype}")
        want = []
        for s in range(n):
            xs = torch.arange(2 * n * 2, dtype=torch.int64).reshape(2 * n, 2) + 20 * s
            xs = (xs % 2 == 1) if dtype is torch.bool else xs.to(dtype)
            want.append(xs[2 * r:2 * r + 2])
        _same(got, torch.cat(want), dtype, f"alltoall {dtype}")
        # Explicit splits.
        splits = torch.tensor([d + 1 for d in range(n)], dtype=torch.int32)
        got, received = hvd.alltoall(_a2a_input(dtype, r, n), splits=splits,
                                     name=f"a2av.{dtype}")
        start = r * (r + 1) // 2
        want = torch.cat([_a2a_input(dtype, s, n)[start:start + r + 1] for s in range(n)])
        _same(got, want, dtype, f"alltoall splits {dtype}")
        assert received.tolist() == [r + 1] * n


def check_reducescatter():
    n, r = hvd.size(), hvd.rank()
    for dtype in NUMERIC:
        x = _input(dtype, r, (2 * n, 3))
        everyone = torch.stack([_input(dtype, k, (2 * n, 3)).to(_wide(dtype)) for k in range(n)])
        total = everyone.sum(0)
        mine = slice(2 * r, 2 * r + 2)  # 2n rows over n ranks: 2 rows each
        _same(hvd.reducescatter(x, op=hvd.Sum, name=f"rs.{dtype}"), total[mine].to(dtype), dtype,
              f"reducescatter Sum {dtype}")
        if dtype.is_floating_point:
            avg = (total / n).to(dtype)
        else:
            avg = torch.div(total, n, rounding_mode="floor").to(dtype)
        _same(hvd.reducescatter(x, op=hvd.Average, name=f"rsa.{dtype}"), avg[mine], dtype,
              f"reducescatter Average {dtype}")


def check_grouped_allgather():
    n, r = hvd.size(), hvd.rank()
    # One group of every dtype; rank k contributes k + 1 rows of each.
    outs = hvd.grouped_allgather([_input(dtype, r, (r + 1, 2)) for dtype in DTYPES],
                                 name="grouped.ag")
    for dtype, got in zip(DTYPES, outs):
        want = torch.cat([_input(dtype, k, (k + 1, 2)) for k in range(n)])
        _same(got, want, dtype, f"grouped_allgather {dtype}")


def check_grouped_reducescatter():
    n, r = hvd.size(), hvd.rank()
    outs = hvd.grouped_reducescatter([_input(dtype, r, (2 * n, 2)) for dtype in NUMERIC],
                                     op=hvd.Sum, name="grouped.rs")
    for dtype, got in zip(NUMERIC, outs):
        total = sum(_input(dtype, k, (2 * n, 2)).to(_wide(dtype)) for k in range(n))
        _same(got, total[2 * r:2 * r + 2].to(dtype), dtype, f"grouped_reducescatter {dtype}")


CHECKS = [check_allreduce, check_allreduce_refusals, check_grouped_allreduce, check_allgather,
          check_broadcast, check_alltoall, check_reducescatter, check_grouped_allgather,
          check_grouped_reducescatter]


@pytest.fixture(scope="module")
def runtime():
    hvd.init()
    yield


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_dtypes(runtime, check):
    check()
