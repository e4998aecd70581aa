"""docs/horovod.md's name tables, kept true: every name marked supported or differs imports from
the module the table names, is of the kind it says and accepts Horovod 0.28's arguments; every
name marked "not supported" is absent or raises NotImplementedError saying so when used; the
horovod.torch table lists every public name of Horovod 0.28's horovod.torch.

No collective operation runs here (nothing calls hvd.init()): under mpirun (python.hvd.names)
each rank checks the same things on its own."""

import importlib
import inspect
import os
import re
import threading
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "horovod.md"
COLUMNS = ["Name", "Module", "Kind", "Horovod 0.28 arguments", "Status", "Notes"]
KINDS = {"function", "class", "exception", "constant", "instance", "module"}
STATUSES = {"supported", "differs", "not supported"}

# Horovod 0.28's horovod/torch/__init__.py: every name it imports (its public API).
HOROVOD_028_TORCH = {
    "elastic", "Compression",
    "allgather_object", "broadcast_object", "broadcast_optimizer_state", "broadcast_parameters",
    "allreduce", "allreduce_async", "allreduce_", "allreduce_async_",
    "grouped_allreduce", "grouped_allreduce_async", "grouped_allreduce_",
    "grouped_allreduce_async_",
    "sparse_allreduce_async",
    "allgather", "allgather_async", "grouped_allgather", "grouped_allgather_async",
    "broadcast", "broadcast_async", "broadcast_", "broadcast_async_",
    "alltoall", "alltoall_async",
    "reducescatter", "reducescatter_async", "grouped_reducescatter",
    "grouped_reducescatter_async",
    "join", "barrier", "poll", "synchronize", "init", "shutdown",
    "is_initialized", "start_timeline", "stop_timeline",
    "size", "local_size", "cross_size", "rank", "local_rank", "cross_rank",
    "mpi_threads_supported", "mpi_enabled", "mpi_built", "gloo_enabled", "gloo_built",
    "nccl_built", "ddl_built", "ccl_built", "cuda_built", "rocm_built",
    "ProcessSet", "global_process_set", "add_process_set", "remove_process_set",
    "Average", "Sum", "Adasum", "Min", "Max", "Product",
    "HorovodInternalError", "DistributedOptimizer", "SyncBatchNorm",
}


def _rows():
    rows = []
    header = None
    for lineno, line in enumerate(DOC.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if set("".join(cells)) <= set("- "):
            continue  # the |---| line
        assert header == COLUMNS, "docs/horovod.md:{}: table columns {}".format(lineno, header)
        assert len(cells) == len(COLUMNS), "docs/horovod.md:{}: {} cells".format(lineno,
                                                                                len(cells))
        row = dict(zip(COLUMNS, cells))
        row["Name"] = row["Name"].strip("`")
        row["Module"] = row["Module"].strip("`")
        row["Horovod 0.28 arguments"] = row["Horovod 0.28 arguments"].strip("`")
        row["line"] = lineno
        rows.append(row)
    return rows


ROWS = _rows()


def _id(row):
    return "{}.{}".format(row["Module"], row["Name"])


def _resolve(module, name):
    """What `from <module> import <name>` gives, or None when it fails."""
    mod = importlib.import_module(module)
    if hasattr(mod, name):
        return getattr(mod, name)
    try:
        return importlib.import_module("{}.{}".format(module, name))
    except ImportError:
        return None


def _parse_args(text):
    """'(a, b, c=, d=)' -> (['a', 'b'], ['c', 'd']); '—' -> None."""
    if text in ("—", "-", ""):
        return None
    m = re.fullmatch(r"\((.*)\)", text)
    assert m, "arguments {!r} are not of the form (a, b=, ...)".format(text)
    positional, keyword = [], []
    for part in filter(None, (p.strip() for p in m.group(1).split(","))):
        if part.endswith("="):
            keyword.append(part[:-1])
        else:
            assert not keyword, "positional {!r} after keyword arguments".format(part)
            positional.append(part)
    return positional, keyword


def _kind_ok(kind, obj):
    if kind == "module":
        return inspect.ismodule(obj)
    if kind == "exception":
        return inspect.isclass(obj) and issubclass(obj, BaseException)
    if kind == "class":
        return inspect.isclass(obj)
    if kind == "function":
        return callable(obj) and not inspect.isclass(obj) and not inspect.ismodule(obj)
    if kind == "constant":
        return isinstance(obj, int) and not isinstance(obj, bool)
    if kind == "instance":
        return not (inspect.isclass(obj) or inspect.ismodule(obj) or callable(obj))
    raise AssertionError(kind)


def test_table_parses_and_is_well_formed():
    assert len(ROWS) > len(HOROVOD_028_TORCH)
    seen = set()
    for row in ROWS:
        where = "docs/horovod.md:{}".format(row["line"])
        assert row["Kind"] in KINDS, where
        assert row["Status"] in STATUSES, where
        assert row["Module"].startswith("horovod"), where
        assert _id(row) not in seen, "{}: {} listed twice".format(where, _id(row))
        seen.add(_id(row))
        if row["Status"] != "supported":
            assert row["Notes"], "{}: '{}' needs a note saying how/why".format(where,
                                                                              row["Status"])
        args = _parse_args(row["Horovod 0.28 arguments"])
        if row["Kind"] in ("constant", "instance", "module"):
            assert args is None, where


def test_every_horovod_torch_name_is_listed():
    listed = {r["Name"] for r in ROWS if r["Module"] == "horovod.torch"}
    missing = HOROVOD_028_TORCH - listed
    assert not missing, "docs/horovod.md lacks horovod.torch names: {}".format(sorted(missing))


@pytest.mark.parametrize("row", [r for r in ROWS if r["Status"] != "not supported"], ids=_id)
def test_supported_name_imports_with_its_kind_and_arguments(row):
    obj = _resolve(row["Module"], row["Name"])
    assert obj is not None, "from {} import {} fails".format(row["Module"], row["Name"])
    assert _kind_ok(row["Kind"], obj), "{} is not a {}: {!r}".format(_id(row), row["Kind"], obj)
    assert not getattr(obj, "_trainyard_not_supported", False), \
        "{} raises NotImplementedError (marked not supported) but the table says {}".format(_id(row), row["Status"])
    args = _parse_args(row["Horovod 0.28 arguments"])
    if args is not None:
        positional, keyword = args
        sig = inspect.signature(obj)
        try:
            sig.bind(*[object()] * len(positional), **{k: object() for k in keyword})
        except TypeError as e:
            pytest.fail("{}{} does not take Horovod's arguments {}: {}".format(
                _id(row), sig, row["Horovod 0.28 arguments"], e))


def _expect_not_supported(what, call, positional=()):
    with pytest.raises(NotImplementedError) as info:
        call(*[object()] * len(positional))  # Horovod's required arguments, as placeholders
    assert "not supported" in str(info.value), "{}: unclear error {!r}".format(what, info.value)


@pytest.mark.parametrize("row", [r for r in ROWS if r["Status"] == "not supported"], ids=_id)
def test_not_supported_name_is_absent_or_raises(row):
    obj = _resolve(row["Module"], row["Name"])
    if obj is None:
        return
    if inspect.ismodule(obj):
        names = getattr(obj, "__all__", None)
        assert names, "{}: a not-supported module needs __all__".format(_id(row))
        for name in names:
            _expect_not_supported("{}.{}".format(_id(row), name), getattr(obj, name))
    else:
        assert callable(obj), _id(row)
        args = _parse_args(row["Horovod 0.28 arguments"])
        _expect_not_supported(_id(row), obj, args[0] if args else ())


# --- the module paths are the implementation's, not copies ---

def test_submodules_are_trainyards_modules():
    import horovod.torch as hvd
    import horovod.torch.compression
    import horovod.torch.functions
    import horovod.torch.mpi_ops
    import horovod.torch.optimizer
    import horovod.torch.sync_batch_norm
    import trainyard.torch as ty
    for name in ("mpi_ops", "optimizer", "functions", "compression", "sync_batch_norm"):
        assert importlib.import_module("horovod.torch." + name) is \
            importlib.import_module("trainyard.torch." + name), name
        assert getattr(hvd, name) is getattr(ty, name), name
    assert hvd.allreduce is ty.allreduce
    assert hvd.DistributedOptimizer is ty.DistributedOptimizer


def test_common_names_are_the_same_objects():
    import horovod.torch as hvd
    from horovod.common import exceptions, process_sets
    assert exceptions.HorovodInternalError is hvd.HorovodInternalError
    assert issubclass(exceptions.HorovodInternalError, RuntimeError)
    assert issubclass(exceptions.HostsUpdatedInterrupt, RuntimeError)
    assert exceptions.HostsUpdatedInterrupt(True).skip_sync is True
    assert process_sets.ProcessSet is hvd.ProcessSet
    assert process_sets.global_process_set is hvd.global_process_set
    assert process_sets.process_set_by_id(0) is hvd.global_process_set
    assert process_sets.process_sets()[0] is hvd.global_process_set
    with pytest.raises(ValueError):
        process_sets.process_set_by_id(12345)


# --- the pure-Python helpers behave as Horovod's ---

def test_util_helpers():
    from horovod.common import util
    assert util.split_list(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert util.split_list([1], 3) == [[1], [], []]
    assert [n for n in range(9) if util.num_rank_is_power_2(n)] == [1, 2, 4, 8]
    assert util.is_iterable([]) and not util.is_iterable(3)

    class Ops:
        Average, Sum = "avg", "sum"
    fix = util.get_average_backwards_compatibility_fun(Ops)
    assert fix(None, None) == "avg" and fix("max", None) == "max"
    with pytest.warns(DeprecationWarning):
        assert fix(None, False) == "sum"
    with pytest.raises(ValueError):
        fix("max", True)

    os.environ.pop("TY_HVD_NAMES_A", None)
    os.environ["TY_HVD_NAMES_B"] = "old"
    with util.env(TY_HVD_NAMES_A="1", TY_HVD_NAMES_B="new", TY_HVD_NAMES_C=None):
        assert os.environ["TY_HVD_NAMES_A"] == "1" and os.environ["TY_HVD_NAMES_B"] == "new"
        assert "TY_HVD_NAMES_C" not in os.environ
    assert "TY_HVD_NAMES_A" not in os.environ and os.environ.pop("TY_HVD_NAMES_B") == "old"
    assert util.extension_available("torch") and not util.extension_available("tensorflow")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_threads_helpers():
    from horovod.runner.util import threads
    assert threads.execute_function_multithreaded(
        lambda a, b: a * b, [[1, 2], [3, 4], [5, 6]], max_concurrent_executions=2) == \
        {0: 2, 1: 12, 2: 30}
    assert threads.execute_function_multithreaded(lambda: 1, [[]],
                                                  block_until_all_done=False) is None

    def fails():
        raise ValueError("boom")
    with pytest.raises(RuntimeError):
        threads.execute_function_multithreaded(fails, [[]])
    with pytest.raises(ValueError):
        threads.in_thread(print, args=[1])
    threads.in_thread(fails, silent=True).join(5)

    got = []
    event, stop = threading.Event(), threading.Event()
    t = threads.on_event(event, got.append, args=("fired",), stop=stop,
                         check_stop_interval_s=0.01)
    event.set()
    t.join(5)
    assert got == ["fired"]
    event2, stop2 = threading.Event(), threading.Event()
    t2 = threads.on_event(event2, got.append, args=("never",), stop=stop2,
                          check_stop_interval_s=0.01, daemon=False)
    stop2.set()
    t2.join(5)
    assert not t2.is_alive() and got == ["fired"]
    with pytest.raises(ValueError):
        threads.on_event(threading.Event(), print, daemon=False)
