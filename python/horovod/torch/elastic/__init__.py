"""horovod.torch.elastic, provided by trainyard: Horovod's elastic API on a FIXED set of ranks.

`@hvd.elastic.run`, `hvd.elastic.TorchState` (commit, restore, sync, check_host_updates,
register_reset_callbacks) and `hvd.elastic.ElasticSampler` behave as Horovod's, so that Horovod's
elastic training scripts run unchanged under `horovodrun -np N` / `trainyard submit`:

- before the first call, run() syncs the state from rank 0, then calls func(state, ...) and
  returns its result;
- a HorovodInternalError raised out of func (a collective failed on every rank) restores the
  last commit, re-initializes the runtime (hvd.shutdown(), hvd.init()) on the same ranks, runs
  the reset callbacks, syncs from rank 0 and calls func again;
- what trainyard does not do: hosts are never added or removed (no host discovery, no elastic
  driver; check_host_updates() never raises HostsUpdatedInterrupt by itself), and a rank that is
  gone is not replaced or left behind: under mpirun its exit ends the job, and over Gloo the
  re-initialization fails and run() raises HorovodInternalError saying that the state was rolled
  back to the last commit and that continuing with fewer ranks (min_np) is not supported.
  Restart the run then, e.g. from a checkpoint.

See horovod.common.elastic for the loop and docs/horovod.md (Elastic) for the details.
"""

from horovod.common.elastic import run_fn
from horovod.torch.elastic.sampler import ElasticSampler
from horovod.torch.elastic.state import TorchState
from trainyard.torch.mpi_ops import init, shutdown


def run(func):
    """Decorator for the elastic training function func(state, *args, **kwargs).

    Every call of the decorated function syncs `state` from rank 0, then runs func; when func
    raises HorovodInternalError the state goes back to its last commit(), the runtime is reset
    on the same ranks and func runs again from there (see the module's docstring for what a
    failure does on trainyard). As in Horovod, the decorated function itself must not be called
    from inside a collective operation, and every rank must call it.

    Args:
        func: the training function; its first argument is a horovod.common.elastic.State
              (e.g. a TorchState).
    """
    return run_fn(func, _reset)


def _reset():
    shutdown()
    init()


__all__ = ["TorchState", "ElasticSampler", "run"]
