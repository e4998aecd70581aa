"""Tracking through the workspace server (/api/v1/tracking): a run whose supervisor was told
TRAINYARD_SERVER_TRACKING_URI reports to the server with a token for its run only; the server is
killed (-9) mid-run and restarted on the same port, and every point is stored exactly once; the
CLI reading the folder meanwhile sees consistent data."""
import json
import os
import socket
import sqlite3
import subprocess
import time

from conftest import BIN
from server_process import ServerProcess as Server, self_signed_cert

# Logs N points steadily for several seconds, then flushes (the client retries while the server is
# away, with the same (client, seq), so that what was acknowledged is never stored twice).
SCRIPT = """
import os, time
from trainyard import Run
run = Run.get_context()
print("uri", os.environ["TRAINYARD_TRACKING_URI"], flush=True)
print("token", os.environ["TRAINYARD_TRACKING_TOKEN"][:6], flush=True)
N = {n}
for i in range(N):
    run.log("x", i)
    if i % 50 == 49:
        time.sleep({pause})
run.log("done", 1)
run.flush(60)
print("flushed", flush=True)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]




def steps_of(ty, run_id):
    """The steps of metric x as the CLI reads them from the folder (no server involved)."""
    proc = ty.run("metrics", run_id, "--name", "x", "--json")
    if proc.returncode != 0 and 'has no metric "x"' in proc.stderr:
        return []  # nothing logged yet
    assert proc.returncode == 0, proc.stderr
    return [p["step"] for p in json.loads(proc.stdout).get("x", [])]


def run_tokens(workspace):
    db = sqlite3.connect(str(workspace / "workspace.db"))
    try:
        return db.execute("SELECT COUNT(*) FROM run_tokens").fetchone()[0]
    finally:
        db.close()


def test_server_restart_mid_run_loses_and_duplicates_nothing(ty):
    n = 4000
    ty.run("experiments", check=0)  # creates the workspace
    server = Server(ty.workspace, free_port())
    try:
        url = server.start()
        src = ty.project("proj", {"train.py": SCRIPT.format(n=n, pause=0.1)})
        run_id = ty.submit("--source", src, "--entry", "train.py", "--experiment", "srv",
                           env={"TRAINYARD_SERVER_TRACKING_URI": url + "/api/v1/tracking"})

        # The CLI reads the folder while the server writes it: always a prefix, in order, once.
        deadline = time.time() + 120
        reads = 0
        while time.time() < deadline:
            steps = steps_of(ty, run_id)
            assert steps == list(range(len(steps))), steps[:20]
            reads += 1
            if len(steps) >= 500:
                break
            assert ty.show(run_id)["status"] not in ("Failed", "Canceled"), ty.show(run_id)
            time.sleep(0.1)
        else:
            raise AssertionError("the run did not log 500 points through the server")
        assert run_tokens(ty.workspace) == 1  # the run's token, stored hashed

        # Killed without warning mid-run, back on the same port after a while.
        server.kill9()
        before = len(steps_of(ty, run_id))
        time.sleep(1.5)
        # Nothing arrives while the server is away: the ranks report to it, not to their
        # supervisor.
        assert len(steps_of(ty, run_id)) == before
        assert ty.show(run_id)["status"] == "Running"
        server.start()

        while True:
            steps = steps_of(ty, run_id)
            assert steps == list(range(len(steps))), steps[:20]
            reads += 1
            info = ty.show(run_id)
            if info["status"] not in ("Queued", "Starting", "Running", "Finalizing"):
                break
            assert time.time() < deadline, info
            time.sleep(0.2)
        assert info["status"] == "Completed", info
        assert before < n, "the run had finished logging before the server was killed"
        steps = steps_of(ty, run_id)
        assert len(steps) == n
        assert steps == list(range(n))
        values = [p["value"] for p in ty.json("metrics", run_id, "--name", "x")["x"]]
        assert values == [float(i) for i in range(n)]
        assert info["metrics"]["done"]["last"] == 1

        logs = ty.run("logs", run_id, check=0).stdout
        assert f"uri {url}/api/v1/tracking" in logs, logs
        assert "token tyrun_" in logs, logs
        assert "flushed" in logs, logs
        assert run_tokens(ty.workspace) == 0  # removed when the run ended
        assert reads > 5
    finally:
        server.stop()


def test_without_the_variable_runs_report_to_their_supervisor(ty):
    src = ty.project("proj", {"train.py": SCRIPT.format(n=100, pause=0)})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0)
    run_id = proc.stderr.strip().splitlines()[0]
    assert steps_of(ty, run_id) == list(range(100))
    logs = ty.run("logs", run_id, check=0).stdout
    assert "/api/v1/tracking" not in logs and "token tyrun_" not in logs, logs
    assert run_tokens(ty.workspace) == 0


def test_ranks_report_over_tls_trusting_the_servers_certificate(ty, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    ty.run("experiments", check=0)
    server = Server(ty.workspace, free_port(), tls=(cert, key))
    try:
        url = server.start()
        assert url.startswith("https://"), url
        src = ty.project("proj", {"train.py": SCRIPT.format(n=200, pause=0)})
        # The ranks trust the self-signed certificate through OpenSSL's SSL_CERT_FILE.
        proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait", check=0,
                      env={"TRAINYARD_SERVER_TRACKING_URI": url + "/api/v1/tracking",
                           "SSL_CERT_FILE": str(cert)})
        run_id = proc.stderr.strip().splitlines()[0]
        assert steps_of(ty, run_id) == list(range(200))
        logs = ty.run("logs", run_id, check=0).stdout
        assert f"uri {url}/api/v1/tracking" in logs, logs
        assert run_tokens(ty.workspace) == 0
    finally:
        server.stop()


def test_runs_the_server_starts_report_to_it_with_a_run_token(ty, tmp_path):
    ty.run("experiments", check=0)
    # With a token the server needs one on every request; the run's ranks still need none of
    # them: their supervisor gives them a token of their own.
    token = ty.run("server", "token", "create", "--name", "ci", "--role", "submit",
                   check=0).stdout.strip().splitlines()[-1]
    server = Server(ty.workspace, free_port())
    try:
        url = server.start()
        src = ty.project("proj", {"train.py": SCRIPT.format(n=300, pause=0)})
        env = dict(os.environ)
        env.pop("TRAINYARD_WORKSPACE", None)
        env.pop("TRAINYARD_SERVER_TRACKING_URI", None)
        env.update({"TRAINYARD_TOKEN": token, "XDG_CACHE_HOME": str(tmp_path / "cache")})
        client = tmp_path / "client"
        client.mkdir()
        proc = subprocess.run([BIN, "--workspace", url, "submit", "--source", str(src), "--entry",
                               "train.py", "--experiment", "remote", "--wait"],
                              capture_output=True, text=True, timeout=120, env=env, cwd=client)
        assert proc.returncode == 0, proc.stderr
        run_id = ty.json("list", "--experiment", "remote")[0]["id"]
        assert steps_of(ty, run_id) == list(range(300))
        logs = ty.run("logs", run_id, check=0).stdout
        assert f"uri {url}/api/v1/tracking" in logs, logs
        assert "token tyrun_" in logs, logs
        assert run_tokens(ty.workspace) == 0
    finally:
        server.stop()
