"""One runtime per process: horovod.torch (trainyard._collective) and a C++ extension of the
user's that links trainyard::dist (trainyard_dist_probe, python/tests/dist_probe_module.cc) see the
same runtime, whichever of them starts it.

Run on 2 and 3 ranks under mpirun and over Gloo (ctest python.hvd.one_runtime.<mpi|gloo>.<N>, from
the hvd-matrix line below) and as one process."""
# hvd-matrix: mpi gloo ranks 2 3

import pytest
import torch

pytest.importorskip("trainyard._collective", reason="needs the collective module")
probe = pytest.importorskip("trainyard_dist_probe", reason="needs the build's python-test folder")

import horovod.torch as hvd  # noqa: E402


def test_cpp_extension_starts_the_runtime_python_sees_it():
    assert not hvd.is_initialized() and not probe.is_initialized()
    probe.init()
    try:
        assert hvd.is_initialized()
        assert (hvd.rank(), hvd.size()) == (probe.rank(), probe.size())
        n = hvd.size()
        # The same collective through either side: one runtime, one name space of operations.
        assert hvd.allreduce(torch.ones(3), op=hvd.Sum, name="py.side").tolist() == [n] * 3
        assert probe.allreduce_sum(torch.ones(2), "cpp.side").tolist() == [n] * 2
    finally:
        hvd.shutdown()
    assert not probe.is_initialized()


def test_hvd_init_starts_the_runtime_the_cpp_extension_sees_it():
    hvd.init()
    try:
        assert probe.is_initialized()
        want = "mpi" if hvd.mpi_enabled() else "gloo" if hvd.gloo_enabled() else "single"
        assert probe.transport() == want
        assert (probe.rank(), probe.size()) == (hvd.rank(), hvd.size())
        n = hvd.size()
        # Enqueued from C++ and from Python concurrently by name: matched within one runtime.
        h = hvd.allreduce_async(torch.full((4,), 2.0), op=hvd.Sum, name="both.py")
        got = probe.allreduce_sum(torch.full((4,), 3.0), "both.cpp")
        assert got.tolist() == [3.0 * n] * 4
        assert hvd.synchronize(h).tolist() == [2.0 * n] * 4
    finally:
        probe.shutdown()
    assert not hvd.is_initialized()
