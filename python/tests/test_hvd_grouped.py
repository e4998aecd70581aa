"""horovod.torch's grouped_allgather and grouped_reducescatter (and their _async forms), from
Horovod's documentation: the grouped form of an operation does that operation on each tensor of
a list (as one group) and returns the list of results; the _async forms return a handle that
poll() and synchronize() take, synchronize() returning that list.

- allgather concatenates the ranks' tensors on dimension 0, which may differ between ranks;
- reducescatter reduces (op=Average by default, or Sum) the ranks' tensors and gives each rank
  its block of dimension 0 (the first rows % size() ranks one row more), with prescale_factor
  and postscale_factor applied.

Run as ranks: on 2, 3 and 4 ranks under mpirun and over Gloo (ctest
python.hvd.grouped.<mpi|gloo>.<N>, from the hvd-matrix line below); as one process (ctest
python.test_hvd_grouped) the rank tests skip. Every rank runs the same collectives in the same
order. Gradients: test_hvd_autograd.py."""
# hvd-matrix: mpi gloo ranks 2 3 4


import pytest
import torch

pytest.importorskip("trainyard._collective", reason="needs the MPI build")

import horovod.torch as hvd  # noqa: E402
import trainyard.torch.mpi_ops as ty_ops  # noqa: E402


def test_names_are_the_operations():
    for name in ("grouped_allgather", "grouped_allgather_async", "grouped_reducescatter",
                 "grouped_reducescatter_async"):
        assert getattr(hvd, name) is getattr(ty_ops, name), name
        assert not getattr(getattr(hvd, name), "_trainyard_not_supported", False), name


DTYPES = [torch.float32, torch.float64, torch.int32, torch.int64, torch.uint8, torch.int8,
          torch.float16, torch.bfloat16]


def _rank_tensor(k, rows, cols, dtype):
    return (torch.arange(rows * cols).reshape(rows, cols) % 7 + k).to(dtype)


def test_grouped_allgather_values_and_uneven_shapes(world):
    n, r = world
    for dtype in DTYPES:
        # Tensor 0: rank k has k + 1 rows; tensor 1: 2 rows of 3 on every rank; tensor 2: a
        # 1-D tensor of 3 - (k % 2) elements.
        tensors = [_rank_tensor(r, r + 1, 4, dtype), _rank_tensor(r, 2, 3, dtype),
                   torch.full((3 - r % 2,), r).to(dtype)]
        outs = hvd.grouped_allgather(tensors, name="gag." + str(dtype))
        assert isinstance(outs, list) and len(outs) == 3
        expected = [torch.cat([_rank_tensor(k, k + 1, 4, dtype) for k in range(n)]),
                    torch.cat([_rank_tensor(k, 2, 3, dtype) for k in range(n)]),
                    torch.cat([torch.full((3 - k % 2,), k).to(dtype) for k in range(n)])]
        for got, want in zip(outs, expected):
            assert got.dtype == dtype and got.shape == want.shape, (dtype, got.shape)
            assert torch.equal(got, want), dtype
        assert outs[0].shape == (n * (n + 1) // 2, 4)
        assert torch.equal(tensors[0], _rank_tensor(r, r + 1, 4, dtype))  # input untouched


def test_grouped_allgather_async(world):
    n, r = world
    a, b = torch.full((1, 2), float(r)), torch.full((r + 2,), r, dtype=torch.int64)
    handle = hvd.grouped_allgather_async([a, b])  # no name
    while not hvd.poll(handle):
        pass
    outs = hvd.synchronize(handle)
    assert isinstance(outs, list) and len(outs) == 2
    assert torch.equal(outs[0], torch.cat([torch.full((1, 2), float(k)) for k in range(n)]))
    assert torch.equal(outs[1], torch.cat([torch.full((k + 2,), k, dtype=torch.int64)
                                           for k in range(n)]))
    assert hvd.synchronize(handle) is None  # synchronized once; then unknown (as Horovod)


def test_grouped_reducescatter_average_and_sum(world):
    n, r = world
    for dtype in (torch.float32, torch.float64):
        base_a = torch.arange(2 * n * 3, dtype=dtype).reshape(2 * n, 3)
        base_b = torch.arange(n * 5, dtype=dtype).reshape(n, 5)
        tensors = [base_a * (r + 1), base_b + r]
        total = sum(k + 1 for k in range(n))
        outs = hvd.grouped_reducescatter(tensors, name="grs.avg." + str(dtype))  # Average
        assert len(outs) == 2 and outs[0].shape == (2, 3) and outs[1].shape == (1, 5)
        assert torch.allclose(outs[0], base_a[2 * r:2 * r + 2] * total / n)
        assert torch.allclose(outs[1], base_b[r:r + 1] + sum(range(n)) / n)
        outs = hvd.grouped_reducescatter(tensors, op=hvd.Sum, name="grs.sum." + str(dtype))
        assert torch.allclose(outs[0], base_a[2 * r:2 * r + 2] * total)
        assert torch.allclose(outs[1], base_b[r:r + 1] * n + sum(range(n)))
        assert outs[0].dtype == dtype


def test_grouped_reducescatter_int_sum_and_scale_factors(world):
    n, r = world
    x = torch.arange(n * 2, dtype=torch.int32).reshape(n, 2) + r
    y = torch.ones(3 * n, dtype=torch.float32)
    ox, oy = hvd.grouped_reducescatter([x, y], op=hvd.Sum, name="grs.int")
    assert ox.dtype == torch.int32
    assert torch.equal(ox, torch.arange(n * 2, dtype=torch.int32).reshape(n, 2)[r:r + 1] * n
                       + sum(range(n)))
    assert torch.equal(oy, torch.full((3,), float(n)))
    (oy2,) = hvd.grouped_reducescatter([y], op=hvd.Sum, prescale_factor=2.0,
                                       postscale_factor=0.25, name="grs.scaled")
    assert torch.allclose(oy2, torch.full((3,), n * 0.5))


def test_grouped_reducescatter_uneven_rows(world):
    n, r = world
    rows = 2 * n + 1
    x = torch.arange(rows, dtype=torch.float64).unsqueeze(1).repeat(1, 2) * (r + 1)
    (out,) = hvd.grouped_reducescatter([x], op=hvd.Sum, name="grs.uneven")
    counts = [rows // n + (1 if k < rows % n else 0) for k in range(n)]
    start = sum(counts[:r])
    assert out.shape == (counts[r], 2)
    total = sum(k + 1 for k in range(n))
    assert torch.allclose(out, x[start:start + counts[r]] / (r + 1) * total)


def test_grouped_reducescatter_async_and_compression(world):
    n, r = world
    a = torch.full((n, 2), float(r + 1))
    b = torch.full((2 * n,), 1.0, dtype=torch.float64)
    handle = hvd.grouped_reducescatter_async([a, b], name="grs.async", op=hvd.Average)
    outs = hvd.synchronize(handle)
    assert isinstance(outs, list) and len(outs) == 2
    assert torch.allclose(outs[0], torch.full((1, 2), (n + 1) / 2))
    assert torch.allclose(outs[1], torch.ones(2, dtype=torch.float64))
    outs = hvd.grouped_reducescatter([a], op=hvd.Sum, compression=hvd.Compression.fp16,
                                     name="grs.fp16")
    assert outs[0].dtype == torch.float32  # decompressed to the input's dtype
    assert torch.allclose(outs[0], torch.full((1, 2), float(n * (n + 1) / 2)))


def test_grouped_operations_on_a_process_set(world):
    n, r = world
    ps = hvd.global_process_set if n == 2 else hvd.add_process_set([0, 1])
    try:
        if r in (0, 1):
            outs = hvd.grouped_allgather([torch.full((r + 1,), r)], name="ps.gag",
                                         process_set=ps)
            assert torch.equal(outs[0], torch.tensor([0, 1, 1]))
            outs = hvd.grouped_reducescatter([torch.full((4,), float(r + 1))], op=hvd.Sum,
                                             name="ps.grs", process_set=ps)
            assert torch.equal(outs[0], torch.full((2,), 3.0))
        hvd.barrier()
    finally:
        if ps is not hvd.global_process_set:
            hvd.remove_process_set(ps)
