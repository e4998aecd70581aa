"""Benchmark (issue 16): serving TorchScript models over HTTP, trainyard-serve against the Python
server a user would write, side by side in one run.

For each model (examples/digits' MLP trained briefly; torchvision's ResNet-18, random weights,
traced on [1, 3, 224, 224]) it starts, one at a time:
  trainyard b=1      trainyard-serve --model NAME:1=PATH --batch-size 1 (batching off)
  trainyard b=1 x2   ... --batch-size 1 --instances 2 (two model copies, one thread each)
  trainyard b=32     ... --batch-size 32 --max-batch-delay-ms 2 --instances 1
  trainyard b=32 x2  ... --batch-size 32 --max-batch-delay-ms 2 --instances 2
  flask              bench/serve_ref_flask.py (Werkzeug threaded server, torch.jit.load)
  http.server        bench/serve_ref_http.py (ThreadingHTTPServer, torch.jit.load)
and drives each with bench/serve_load (C++, keep-alive connections) at each concurrency: the same
POST /score body ({"data": one item}) for every server. It also measures the model's own forward
time at batch 1 in C++ libtorch (bench/serve_forward, as trainyard-serve runs it) and in Python
torch (as the reference servers run it), with the same intra-op thread count as the servers.

Then it prints a markdown table (model, server, concurrency, rps, p50, p99, errors, throughput
against the faster Python server at that cell) and the issue's goals, met or not:
  - at concurrency 64, trainyard with batching off >= 5x the Python server's throughput;
  - batching >= 2x batch-1 throughput for ResNet-18 at c=64 (b=32 vs b=1, b=32 x2 vs b=1 x2);
  - at concurrency 1, trainyard's p99 within 2 ms of the model's forward time (C++ median).

    /usr/bin/python3 bench/serve_bench.py BUILD_DIR [--seconds 5] [--warmup 1]
        [--concurrency 1,16,64] [--threads 2] [--resnet-sizes 224] [--servers a,b,...]
        [--omp-wait-policy PASSIVE] [--json FILE]

--threads: torch intra-op threads of the Python servers (torch.set_num_threads) and of the
forward-time measurements; default: the number of cores, which is what trainyard-serve gives its
one instance (it gives each instance cores / instances threads and has no flag for it).
Every process started here is stopped before it returns, also on failure.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent

SERVERS = {
    "trainyard b=1": ("trainyard", ["--batch-size", "1"]),
    "trainyard b=1 x2": ("trainyard", ["--batch-size", "1", "--instances", "2"]),
    "trainyard b=32": ("trainyard", ["--batch-size", "32", "--max-batch-delay-ms", "2",
                                     "--instances", "1"]),
    "trainyard b=32 x2": ("trainyard", ["--batch-size", "32", "--max-batch-delay-ms", "2",
                                        "--instances", "2"]),
    "flask": ("python", [str(HERE / "serve_ref_flask.py")]),
    "http.server": ("python", [str(HERE / "serve_ref_http.py")]),
}
PYTHON_SERVERS = ("flask", "http.server")


class Server:
    """One server process in its own session; stop() ends it (TERM, then KILL) and its group."""

    def __init__(self, argv, port_file, log_path, env):
        self.port_file = Path(port_file)
        self.log_path = Path(log_path)
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        self.port = None

    def wait_ready(self, ready_path, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.tail()}")
            if self.port is None and self.port_file.exists():
                self.port = int(self.port_file.read_text())
            if self.port is not None:
                try:
                    with urllib.request.urlopen(
                            f"http://127.0.0.1:{self.port}{ready_path}", timeout=5) as r:
                        if r.status == 200:
                            return
                except OSError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.tail()}")

    def tail(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-2000:]

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def start_server(kind_args, build, model_name, model, threads, tmp, label, omp_wait_policy):
    kind, extra = kind_args
    port_file = tmp / f"port-{len(list(tmp.glob('port-*')))}"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if omp_wait_policy:  # the same for every server
        env["OMP_WAIT_POLICY"] = omp_wait_policy
    if kind == "trainyard":
        tags = {"input_shape": model["input_shape"], "input_dtype": model["input_dtype"]}
        argv = [str(build / "src" / "serve" / "trainyard-serve"),
                "--model", f"{model_name}:1={model['path']}", "--model-tags", json.dumps(tags),
                "--port", "0", "--port-file", str(port_file), *extra]
        ready = "/v2/health/ready"
    else:
        argv = [sys.executable, *extra, "--model", model["path"], "--port", "0",
                "--port-file", str(port_file), "--threads", str(threads)]
        ready = "/ping"
    server = Server(argv, port_file, tmp / f"{label.replace(' ', '_')}-{model_name}.log", env)
    try:
        server.wait_ready(ready)
    except BaseException:
        server.stop()
        raise
    return server


def load(build, port, body, connections, seconds, warmup):
    out = subprocess.run(
        [str(build / "bench" / "serve_load"), "--port", str(port), "--path", "/score",
         "--body-file", body, "--connections", str(connections), "--seconds", str(seconds),
         "--warmup", str(warmup)],
        check=True, capture_output=True, text=True, timeout=seconds + warmup + 120)
    return json.loads(out.stdout)


def forward_cpp(build, model, threads):
    exe = build / "bench" / "serve_forward"
    if not exe.exists():
        return None
    shape = "1," + model["input_shape"]
    runs = "500" if model["input_shape"] == "64" else "30"
    out = subprocess.run([str(exe), model["path"], shape, runs, str(threads)], check=True,
                         capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout)


def forward_python(model, threads):
    """Median and p99 ms of model(x) at batch 1 in a fresh Python process (torch.no_grad)."""
    code = f"""
import json, time, torch
torch.set_num_threads({threads})
m = torch.jit.load({model['path']!r}).eval()
x = torch.rand(1, {model['input_shape']})
runs = 500 if {model['input_shape']!r} == "64" else 30
ms = []
with torch.no_grad():
    for _ in range(min(runs, 10)):
        m(x)
    for _ in range(runs):
        t = time.perf_counter(); m(x); ms.append((time.perf_counter() - t) * 1000)
ms.sort()
p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
print(json.dumps({{"median_ms": ms[len(ms) // 2], "p99_ms": p99}}))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, timeout=300)
    return json.loads(out.stdout)


def fmt_ratio(x):
    return "-" if x is None else f"{x:.1f}x"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("build")
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--concurrency", default="1,16,64")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--resnet-sizes", default="224")
    p.add_argument("--models", default="", help="comma-separated subset (default: all exported)")
    p.add_argument("--servers", default=",".join(SERVERS))
    p.add_argument("--omp-wait-policy", choices=("", "PASSIVE", "ACTIVE"), default="",
                   help="OMP_WAIT_POLICY for every server (default: unset, libgomp spins)")
    p.add_argument("--json", help="also write every measurement to this file")
    args = p.parse_args()
    build = Path(args.build).resolve()
    levels = [int(c) for c in args.concurrency.split(",")]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in servers:
        if s not in SERVERS:
            sys.exit(f"unknown server {s!r}; known: {', '.join(SERVERS)}")
    needed = ["bench/serve_load"]
    if any(SERVERS[s][0] == "trainyard" for s in servers):
        needed.append("src/serve/trainyard-serve")
    for exe in needed:
        if not (build / exe).exists():
            sys.exit(f"{build / exe} is missing: build it first (ninja -C {build} "
                     "trainyard-serve serve_load serve_forward)")

    import torch  # only for its version in the report
    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    try:
        # Copies of the programs: a rebuild of the tree during the run must not swap them.
        for exe in ("src/serve/trainyard-serve", "bench/serve_load", "bench/serve_forward"):
            if (build / exe).exists():
                (tmp / "bin" / exe).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(build / exe, tmp / "bin" / exe)
        build = tmp / "bin"
        subprocess.run([sys.executable, str(HERE / "serve_models.py"), str(tmp / "models"),
                        "--resnet-sizes", args.resnet_sizes], check=True, stdout=subprocess.DEVNULL)
        models = json.loads((tmp / "models" / "models.json").read_text())
        if args.models:
            models = {k: v for k, v in models.items() if k in args.models.split(",")}

        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, torch "
              f"{torch.__version__}, intra-op threads {args.threads}, OMP_WAIT_POLICY "
              f"{args.omp_wait_policy or 'unset'}, "
              f"{args.seconds:g} s per cell after {args.warmup:g} s warm-up, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
        results = {"threads": args.threads, "torch": torch.__version__, "models": {}}
        for name, model in models.items():
            entry = results["models"][name] = {
                "forward_cpp": forward_cpp(build, model, args.threads),
                "forward_python": forward_python(model, args.threads), "cells": {}}
            for label in servers:
                server = start_server(SERVERS[label], build, name, model, args.threads, tmp,
                                      label, args.omp_wait_policy)
                try:
                    for c in levels:
                        r = load(build, server.port, model["body"], c, args.seconds, args.warmup)
                        entry["cells"][f"{label}|{c}"] = r
                        why = f"  ({r['first_error'][:80]})" if r["errors"] else ""
                        print(f"  {name:14} {label:18} c={c:<3} {r['rps']:8.1f} rps  p50 "
                              f"{r['p50_ms']:8.2f} ms  p99 {r['p99_ms']:8.2f} ms  errors "
                              f"{r['errors']}{why}", flush=True)
                finally:
                    server.stop()
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        report(results, servers, levels)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(results, servers, levels):
    print()
    print("| model | server | concurrency | rps | p50 ms | p99 ms | errors | vs Python |")
    print("|---|---|---|---|---|---|---|---|")
    for name, entry in results["models"].items():
        cells = entry["cells"]
        for label in servers:
            for c in levels:
                r = cells.get(f"{label}|{c}")
                if r is None:
                    continue
                py = [cells[f"{s}|{c}"]["rps"] for s in PYTHON_SERVERS if f"{s}|{c}" in cells]
                ratio = r["rps"] / max(py) if py and max(py) > 0 else None
                print(f"| {name} | {label} | {c} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
                      f"{r['p99_ms']:.2f} | {r['errors']} | {fmt_ratio(ratio)} |")
    print()
    print("| model | forward, batch 1, C++ libtorch: median / p99 ms | same in Python torch |")
    print("|---|---|---|")
    for name, entry in results["models"].items():
        fc, fp = entry["forward_cpp"], entry["forward_python"]
        cpp = f"{fc['median_ms']:.3f} / {fc['p99_ms']:.3f}" if fc else "not built"
        print(f"| {name} | {cpp} | {fp['median_ms']:.3f} / {fp['p99_ms']:.3f} |")
    print()
    goals(results, levels)


def goals(results, levels):
    top = max(levels)

    def rps(cells, label, c):
        r = cells.get(f"{label}|{c}")
        return None if r is None else r["rps"]

    for name, entry in results["models"].items():
        cells = entry["cells"]
        py = [x for x in (rps(cells, s, top) for s in PYTHON_SERVERS) if x is not None]
        for label in ("trainyard b=1", "trainyard b=1 x2"):
            ours = rps(cells, label, top)
            if ours is not None and py:
                ratio = ours / max(py) if max(py) > 0 else float("inf")
                print(f"goal {name}: c={top} {label} vs the faster Python server: {ratio:.1f}x "
                      f"(>= 5x: {'met' if ratio >= 5 else 'NOT met'})")
        if name.startswith("resnet18"):
            for batched, single in (("trainyard b=32", "trainyard b=1"),
                                    ("trainyard b=32 x2", "trainyard b=1 x2")):
                b, one = rps(cells, batched, top), rps(cells, single, top)
                if b is not None and one:
                    ratio = b / one
                    print(f"goal {name}: c={top} {batched} vs {single}: {ratio:.1f}x "
                          f"(>= 2x: {'met' if ratio >= 2 else 'NOT met'})")
        one = cells.get("trainyard b=1|1")
        fwd = entry["forward_cpp"] or entry["forward_python"]
        if one:
            gap = one["p99_ms"] - fwd["median_ms"]
            print(f"goal {name}: c=1 trainyard b=1 p99 {one['p99_ms']:.2f} ms (p50 "
                  f"{one['p50_ms']:.2f}) - forward {fwd['median_ms']:.2f} ms = {gap:.2f} ms "
                  f"(<= 2 ms: {'met' if gap <= 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
