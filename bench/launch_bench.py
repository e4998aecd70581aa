"""Benchmark (issue 4): time from `trainyard submit` to all ranks started, for 2 and 8 processes on
the local target, against starting the same processes with `mpirun` directly, side by side.
Goal: within 1.2x. Each rank records time.time() as its first statement.

    /usr/bin/python3 bench/launch_bench.py BUILD_DIR [REPETITIONS]
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = ("import time, os\nt = time.time()\n"
          "open(os.path.join(os.environ['STAMP_DIR'], os.environ.get('RANK', "
          "os.environ.get('OMPI_COMM_WORLD_RANK', '0'))), 'w').write(repr(t))\n")


def last_start(stamp_dir, n, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        files = list(Path(stamp_dir).iterdir())
        if len(files) == n and all(f.read_text() for f in files):
            return max(float(f.read_text()) for f in files)
        time.sleep(0.005)
    raise RuntimeError("ranks did not all start")


def main():
    build = Path(sys.argv[1])
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    bin_ = str(build / "src" / "cli" / "trainyard")
    tmp = Path(tempfile.mkdtemp(prefix="launch-bench-"))
    src = tmp / "src"
    src.mkdir()
    (src / "rank.py").write_text(SCRIPT)
    ws = tmp / "ws"
    mpirun = [shutil.which("mpirun"), "--oversubscribe", "--bind-to", "none"]
    if os.geteuid() == 0:
        mpirun.append("--allow-run-as-root")
    rows = []
    try:
        subprocess.run([bin_, "--workspace", ws, "target", "add", "local", "--type", "local",
                        "--max-concurrent-runs", "4"], check=True, capture_output=True)
        for n in (2, 8):
            ours, ref = [], []
            for i in range(reps + 1):  # the first round warms caches and the interpreter probe
                stamps = tmp / f"ours-{n}-{i}"
                stamps.mkdir()
                t0 = time.time()
                subprocess.run([bin_, "--workspace", ws, "submit", "--source", src, "--entry",
                                "rank.py", "--set", f"process_count_per_node={n}", "--set",
                                "distributed_backend=pytorch", "--env", f"STAMP_DIR={stamps}",
                                "--wait"], check=True, capture_output=True)
                if i:
                    ours.append(last_start(stamps, n) - t0)
                stamps = tmp / f"ref-{n}-{i}"
                stamps.mkdir()
                t0 = time.time()
                subprocess.run(mpirun + ["-np", str(n), "-x", f"STAMP_DIR={stamps}",
                                         "/usr/bin/python3", src / "rank.py"],
                               check=True, capture_output=True, timeout=120)
                if i:
                    ref.append(last_start(stamps, n) - t0)
            o, r = statistics.median(ours) * 1000, statistics.median(ref) * 1000
            rows.append(f"| {n} processes, local | {o:.0f} ms | {r:.0f} ms (mpirun directly) | "
                        f"{o / r:.2f}x (goal <= 1.2x) |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"## submit to all ranks started (median of {reps})\n")
    print("| case | trainyard submit | reference | ratio |\n|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
