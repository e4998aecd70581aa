"""Benchmarks for sweeps (issue 15; docs/benchmarks.md, "Sweeps (issue 15)").

    /usr/bin/python3 bench/sweep_bench.py BUILD_DIR overhead [N]        (default 200)
    /usr/bin/python3 bench/sweep_bench.py BUILD_DIR show [TRIALS]       (default 1000)
    /usr/bin/python3 bench/sweep_bench.py BUILD_DIR quality [TRIALS] [SEEDS] [--json FILE]
        [--batch-size B] [--epochs "4, 8, 16, 32"] [--flush SECONDS] [--methods random,ASHA]
    /usr/bin/python3 bench/sweep_bench.py BUILD_DIR all

overhead: N trials of a trivial job, 4 at a time (max_concurrent_trials: 4 on a local target of
    capacity 4), against N plain runs of the same job on the same target (at most 4 active: the
    target's queue holds the rest), submitted with `trainyard submit` (one process each) and
    with the SDK (`Experiment.submit`, in process, as the sweep controller submits its trials).
    Two jobs: `true` (a command that only exits) and a Python script that logs one metric.
    Wall time from the first submit to the last run's end, per trial. Goal: the sweep adds
    <= 20 ms per trial.
show: `trainyard sweep show ID` (text and --json) of a finished sweep of TRIALS `true` trials,
    median of 5, beside `trainyard list` of the same workspace (its default 20 rows, and every
    run with --all --limit 0). Goal: <= 200 ms.
quality: examples/digits (SGD, learning rate, momentum, hidden size, epochs; primary metric the
    per-epoch test_acc), random, random + bandit, ASHA (random sampling) and model-based
    (bayesian) search, TRIALS trials each, SEEDS sampling seeds (random's 1..SEEDS, the same for
    bandit and ASHA, so they see the same configurations; bayesian takes no seed in the file and
    records the one it drew), max_concurrent_trials 2, trials' own seed fixed (--seed 0). Best
    test accuracy against total trial-seconds (the sum of the trials' Running durations), and
    whether ASHA reaches random search's final best with at most a third of its compute.

Every part works in a fresh workspace under a temporary folder and removes it (and ends any
process still running there) at the end. Prints markdown tables.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

PYTHON = "/usr/bin/python3"
REPO = Path(__file__).resolve().parent.parent

LOG_ONE_METRIC = """\
import sys
from trainyard import Run
Run.get_context().log("acc", float(sys.argv[sys.argv.index("--x") + 1]))
"""


def epoch(text):
    """An ISO 8601 UTC timestamp ("...Z") as seconds since the epoch."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


class Bench:
    """A fresh workspace in a temporary folder, the trainyard command, cleanup."""

    def __init__(self, build, name):
        self.cli = str(build / "src" / "cli" / "trainyard")
        self.tmp = Path(tempfile.mkdtemp(prefix=f"sweep-bench-{name}-"))
        self.ws = self.tmp / "ws"

    def run(self, *args, timeout=3600, check=True):
        for attempt in range(120):
            try:
                proc = subprocess.run([self.cli, "--workspace", str(self.ws), *map(str, args)],
                                      capture_output=True, text=True, timeout=timeout)
                break
            except OSError:  # the binary is being rebuilt (EACCES, ETXTBSY): try again
                if attempt == 119:
                    raise
                time.sleep(1)
        if check and proc.returncode != 0:
            raise RuntimeError(f"trainyard {' '.join(map(str, args))} exited "
                               f"{proc.returncode}: {proc.stderr.strip()}")
        return proc

    def json(self, *args):
        return json.loads(self.run(*args, "--json").stdout)

    def target(self, capacity):
        self.run("target", "add", "local", "--type", "local", "-o",
                 f"max_concurrent_runs={capacity}")

    def close(self):
        # End whatever still runs in this workspace (supervisors, controllers, their children):
        # processes whose command line names the temporary folder, by pid.
        me = os.getpid()
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit() or int(pid_dir.name) == me:
                continue
            try:
                cmd = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace")
            except OSError:
                continue
            if str(self.tmp) in cmd:
                try:
                    os.kill(int(pid_dir.name), signal.SIGKILL)
                except OSError:
                    pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def sweep_yaml(command, search_space, limits, sampling="{type: random, seed: 1}",
               early_termination=None, metric="acc", experiment="bench", extra_trial=""):
    text = (f"type: sweep\ntrial:\n  command: >-\n    {command}\n  code: .\n"
            f"  environment: {{python: {PYTHON}}}\n{extra_trial}"
            f"search_space:\n{search_space}"
            f"sampling_algorithm: {sampling}\n"
            f"objective: {{primary_metric: {metric}, goal: maximize}}\n")
    if early_termination:
        text += f"early_termination: {early_termination}\n"
    return text + f"limits: {limits}\nexperiment_name: {experiment}\n"


def wait_all(sdk_ws, ids):
    """Waits for every run (the SDK's wait, in this process); returns their statuses."""
    return [sdk_ws.get_run(i).wait_for_completion(raise_on_error=False)["status"] for i in ids]


# --- 1. overhead per trial -----------------------------------------------------------------------

def overhead(build, n):
    import trainyard

    cases = [("`true` (a command that only exits)", "true {x}", None),
             ("Python script logging one metric", "python log.py --x {x}", LOG_ONE_METRIC)]
    rows = []
    for label, command, script in cases:
        times = {}
        for way in ("sweep", "cli", "sdk"):
            b = Bench(build, "overhead")
            try:
                src = b.tmp / "src"
                src.mkdir()
                if script:
                    (src / "log.py").write_text(script)
                b.target(4)
                if way == "sweep":
                    (src / "sweep.yml").write_text(sweep_yaml(
                        command.format(x="${{search_space.x}}"),
                        "  x: {type: uniform, min_value: 0, max_value: 1}\n",
                        f"{{max_total_trials: {n}, max_concurrent_trials: 4}}"))
                    t0 = time.perf_counter()
                    proc = b.run("sweep", "submit", src / "sweep.yml", "--wait", check=False)
                    wall = time.perf_counter() - t0
                    sweep_id = proc.stderr.strip().splitlines()[0]
                    s = b.json("sweep", "show", sweep_id)
                    assert s["status"] == "Completed" and s["counts"] == {"Completed": n}, (
                        s["status"], s["counts"], proc.stderr[-2000:])
                    runs = b.json("list", "--sweep", sweep_id, "--limit", "0")
                else:
                    job = {"command": command.format(x="0.5"), "code": str(src),
                           "environment": {"python": PYTHON}, "experiment_name": "bench"}
                    (src / "job.yml").write_text(json.dumps(job))
                    (src / "job.json").write_text(json.dumps(job))
                    sdk_ws = trainyard.Workspace(str(b.ws))
                    t0 = time.perf_counter()
                    if way == "cli":
                        ids = [b.run("submit", src / "job.json").stdout.strip() for _ in range(n)]
                    else:
                        exp = trainyard.Experiment(sdk_ws, "bench")
                        config = trainyard.Command(**job)
                        ids = [exp.submit(config).id for _ in range(n)]
                    statuses = wait_all(sdk_ws, ids)
                    wall = time.perf_counter() - t0
                    assert statuses == ["Completed"] * n, sorted(set(statuses))
                    runs = b.json("list", "--limit", "0")
                # The largest number of runs active at once (from their start and end times).
                points = sorted([(epoch(r["started_at"]), 1) for r in runs] +
                                [(epoch(r["ended_at"]), -1) for r in runs])
                active = peak = 0
                for _, d in points:
                    active += d
                    peak = max(peak, active)
                run_s = statistics.median(epoch(r["ended_at"]) - epoch(r["started_at"])
                                          for r in runs)
                times[way] = (wall, peak, run_s)
            finally:
                b.close()
        rows.append((label, times))

    print(f"## Sweep overhead per trial: {n} trials, 4 at a time\n")
    print("| job | sweep (`sweep submit --wait`) | plain runs, `trainyard submit` each | "
          "plain runs, SDK `Experiment.submit` | sweep minus CLI | sweep minus SDK |")
    print("|---|---|---|---|---|---|")
    for label, t in rows:
        per = {k: v[0] / n * 1000 for k, v in t.items()}
        print(f"| {label} | {per['sweep']:.1f} ms | {per['cli']:.1f} ms | {per['sdk']:.1f} ms | "
              f"{per['sweep'] - per['cli']:+.1f} ms | {per['sweep'] - per['sdk']:+.1f} ms |")
    print("\n(wall time per trial or run, from the first submit to the last end; peak active / "
          "median Running duration of one run:")
    for label, t in rows:
        print(f"  {label}: " + ", ".join(f"{k} {v[1]} / {v[2] * 1000:.0f} ms"
                                         for k, v in t.items()))
    print(")\n\ngoal: the sweep adds <= 20 ms per trial\n")


# --- 2. sweep show of a large finished sweep ------------------------------------------------------

def show(build, trials):
    b = Bench(build, "show")
    try:
        src = b.tmp / "src"
        src.mkdir()
        b.target(8)
        (src / "sweep.yml").write_text(sweep_yaml(
            "true ${{search_space.x}} ${{search_space.y}}",
            "  x: {type: uniform, min_value: 0, max_value: 1}\n"
            "  y: {type: choice, values: [a, b, c]}\n",
            f"{{max_total_trials: {trials}, max_concurrent_trials: 8}}"))
        t0 = time.perf_counter()
        proc = b.run("sweep", "submit", src / "sweep.yml", "--wait", check=False)
        made = time.perf_counter() - t0
        sweep_id = proc.stderr.strip().splitlines()[0]
        s = b.json("sweep", "show", sweep_id)
        assert s["status"] == "Completed" and len(s["trials"]) == trials, (s["status"],
                                                                            s["counts"])
        cases = [("`trainyard sweep show ID`", ["sweep", "show", sweep_id]),
                 ("`trainyard sweep show ID --json`", ["sweep", "show", sweep_id, "--json"]),
                 ("`trainyard list` (reference: 20 rows)", ["list"]),
                 (f"`trainyard list --all --limit 0` (reference: {trials + 1} rows)",
                  ["list", "--all", "--limit", "0"])]
        for _, args in cases:
            b.run(*args)  # warm
        times = {label: [] for label, _ in cases}
        for _ in range(5):
            for label, args in cases:
                t0 = time.perf_counter()
                out = b.run(*args).stdout
                times[label].append(time.perf_counter() - t0)
                assert out
        print(f"## `sweep show` of a finished {trials}-trial sweep (median of 5, interleaved)\n")
        print(f"(the sweep: {trials} trials of `true`, 8 at a time, made in {made:.0f} s)\n")
        print("| command | median | vs. `list` |\n|---|---|---|")
        ref = statistics.median(times[cases[2][0]])
        for label, _ in cases:
            m = statistics.median(times[label])
            print(f"| {label} | {m * 1000:.1f} ms | {m / ref:.2f}x |")
        print("\ngoal: `sweep show` <= 200 ms\n")
    finally:
        b.close()


# --- 3. search quality per compute on examples/digits --------------------------------------------

SPACE = ("  lr: {type: loguniform, min_value: -6.9, max_value: 0}\n"       # e^-6.9 ~ 0.001 .. 1
         "  momentum: {type: uniform, min_value: 0, max_value: 0.95}\n"
         "  hidden: {type: choice, values: [16, 32, 64, 128, 256]}\n"
         "  epochs: {type: choice, values: [EPOCHS]}\n")
COMMAND = ("python train.py --optimizer sgd --batch-size BATCH --seed 0"
           " --lr ${{search_space.lr}} --momentum ${{search_space.momentum}}"
           " --hidden ${{search_space.hidden}} --epochs ${{search_space.epochs}}"
           " --output-dir outputs")
METHODS = [
    ("random", "{type: random, seed: SEED}", None),
    ("random + bandit", "{type: random, seed: SEED}",
     "{type: bandit, slack_factor: 0.1, evaluation_interval: 1, delay_evaluation: 2}"),
    ("ASHA", "{type: random, seed: SEED}", "{type: asha, grace_period: 1, reduction_factor: 3}"),
    ("model-based (bayesian)", "bayesian", None),
]


def curve(trials):
    """[(compute, best)] at each trial's end: compute = trial-seconds spent by every trial up to
    that moment, best = the best test_acc of the trials ended by then."""
    out, best = [], float("-inf")
    for end in sorted(t["end"] for t in trials):
        for t in trials:
            if t["end"] == end and t["best"] is not None:
                best = max(best, t["best"])
        spent = sum(max(0.0, min(t["end"], end) - t["start"]) for t in trials)
        out.append((spent, best))
    return out


def best_at(points, budget):
    best = float("-inf")
    for spent, b in points:
        if spent <= budget + 1e-9:
            best = b
    return best


def quality(build, trials, seeds, json_out=None, batch=32, epochs="4, 8, 16, 32", flush=None,
            methods=None):
    """methods: the names of METHODS to run (default: all; ASHA's comparison needs random)."""
    methods = [m for m in METHODS if methods is None or m[0] in methods]
    b = Bench(build, "quality")
    results = {}  # method -> [per seed {seed, trials: [...], total, best}]
    try:
        code = b.tmp / "src"
        shutil.copytree(REPO / "examples" / "digits", code)
        b.target(2)
        t_all = time.perf_counter()
        for seed in range(1, seeds + 1):
            for method, sampling, policy in methods:
                path = code / f"sweep-{seed}-{len(results.get(method, []))}.yml"
                env = "OMP_NUM_THREADS: '1'" + (f", TRAINYARD_FLUSH_INTERVAL: '{flush}'"
                                                 if flush else "")
                path.write_text(sweep_yaml(
                    COMMAND.replace("BATCH", str(batch)), SPACE.replace("EPOCHS", epochs),
                    f"{{max_total_trials: {trials}, max_concurrent_trials: 2}}",
                    sampling=sampling.replace("SEED", str(seed)), early_termination=policy,
                    metric="test_acc", experiment="digits-sweep",
                    extra_trial=f"  environment_variables: {{{env}}}\n"))
                t0 = time.perf_counter()
                proc = b.run("sweep", "submit", path, "--wait", check=False)
                wall = time.perf_counter() - t0
                sweep_id = proc.stderr.strip().splitlines()[0]
                s = b.json("sweep", "show", sweep_id)
                runs = {r["id"]: r for r in b.json("list", "--sweep", sweep_id, "--limit", "0")}
                rows = []
                for t in s["trials"]:
                    r = runs[t["run_id"]]
                    if not r["started_at"]:
                        continue
                    rows.append({"index": t["index"], "status": t["status"],
                                 "parameters": t["parameters"], "best": t["best"],
                                 "intervals": t["intervals"], "stopped_by": t["stopped_by"],
                                 "start": epoch(r["started_at"]), "end": epoch(r["ended_at"])})
                failed = [t for t in rows if t["status"] == "Failed"]
                total = sum(t["end"] - t["start"] for t in rows)
                best = max((t["best"] for t in rows if t["best"] is not None), default=None)
                results.setdefault(method, []).append({
                    "seed": s["sampling_algorithm"].get("seed", seed), "sweep": sweep_id,
                    "status": s["status"], "wall": wall, "total": total, "best": best,
                    "failed": len(failed), "trials": rows})
                if json_out:  # as it goes: a crash keeps the sweeps done so far
                    Path(json_out).write_text(json.dumps(results, indent=1))
                print(f"  {method} seed {seed}: {s['status']}, best {best}, "
                      f"{total:.0f} trial-s, {wall:.0f} s wall, {len(failed)} failed, "
                      f"{sum(1 for t in rows if t['stopped_by'])} stopped", file=sys.stderr,
                      flush=True)
        elapsed = time.perf_counter() - t_all
    finally:
        b.close()
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=1))

    print(f"## Search quality per compute: examples/digits, {trials} trials per sweep, "
          f"{seeds} seeds, 2 at a time ({elapsed / 60:.0f} min)\n")
    print(f"(batch size {batch}, epochs in {{{epochs}}}"
          + (f", TRAINYARD_FLUSH_INTERVAL={flush} s" if flush else "") + ")\n")
    print("| method | final best test_acc, median (min-max) | total trial-seconds, median "
          "(min-max) | vs. random | trials stopped early |")
    print("|---|---|---|---|---|")
    rand_total = statistics.median(r["total"] for r in results["random"])
    for method, _, _ in methods:
        rs = results[method]
        bests = [r["best"] for r in rs]
        totals = [r["total"] for r in rs]
        stopped = sum(1 for r in rs for t in r["trials"] if t["stopped_by"])
        print(f"| {method} | {statistics.median(bests):.4f} ({min(bests):.4f}-{max(bests):.4f}) "
              f"| {statistics.median(totals):.0f} s ({min(totals):.0f}-{max(totals):.0f}) | "
              f"{statistics.median(totals) / rand_total:.2f}x | {stopped} of "
              f"{sum(len(r['trials']) for r in rs)} |")

    fractions = (1 / 6, 1 / 3, 1 / 2, 2 / 3, 1.0)
    print(f"\nBest test_acc so far against compute (median over seeds; compute as a fraction of "
          f"random's median total, {rand_total:.0f} trial-seconds):\n")
    print("| method | " + " | ".join(f"{f:.2f}" for f in fractions) + " |")
    print("|---|" + "---|" * len(fractions))
    for method, _, _ in methods:
        cells = []
        for f in fractions:
            vals = [best_at(curve(r["trials"]), f * rand_total) for r in results[method]]
            m = statistics.median(vals)
            cells.append("-" if m == float("-inf") else f"{m:.4f}")
        print(f"| {method} | " + " | ".join(cells) + " |")

    if "ASHA" not in results:
        return
    print("\nASHA against random search, seed by seed (the same sampling seed: the same "
          "configurations in the same order):\n")
    print("| seed | random's final best | random's trial-seconds | ASHA's trial-seconds to "
          "reach it | fraction | <= 1/3? |")
    print("|---|---|---|---|---|---|")
    met = 0
    for rnd, asha in zip(results["random"], results["ASHA"]):
        reach = next((spent for spent, best in curve(asha["trials"])
                      if best >= rnd["best"]), None)
        ok = reach is not None and reach <= rnd["total"] / 3
        met += ok
        print(f"| {rnd['seed']} | {rnd['best']:.4f} | {rnd['total']:.0f} s | "
              + (f"{reach:.0f} s | {reach / rnd['total']:.2f} |" if reach is not None
                 else "never | - |") + f" {'yes' if ok else 'no'} |")
    print(f"\ngoal: ASHA reaches random search's final best with at most a third of its compute "
          f"({met} of {len(results['ASHA'])} seeds)\n")
    if "model-based (bayesian)" in results:
        print("model-based (bayesian) seeds as `sweep show` reports them: "
              + ", ".join(str(r["seed"]) for r in results["model-based (bayesian)"]) + "\n")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    build = Path(sys.argv[1]).resolve()
    part = sys.argv[2]
    rest = sys.argv[3:]
    opts = {}
    for flag in ("--json", "--batch-size", "--epochs", "--flush", "--methods"):
        if flag in rest:
            i = rest.index(flag)
            opts[flag] = rest[i + 1]
            del rest[i:i + 2]
    sys.path[:0] = [str(build / "python")]
    os.environ.pop("TRAINYARD_WORKSPACE", None)
    print(f"machine: {os.cpu_count()} cores, {os.uname().release}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}\n")
    if part in ("overhead", "all"):
        overhead(build, int(rest[0]) if part == "overhead" and rest else 200)
    if part in ("show", "all"):
        show(build, int(rest[0]) if part == "show" and rest else 1000)
    if part in ("quality", "all"):
        quality(build, int(rest[0]) if part == "quality" and rest else 24,
                int(rest[1]) if part == "quality" and len(rest) > 1 else 5, opts.get("--json"),
                batch=int(opts.get("--batch-size", 32)),
                epochs=opts.get("--epochs", "4, 8, 16, 32"), flush=opts.get("--flush"),
                methods=opts["--methods"].split(",") if "--methods" in opts else None)


if __name__ == "__main__":
    main()
