"""The slurm target on a real Slurm cluster (slurmctld + one slurmd per network-namespace host,
made by tests/harness): batch script, sbatch, scontrol, scancel, per-rank logs, tracking."""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import hosts, slurm_cluster  # noqa: E402,F401  (module-scoped fixtures)
from scripts import GLOO_SCRIPT, build_mpi_allreduce, kill_script  # noqa: E402

HARNESS_HOST_COUNT = 2

SCRIPT = """
import json, os, socket, sys, time
from trainyard import Run
run = Run.get_context()
rank = int(os.environ["RANK"])
run.log("rank_value", rank)
if rank == 0:
    os.makedirs("outputs", exist_ok=True)
    open("outputs/result.txt", "w").write("done")
keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR"]
info = {k: os.environ.get(k) for k in keys}
info["host"] = socket.gethostname()
print(json.dumps(info), flush=True)
mode = sys.argv[1] if len(sys.argv) > 1 else ""
if mode == "fail" and rank == 2:
    print("rank 2 gives up", file=sys.stderr, flush=True)
    sys.exit(7)
if mode in ("fail", "sleep"):
    time.sleep(1000)
"""


class Env:
    def __init__(self, ty, cluster):
        self.ty, self.env = ty, cluster.env
        ty.run("target", "add", "cluster", "--type", "slurm",
               "--tracking-address", cluster.hosts.root_addr, check=0, env=self.env)

    def submit(self, src, *extra, check):
        return self.ty.run("submit", "--source", src, "--entry", "train.py", "--target", "cluster",
                           "--set", "node_count=2", "--set", "process_count_per_node=2",
                           "--set", "distributed_backend=pytorch", *extra, check=check,
                           env=self.env, timeout=240)


def ranks_seen(ty, run_id):
    seen = {}
    for line in ty.run("logs", run_id, check=0).stdout.splitlines():
        if line.startswith("[rank "):
            prefix, payload = line.split("] ", 1)
            if payload.startswith("{"):
                seen[int(prefix.replace("[rank ", ""))] = json.loads(payload)
    return seen


def test_two_nodes_two_tasks_each(ty, slurm_cluster):
    e = Env(ty, slurm_cluster)
    src = ty.project("proj", {"train.py": SCRIPT})
    proc = e.submit(src, "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    seen = ranks_seen(ty, run_id)
    assert sorted(seen) == [0, 1, 2, 3]
    assert seen[0]["host"] == seen[1]["host"] != seen[2]["host"] == seen[3]["host"]
    for r, env in seen.items():
        assert env["RANK"] == str(r) and env["WORLD_SIZE"] == "4"
        assert env["LOCAL_RANK"] == str(r % 2) and env["NODE_RANK"] == str(r // 2)
        assert env["MASTER_ADDR"] == seen[0]["host"]
    info = ty.show(run_id)
    assert info["status"] == "Completed"
    assert info["properties"]["slurm_job_id"].isdigit()
    assert "#SBATCH --nodes=2" in info["plan"]["batch_script"]
    series = ty.json("metrics", run_id, "--name", "rank_value")["rank_value"]
    assert sorted(p["rank"] for p in series) == [0, 1, 2, 3]
    assert "outputs/result.txt" in {f["path"] for f in ty.json("files", run_id)}


def test_mpi_program_under_srun(ty, slurm_cluster, tmp_path):
    e = Env(ty, slurm_cluster)
    src = build_mpi_allreduce(tmp_path / "mpi")
    proc = ty.run("submit", "--source", src, "--entry", "allreduce", "--target", "cluster",
                  "--set", "node_count=2", "--set", "process_count_per_node=2",
                  "--set", "distributed_backend=mpi", "--wait", check=0, env=e.env, timeout=240)
    run_id = proc.stderr.strip().splitlines()[0]
    logs = ty.run("logs", run_id, check=0).stdout
    assert logs.count("allreduce=10 expected=10 OK") == 4, logs


def test_dry_run_prints_the_batch_script(ty, slurm_cluster):
    e = Env(ty, slurm_cluster)
    src = ty.project("proj", {"train.py": SCRIPT})
    out = e.submit(src, "--dry-run", "--timeout", "90", check=0).stdout
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=2", "#SBATCH --no-requeue",
                 "#SBATCH --time=2", "srun --kill-on-bad-exit=1 --label"):
        assert line in out, out
    assert "TRAINYARD_TRACKING_TOKEN" not in out.split("batch script:")[1]
    assert ty.json("list") == []


def test_failing_rank_fails_the_job_fast(ty, slurm_cluster):
    e = Env(ty, slurm_cluster)
    src = ty.project("proj", {"train.py": SCRIPT})
    t0 = time.time()
    proc = e.submit(src, "--wait", "--", "fail", check=1)
    assert time.time() - t0 < 90
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["status"] == "Failed"
    assert info["failed_rank"] == 2
    assert "rank 2 gives up" in info["error"]


def test_cancel_scancels_the_job(ty, slurm_cluster):
    e = Env(ty, slurm_cluster)
    src = ty.project("proj", {"train.py": SCRIPT})
    run_id = e.submit(src, "--", "sleep", check=0).stdout.strip().splitlines()[-1]
    ty.wait_status(run_id, {"Running"}, timeout=90)
    deadline = time.time() + 60
    while time.time() < deadline and len(ranks_seen(ty, run_id)) < 4:
        time.sleep(0.3)
    ty.run("cancel", run_id, check=0, env=e.env)
    info = ty.show(run_id)
    assert info["status"] == "Canceled"
    job = info["properties"]["slurm_job_id"]
    state = slurm_cluster.job_info(job).get("JobState")
    assert state in ("CANCELLED", None), state
    assert not ty.processes_of(info["id"])


def test_torch_distributed_gloo_across_nodes(ty, slurm_cluster):
    e = Env(ty, slurm_cluster)
    src = ty.project("proj", {"train.py": GLOO_SCRIPT})
    proc = e.submit(src, "--wait", check=0)
    logs = ty.run("logs", proc.stderr.strip().splitlines()[0], check=0).stdout
    assert logs.count("allreduce 10 world 4") == 4, logs
    assert len({line.rsplit(" on ", 1)[1] for line in logs.splitlines()}) == 2


def test_sigkilled_rank_fails_the_job(ty, slurm_cluster):
    e = Env(ty, slurm_cluster)
    src = ty.project("proj", {"train.py": kill_script(3)})
    t0 = time.time()
    proc = e.submit(src, "--wait", check=1)
    assert time.time() - t0 < 90
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["failed_rank"] == 3
    assert "killed by signal 9" in info["error"] or "Killed" in info["error"], info["error"]
    assert info["properties"]["failed_host"]


def test_timeout_cancels_the_job(ty, slurm_cluster):
    e = Env(ty, slurm_cluster)
    src = ty.project("proj", {"train.py": SCRIPT})
    proc = e.submit(src, "--timeout", "3", "--wait", "--", "sleep", check=1)
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert "max_run_duration_seconds" in info["error"]
    assert not ty.processes_of(info["id"])


SWEEP_SCRIPT = """
import os, sys
from trainyard import Run
x = float(sys.argv[sys.argv.index("--x") + 1])
if int(os.environ["RANK"]) == 0:
    Run.get_context().log("score", x)
print("rank", os.environ["RANK"], "of", os.environ["WORLD_SIZE"], "x", x, flush=True)
"""


def test_sweep_trials_are_distributed_slurm_jobs(ty, slurm_cluster):
    """A sweep on the cluster: each trial is its own Slurm job of 2 nodes."""
    e = Env(ty, slurm_cluster)
    src = ty.project("sweep", {"train.py": SWEEP_SCRIPT})
    (src / "sweep.yml").write_text(
        "type: sweep\n"
        "trial: {source_directory: ., entry_script: train.py, node_count: 2,\n"
        "        process_count_per_node: 1, distributed_backend: pytorch}\n"
        "compute: azureml:cluster\n"
        "search_space: {x: {type: choice, values: [1, 2]}}\n"
        "sampling_algorithm: grid\n"
        "objective: {primary_metric: score, goal: maximize}\n")
    proc = ty.run("sweep", "submit", src / "sweep.yml", "--wait", check=0, env=e.env,
                  timeout=240)
    sweep_id = proc.stderr.strip().splitlines()[0]
    s = ty.json("sweep", "show", sweep_id)
    assert s["status"] == "Completed", s
    assert [t["best"] for t in s["trials"]] == [2, 1], s
    for t in s["trials"]:
        run = ty.show(t["run_id"])
        assert run["target"] == "cluster" and run["status"] == "Completed", run
        assert run["properties"]["slurm_job_id"].isdigit(), run
        assert "#SBATCH --nodes=2" in run["plan"]["batch_script"]
        out = ty.run("logs", t["run_id"], check=0).stdout
        assert "of 2 x " + t["parameters"]["x"] in out, out
