"""Training-step time with data parallelism on 2 ranks x 1 thread: trainyard's C++
DistributedOptimizer, trainyard's Python DistributedOptimizer (horovod.torch), PyTorch DDP (Gloo),
and one process with no communication; prints one table (docs/benchmarks.md, "Training step").

    /usr/bin/python3 bench/train_step_bench.py [BUILD_DIR] [--steps 30] [--rounds 3]

BUILD_DIR (default build-dist) must hold bench/train_step_bench and python/, python-compat/. The
models are the same in C++ (bench/train_step_bench.cc) and here: an MLP 784-1024-256-10 (batch 64)
and ResNet-18 on 16 images of 3x64x64. SGD with momentum 0.9, synthetic data, one thread per
process. A step is zero_grad, forward, loss, backward, step; the figure of a run is rank 0's median
step time. Variants run interleaved, `--rounds` times; the table shows the median over rounds.

The communication overhead of a variant is its step time minus the step time of one process of
the same language with no communication (C++ against C++, Python against Python): what the
distributed training adds to each step. A second baseline runs 2 such processes at once (no
communication): on a 2-vCPU machine two processes slow each other down, and that part of the
overhead is not communication.

Also the worker for the Python variants: `train_step_bench.py --worker hvd|ddp|local --model M`.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_mpi_yield_when_idle": "1", "OMP_NUM_THREADS": "1"}
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np"]


# ---------------------------------------------------------------- worker (Python variants)

def make_model(name):
    import torch
    from torch import nn

    if name == "mlp":
        net = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 256), nn.ReLU(),
                            nn.Linear(256, 10))
        return net, torch.randn(64, 784), torch.randint(0, 10, (64,))

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            identity = x if self.downsample is None else self.downsample(x)
            return torch.relu(out + identity)

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            blocks, cin = [], 64
            for cout in (64, 128, 256, 512):
                blocks += [BasicBlock(cin, cout, 1 if cout == 64 else 2),
                           BasicBlock(cout, cout, 1)]
                cin = cout
            self.layers = nn.Sequential(*blocks)
            self.fc = nn.Linear(512, 10)

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = torch.max_pool2d(out, 3, 2, 1)
            out = self.layers(out)
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1))

    return ResNet18(), torch.randn(16, 3, 64, 64), torch.randint(0, 10, (16,))


def worker(args):
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rank, size = 0, 1
    barrier = None
    model, x, y = make_model(args.model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if args.worker == "hvd":
        import horovod.torch as hvd
        hvd.init()
        rank, size = hvd.rank(), hvd.size()
        hvd.broadcast_parameters(model.state_dict(), root_rank=0)
        opt = hvd.DistributedOptimizer(opt, named_parameters=model.named_parameters())
        barrier = hvd.barrier if hasattr(hvd, "barrier") else None
    elif args.worker == "ddp":
        import torch.distributed as tdist
        tdist.init_process_group("gloo", init_method="env://")
        rank, size = tdist.get_rank(), tdist.get_world_size()
        model = torch.nn.parallel.DistributedDataParallel(model)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        barrier = tdist.barrier
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for step in range(args.warmup + args.steps):
        if step == args.warmup and barrier is not None:
            barrier()
        start = time.perf_counter()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        if step >= args.warmup:
            times.append((time.perf_counter() - start) * 1000)
    if rank == 0:
        params = sum(p.numel() for p in model.parameters())
        print("RESULT " + json.dumps({
            "impl": "python", "variant": args.worker, "model": args.model, "ranks": size,
            "params": params, "median_ms": statistics.median(times), "min_ms": min(times)}),
            flush=True)
    if args.worker == "ddp":
        import torch.distributed as tdist
        tdist.destroy_process_group()


# ---------------------------------------------------------------- driver

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_result(out, what):
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError("%s: no RESULT line in its output:\n%s" % (what, out))


def run(cmd, env, what, timeout=600):
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (exit %d):\n%s" % (what, proc.returncode, proc.stdout))
    return parse_result(proc.stdout, what)


def run_variant(variant, model, build, steps, warmup):
    env = dict(os.environ, **MPI_ENV)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(build, "python"),
                                         os.path.join(build, "python-compat", "horovod")])
    bench = os.path.join(build, "bench", "train_step_bench")
    common = ["--model", model, "--steps", str(steps), "--warmup", str(warmup)]
    py = [sys.executable, os.path.abspath(__file__)]
    if variant == "cpp-local":
        return run([bench, "--variant", "local"] + common, env, variant)
    if variant == "cpp-local2":
        return run(MPIRUN + ["2", bench, "--variant", "local"] + common, env, variant)
    if variant == "cpp-dist":
        return run(MPIRUN + ["2", bench, "--variant", "dist"] + common, env, variant)
    if variant == "py-local":
        return run(py + ["--worker", "local"] + common, env, variant)
    if variant == "py-local2":
        return run(MPIRUN + ["2"] + py + ["--worker", "local"] + common, env, variant)
    if variant == "py-hvd":
        return run(MPIRUN + ["2"] + py + ["--worker", "hvd"] + common, env, variant)
    if variant == "py-ddp":
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), WORLD_SIZE="2")
        procs = []
        for rank in range(2):
            renv = dict(env, RANK=str(rank), LOCAL_RANK=str(rank))
            procs.append(subprocess.Popen(py + ["--worker", "ddp"] + common, env=renv,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True))
        outs = [p.communicate(timeout=600)[0] for p in procs]
        if any(p.returncode != 0 for p in procs):
            raise RuntimeError("py-ddp failed:\n" + "\n".join(outs))
        return parse_result(outs[0], variant)
    raise ValueError(variant)


VARIANTS = [
    ("cpp-local", "C++, one process, no communication"),
    ("cpp-local2", "C++, 2 processes at once, no communication"),
    ("cpp-dist", "trainyard C++ DistributedOptimizer, 2 ranks"),
    ("py-local", "Python, one process, no communication"),
    ("py-local2", "Python, 2 processes at once, no communication"),
    ("py-hvd", "trainyard Python DistributedOptimizer (horovod.torch), 2 ranks"),
    ("py-ddp", "PyTorch DDP (Gloo), 2 ranks"),
]
# Overhead = step - baseline. The first baseline is the (one process alone); the second
# (2 processes computing at once, no communication) removes the slowdown that two processes on a
# 2-vCPU machine cause each other, leaving what communication and synchronization add.
BASELINE = {"cpp-dist": ("cpp-local", "cpp-local2"), "py-hvd": ("py-local", "py-local2"),
            "py-ddp": ("py-local", "py-local2")}


def driver(args):
    build = os.path.abspath(args.build)
    results = {}  # (variant, model) -> [median_ms per round]
    params = {}
    for rnd in range(args.rounds):
        for model in args.models:
            for variant, _ in VARIANTS:
                r = run_variant(variant, model, build, args.steps, args.warmup)
                results.setdefault((variant, model), []).append(r["median_ms"])
                params[model] = r["params"]
                print("round %d %-6s %-9s %8.2f ms" % (rnd + 1, model, variant, r["median_ms"]),
                      file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    print("\n### Training step, 2 ranks x 1 thread, median of %d rounds x %d steps (ms per step)\n"
          % (args.rounds, args.steps))
    for model in args.models:
        print("%s (%.2fM parameters)\n" % ({"mlp": "MLP 784-1024-256-10, batch 64 per rank",
                                            "resnet": "ResNet-18, 16 x 3x64x64 per rank"}[model],
                                           params[model] / 1e6))
        print("| variant | step | overhead vs 1 process | / DDP's | overhead vs 2 processes "
              "| / DDP's |")
        print("|---|---|---|---|---|---|")
        ddp = [med[("py-ddp", model)] - med[(b, model)] for b in BASELINE["py-ddp"]]
        for variant, label in VARIANTS:
            step = med[(variant, model)]
            if variant not in BASELINE:
                print("| %s | %.2f | | | | |" % (label, step))
                continue
            cells = []
            for base, ddp_over in zip(BASELINE[variant], ddp):
                over = step - med[(base, model)]
                ratio = over / ddp_over if ddp_over > 0 else float("nan")
                cells.append("%+.2f | %.2f" % (over, ratio))
            print("| %s | %.2f | %s |" % (label, step, " | ".join(cells)))
        print()
    print("rounds (ms): " + json.dumps({"%s/%s" % k: [round(x, 2) for x in v]
                                        for k, v in results.items()}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("build", nargs="?", default=os.path.join(ROOT, "build-dist"))
    p.add_argument("--worker", choices=["hvd", "ddp", "local"])
    p.add_argument("--model", default="mlp", choices=["mlp", "resnet"])
    p.add_argument("--models", nargs="+", default=["mlp", "resnet"])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    if args.worker:
        worker(args)
    else:
        driver(args)


if __name__ == "__main__":
    main()
