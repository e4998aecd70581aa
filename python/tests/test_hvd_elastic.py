"""horovod.torch.elastic on a fixed set of ranks (issue 12, item 3), checked against Horovod's
documented elastic behaviour ("Elastic Horovod" docs; the docstrings of horovod.common.elastic,
horovod.torch.elastic.state/sampler):

- hvd.elastic.run syncs the state from rank 0 before calling func, returns func's result;
- State.commit() saves, restore() goes back to the last commit, sync() broadcasts rank 0's
  state; TorchState does this for models, optimizers and ElasticSamplers by type and for every
  other keyword argument as an attribute;
- ElasticSampler splits the indices not processed yet over hvd.size() ranks (each index once
  per epoch, padded to a multiple of the ranks), the same shuffled order on every rank;
- HorovodInternalError out of func: restore the last commit, reset (shutdown + init), run the
  reset callbacks, sync, call func again; HostsUpdatedInterrupt: the same without the restore;
- trainyard's own part: a rank that is gone cannot be left behind (re-init fails) and run()
  raises HorovodInternalError saying so (Gloo only: under mpirun a rank's exit ends the job).

Under mpirun (ctest python.hvd.elastic, any number of ranks >= 2) every rank runs the tests
marked in_ranks. Started as one process (ctest python.test_hvd_elastic) the module runs itself
on 2 Gloo ranks (torch.distributed's RANK/WORLD_SIZE contract), and runs the lost-rank test.
"""

import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch

_c = pytest.importorskip("trainyard._collective", reason="needs the collective runtime's module")

import horovod.torch as hvd  # noqa: E402
from horovod.common.elastic import ObjectState  # noqa: E402
from horovod.common.exceptions import HorovodInternalError, HostsUpdatedInterrupt  # noqa: E402
from script_runner import in_a_rank, master_port, run_gloo_ranks  # noqa: E402


in_ranks = pytest.mark.skipif(not in_a_rank(), reason="runs in the ranks mpirun or "
                                                      "test_on_two_gloo_ranks starts")


@pytest.fixture(scope="module", autouse=True)
def runtime():
    if in_a_rank():
        hvd.init()
        assert hvd.size() >= 2
    yield


def _same_on_every_rank(obj):
    every = hvd.allgather_object(obj)
    return all(o == every[0] for o in every)


def _params(model):
    return [p.detach().clone() for p in model.state_dict().values()]


def _assert_params(model, expected):
    for got, want in zip(model.state_dict().values(), expected):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


# --- the state objects ---

@in_ranks
def test_object_state_sync_commit_restore():
    r = hvd.rank()
    state = ObjectState(hvd.broadcast_object, hvd.rank, epoch=10 + r, names=["r{}".format(r)])
    assert (state.epoch, state.names) == (10 + r, ["r{}".format(r)])
    state.sync()  # rank 0's values everywhere
    assert (state.epoch, state.names) == (10, ["r0"])
    state.epoch = 11
    state.commit()
    state.epoch = 99 + r
    state.names = ["changed"]
    state.restore()
    assert (state.epoch, state.names) == (11, ["r0"])
    state.epoch = 50 + r
    state.restore()  # back to the same commit again
    assert state.epoch == 11


@in_ranks
def test_torch_state_commit_restore_and_sync():
    r = hvd.rank()
    torch.manual_seed(100 + r)  # every rank starts from different weights
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    rank0_weights = hvd.broadcast_object(_params(model), root_rank=0)
    state = hvd.elastic.TorchState(model, opt, sched=sched, batch=r, epoch=3)
    assert state.model is model and state.optimizer is opt and state.sched is sched
    assert (state.batch, state.epoch) == (r, 3)

    state.sync()
    _assert_params(model, rank0_weights)  # parameters and the BatchNorm buffers
    assert state.batch == 0 and _same_on_every_rank(state.batch)

    def step():
        opt.zero_grad()
        model(torch.randn(8, 4)).pow(2).sum().backward()
        opt.step()
        sched.step()

    step()
    state.batch = 1
    state.commit()
    committed = _params(model)
    committed_opt = opt.state_dict()
    momentum = [b.clone() for b in (opt.state[p]["momentum_buffer"] for p in model.parameters())]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)

    step()
    step()
    state.batch = 7
    assert not torch.equal(_params(model)[0], committed[0])
    state.restore()
    _assert_params(model, committed)
    assert state.batch == 1
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)  # scheduler and optimizer restored
    assert opt.state_dict()["param_groups"] == committed_opt["param_groups"]
    for p, m in zip(model.parameters(), momentum):
        torch.testing.assert_close(opt.state[p]["momentum_buffer"], m, rtol=0, atol=0)

    # Assigning a new model to a handled attribute saves it: restore() keeps the new one's values.
    other = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    state.model = other
    kept = _params(other)
    with torch.no_grad():
        other[0].weight.add_(1.0)
    state.restore()
    _assert_params(other, kept)


@in_ranks
def test_check_host_updates_is_rank_0s_decision_and_quiet_otherwise():
    state = ObjectState(hvd.broadcast_object, hvd.rank, x=1)
    for _ in range(3):
        state.commit()  # a fixed host list: no updates, never raises
        state.check_host_updates()
    # Horovod's driver would call on_hosts_updated; rank 0's view is broadcast, so every rank
    # raises together even though only rank 0 heard of it.
    if hvd.rank() == 0:
        state.on_hosts_updated(5, 1)  # hosts removed: skip_sync
    with pytest.raises(HostsUpdatedInterrupt) as info:
        state.check_host_updates()
    assert info.value.skip_sync is True
    state.check_host_updates()  # the update was consumed


# --- ElasticSampler ---

class _Items(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.tensor([float(i)]), torch.tensor(i)


@in_ranks
@pytest.mark.parametrize("length", [23, 24, 5])
@pytest.mark.parametrize("shuffle", [True, False])
def test_sampler_splits_every_index_once_per_epoch(length, shuffle):
    n = hvd.size()
    sampler = hvd.elastic.ElasticSampler(_Items(length), shuffle=shuffle, seed=7)
    per_rank = -(-length // n)
    assert len(sampler) == per_rank
    orders = []
    for epoch in range(3):
        mine = list(iter(sampler))
        assert len(mine) == per_rank
        every = hvd.allgather_object(mine)
        taken = [i for rank_indices in every for i in rank_indices]
        assert sorted(set(taken)) == list(range(length))  # every index ...
        assert len(taken) == per_rank * n  # ... once, plus the padding to a multiple of n
        assert len(taken) - len(set(taken)) == per_rank * n - length
        # rank r takes every n-th index of one order, from position r
        overall = [every[k % n][k // n] for k in range(per_rank * n)]
        orders.append(overall[:length])
        sampler.set_epoch(epoch + 1)
    if shuffle:
        assert orders[0] != orders[1] or length < 3  # a new order each epoch
    else:
        assert orders[0] == orders[1] == list(range(length))


@in_ranks
def test_sampler_record_batch_and_commit_skip_processed_indices():
    length, batch = 50, 4
    data = _Items(length)
    sampler = hvd.elastic.ElasticSampler(data, shuffle=True, seed=3)
    state = hvd.elastic.TorchState(sampler=sampler, epoch=0)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, sampler=sampler)
    done = []
    for batch_idx, (x, idx) in enumerate(loader):
        assert idx.tolist() == sampler.get_indices(batch_idx, batch)
        assert x.squeeze(1).long().tolist() == idx.tolist()
        done += idx.tolist()
        sampler.record_batch(batch_idx, batch)
        if batch_idx == 2:
            break
    assert sampler.processed_indices == set(done)
    state.commit()  # keeps the processed indices of EVERY rank
    every_done = set().union(*hvd.allgather_object(done))
    assert sampler.state_dict()["processed_indices"] == set(done)  # local until restore
    sampler.record_indices([i for i in range(length) if i not in every_done][:2])  # not committed
    state.restore()
    assert sampler.processed_indices == every_done
    rest = list(iter(sampler))
    every_rest = hvd.allgather_object(rest)
    rest_taken = [i for r in every_rest for i in r]
    assert set(rest_taken) == set(range(length)) - every_done
    assert not set(rest_taken) & every_done
    assert len(rest) == len(sampler) == -(-(length - len(every_done)) // hvd.size())
    sampler.set_epoch(1)
    assert sampler.processed_indices == set() and len(sampler) == -(-length // hvd.size())


# --- hvd.elastic.run ---

def _train(fail_at=None, epochs=3, commit_every=2, seed=1):
    """A small model trained as Horovod's elastic examples do (pytorch_mnist_elastic.py):
    TorchState(model, optimizer, sampler, epoch, batch), commits every few batches, set_epoch at
    the end of an epoch. fail_at=(epoch, batch): once, every rank makes a collective with a
    shape that differs by rank there (HorovodInternalError on every rank). Returns the
    decorated function's result, the model, the state and a log: per call, where it started;
    every commit's weights; the indices each call processed per epoch."""
    torch.manual_seed(seed + hvd.rank())  # sync() must make rank 0's weights everyone's
    n = 96
    gen = torch.Generator().manual_seed(seed)
    data = torch.utils.data.TensorDataset(torch.randn(n, 5, generator=gen),
                                          torch.randn(n, 1, generator=gen), torch.arange(n))
    model = torch.nn.Linear(5, 1)
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5),
                                   named_parameters=model.named_parameters())
    sampler = hvd.elastic.ElasticSampler(data, shuffle=True, seed=seed)
    loader = torch.utils.data.DataLoader(data, batch_size=4, sampler=sampler)
    state = hvd.elastic.TorchState(model, opt, sampler=sampler, epoch=0, batch=0)
    log = {"calls": [], "commits": [], "resets": 0, "failed": False}
    state.register_reset_callbacks([lambda: log.__setitem__("resets", log["resets"] + 1)])

    def commit():
        state.commit()
        log["commits"].append((state.epoch, state.batch, _params(model)))

    @hvd.elastic.run
    def train(state, tag):
        call = {"start": (state.epoch, state.batch, _params(state.model),
                          set(state.sampler.processed_indices)), "done": {}}
        log["calls"].append(call)
        for state.epoch in range(state.epoch, epochs):
            for batch_idx, (x, y, idx) in enumerate(loader):
                if fail_at == (state.epoch, state.batch) and not log["failed"]:
                    log["failed"] = True
                    hvd.allreduce(torch.ones(2 + hvd.rank()), name="elastic.injected")
                opt.zero_grad()
                torch.nn.functional.mse_loss(model(x), y).backward()
                opt.step()
                call["done"].setdefault(state.epoch, []).extend(idx.tolist())
                state.sampler.record_batch(batch_idx, 4)
                state.batch += 1
                if state.batch % commit_every == 0:
                    commit()
            state.batch = 0
            state.sampler.set_epoch(state.epoch + 1)
            commit()
        return tag, state.epoch

    result = train(state, "done")
    return result, model, state, log


@in_ranks
def test_run_syncs_from_rank_0_trains_and_returns():
    result, model, state, log = _train()
    assert result == ("done", 2)
    assert len(log["calls"]) == 1 and log["resets"] == 0
    epoch, batch, first, processed = log["calls"][0]["start"]
    assert (epoch, batch, processed) == (0, 0, set())
    assert _same_on_every_rank([p.tolist() for p in first])  # synced before the first call
    assert _same_on_every_rank([p.tolist() for p in _params(model)])
    assert state.epoch == 2 and state.batch == 0
    for epoch in range(3):  # every sample once per epoch over all ranks
        every = hvd.allgather_object(log["calls"][0]["done"][epoch])
        assert sorted(i for r in every for i in r) == list(range(96))


@in_ranks
def test_run_rolls_back_to_the_last_commit_and_continues_on_the_same_ranks():
    size = hvd.size()
    # commit_every=2: the last commit before the failure at (1, 3) is the one after batch 2
    result, model, state, log = _train(fail_at=(1, 3))
    assert log["failed"] and result == ("done", 2)
    assert hvd.size() == size and hvd.is_initialized()  # re-initialized, same ranks
    assert len(log["calls"]) == 2 and log["resets"] == 1
    first, second = log["calls"]
    epoch, batch, weights, processed = second["start"]
    assert (epoch, batch) == (1, 2)  # the last commit, not where it failed
    committed = [c for c in log["commits"] if c[:2] == (1, 2)][0]
    for got, want in zip(weights, committed[2]):  # the committed weights, not the later ones
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert _same_on_every_rank([p.tolist() for p in weights])
    # The sampler went back to the commit too: what every rank processed in epoch 1 before the
    # commit, and nothing of the batch after it; the rest of epoch 1 is split without them.
    before = set().union(*hvd.allgather_object(first["done"][1][:2 * 4]))
    assert processed == before
    after = [i for r in hvd.allgather_object(second["done"][1]) for i in r]
    assert set(after) == set(range(96)) - before and len(after) == 96 - len(before)
    assert _same_on_every_rank([p.tolist() for p in _params(model)])
    assert state.epoch == 2


@in_ranks
def test_run_recovers_from_a_failure_with_gradient_allreduces_in_flight():
    """The failure comes after loss.backward() started the DistributedOptimizer's gradient
    allreduces and before step(): the retry's zero_grad() must not refuse to run, and the
    training goes on from the commit (Horovod would raise AssertionError at zero_grad)."""
    torch.manual_seed(5)
    model = torch.nn.Linear(4, 2)
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                   named_parameters=model.named_parameters())
    state = hvd.elastic.TorchState(model, opt, step=0)
    injected = []

    @hvd.elastic.run
    def train(state):
        while state.step < 4:
            opt.zero_grad()
            model(torch.full((3, 4), float(state.step))).sum().backward()
            if state.step == 2 and not injected:
                injected.append(1)
                hvd.allreduce(torch.ones(1 + hvd.rank()), name="elastic.in_flight")
            opt.step()
            state.step += 1
            state.commit()
        return state.step

    assert train(state) == 4 and injected
    assert _same_on_every_rank([p.tolist() for p in _params(model)])


@in_ranks
def test_run_host_update_resets_without_restoring():
    state = ObjectState(hvd.broadcast_object, hvd.rank, value=0)
    calls = []
    resets = []
    state.register_reset_callbacks([lambda: resets.append(hvd.size())])

    @hvd.elastic.run
    def func(state):
        calls.append(state.value)
        if len(calls) == 1:
            state.value = 5  # not committed, and not rolled back by a host update
            raise HostsUpdatedInterrupt(skip_sync=False)
        return state.value

    # ObjectState.sync() broadcasts the SAVED values, as Horovod's: value=0 again after sync.
    assert func(state) == 0
    assert calls == [0, 0] and resets == [hvd.size()]


@in_ranks
def test_run_gives_up_after_the_reset_limit(monkeypatch):
    monkeypatch.setenv("HOROVOD_RESET_LIMIT", "2")
    state = ObjectState(hvd.broadcast_object, hvd.rank, n=0)
    calls = []

    @hvd.elastic.run
    def always_fails(state):
        calls.append(1)
        hvd.allreduce(torch.ones(1 + hvd.rank()), name="elastic.always")

    with pytest.raises(HorovodInternalError, match="giving up after 2 reset"):
        always_fails(state)
    assert len(calls) == 3
    # the runtime still works after the last reset
    assert hvd.allreduce(torch.ones(2), op=hvd.Sum, name="elastic.after").tolist() == \
        [float(hvd.size())] * 2


@in_ranks
def test_func_errors_other_than_horovods_pass_through():
    state = ObjectState(hvd.broadcast_object, hvd.rank, n=0)

    @hvd.elastic.run
    def bad(state):
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        bad(state)


# --- started as one process: the module on 2 Gloo ranks, and a rank that is lost ---

def test_on_two_gloo_ranks():
    if in_a_rank():
        pytest.skip("already a rank")
    if not _c.gloo_built():
        pytest.skip("the Gloo transport is not built; python.hvd.elastic runs this module on 2 "
                    "ranks under mpirun")
    results = run_gloo_ranks([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "-p", "no:hypothesispytest", os.path.abspath(__file__)],
                             timeout=240, gloo_timeout=60)
    for rank, (code, out) in enumerate(results):
        assert code == 0 and not re.search(r"\b\d+ failed", out) and " passed" in out, \
            f"rank {rank} ({code}):\n{out}"


LOST_RANK = textwrap.dedent("""
    import os
    import torch
    import horovod.torch as hvd
    from horovod.common.exceptions import HorovodInternalError

    hvd.init()
    r = hvd.rank()
    model = torch.nn.Linear(3, 1)
    state = hvd.elastic.TorchState(model, epoch=0)

    @hvd.elastic.run
    def train(state):
        for state.epoch in range(state.epoch, 10):
            with torch.no_grad():
                model.weight.add_(1.0)
            hvd.allreduce(torch.ones(3), name="step")
            if state.epoch == 3:
                state.commit()
                committed = model.weight.detach().clone()
                with open(os.environ["COMMITTED_FILE"] + str(r), "w") as f:
                    f.write(repr(committed.tolist()))
            if state.epoch == 5 and r == 1:
                os._exit(7)  # rank 1 is gone
        return "finished"

    try:
        train(state)
        print("rank", r, "finished without the lost rank", flush=True)
    except HorovodInternalError as e:
        with open(os.environ["COMMITTED_FILE"] + str(r)) as f:
            committed = eval(f.read())
        assert state.epoch == 3, state.epoch  # rolled back to the commit
        assert model.weight.tolist() == committed, (model.weight.tolist(), committed)
        print("rank", r, "raised:", e, flush=True)
""")


def _ranks_that_may_exit(argv, n, timeout, gloo_timeout, extra_env):
    """Starts `argv` as `n` Gloo ranks (torch.distributed's contract) and waits for each: unlike
    run_gloo_ranks, a rank that exits early does not stop the others (the test is what they do
    then). Returns [(returncode, output)]; every rank is killed by `timeout` seconds."""
    port = master_port()
    procs = []
    for rank in range(n):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OMPI_", "PMIX_", "HOROVOD_", "LOCAL_"))}
        env.update(extra_env, RANK=str(rank), WORLD_SIZE=str(n), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), HOROVOD_GLOO_TIMEOUT_SECONDS=str(gloo_timeout),
                   OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    results = []
    try:
        for p in procs:
            try:
                out, _ = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            results.append((p.returncode, out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def test_a_lost_rank_ends_the_run_with_the_state_rolled_back(tmp_path):
    if in_a_rank():
        pytest.skip("starts its own ranks")
    if not _c.gloo_built():
        pytest.skip("the Gloo transport is not built (under mpirun a lost rank ends the job)")
    results = _ranks_that_may_exit([sys.executable, "-c", LOST_RANK], 2, timeout=120,
                                   gloo_timeout=10,
                                   extra_env={"COMMITTED_FILE": str(tmp_path / "committed")})
    (code0, out0), (code1, out1) = results
    assert code1 == 7, out1
    assert code0 == 0, out0
    assert "rank 0 raised:" in out0, out0
    message = out0.split("rank 0 raised:", 1)[1]
    assert "rolled back to the last commit" in message, message
    assert "fewer ranks" in message and "not supported" in message, message
    assert "restart the run" in message, message
