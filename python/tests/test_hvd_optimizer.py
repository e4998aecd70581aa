"""DistributedOptimizer and friends: N ranks training on their slices of a batch reach the same
weights as one process training on the whole batch.

Run under `mpirun -np 2` (ctest python.hvd.optimizer) and also as one process
(python.test_hvd_optimizer). Collectives happen in the same order on every rank."""

import copy

import pytest
import torch

pytest.importorskip("trainyard._collective", reason="needs the MPI build")

import horovod.torch as hvd  # noqa: E402

B = 4  # rows per rank


@pytest.fixture(scope="module", autouse=True)
def runtime():
    torch.set_num_threads(1)
    hvd.init()
    yield


def make_model(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def full_batch(step):
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(hvd.size() * B, 5, generator=g, dtype=torch.float32)
    y = torch.randn(hvd.size() * B, 2, generator=g, dtype=torch.float32)
    return x, y


def my_slice(t):
    r = hvd.rank()
    return t[r * B:(r + 1) * B]


def assert_same_weights(a, b, atol=1e-5):
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.allclose(p, q, atol=atol), (name, (p - q).abs().max().item())


def train(opt_factory, steps=5, compression=hvd.Compression.none, passes=1, atol=1e-5,
          set_to_none=False):
    model = make_model(0)
    reference = copy.deepcopy(model)
    opt = hvd.DistributedOptimizer(opt_factory(model.parameters()),
                                   named_parameters=model.named_parameters(),
                                   compression=compression, backward_passes_per_step=passes)
    ref_opt = opt_factory(reference.parameters())
    loss_fn = torch.nn.MSELoss()
    for step in range(steps):
        x, y = full_batch(step)
        opt.zero_grad(set_to_none=set_to_none)
        ref_opt.zero_grad(set_to_none=set_to_none)
        # `passes` micro-batches per step: each rank's slice split in `passes` parts.
        xs, ys = my_slice(x).chunk(passes), my_slice(y).chunk(passes)
        for xm, ym in zip(xs, ys):
            loss_fn(model(xm), ym).backward()
        opt.step()
        # Reference: mean over ranks of the sum over micro-batches of each micro-batch's mean.
        for k in range(hvd.size()):
            rx, ry = x[k * B:(k + 1) * B].chunk(passes), y[k * B:(k + 1) * B].chunk(passes)
            for xm, ym in zip(rx, ry):
                (loss_fn(reference(xm), ym) / hvd.size()).backward()
        ref_opt.step()
    assert_same_weights(model, reference, atol)
    # every rank holds the same weights
    for name, p in model.named_parameters():
        gathered = hvd.allgather(p.detach().unsqueeze(0), name="check." + name)
        for k in range(hvd.size()):
            assert torch.equal(gathered[k], p.detach())
    return model


def test_gradients_are_laid_out_in_one_buffer_after_the_first_step():
    for set_to_none in (False, True):
        model = train(lambda params: torch.optim.SGD(params, lr=0.1), set_to_none=set_to_none)
        if hvd.size() == 1:
            continue  # no hooks, nothing to lay out
        # Views of one buffer that they tile back to back (in the order the hooks fired).
        grads = sorted((p.grad for p in model.parameters()), key=lambda g: g.data_ptr())
        base = grads[0]._base
        assert base is not None and all(g._base is base for g in grads)
        assert grads[0].data_ptr() == base.data_ptr()
        ends = [g.data_ptr() + g.numel() * g.element_size() for g in grads]
        assert [g.data_ptr() for g in grads[1:]] == ends[:-1]
        assert sum(g.numel() for g in grads) == base.numel()


def test_sgd_momentum_matches_single_process():
    train(lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9))


def test_adam_matches_single_process():
    train(lambda params: torch.optim.Adam(params, lr=0.01))


def test_fp16_compression():
    train(lambda params: torch.optim.SGD(params, lr=0.1), compression=hvd.Compression.fp16,
          atol=2e-3)


class _Float64Compressor(hvd.compression.Compressor):
    """A Compressor class of the user's: the C++ reducer calls it from the gradient hooks."""
    compressed = 0

    @staticmethod
    def compress(tensor):
        _Float64Compressor.compressed += 1
        return tensor.double(), tensor.dtype

    @staticmethod
    def decompress(tensor, ctx):
        return tensor.to(ctx)


def test_custom_compressor():
    train(lambda params: torch.optim.SGD(params, lr=0.1), compression=_Float64Compressor)
    if hvd.size() > 1:
        assert _Float64Compressor.compressed > 0


def test_backward_passes_per_step():
    train(lambda params: torch.optim.SGD(params, lr=0.1), passes=2)


def test_unnamed_parameters_and_sum_op():
    model = make_model(0)
    reference = copy.deepcopy(model)
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.0), op=hvd.Sum)
    x, y = full_batch(0)
    # The local gradient comes from a copy: the hooks allreduce into p.grad in place while
    # backward() returns, so p.grad read before step() may already hold the sum.
    torch.nn.MSELoss()(reference(x), y).backward()
    local = [p.grad for p in reference.parameters()]
    torch.nn.MSELoss()(model(x), y).backward()  # same full batch on every rank
    opt.step()
    for p, g in zip(model.parameters(), local):
        assert torch.allclose(p.grad, g * hvd.size(), atol=1e-6)


def test_adasum_optimizer():
    # Every rank steps on its own slice; the parameter deltas are combined with Adasum.
    model = make_model(0)
    start = [p.detach().clone() for p in model.parameters()]
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                   named_parameters=model.named_parameters(), op=hvd.Adasum)
    x, y = full_batch(0)
    torch.nn.MSELoss()(model(my_slice(x)), my_slice(y)).backward()
    opt.step()
    # Expected, computed here: each rank's SGD delta, combined on Horovod's tree.
    deltas = []
    for k in range(hvd.size()):
        m = make_model(0)
        torch.nn.MSELoss()(m(x[k * B:(k + 1) * B]), y[k * B:(k + 1) * B]).backward()
        deltas.append([-0.1 * p.grad for p in m.parameters()])

    def pair(a, b):
        dot = float((a * b).sum())
        ca = 1 - dot / (2 * float((a * a).sum())) if float((a * a).sum()) > 0 else 1
        cb = 1 - dot / (2 * float((b * b).sum())) if float((b * b).sum()) > 0 else 1
        return ca * a + cb * b

    for i, (p, p0) in enumerate(zip(model.parameters(), start)):
        v = [d[i].double() for d in deltas]
        d = 1
        while d < len(v):
            for j in range(0, len(v) - d, 2 * d):
                v[j] = pair(v[j], v[j + d])
            d *= 2
        assert torch.allclose(p.detach().double(), p0.double() + v[0], atol=1e-5)


def test_broadcast_parameters():
    model = make_model(hvd.rank() + 7)  # different weights per rank
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    assert_same_weights(model, make_model(7), atol=0)
    model = make_model(hvd.rank() + 7)
    hvd.broadcast_parameters(model.named_parameters(), root_rank=0)
    assert_same_weights(model, make_model(7), atol=0)


def test_broadcast_optimizer_state():
    r = hvd.rank()
    model = make_model(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.01 * (r + 1), betas=(0.8 + 0.05 * r, 0.999))
    x, y = full_batch(r)  # different data per rank: different state
    torch.nn.MSELoss()(model(x), y).backward()
    opt.step()
    hvd.broadcast_optimizer_state(opt, root_rank=0)
    assert opt.param_groups[0]["lr"] == 0.01
    assert opt.param_groups[0]["betas"] == (0.8, 0.999)
    for i, p in enumerate(model.parameters()):
        st = opt.state[p]
        for key in ("exp_avg", "exp_avg_sq"):
            g = hvd.allgather(st[key].unsqueeze(0), name="st.%d.%s" % (i, key))
            for k in range(hvd.size()):
                assert torch.equal(g[k], st[key])
    # a fresh optimizer (no state yet) gets rank 0's hyperparameters
    opt2 = torch.optim.SGD(model.parameters(), lr=0.5 + r, momentum=0.9)
    hvd.broadcast_optimizer_state(opt2, root_rank=0)
    assert opt2.param_groups[0]["lr"] == 0.5


def test_sync_batch_norm_matches_full_batch():
    torch.manual_seed(3)
    x = torch.randn(hvd.size() * B, 3, 2)
    bn = hvd.SyncBatchNorm(3)
    ref = torch.nn.BatchNorm1d(3)
    mine = my_slice(x).clone().requires_grad_(True)
    full = x.clone().requires_grad_(True)
    out = bn(mine)
    ref_out = ref(full)
    assert torch.allclose(out, my_slice(ref_out), atol=1e-5)
    (out * out).sum().backward()
    (ref_out * ref_out).sum().backward()
    assert torch.allclose(mine.grad, my_slice(full.grad), atol=1e-4)
    assert torch.allclose(bn.running_mean, ref.running_mean, atol=1e-6)
    assert torch.allclose(bn.running_var, ref.running_var, atol=1e-5)
