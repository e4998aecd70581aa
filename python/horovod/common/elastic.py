"""horovod.common.elastic, provided by trainyard: Horovod's framework-neutral elastic pieces
(State, ObjectState, run_fn), on a FIXED set of ranks.

Horovod's elastic mode has a driver that watches the hosts, adds and removes workers and lets
the remaining ones meet again after a failure. trainyard has no such driver: a run has the ranks
it was started with (mpirun, or torch.distributed's RANK/WORLD_SIZE contract). What works here:

- the state objects: commit() keeps a copy of the state in memory, restore() goes back to it,
  sync() broadcasts rank 0's state to every rank (as Horovod);
- run_fn's retry loop: when the wrapped function raises HorovodInternalError (a collective
  failed, seen by every rank), the state is restored to the last commit, the runtime is reset
  (shutdown, then init again on the SAME ranks), the reset callbacks run, the state is synced
  from rank 0 and the function is called again: a transient collective error rolls back and
  continues;
- when the reset cannot bring the same ranks together again (a rank is gone), the loop ends
  with HorovodInternalError saying so: the state was rolled back to the last commit, and going on
  with fewer ranks (Horovod's min_np) is not supported by trainyard; restart the run, e.g. from a
  checkpoint. (Under mpirun a rank that exits ends the whole job before any of this.)

Hosts are never added or removed, so check_host_updates() never raises HostsUpdatedInterrupt on
its own; State.on_hosts_updated() is kept for code that calls it, and run_fn handles the
interrupt as Horovod does (no restore; reset, then sync unless skip_sync).

HOROVOD_RESET_LIMIT (horovodrun --reset-limit sets it): the most resets run_fn does before it
gives up with HorovodInternalError; unset means no limit, as Horovod's default.
"""

import functools
import os
import queue

from horovod.common.exceptions import HorovodInternalError, HostsUpdatedInterrupt

_NO_FEWER_RANKS = ("trainyard runs a fixed set of ranks: continuing with fewer ranks (Horovod's "
                   "elastic min_np) or with new hosts is not supported; restart the run, e.g. "
                   "from a checkpoint (docs/horovod.md, Elastic)")


class State:
    """The state that elastic training keeps in step across the ranks (base class).

    Args:
        bcast_object: broadcasts a picklable object from rank 0 and returns it on every rank.
        get_rank: returns this process's rank.

    Subclasses provide save() (keep the current state), restore() (go back to the saved
    state) and sync() (make every rank's state rank 0's).
    """

    def __init__(self, bcast_object, get_rank):
        self._bcast_object = bcast_object
        self._rank = get_rank
        self._host_messages = queue.Queue()
        self._last_updated_timestamp = 0
        self._reset_callbacks = []

    def register_reset_callbacks(self, callbacks):
        """Adds functions (no arguments) that run after every reset of the runtime, e.g. to
        rescale the learning rate to hvd.size(). Here a reset happens after a collective error
        that run() recovers from; the number of ranks stays the same."""
        self._reset_callbacks.extend(callbacks)

    def on_reset(self):
        """Called by run() after a reset: forgets queued host updates, runs the callbacks."""
        self._host_messages = queue.Queue()
        for callback in self._reset_callbacks:
            callback()

    def on_hosts_updated(self, timestamp, update_res=0):
        """Horovod's driver calls this when hosts were added or removed (update_res: Horovod's
        HostUpdateResult, 1 removed, 2 added, 3 both); trainyard has no driver and never does.
        A call queues the update for the next check_host_updates()."""
        self._host_messages.put((timestamp, update_res))

    def commit(self):
        """Saves the state in memory (save()) as the point a failure rolls back to, then
        check_host_updates(). A collective call: every rank commits at the same point."""
        self.save()
        self.check_host_updates()

    def check_host_updates(self):
        """Raises HostsUpdatedInterrupt on every rank when an update of the hosts was queued
        (on_hosts_updated) on rank 0. Rank 0's view is broadcast, so all ranks decide alike (a
        collective call). trainyard's host list is fixed: nothing queues updates, so this
        never raises unless the script calls on_hosts_updated() itself."""
        prev = last = self._last_updated_timestamp
        updates = 0
        while not self._host_messages.empty():
            timestamp, update_res = self._host_messages.get()
            if timestamp > last:
                last = timestamp
                updates |= int(update_res or 0)
        prev, last, updates = self._bcast_object((prev, last, updates))
        self._last_updated_timestamp = last
        if last > prev:
            # Only removals: the remaining ranks' state is current, no sync needed (skip_sync).
            raise HostsUpdatedInterrupt(updates == 1)

    def save(self):
        """Saves the state in memory."""
        raise NotImplementedError()

    def restore(self):
        """Goes back to the last saved state, dropping changes made since."""
        raise NotImplementedError()

    def sync(self):
        """Makes every rank's state rank 0's."""
        raise NotImplementedError()


class ObjectState(State):
    """State made of plain Python objects, given as keyword arguments; each is an attribute
    (state.epoch, state.batch, ...). save() keeps the attributes' current values, restore() sets
    them back, sync() broadcasts rank 0's values (pickled, with bcast_object)."""

    def __init__(self, bcast_object, get_rank, **kwargs):
        self._saved_state = kwargs
        self._set_attrs()
        super().__init__(bcast_object=bcast_object, get_rank=get_rank)

    def save(self):
        self._saved_state = {name: getattr(self, name) for name in self._saved_state}

    def restore(self):
        self._set_attrs()

    def sync(self):
        if self._saved_state:
            self._saved_state = self._bcast_object(self._saved_state)
            self._set_attrs()

    def _set_attrs(self):
        for name, value in self._saved_state.items():
            setattr(self, name, value)


def _reset_limit():
    text = os.environ.get("HOROVOD_RESET_LIMIT", "").strip()
    if not text:
        return None
    try:
        limit = int(text)
    except ValueError:
        raise ValueError("HOROVOD_RESET_LIMIT={!r}: expected a number of resets".format(text))
    if limit < 0:
        raise ValueError("HOROVOD_RESET_LIMIT={!r}: expected a number >= 0".format(text))
    return limit


def run_fn(func, reset):
    """Wraps func(state, *args, **kwargs) in the elastic retry loop; `reset` re-initializes the
    framework's runtime (shutdown, then init). See the module's docstring for what a failure
    does on trainyard's fixed set of ranks."""

    @functools.wraps(func)
    def wrapper(state, *args, **kwargs):
        limit = _reset_limit()
        resets = 0
        skip_sync = False
        while True:
            try:
                if not skip_sync:
                    state.sync()
                return func(state, *args, **kwargs)
            except HorovodInternalError as e:
                state.restore()
                skip_sync = False
                cause = e
            except HostsUpdatedInterrupt as e:
                skip_sync = e.skip_sync
                cause = e
            if limit is not None and resets >= limit:
                raise HorovodInternalError(
                    "horovod elastic run: giving up after {} reset(s) (HOROVOD_RESET_LIMIT={}); "
                    "last failure: {}. The state was rolled back to the last commit.".format(
                        resets, limit, cause)) from cause
            resets += 1
            try:
                reset()
            except Exception as e:  # noqa: BLE001  (any failure to meet again ends the run)
                raise HorovodInternalError(
                    "horovod elastic run: a collective operation failed ({}); the state was rolled "
                    "back to the last commit, but re-initializing the runtime on the same ranks "
                    "failed ({}), so a rank is likely gone. {}.".format(cause, e, _NO_FEWER_RANKS)
                ) from e
            state.on_reset()

    return wrapper


__all__ = ["State", "ObjectState", "run_fn"]
