"""The mpi target over several hosts: real Open MPI launching into network-namespace hosts made by
the test harness (tests/harness), with the code copied to each host through the launch agent."""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import hosts  # noqa: E402,F401  (module-scoped fixture)
from scripts import GLOO_SCRIPT, build_mpi_allreduce, kill_script  # noqa: E402

HARNESS_HOST_COUNT = 2

SCRIPT = """
import json, os, socket, sys, time
from trainyard import Run
run = Run.get_context()
rank = int(os.environ["RANK"])
run.log("rank_value", rank)
os.makedirs("outputs", exist_ok=True)
if rank == 0:
    open("outputs/result.txt", "w").write("done")
keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR"]
info = {k: os.environ.get(k) for k in keys}
info["host"] = socket.gethostname()
info["cwd"] = os.getcwd()
print(json.dumps(info), flush=True)
if len(sys.argv) > 1 and sys.argv[1] == "fail" and rank == 3:
    print("rank 3 fails on purpose", file=sys.stderr, flush=True)
    sys.exit(3)
if len(sys.argv) > 1 and sys.argv[1] in ("fail", "sleep"):
    time.sleep(1000)
"""


def add_cluster(ty, hosts):
    cidr = hosts.cidr
    ty.run("target", "add", "cluster", "--type", "mpi",
           "-o", "hosts=" + ",".join(f"{a}:2" for a in hosts.addrs),
           "-o", f"launch_agent={hosts.rsh_agent}",
           "-o", f"tracking_address={hosts.root_addr}",
           "-o", f"mpirun_args=--mca oob_tcp_if_include {cidr} --mca btl_tcp_if_include {cidr}",
           check=0)


def submit(ty, src, *extra, check):
    return ty.run("submit", "--source", src, "--entry", "train.py", "--target", "cluster",
                  "--set", "node_count=2", "--set", "process_count_per_node=2",
                  "--set", "distributed_backend=mpi", *extra, check=check, timeout=180)


def test_two_hosts_two_ranks_each(ty, hosts):
    add_cluster(ty, hosts)
    src = ty.project("proj", {"train.py": SCRIPT})
    proc = submit(ty, src, "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    seen = {}
    for line in ty.run("logs", run_id, check=0).stdout.splitlines():
        prefix, payload = line.split("] ", 1)
        seen[int(prefix.replace("[rank ", ""))] = json.loads(payload)
    assert sorted(seen) == [0, 1, 2, 3]
    # Ranks 0,1 on the first host, 2,3 on the second, each with the torchrun contract.
    assert seen[0]["host"] == seen[1]["host"] != seen[2]["host"] == seen[3]["host"]
    for r, env in seen.items():
        assert env["RANK"] == str(r) and env["WORLD_SIZE"] == "4"
        assert env["LOCAL_RANK"] == str(r % 2) and env["NODE_RANK"] == str(r // 2)
        assert env["MASTER_ADDR"] == hosts.addrs[0]
        assert env["cwd"].startswith("/tmp/trainyard/" + run_id)  # copied, not the local folder
    info = ty.show(run_id)
    assert info["status"] == "Completed"
    assert info["plan"]["staging"]["mode"] == "copy"
    # Metrics crossed from the hosts to this machine's tracking endpoint.
    series = ty.json("metrics", run_id, "--name", "rank_value")["rank_value"]
    assert sorted(p["rank"] for p in series) == [0, 1, 2, 3]
    # outputs/ came back from the first host; the copies on the hosts are gone.
    assert "outputs/result.txt" in {f["path"] for f in ty.json("files", run_id)}
    assert not Path("/tmp/trainyard", run_id).exists()


def test_dry_run_shows_hosts_and_staging(ty, hosts):
    add_cluster(ty, hosts)
    src = ty.project("proj", {"train.py": SCRIPT})
    out = submit(ty, src, "--dry-run", check=0).stdout
    assert "--host " + ",".join(f"{a}:2" for a in hosts.addrs) in out
    assert "plm_rsh_agent" in out and "rank-exec" in out
    assert "code: copied to /tmp/trainyard/" in out


def test_failing_rank_on_a_remote_host_fails_the_run_fast(ty, hosts):
    add_cluster(ty, hosts)
    src = ty.project("proj", {"train.py": SCRIPT})
    t0 = time.time()
    proc = submit(ty, src, "--wait", "--", "fail", check=1)
    assert time.time() - t0 < 90
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["status"] == "Failed"
    assert info["failed_rank"] == 3
    assert "rank 3 fails on purpose" in info["error"]


def _sleeping_run(ty, hosts):
    """A 4-rank run on the hosts whose ranks have all said hello and now sleep; its id."""
    add_cluster(ty, hosts)
    src = ty.project("proj", {"train.py": SCRIPT})
    run_id = submit(ty, src, "--", "sleep", check=0).stdout.strip().splitlines()[-1]
    ty.wait_status(run_id, {"Running"}, timeout=60)
    deadline = time.time() + 60
    while time.time() < deadline and len(ty.run("logs", run_id).stdout.splitlines()) < 4:
        time.sleep(0.2)
    return run_id


def test_cancel_stops_ranks_on_every_host(ty, hosts):
    run_id = _sleeping_run(ty, hosts)
    ty.run("cancel", run_id, check=0)
    assert ty.show(run_id)["status"] == "Canceled"
    # Nothing of the run is left on the hosts.
    assert not ty.processes_of(run_id)


def test_torch_distributed_gloo_across_hosts(ty, hosts):
    add_cluster(ty, hosts)
    src = ty.project("proj", {"train.py": GLOO_SCRIPT})
    proc = submit(ty, src, "--wait", check=0)
    logs = ty.run("logs", proc.stderr.strip().splitlines()[0], check=0).stdout
    assert logs.count("allreduce 10 world 4") == 4, logs
    assert len({line.rsplit(" on ", 1)[1] for line in logs.splitlines()}) == 2


def test_sigkilled_rank_on_a_host_fails_the_run(ty, hosts):
    add_cluster(ty, hosts)
    src = ty.project("proj", {"train.py": kill_script(3)})
    t0 = time.time()
    proc = submit(ty, src, "--wait", check=1)
    assert time.time() - t0 < 60
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["failed_rank"] == 3
    assert "killed by signal 9" in info["error"]
    assert info["properties"]["failed_host"] == hosts.addrs[1]
    assert not ty.processes_of(info["id"])


def test_timeout_stops_ranks_on_every_host(ty, hosts):
    add_cluster(ty, hosts)
    src = ty.project("proj", {"train.py": SCRIPT})
    proc = submit(ty, src, "--timeout", "3", "--wait", "--", "sleep", check=1)
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert "max_run_duration_seconds" in info["error"]
    assert not ty.processes_of(info["id"])


def test_mpi_program_across_hosts(ty, hosts, tmp_path):
    add_cluster(ty, hosts)
    src = build_mpi_allreduce(tmp_path / "mpi")
    proc = ty.run("submit", "--source", src, "--entry", "allreduce", "--target", "cluster",
                  "--set", "node_count=2", "--set", "process_count_per_node=2",
                  "--set", "distributed_backend=mpi", "--wait", check=0, timeout=180)
    logs = ty.run("logs", proc.stderr.strip().splitlines()[0], check=0).stdout
    assert logs.count("allreduce=10 expected=10 OK") == 4, logs


def test_lost_host_fails_the_run_promptly(ty, hosts):
    import os
    import subprocess
    run_id = _sleeping_run(ty, hosts)
    # The second host "crashes": everything running in its namespace dies at once.
    pids = subprocess.run(["ip", "netns", "pids", hosts.names[1]], capture_output=True,
                          text=True, check=True).stdout.split()
    assert pids
    t0 = time.time()
    for pid in pids:
        try:
            os.kill(int(pid), 9)
        except ProcessLookupError:
            pass
    info = ty.wait_status(run_id, {"Failed"}, timeout=60)
    assert time.time() - t0 < 30
    assert "mpirun" in info["error"]
    assert not ty.processes_of(run_id)


def _orted_on_hosts(hosts):
    import subprocess
    found = []
    for name in hosts.names:
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True,
                              check=True).stdout.split()
        for pid in pids:
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if Path(argv[0].decode(errors="replace")).name == "orted":
                found.append((name, int(pid)))
    return found


def test_ranks_on_every_host_die_with_a_killed_supervisor(ty, hosts):
    import os
    import signal
    run_id = _sleeping_run(ty, hosts)
    # 4 ranks and their rank-exec wrappers on the hosts, mpirun here; an orted on each host.
    assert len(ty.processes_of(run_id, wait=0)) >= 9
    assert len(_orted_on_hosts(hosts)) == 2
    os.kill(ty.show(run_id)["supervisor_pid"], signal.SIGKILL)
    # mpirun dies with the supervisor; each host's orted loses it and ends; each rank-exec
    # loses its orted and stops its rank.
    assert not ty.processes_of(run_id, wait=20)
    deadline = time.time() + 20
    while _orted_on_hosts(hosts) and time.time() < deadline:
        time.sleep(0.2)
    assert not _orted_on_hosts(hosts)
    assert ty.wait_status(run_id, {"Failed"}, timeout=30)["status"] == "Failed"
    proc = ty.run("cancel", run_id, check=0)
    assert "stopped" not in proc.stderr, proc.stderr


def test_sweep_trials_run_across_hosts(ty, hosts):
    """A sweep on the mpi target: each trial an mpirun over both hosts."""
    add_cluster(ty, hosts)
    src = ty.project("sweep", {"train.py": (
        "import os, sys\nfrom trainyard import Run\n"
        "x = float(sys.argv[sys.argv.index('--x') + 1])\n"
        "if int(os.environ['RANK']) == 0:\n    Run.get_context().log('loss', x)\n"
        "print('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'], flush=True)\n")})
    (src / "sweep.yml").write_text(
        "type: sweep\n"
        "trial: {source_directory: ., entry_script: train.py, compute_target: cluster,\n"
        "        node_count: 2, process_count_per_node: 1, distributed_backend: mpi}\n"
        "search_space: {x: {type: choice, values: [3, 1]}}\n"
        "sampling_algorithm: grid\n"
        "objective: {primary_metric: loss, goal: minimize}\n"
        "limits: {max_concurrent_trials: 1}\n")
    proc = ty.run("sweep", "submit", src / "sweep.yml", "--wait", check=0, timeout=180)
    sweep_id = proc.stderr.strip().splitlines()[0]
    s = ty.json("sweep", "show", sweep_id)
    assert s["status"] == "Completed", s
    assert [t["best"] for t in s["trials"]] == [1, 3], s   # minimize: best first
    assert s["best_run_id"] == s["trials"][0]["run_id"]
    for t in s["trials"]:
        out = ty.run("logs", t["run_id"], check=0).stdout
        assert "rank 0 of 2" in out and "rank 1 of 2" in out, out
