"""DistributedOptimizer's `groups`, `num_groups` and `process_set`, as Horovod 0.28 documents
them: gradients of a group are reduced together (one grouped allreduce once the whole group is
ready), parameters in no group alone, with the same result as without groups; `groups` is a
positive int or a list of lists of torch.Tensor (each at most once), else ValueError;
`num_groups` is its deprecated form (DeprecationWarning). A rank outside `process_set` builds and
steps the optimizer without communicating (its own gradients), members reduce among themselves.

That grouping really happens is checked with the number of collective operations the optimizer
enqueued (GradientReducer.operations(): a grouped allreduce counts once). Rank-count agnostic:
run on 2, 3 and 4 ranks over MPI and Gloo (the hvd-matrix line below)."""

# hvd-matrix: mpi gloo ranks 2 3 4

import copy
import warnings

import pytest
import torch

pytest.importorskip("trainyard._collective", reason="needs the MPI build")

import horovod.torch as hvd  # noqa: E402

B = 4  # rows per rank
STEPS = 3


@pytest.fixture(scope="module", autouse=True)
def runtime():
    torch.set_num_threads(1)
    hvd.init()
    yield


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3),
                               torch.nn.Tanh(), torch.nn.Linear(3, 2))  # 6 parameters


def data(step, ranks):
    g = torch.Generator().manual_seed(300 + step)
    return torch.randn(ranks * B, 5, generator=g), torch.randn(ranks * B, 2, generator=g)


def train(groups_of, members=None, passes=1, **kwargs):
    """Trains a model with DistributedOptimizer(groups=groups_of(model), ...) over the ranks
    `members` (all by default; each rank its slice of the batch) and, here, a reference model on
    the members' whole batch. Returns (model, reference, optimizer)."""
    members = list(range(hvd.size())) if members is None else members
    model = make_model()
    reference = copy.deepcopy(model)
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5),
                                   named_parameters=model.named_parameters(),
                                   groups=groups_of(model), backward_passes_per_step=passes,
                                   **kwargs)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.5)
    loss_fn = torch.nn.MSELoss()
    me = members.index(hvd.rank()) if hvd.rank() in members else None
    for step in range(STEPS):
        x, y = data(step, hvd.size())
        opt.zero_grad()
        ref_opt.zero_grad()
        mine = slice(hvd.rank() * B, (hvd.rank() + 1) * B)
        for xm, ym in zip(x[mine].chunk(passes), y[mine].chunk(passes)):
            loss_fn(model(xm), ym).backward()
        opt.step()
        # Reference: members average their gradients; a rank outside the set uses its own.
        contributors = members if me is not None else [hvd.rank()]
        for k in contributors:
            part = slice(k * B, (k + 1) * B)
            for xm, ym in zip(x[part].chunk(passes), y[part].chunk(passes)):
                (loss_fn(reference(xm), ym) / len(contributors)).backward()
        ref_opt.step()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert torch.allclose(p, q, atol=1e-5), (name, (p - q).abs().max().item())
    return model, reference, opt


def ops_per_step(opt):
    return opt._reducer.operations() // STEPS


def test_without_groups_each_gradient_is_its_own_allreduce():
    _, _, opt = train(lambda m: None)
    if hvd.size() > 1:
        assert ops_per_step(opt) == 6


@pytest.mark.parametrize("n,expected_ops", [(1, 1), (2, 2), (4, 4), (6, 6), (10, 6)])
def test_int_groups_match_ungrouped_and_group(n, expected_ops):
    # Horovod splits the parameter list into n contiguous parts (empty ones when n > 6).
    _, _, opt = train(lambda m: n)
    if hvd.size() > 1:
        assert ops_per_step(opt) == expected_ops


def test_list_groups_others_alone():
    # Two groups of two (first and last layers' weight+bias); the middle layer's two alone.
    def groups_of(m):
        return [[m[0].weight, m[0].bias], [m[4].bias, m[4].weight]]
    _, _, opt = train(groups_of)
    if hvd.size() > 1:
        assert ops_per_step(opt) == 4


def test_groups_with_backward_passes_per_step():
    _, _, opt = train(lambda m: [[m[0].weight, m[2].weight, m[4].weight]], passes=2)
    if hvd.size() > 1:
        assert ops_per_step(opt) == 4


def test_groups_with_fp16_compression():
    model = make_model()
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                   named_parameters=model.named_parameters(), groups=2,
                                   compression=hvd.Compression.fp16)
    x, y = data(0, hvd.size())
    torch.nn.MSELoss()(model(x), y).backward()  # same full batch everywhere: average = own
    opt.synchronize()
    reference = make_model()
    torch.nn.MSELoss()(reference(x), y).backward()
    for p, q in zip(model.parameters(), reference.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=2e-3)
    with opt.skip_synchronize():
        opt.step()


def test_num_groups_is_deprecated_and_maps_to_groups():
    model = make_model()
    with pytest.warns(DeprecationWarning, match="num_groups"):
        opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                       named_parameters=model.named_parameters(), num_groups=2)
    x, y = data(0, hvd.size())
    mine = slice(hvd.rank() * B, (hvd.rank() + 1) * B)
    torch.nn.MSELoss()(model(x[mine]), y[mine]).backward()
    opt.step()
    if hvd.size() > 1:
        assert opt._reducer.operations() == 2


@pytest.mark.parametrize("groups,message", [
    (0, "non-negative integer or a list of list of torch.Tensor"),
    (-2, "non-negative integer or a list of list of torch.Tensor"),
    ([[1.0]], "groups must consist of torch.Tensor"),
    (lambda m: [[m[0].weight], [m[2].bias, m[0].weight]], "only appear once in groups"),
])
def test_groups_validation(groups, message):
    model = make_model()
    if callable(groups):
        groups = groups(model)
    with pytest.raises(ValueError, match=message):
        hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                 named_parameters=model.named_parameters(), groups=groups)


def test_no_groups_no_warning():
    model = make_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                 named_parameters=model.named_parameters())


@pytest.mark.parametrize("groups", [None, 2])
def test_process_set_outside_rank_steps_locally(groups):
    if hvd.size() < 2:
        pytest.skip("needs 2 ranks")
    # Every rank but the last: the last one is outside the set.
    members = list(range(hvd.size() - 1))
    ps = hvd.add_process_set(hvd.ProcessSet(members))
    try:
        _, _, opt = train(lambda m: groups, members=members, process_set=ps)
        if hvd.rank() not in members:
            assert opt._reducer.operations() == 0  # never communicated
            assert not opt._reducer.hooks()
            opt.synchronize()  # a no-op
        elif len(members) > 1:
            assert opt._reducer.operations() == STEPS * (6 if groups is None else 2)
    finally:
        hvd.remove_process_set(ps)


def test_group_with_a_parameter_unused_on_some_ranks_is_reduced_at_step():
    # Rank 0 does not use the second layer: its group is never complete from the hooks there,
    # so step() starts it, with zeros for the missing gradients (Horovod's rule); the average
    # still divides by every rank.
    torch.manual_seed(1)
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    opt = hvd.DistributedOptimizer(torch.optim.SGD(list(a.parameters()) + list(b.parameters()),
                                                   lr=0.0),
                                   named_parameters=[("a.w", a.weight), ("a.b", a.bias),
                                                     ("b.w", b.weight), ("b.b", b.bias)],
                                   groups=[[a.weight, b.weight], [a.bias, b.bias]], op=hvd.Sum)
    x = torch.ones(1, 3)
    out = a(x) if hvd.rank() == 0 else a(x) + b(x)
    out.sum().backward()
    opt.step()
    if hvd.size() == 1:
        assert b.bias.grad is None  # one rank: no hooks, nothing reduced (as in Horovod)
        return
    # d(sum)/d(bias) is 1 per used layer: a.bias on every rank, b.bias on all but rank 0.
    assert torch.equal(a.bias.grad, torch.full((2,), float(hvd.size())))
    assert torch.equal(b.bias.grad, torch.full((2,), float(hvd.size() - 1)))
    assert torch.equal(b.weight.grad, torch.full((2, 3), float(hvd.size() - 1)))
    assert opt._reducer.operations() == 2
