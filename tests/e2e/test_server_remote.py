"""The CLI against a workspace server (`--workspace http://...`): submit uploads the source folder
(only what the server lacks), the server runs it; other verbs run on the server's workspace
through /api/v1/cli; download uses the files API; tokens and their roles are enforced; a URL is
never taken for a folder."""
import json
import os
import subprocess
import sys

import pytest

from conftest import BIN
from server_process import ServerProcess as Server, self_signed_cert

SCRIPT = """
from trainyard import Run
run = Run.get_context()
print("hello from the server", flush=True)
for i in range(3):
    run.log("loss", 1.0 / (i + 1))
with open("outputs/result.txt", "w") as f:
    f.write("forty-two")
"""

SLOW = """
import time
print("started", flush=True)
time.sleep(60)
"""




def remote(url, token, *args, cwd, check=None, timeout=120, env=None):
    """`trainyard --workspace URL ARGS` with $TRAINYARD_TOKEN = token (None: unset)."""
    full_env = dict(os.environ)
    full_env.pop("TRAINYARD_WORKSPACE", None)
    full_env.pop("TRAINYARD_TOKEN", None)
    if token is not None:
        full_env["TRAINYARD_TOKEN"] = token
    if env:
        full_env.update(env)
    proc = subprocess.run([BIN, "--workspace", url, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=full_env, cwd=str(cwd))
    if check is not None:
        assert proc.returncode == check, (
            f"trainyard {' '.join(map(str, args))} exited {proc.returncode}, expected {check}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def create_token(ty, name, role):
    proc = ty.run("server", "token", "create", "--name", name, "--role", role, check=0)
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture
def served(ty, tmp_path):
    """A server over ty's workspace, its submit and read tokens, and a client folder (cwd)."""
    ty.run("experiments", check=0)  # creates the workspace
    tokens = {"submit": create_token(ty, "ci", "submit"), "read": create_token(ty, "viewer", "read")}
    server = Server(ty.workspace)
    client_dir = tmp_path / "client"
    client_dir.mkdir()
    # The client's snapshot cache lives in the test's folder.
    os.environ["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    try:
        url = server.start()
        yield url, tokens, client_dir
    finally:
        server.stop()
        os.environ.pop("XDG_CACHE_HOME", None)


def test_submit_follow_and_read_through_the_server(ty, served):
    url, tokens, cwd = served
    sub = tokens["submit"]
    src = ty.project("proj", {"train.py": SCRIPT, "lib/helper.py": "X = 1\n",
                              "big.log": "ignored\n", ".trainyardignore": "*.log\n"})

    first = remote(url, sub, "submit", "--source", src, "--entry", "train.py", "--experiment",
                   "remote", "--wait", cwd=cwd, check=0)
    assert "uploaded 3 of 3 files" in first.stderr, first.stderr
    rows = json.loads(remote(url, sub, "list", "--experiment", "remote", "--json", cwd=cwd,
                             check=0).stdout)
    assert len(rows) == 1
    assert first.stderr.splitlines()[1] == rows[0]["id"], first.stderr  # --wait: the id on stderr
    run_id = rows[0]["id"]
    info = json.loads(remote(url, tokens["read"], "show", run_id, "--json", cwd=cwd,
                             check=0).stdout)
    assert info["status"] == "Completed", info
    assert info["experiment"] == "remote"
    # The run is recorded in the server's folder, not anywhere under the client's cwd.
    assert (ty.workspace / "runs" / run_id).is_dir()
    assert not list(cwd.iterdir())

    # The same folder again: nothing to upload.
    second = remote(url, sub, "submit", "--source", src, "--entry", "train.py", "--experiment",
                    "remote", cwd=cwd, check=0)
    assert "uploaded 0 of 3 files (0 bytes)" in second.stderr, second.stderr
    second_id = second.stdout.strip().splitlines()[-1]
    assert second_id != run_id
    streamed = remote(url, sub, "wait", second_id, "--stream", cwd=cwd, check=0)
    assert "hello from the server" in streamed.stdout + streamed.stderr

    # logs and metrics through the server, with the read token.
    logs = remote(url, tokens["read"], "logs", run_id, cwd=cwd, check=0)
    assert "hello from the server" in logs.stdout
    metrics = remote(url, tokens["read"], "metrics", run_id, "--name", "loss", "--json", cwd=cwd,
                     check=0)
    values = [p["value"] for p in json.loads(metrics.stdout)["loss"]]
    assert values == pytest.approx([1.0, 0.5, 1.0 / 3])

    # download: the files API into -o; a traversal path is refused.
    out = cwd / "dl"
    got = remote(url, tokens["read"], "download", run_id, "outputs", "-o", out, cwd=cwd, check=0)
    assert "downloaded 1 file" in got.stdout, got.stdout
    assert (out / "outputs" / "result.txt").read_text() == "forty-two"
    bad = remote(url, tokens["read"], "download", run_id, "../../workspace.db", "-o", out,
                 cwd=cwd)
    assert bad.returncode == 2, bad.stderr
    assert not (out / "workspace.db").exists()
    assert not (cwd / "workspace.db").exists()


def test_roles_and_tokens(ty, served):
    url, tokens, cwd = served
    src = ty.project("slow", {"train.py": SLOW})

    # No token: a clear error, nothing submitted.
    none = remote(url, None, "submit", "--source", src, "--entry", "train.py", cwd=cwd)
    assert none.returncode == 1, none.stderr
    assert "refused the token (401)" in none.stderr and "TRAINYARD_TOKEN" in none.stderr
    bad = remote(url, "ty_not-a-token", "list", cwd=cwd)
    assert bad.returncode == 1 and "401" in bad.stderr, bad.stderr

    # The read token may look but not submit or cancel.
    denied = remote(url, tokens["read"], "submit", "--source", src, "--entry", "train.py",
                    cwd=cwd)
    assert denied.returncode == 1, denied.stderr
    assert "refused the token (403)" in denied.stderr, denied.stderr
    assert ty.json("list") == []

    run_id = remote(url, tokens["submit"], "submit", "--source", src, "--entry", "train.py",
                    cwd=cwd, check=0).stdout.strip().splitlines()[-1]
    cancel = remote(url, tokens["read"], "cancel", run_id, cwd=cwd)
    assert cancel.returncode == 1 and "needs submit" in cancel.stderr, cancel.stderr
    # --token wins over $TRAINYARD_TOKEN.
    remote(url, tokens["read"], "--token", tokens["submit"], "cancel", run_id, cwd=cwd, check=0)
    assert ty.wait_status(run_id, ["Canceled"])["status"] == "Canceled"


def test_verbs_that_cannot_run_remotely_and_url_is_never_a_folder(ty, served):
    url, tokens, cwd = served
    for args in (["snapshot", "restore", "r", "out"], ["supervise", "x"],
                 ["env", "create", "--file", "/etc/passwd"], ["server", "token", "list"]):
        proc = remote(url, tokens["submit"], *args, cwd=cwd)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith("trainyard: "), proc.stderr
    # The command line is checked here first, as for a local workspace.
    assert remote(url, tokens["submit"], "list", "--limit", cwd=cwd).returncode == 2
    proc = remote(url, tokens["submit"], "snapshot", "restore", "r", "out", cwd=cwd)
    assert "`trainyard snapshot restore` does not run against a server" in proc.stderr, proc.stderr
    # A server that is not there: named in the error; no folder "http:" anywhere.
    gone = remote("http://127.0.0.1:1", tokens["read"], "list", cwd=cwd)
    assert gone.returncode == 1 and "127.0.0.1:1" in gone.stderr, gone.stderr
    env = dict(TRAINYARD_WORKSPACE=url)
    via_env = subprocess.run([BIN, "experiments", "--json"], capture_output=True, text=True,
                             cwd=str(cwd), env={**os.environ, **env,
                                                "TRAINYARD_TOKEN": tokens["read"]}, timeout=60)
    assert via_env.returncode == 0, via_env.stderr
    assert not (cwd / "http:").exists()
    assert list(cwd.iterdir()) == []


def test_https_trusting_the_servers_certificate(ty, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    ty.run("experiments", check=0)
    token = create_token(ty, "ci", "submit")
    server = Server(ty.workspace, tls=(cert, key))
    cwd = tmp_path / "client"
    cwd.mkdir()
    try:
        url = server.start()
        assert url.startswith("https://"), url
        ok = remote(url, token, "experiments", "--json", cwd=cwd, check=0,
                    env={"TRAINYARD_CA_CERT": str(cert)})
        assert json.loads(ok.stdout) is not None
        # Without the certificate the server is not trusted: nothing is sent.
        untrusted = remote(url, token, "experiments", cwd=cwd)
        assert untrusted.returncode == 1, untrusted.stderr
        assert "cannot reach the server at " + url in untrusted.stderr, untrusted.stderr
        assert "TRAINYARD_CA_CERT" in untrusted.stderr, untrusted.stderr
        missing = remote(url, token, "experiments", cwd=cwd,
                         env={"TRAINYARD_CA_CERT": str(tmp_path / "nope.pem")})
        assert missing.returncode == 2 and "nope.pem" in missing.stderr, missing.stderr
    finally:
        server.stop()


SWEEP = f"""\
type: sweep
trial:
  command: python t.py --x ${{{{search_space.x}}}}
  code: .
  environment: {{python: {sys.executable}}}
compute: local
sampling_algorithm: grid
search_space:
  x:
    type: choice
    values: [0.25, 0.75]
objective:
  goal: maximize
  primary_metric: acc
limits:
  max_concurrent_trials: 2
experiment_name: remote-sweep
"""

TRIAL = """
import sys
from trainyard import Run
Run.get_context().log("acc", float(sys.argv[2]))
print("trial", sys.argv[2], flush=True)
"""


def test_sweep_submitted_through_the_server(ty, served):
    url, tokens, cwd = served
    src = ty.project("sweep", {"t.py": TRIAL, "sweep.yml": SWEEP})
    proc = remote(url, tokens["submit"], "submit", src / "sweep.yml", "--wait", cwd=cwd,
                  check=0, timeout=180)
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("uploaded 2 of 2 files"), proc.stderr
    sweep_id = lines[1]
    assert "BEST acc" in proc.stdout and sweep_id in proc.stdout, proc.stdout
    shown = json.loads(remote(url, tokens["read"], "sweep", "show", sweep_id, "--json", cwd=cwd,
                              check=0).stdout)
    assert shown["status"] == "Completed" and shown["counts"] == {"Completed": 2}, shown
    assert [t["best"] for t in shown["trials"]] == [0.75, 0.25]
    # The trials ran from the uploaded copy on the server's side.
    assert (ty.workspace / "uploads").is_dir()
    assert not list(cwd.iterdir())
