"""Benchmark (issue 6): C++ entry programs.

1. Submit-to-start of a C++ run whose build is cached (hit), must be built from scratch (miss,
   fresh tree), or is rebuilt after a one-file edit (incremental miss), side by side with a Python
   run. Submit-to-start = from just before `trainyard submit` starts to the run's `Running` status
   (status history); Preparing -> Starting isolates the build. The program includes only
   trainyard.h (a libtorch TU takes ~15 s more to compile; the digits example's miss is shown too).
2. Training speed of the digits example, C++ (examples/digits-cpp) vs Python (examples/digits),
   one thread each (OMP_NUM_THREADS=1), both run by trainyard in the same workspace, interleaved.
   steps/s is taken from the difference of two runs (E1 and E2 epochs: (steps(E2) - steps(E1)) /
   (time(E2) - time(E1)), Running -> Finalizing), so process start, imports, data loading and
   saving cancel out; the C++ program's own loop-only figure is shown beside it.

    /usr/bin/python3 bench/cpp_build_bench.py BUILD_DIR [REPETITIONS]
"""
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELLO = ('#include <cstdio>\n#include "trainyard/trainyard.h"\n#include "v.h"\n'
         'int main() { std::printf("v%d\\n", kV); return 0; }\n')
TRAIN_EXAMPLES = int(0.8 * 1797)


def at(info, status):
    for h in info["status_history"]:
        if h["status"] == status:
            return datetime.fromisoformat(h["at"].replace("Z", "+00:00")).timestamp()
    raise KeyError(status)


class Ty:
    def __init__(self, bin_, ws):
        self.bin, self.ws = bin_, ws

    def __call__(self, *args):
        return subprocess.run([self.bin, "--workspace", self.ws, *map(str, args)], check=True,
                              capture_output=True, text=True)

    def submit(self, *args):
        """Runs a job to its end; returns (submit-to-start s, Preparing->Starting s, info)."""
        t0 = time.time()
        proc = self("submit", "--wait", *args)
        run_id = proc.stderr.strip().splitlines()[0]
        info = json.loads(self("show", run_id, "--json").stdout)
        if info["status"] != "Completed":
            raise SystemExit(f"run {run_id} {info['status']}: {info['error']}")
        return at(info, "Running") - t0, at(info, "Starting") - at(info, "Preparing"), info


def main():
    build = Path(sys.argv[1])
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tmp = Path(tempfile.mkdtemp(prefix="cpp-bench-"))
    ty = Ty(str(build / "src" / "cli" / "trainyard"), str(tmp / "ws"))
    try:
        py = tmp / "py"
        py.mkdir()
        (py / "train.py").write_text("print('ok')\n")

        def hello(name, v):
            d = tmp / name
            d.mkdir(exist_ok=True)
            (d / "hello.cpp").write_text(HELLO)
            (d / "v.h").write_text(f"constexpr int kV = {v};\n")
            return d

        ty.submit("--source", py, "--entry", "train.py")  # warm the interpreter probe
        python = [ty.submit("--source", py, "--entry", "train.py") for _ in range(reps)]
        miss = [ty.submit("--source", hello(f"fresh{i}", i), "--entry", "hello.cpp")
                for i in range(reps)]
        src = hello("fresh0", 0)
        hit = [ty.submit("--source", src, "--entry", "hello.cpp") for _ in range(reps)]
        incremental = []
        for i in range(reps):
            (src / "v.h").write_text(f"constexpr int kV = {100 + i};\n")
            incremental.append(ty.submit("--source", src, "--entry", "hello.cpp"))
        assert all(r[2]["properties"]["build_cache"] == "hit" for r in hit)
        assert all(r[2]["properties"]["build_incremental"] == "true" for r in incremental)
        digits_miss = ty.submit(ROOT / "examples" / "digits-cpp" / "job.yaml",
                                "--set", 'script_params["--epochs"]=1')
        digits_hit = ty.submit(ROOT / "examples" / "digits-cpp" / "job.yaml",
                               "--set", 'script_params["--epochs"]=1')

        med = lambda xs, i: statistics.median(x[i] for x in xs) * 1000  # noqa: E731
        print(f"## C++ programs: submit-to-start (median of {reps})\n")
        print("| case | submit -> Running | Preparing -> Starting | vs Python |")
        print("|---|---|---|---|")
        base = med(python, 0)
        rows = [("Python train.py (reference)", python), ("C++ hello.cpp, cache hit", hit),
                ("C++ hello.cpp, incremental rebuild (1 header edited)", incremental),
                ("C++ hello.cpp, cache miss (fresh tree)", miss)]
        for name, xs in rows:
            print(f"| {name} | {med(xs, 0):.0f} ms | {med(xs, 1):.0f} ms | "
                  f"{med(xs, 0) / base:.2f}x |")
        for name, r in (("C++ digits-cpp (libtorch), cache miss, once", digits_miss),
                        ("C++ digits-cpp (libtorch), cache hit, once", digits_hit)):
            print(f"| {name} | {r[0] * 1000:.0f} ms | {r[1] * 1000:.0f} ms | "
                  f"{r[0] * 1000 / base:.2f}x |")
        print(f"\ncache hit adds {med(hit, 0) - base:.1f} ms to submit-to-start vs Python "
              f"(goal <= 50 ms)\n")

        e1, e2 = 5, 150
        steps_per_epoch = math.ceil(TRAIN_EXAMPLES / 64)
        jobs = {"python": ROOT / "examples" / "digits" / "job.yaml",
                "cpp": ROOT / "examples" / "digits-cpp" / "job.yaml"}

        def train(name, epochs):
            r = ty.submit(jobs[name], "--set", f'script_params["--epochs"]={epochs}',
                          "--env", "OMP_NUM_THREADS=1")
            return at(r[2], "Finalizing") - at(r[2], "Running"), r[2]

        # Interleaved (Python, C++, Python, C++, ...) so that both see the same machine load.
        samples = {n: [] for n in jobs}
        inner = {n: [] for n in jobs}
        acc = {n: [] for n in jobs}
        for _ in range(reps):
            for name in jobs:
                (t1, _), (t2, info) = train(name, e1), train(name, e2)
                samples[name].append((e2 - e1) * steps_per_epoch / (t2 - t1))
                # From the output (the metric needs the Python package of a full build).
                out = ty("logs", info["id"]).stdout
                acc[name].append(float(out.rsplit("test_accuracy ", 1)[1].split()[0]))
                if "steps_per_second" in info["metrics"]:
                    inner[name].append(info["metrics"]["steps_per_second"]["last"])
        speeds = {n: statistics.median(samples[n]) for n in jobs}
        print(f"## digits training, one thread each (median of {reps}; "
              f"{steps_per_epoch} steps/epoch, batch 64)\n")
        print("| program | steps/s (runs of %d vs %d epochs) | loop-only steps/s | test accuracy "
              "(%d epochs) |" % (e1, e2, e2))
        print("|---|---|---|---|")
        for name, label in (("python", "Python train.py"), ("cpp", "C++ train (libtorch)")):
            loop = f"{statistics.median(inner[name]):.0f}" if inner[name] else "-"
            print(f"| {label} | {speeds[name]:.0f} (min {min(samples[name]):.0f}, max "
                  f"{max(samples[name]):.0f}) | {loop} | {statistics.median(acc[name]):.4f} |")
        print(f"\nC++ / Python steps/s: {speeds['cpp'] / speeds['python']:.2f}x")
        print("load average at the end: %.1f %.1f %.1f" % os.getloadavg())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
