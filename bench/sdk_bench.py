"""Benchmark (issue 13): what the Python SDK adds over the command and over SQLite.

(a) Submit a trivial script and wait for it: `Experiment.submit()` + `Run.wait_for_completion()`
    from Python (trainyard's SDK, and the azureml estimator over it) vs `trainyard submit --wait`
    (the command, started as a process). Goal: within 10 ms (median of N each, interleaved).
(b) Read a run's 1,000,000 metric points: `Run.get_metrics()` vs the same rows read with Python's
    sqlite3 module from the workspace database (the query the C++ store runs, values gathered
    into a {name: [values]} dict). Goal: within 2x (median of N each).

    /usr/bin/python3 bench/sdk_bench.py BUILD_DIR [REPETITIONS] [POINTS]
"""
import contextlib
import io
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def median_ms(xs):
    return statistics.median(xs) * 1000


def sqlite_metrics(db_path, run_id):
    """{name: [values]} of a run, read with sqlite3 (the reference for get_metrics)."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        out = {}
        rows = con.execute(
            "SELECT n.name, m.value FROM metric_names n JOIN metrics m ON m.name_id = n.id "
            "JOIN runs r ON r.seq = n.run_seq WHERE r.id = ? ORDER BY n.name, m.rowid",
            (run_id,))
        for name, value in rows:
            series = out.get(name)
            if series is None:
                series = out[name] = []
            series.append(value)
        return out
    finally:
        con.close()


def main():
    build = Path(sys.argv[1]).resolve()
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    points = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    sys.path[:0] = [str(build / "python"), str(build / "python-compat" / "azureml")]
    os.environ.pop("TRAINYARD_WORKSPACE", None)
    import trainyard
    from azureml.core import Experiment as AzExperiment
    from azureml.core import Run as AzRun
    from azureml.core import Workspace as AzWorkspace
    from azureml.train.estimator import Estimator as AzEstimator

    cli = str(build / "src" / "cli" / "trainyard")
    tmp = Path(tempfile.mkdtemp(prefix="sdk-bench-"))
    try:
        src = tmp / "src"
        src.mkdir()
        (src / "train.py").write_text("print('ok')\n")
        ws_dir = tmp / "ws"
        ws = trainyard.Workspace(str(ws_dir))
        exp = trainyard.Experiment(ws, "bench")
        with contextlib.redirect_stdout(io.StringIO()):  # "Found the config file in: ..."
            az_ws = AzWorkspace.from_config(_write_config(tmp, ws_dir))
        az_exp = AzExperiment(az_ws, "bench-azureml")

        def by_cli():
            t0 = time.perf_counter()
            subprocess.run([cli, "--workspace", str(ws_dir), "submit", "--source", str(src),
                            "--entry", "train.py", "--experiment", "bench-cli", "--wait"],
                           check=True, capture_output=True)
            return time.perf_counter() - t0

        def by_sdk():
            t0 = time.perf_counter()
            run = exp.submit(trainyard.Estimator(source_directory=str(src),
                                                 entry_script="train.py"))
            run.wait_for_completion()
            return time.perf_counter() - t0

        def by_azureml():
            t0 = time.perf_counter()
            run = az_exp.submit(AzEstimator(str(src), entry_script="train.py"))
            run.wait_for_completion()
            return time.perf_counter() - t0

        cases = [("`trainyard submit --wait` (command, reference)", by_cli),
                 ("trainyard SDK: submit + wait_for_completion", by_sdk),
                 ("azureml Estimator: submit + wait_for_completion", by_azureml)]
        for _, fn in cases:
            fn()  # warm: interpreter probe, workspace, page cache
        times = {label: [] for label, _ in cases}
        for _ in range(reps):
            for label, fn in cases:
                times[label].append(fn())
        print(f"machine: {os.cpu_count()} cores\n")
        print(f"## submit + wait of a trivial script (median of {reps}, interleaved)\n")
        print("| path | median | vs. command |\n|---|---|---|")
        ref = median_ms(times[cases[0][0]])
        for label, _ in cases:
            m = median_ms(times[label])
            diff = "" if label == cases[0][0] else f"{m - ref:+.1f} ms"
            print(f"| {label} | {m:.1f} ms | {diff} |")
        print(f"\ngoal: the SDK within 10 ms of the command "
              f"({median_ms(times[cases[1][0]]) - ref:+.1f} ms)\n")

        # (b) a run with `points` points, logged from its script.
        (src / "log.py").write_text(
            "from trainyard import Run\nrun = Run.get_context()\n"
            f"for i in range({points}):\n    run.log('loss', i * 0.5)\nrun.flush(600)\n")
        t0 = time.perf_counter()
        run = exp.submit(trainyard.Estimator(source_directory=str(src), entry_script="log.py"))
        run.wait_for_completion(timeout=1200)
        made = time.perf_counter() - t0
        az_run = AzRun(AzExperiment(az_ws, "bench"), run.id)
        db = ws_dir / "workspace.db"
        ours = run.get_metrics()
        ref_values = sqlite_metrics(db, run.id)
        assert len(ours["loss"]) == len(ref_values["loss"]) == points, (
            len(ours["loss"]), len(ref_values["loss"]))
        assert ours["loss"][-1] == ref_values["loss"][-1] == (points - 1) * 0.5

        def timed(fn):
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0

        read = {"sqlite3 module, same rows (reference)": [],
                "trainyard SDK: Run.get_metrics()": [],
                "azureml Run.get_metrics()": []}
        for _ in range(reps):
            read["sqlite3 module, same rows (reference)"].append(
                timed(lambda: sqlite_metrics(db, run.id)))
            read["trainyard SDK: Run.get_metrics()"].append(timed(run.get_metrics))
            read["azureml Run.get_metrics()"].append(timed(az_run.get_metrics))
        print(f"## get_metrics of a run with {points:,} points (median of {reps})\n")
        print(f"(the points were logged from the run's script; submit to end: {made:.1f} s)\n")
        print("| reader | median | vs. sqlite3 |\n|---|---|---|")
        ref = median_ms(read["sqlite3 module, same rows (reference)"])
        for label, xs in read.items():
            m = median_ms(xs)
            print(f"| {label} | {m:.0f} ms | {m / ref:.2f}x |")
        print(f"\ngoal: get_metrics within 2x of sqlite3 "
              f"({median_ms(read['trainyard SDK: Run.get_metrics()']) / ref:.2f}x)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_config(tmp, ws_dir):
    import json

    path = tmp / "config.json"
    path.write_text(json.dumps({"subscription_id": "bench", "resource_group": "bench",
                                "workspace_name": "bench", "trainyard_workspace": str(ws_dir)}))
    return str(path)


if __name__ == "__main__":
    main()
