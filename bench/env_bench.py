"""Benchmark (issue 6): what an environment costs a run, cache miss vs hit, side by side with a
run that needs no environment. Measured from the run's status history: Preparing -> Starting
(environment and restore), and submit -> end of run. Goal: a hit adds <= 50 ms.
Offline: a one-module wheel built here into a local wheelhouse.

    /usr/bin/python3 bench/env_bench.py BUILD_DIR [REPETITIONS]
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

PIP_OFFLINE = {"PIP_CONFIG_FILE": "/dev/null", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""}


def at(info, status):
    for h in info["status_history"]:
        if h["status"] == status:
            return datetime.fromisoformat(h["at"].replace("Z", "+00:00")).timestamp()
    raise KeyError(status)


def main():
    bin_ = str(Path(sys.argv[1]) / "src" / "cli" / "trainyard")
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tmp = Path(tempfile.mkdtemp(prefix="env-bench-"))
    try:
        pkg = tmp / "tybench-src"
        (pkg / "tybench").mkdir(parents=True)
        (pkg / "tybench" / "__init__.py").write_text("X = 1\n")
        (pkg / "setup.py").write_text('from setuptools import setup\n'
                                      'setup(name="tybench", version="0.1", packages=["tybench"])\n')
        house = tmp / "wheelhouse"
        env = dict(os.environ, **PIP_OFFLINE)
        subprocess.run(["/usr/bin/python3", "-m", "pip", "wheel", "--no-deps",
                        "--no-build-isolation", "--no-index", "-w", str(house), str(pkg)],
                       check=True, capture_output=True, env=env)
        src = tmp / "src"
        src.mkdir()
        (src / "train.py").write_text("print('ok')\n")
        env["TRAINYARD_PIP_FIND_LINKS"] = str(house)
        ws = tmp / "ws"

        def run(*extra):
            t0 = time.time()
            proc = subprocess.run([bin_, "--workspace", ws, "submit", "--source", src, "--entry",
                                   "train.py", "--wait", *extra], check=True,
                                  capture_output=True, text=True, env=env)
            total = time.time() - t0
            run_id = proc.stderr.strip().splitlines()[0]
            info = json.loads(subprocess.run([bin_, "--workspace", ws, "show", run_id, "--json"],
                                             check=True, capture_output=True, text=True).stdout)
            return at(info, "Starting") - at(info, "Preparing"), total

        run()  # warm the interpreter probe and the workspace
        plain = [run() for _ in range(reps)]
        miss = run("--set", "pip_packages=[tybench]")
        hit = [run("--set", "pip_packages=[tybench]") for _ in range(reps)]
        med = lambda xs, i: statistics.median(x[i] for x in xs) * 1000  # noqa: E731
        print(f"## environments, cache miss vs hit (median of {reps}; miss once)\n")
        print("| case | Preparing -> Starting | submit to end of run |\n|---|---|---|")
        print(f"| no packages (reference) | {med(plain, 0):.1f} ms | {med(plain, 1):.0f} ms |")
        print(f"| pip_packages, cache miss | {miss[0] * 1000:.0f} ms | {miss[1] * 1000:.0f} ms |")
        print(f"| pip_packages, cache hit | {med(hit, 0):.1f} ms | {med(hit, 1):.0f} ms |")
        print(f"\nhit adds {med(hit, 1) - med(plain, 1):.1f} ms to submit-to-end (goal <= 50 ms)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
