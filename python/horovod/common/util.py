"""horovod.common.util, provided by trainyard: the helpers of Horovod's module that training
scripts and Horovod's tests use. The *_built() answers are trainyard's runtime's (the checks run
in this process, not in a forked one as Horovod's do); the extension checks always pass (the
extension is checked when trainyard is built)."""

import os
import warnings
from contextlib import contextmanager

from horovod.common.exceptions import (HorovodVersionMismatchError,  # noqa: F401
                                       get_version_mismatch_message)

EXTENSIONS = ["torch"]


def _ops():
    from trainyard.torch import mpi_ops
    return mpi_ops


def check_extension(ext_name, ext_env_var, pkg_path, *args):
    """Horovod raises ImportError when an extension was not built; trainyard's is (no-op)."""
    return None


def extension_available(ext_base_name, verbose=False):
    """True for 'torch' (trainyard provides horovod.torch only), False otherwise."""
    return ext_base_name == "torch"


def check_installed_version(name, version, exception=None):
    """No-op: trainyard checks torch's version against libtorch's when it is built."""
    return None


def gpu_available(ext_base_name, verbose=False):
    """Whether the framework sees a GPU (torch.cuda.is_available() for 'torch')."""
    if ext_base_name != "torch":
        return False
    import torch
    return bool(torch.cuda.is_available())


def mpi_built(verbose=False):
    return _ops().mpi_built()


def gloo_built(verbose=False):
    return _ops().gloo_built()


def nccl_built(verbose=False):
    return _ops().nccl_built()


def ddl_built(verbose=False):
    return _ops().ddl_built()


def ccl_built(verbose=False):
    return _ops().ccl_built()


@contextmanager
def env(**kwargs):
    """Sets the given environment variables (None values are skipped) for the block, then
    restores the previous values."""
    values = {k: v for k, v in kwargs.items() if v is not None}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, old in saved.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old


def get_average_backwards_compatibility_fun(reduce_ops):
    """Returns impl(op, average) -> op: the deprecated `average` argument mapped to
    reduce_ops.Average / reduce_ops.Sum; giving both is a ValueError; neither means Average."""
    def impl(op, average):
        if op is not None:
            if average is not None:
                raise ValueError("The op parameter supersedes average. Please provide only one "
                                 "of them.")
            return op
        if average is not None:
            warnings.warn("Parameter `average` has been replaced with `op` and will be removed",
                          DeprecationWarning)
            return reduce_ops.Average if average else reduce_ops.Sum
        return reduce_ops.Average
    return impl


def num_rank_is_power_2(num_rank):
    return num_rank > 0 and (num_rank & (num_rank - 1)) == 0


def split_list(items, n):
    """`items` split into n consecutive chunks whose lengths differ by at most one."""
    q, r = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + q + (1 if i < r else 0)
        out.append(items[start:end])
        start = end
    return out


def is_iterable(x):
    try:
        iter(x)
    except TypeError:
        return False
    return True
