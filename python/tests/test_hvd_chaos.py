"""Chaos: 200 random horovod.torch operations with injected mismatches must finish, every mismatch
reported on every rank (issue 12, "What must be true" item 2).

A seeded RNG, identical on every rank, drives STEPS steps. Each step picks an operation
(allreduce with Sum/Average/Min/Max, allgather, broadcast, alltoall, reducescatter,
grouped_allreduce, barrier, join) and, with probability MISMATCH_P, one mismatch on one chosen
rank:
- shape / dtype: that rank sends another shape (for allgather and alltoall: other trailing
  dimensions) or float64 instead of float32;
- root: that rank broadcasts from another root;
- op: that rank asks for another reduce operation;
- name: that rank names the tensor differently;
- process set: that rank (0 or 1) runs the operation on the registered set [0, 1], the others on
  the global set: both sets' operations wait for ranks that never come. Only with 3 or more ranks
  (the hvd-matrix line runs 2 and 3): on 2 ranks no set of 2 ranks can be registered beside the
  global one (Horovod refuses a second set with the same ranks), and a set of one rank makes no
  mismatch both sides wait on (the member completes alone, or a non-member is refused at its call
  at once while the other rank waits out the stall time, and the ranks drift apart by that time);
- join: that rank calls join() while the others run an allgather, broadcast or alltoall;
- refused: that rank sends a complex64 tensor, which no operation accepts. Horovod raises its
  argument errors at the call on that rank (ValueError); trainyard negotiates the refusal, so the
  other ranks' operation fails too (HorovodInternalError) instead of waiting. The one kind whose
  classes differ by design: checked as ValueError on that rank, RuntimeError on the others.
Horovod's coordinator reports shape, dtype, root and op mismatches as an error on every rank; a
name or process-set mismatch is never "ready", so it is found by the stall check: this module sets
TRAINYARD_STALL_FAIL_SECONDS (trainyard's per-operation stall failure, docs/collective.md) before
hvd.init(), and such an operation fails on every rank that submitted it. An allgather, broadcast or
alltoall while a rank has joined is an error in Horovod (the joined rank itself just waits in
join(); the others join after their error).

After a name or process-set mismatch every rank passes a barrier (see the loop: ranks leave a
stalled operation a few cycles apart, and a join right after it would count the joined rank as
having submitted the others' pending operation).

Steps without a mismatch must give Horovod's results (computed here from every rank's inputs,
which each rank can rebuild from the step number). Steps with one must raise on every rank that
took part, the same exception class on all of them. Nothing is asserted in the middle of the run
(a rank stopping early would leave the others waiting): every rank records what happened, the
records are gathered at the end, and the tests below check them.

Runs as ctest python.hvd.chaos.mpi.2 and .mpi.3 (mpirun -np 2 / 3, the hvd-matrix line); any rank
count works.
TRAINYARD_CHAOS_SEED picks another sequence.
"""

import faulthandler
import os
import random
import time

import pytest
import torch

# hvd-matrix: mpi ranks 2 3

_c = pytest.importorskip("trainyard._collective", reason="needs the collective runtime's module")

import horovod.torch as hvd  # noqa: E402
from script_runner import in_a_rank  # noqa: E402

STEPS = 200
MISMATCH_P = 0.3
# Long enough that a rank lagging behind on a loaded machine is not taken for a stall.
FAIL_SECONDS = "2"
SEED = int(os.environ.get("TRAINYARD_CHAOS_SEED", "12"))

OPS = ["allreduce", "allgather", "broadcast", "alltoall", "reducescatter", "grouped_allreduce",
       "barrier", "join"]
# The operations each mismatch kind is injected into.
KINDS = {
    "shape": ["allreduce", "allgather", "broadcast", "alltoall", "reducescatter"],
    "dtype": ["allreduce", "allgather", "broadcast", "alltoall", "reducescatter"],
    "root": ["broadcast"],
    "op": ["allreduce", "reducescatter"],
    "name": ["allreduce", "allgather", "broadcast", "alltoall", "reducescatter"],
    "process_set": ["allreduce", "allgather", "broadcast", "alltoall", "reducescatter"],
    "join": ["allgather", "broadcast", "alltoall"],
    "refused": ["allreduce", "allgather", "broadcast", "alltoall", "reducescatter"],
}


in_ranks = pytest.mark.skipif(not in_a_rank(), reason="runs in the ranks mpirun starts "
                                                      "(ctest python.hvd.chaos)")


def _kinds(n):
    """The mismatch kinds injected on n ranks (process sets need 3, see above)."""
    return sorted(k for k in KINDS if n > 2 or k != "process_set")


def _plan(n):
    """The steps, identical on every rank: (op, params, kind or None, chosen rank)."""
    rng = random.Random(SEED * 1000 + n)
    steps = []
    for step in range(STEPS):
        if rng.random() < MISMATCH_P:
            kind = rng.choice(_kinds(n))
            op = rng.choice(KINDS[kind])
            chosen = rng.randrange(2) if kind == "process_set" else rng.randrange(n)
        else:
            kind, op, chosen = None, rng.choice(OPS), -1
        params = {
            "reduce": rng.choice(["Sum", "Average", "Min", "Max"]),
            "root": rng.randrange(n),
            "other_reduce": None,
        }
        if kind == "process_set":
            params["root"] %= 2  # a member of [0, 1] and of the global set
        if kind == "op":
            choices = ["Sum", "Average", "Min", "Max"] if op == "allreduce" else ["Sum", "Average"]
            if op == "reducescatter":
                params["reduce"] = rng.choice(choices)
            params["other_reduce"] = rng.choice([c for c in choices if c != params["reduce"]])
        if kind == "root":
            params["other_root"] = (params["root"] + 1 + rng.randrange(n - 1)) % n
        steps.append((op, params, kind, chosen))
    return steps


def _input(step, rank, shape, dtype=torch.float32):
    """Rank `rank`'s tensor at `step`: small integers, so every reduction is exact."""
    numel = 1
    for d in shape:
        numel *= d
    base = torch.arange(numel, dtype=torch.float64).reshape(shape) % 7
    return (base + 10 * rank + step % 5).to(dtype)


def _reduce(tensors, how):
    stacked = torch.stack(tensors)
    if how == "Sum":
        return stacked.sum(0)
    if how == "Average":
        return stacked.sum(0) / len(tensors)
    if how == "Min":
        return stacked.min(0).values
    return stacked.max(0).values


def _run_step(step, op, params, kind, chosen, n, r, pset):
    """Runs one step on this rank; returns (outcome, error) where outcome is the result (or
    "joined") and error the exception raised, if any. Checks nothing."""
    name = "chaos.%d.%s" % (step, op)
    me = r == chosen
    reduce_name = params["reduce"]
    if me and kind == "op":
        reduce_name = params["other_reduce"]
    reduce_op = getattr(hvd, reduce_name)
    dtype = torch.float32
    if me and kind in ("dtype", "refused"):
        dtype = torch.float64 if kind == "dtype" else torch.complex64
    process_set = pset if me and kind == "process_set" else hvd.global_process_set
    if me and kind == "name":
        name += ".renamed"
    if me and kind == "join":
        return hvd.join(), None

    def shape(normal, changed):
        return changed if me and kind == "shape" else normal

    try:
        if op == "allreduce":
            t = _input(step, r, shape((3, 2), (2, 3)), dtype)
            out = hvd.allreduce(t, name=name, op=reduce_op, process_set=process_set)
        elif op == "allgather":
            t = _input(step, r, shape((1 + (r + step) % 2, 3), (1 + (r + step) % 2, 4)), dtype)
            out = hvd.allgather(t, name=name, process_set=process_set)
        elif op == "broadcast":
            root = params["other_root"] if me and kind == "root" else params["root"]
            t = _input(step, r, shape((4,), (5,)), dtype)
            out = hvd.broadcast(t, root, name=name, process_set=process_set)
        elif op == "alltoall":
            t = _input(step, r, shape((2 * n, 2), (2 * n, 3)), dtype)
            out = hvd.alltoall(t, name=name, process_set=process_set)
        elif op == "reducescatter":
            t = _input(step, r, shape((2 * n, 3), (2 * n, 4)), dtype)
            out = hvd.reducescatter(t, name=name, op=reduce_op, process_set=process_set)
        elif op == "grouped_allreduce":
            ts = [_input(step, r, (2,)), _input(step, r, (3, 2))]
            out = hvd.grouped_allreduce(ts, name=name, op=hvd.Sum)
        elif op == "barrier":
            out = hvd.barrier()
        else:
            out = hvd.join()
    except Exception as e:  # every mismatch must raise; which class is checked at the end
        out = None
        if kind == "join":
            hvd.join()  # the chosen rank waits in join() until everyone joined
        return out, e
    if kind == "join":
        hvd.join()
    return out, None


def _expected(step, op, params, n, r):
    """Horovod's result of a step without mismatch on rank r, from every rank's inputs."""
    if op == "allreduce":
        return _reduce([_input(step, j, (3, 2)) for j in range(n)], params["reduce"])
    if op == "allgather":
        return torch.cat([_input(step, j, (1 + (j + step) % 2, 3)) for j in range(n)])
    if op == "broadcast":
        return _input(step, params["root"], (4,))
    if op == "alltoall":
        return torch.cat([_input(step, j, (2 * n, 2))[2 * r:2 * r + 2] for j in range(n)])
    if op == "reducescatter":
        total = _reduce([_input(step, j, (2 * n, 3)) for j in range(n)], params["reduce"])
        return total[2 * r:2 * r + 2]
    if op == "grouped_allreduce":
        return [sum(_input(step, j, (2,)) for j in range(n)),
                sum(_input(step, j, (3, 2)) for j in range(n))]
    return None


def _value_problem(step, op, params, n, r, out):
    """None if `out` is Horovod's result of a step without mismatch, else what is wrong."""
    want = _expected(step, op, params, n, r)
    try:
        if op == "join":
            assert isinstance(out, int) and 0 <= out < n, "join returned %r" % (out,)
        elif op == "barrier":
            assert out is None, "barrier returned %r" % (out,)
        elif op == "grouped_allreduce":
            assert len(out) == 2
            for o, w in zip(out, want):
                torch.testing.assert_close(o, w)
        else:
            torch.testing.assert_close(out, want)
    except AssertionError as e:
        return "step %d %s %s: %s" % (step, op, params, e)
    return None


@pytest.fixture(scope="module")
def chaos():
    """Runs the whole sequence once on this rank and gathers every rank's records."""
    os.environ["TRAINYARD_STALL_FAIL_SECONDS"] = FAIL_SECONDS  # before init: rank 0's counts
    hvd.init()
    n, r = hvd.size(), hvd.rank()
    assert n >= 2
    pset = hvd.add_process_set([0, 1]) if n > 2 else None
    plan = _plan(n)
    # A hang is the failure this module exists to catch: say where, before ctest kills the ranks.
    faulthandler.dump_traceback_later(240, exit=True)
    records = []  # per step: (kind, op, chosen, exception class name or None)
    problems = []
    start = time.monotonic()
    for step, (op, params, kind, chosen) in enumerate(plan):
        out, err = _run_step(step, op, params, kind, chosen, n, r, pset)
        if kind in ("name", "process_set"):
            # Each coordinator fails its own stalled operation, so ranks leave such a step a few
            # cycles apart; a rank that went on to join() at once would count as having
            # submitted the others' still pending operation (Horovod's join rule). Meet first.
            hvd.barrier()
        records.append((kind, op, chosen, type(err).__name__ if err is not None else None,
                        str(err)[:300] if err is not None else ""))
        if kind is None:
            if err is not None:
                problems.append("step %d %s %s raised %r" % (step, op, params, err))
            else:
                problem = _value_problem(step, op, params, n, r, out)
                if problem:
                    problems.append(problem)
    seconds = time.monotonic() - start
    # The runtime still works after all of it.
    after = hvd.allreduce(torch.ones(3), name="chaos.after", op=hvd.Sum)
    everyone = hvd.allgather_object((records, problems), name="chaos.records")
    faulthandler.cancel_dump_traceback_later()
    yield {"n": n, "rank": r, "plan": plan, "seconds": seconds, "after": after,
           "records": [rec for rec, _ in everyone], "problems": [p for _, p in everyone]}
    if pset is not None:
        hvd.remove_process_set(pset)


def _mismatch_report(chaos, accept):
    """(how many injected, what went wrong) over mismatch steps for which accept(kind, op)."""
    n = chaos["n"]
    injected = 0
    wrong = []
    for step, (op, _, kind, chosen) in enumerate(chaos["plan"]):
        if kind is None or not accept(kind, op):
            continue
        injected += 1
        took_part = [j for j in range(n) if not (kind == "join" and j == chosen)]
        raised = {j: chaos["records"][j][step][3] for j in took_part}
        if kind == "refused":  # ValueError at the call on the refusing rank (module doc)
            if raised.pop(chosen) != "ValueError":
                wrong.append("step %d: refused on rank %d in %s: %s" % (
                    step, chosen, op, chaos["records"][chosen][step][3:]))
                continue
        classes = set(raised.values())
        # Name and process-set mismatches are found by the stall check, which names the ranks.
        stall_text = all("stalled" in chaos["records"][j][step][4] and
                         "did not" in chaos["records"][j][step][4] for j in took_part)
        if None in classes or len(classes) != 1 or (
                kind == "refused" and classes != {"HorovodInternalError"}) or (
                kind in ("name", "process_set") and not stall_text):
            detail = {j: (chaos["records"][j][step][3], chaos["records"][j][step][4])
                      for j in took_part}
            wrong.append("step %d: %s mismatch on rank %d in %s: %s" % (step, kind, chosen, op,
                                                                        detail))
    return injected, wrong


def _joined_gather_or_broadcast(kind, op):
    return kind == "join" and op in ("allgather", "broadcast")


@in_ranks
def test_the_sequence_finishes_and_the_runtime_still_works(chaos):
    n = chaos["n"]
    assert len(chaos["records"][chaos["rank"]]) == STEPS
    # Name and process-set mismatches wait TRAINYARD_STALL_FAIL_SECONDS each; the rest is fast.
    stalls = sum(1 for _, _, kind, _ in chaos["plan"] if kind in ("name", "process_set"))
    assert chaos["seconds"] < 60 + stalls * (float(FAIL_SECONDS) + 2), chaos["seconds"]
    torch.testing.assert_close(chaos["after"], torch.full((3,), float(n)))


@in_ranks
def test_every_kind_of_mismatch_and_operation_was_exercised(chaos):
    kinds = {kind for _, _, kind, _ in chaos["plan"] if kind}
    assert kinds == set(_kinds(chaos["n"]))
    ops = {op for op, _, kind, _ in chaos["plan"] if kind is None}
    assert ops == set(OPS)


@in_ranks
def test_steps_without_mismatch_give_horovods_results(chaos):
    problems = [p for rank_problems in chaos["problems"] for p in rank_problems]
    assert not problems, "\n".join(problems[:20])


@in_ranks
def test_every_mismatch_raises_the_same_class_on_every_rank_that_took_part(chaos):
    injected, wrong = _mismatch_report(
        chaos, lambda kind, op: not _joined_gather_or_broadcast(kind, op))
    assert injected > 0
    assert not wrong, "%d of %d mismatches not reported alike:\n%s" % (
        len(wrong), injected, "\n".join(wrong[:20]))


@in_ranks
def test_an_allgather_or_broadcast_while_a_rank_joined_raises_on_the_others(chaos):
    # Horovod: allgather and broadcast are not supported with join; the joined rank waits in join().
    injected, wrong = _mismatch_report(chaos, _joined_gather_or_broadcast)
    assert injected > 0
    assert not wrong, "%d of %d not reported alike:\n%s" % (len(wrong), injected,
                                                           "\n".join(wrong[:20]))
