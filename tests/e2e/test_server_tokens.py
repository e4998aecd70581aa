"""`trainyard server` and its tokens through the real binary: `server token create|list|revoke`,
a server on a free port that checks them on every request, and its refusals."""
import json
import os
import re
import subprocess
import urllib.error
import urllib.request

from conftest import BIN
from server_process import ServerProcess

TOKEN_RE = re.compile(r"^ty_[A-Za-z0-9_-]{43}$")


def create(ty, name, role, check=0):
    return ty.run("server", "token", "create", "--name", name, "--role", role, check=check)


def start_server(ty, *extra, host="127.0.0.1"):
    """Starts `trainyard server` on port 0; returns (server, url) once it says it serves."""
    server = ServerProcess(ty.workspace, extra=extra, host=host)
    return server, server.start()


def stop_server(server):
    """SIGTERM; returns the exit code and the server's stderr."""
    return server.stop(), server.log()


def get(url, token=None, headers=None):
    """(status, JSON body) of GET url."""
    req = urllib.request.Request(url, headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_token_create_prints_the_token_on_its_last_line_once(ty):
    proc = create(ty, "alice", "admin")
    token = proc.stdout.strip().splitlines()[-1]
    assert TOKEN_RE.match(token), proc.stdout
    assert "shown once" in proc.stderr
    as_json = json.loads(ty.run("server", "token", "create", "--name", "bot", "--role", "read",
                                "--json", check=0).stdout)
    assert as_json["name"] == "bot" and as_json["role"] == "read"
    assert TOKEN_RE.match(as_json["token"]) and as_json["token"] != token

    listed = ty.run("server", "token", "list", check=0).stdout
    listed_json = ty.run("server", "token", "list", "--json", check=0).stdout
    for text in (listed, listed_json):
        assert token not in text and token[3:] not in text and as_json["token"][3:] not in text
    rows = json.loads(listed_json)
    assert [(r["name"], r["role"], r["revoked_at"]) for r in rows] == [
        ("alice", "admin", None), ("bot", "read", None)]
    assert "alice" in listed and "active" in listed


def test_token_refusals_and_revoke(ty):
    create(ty, "ci", "submit")
    dup = create(ty, "ci", "read", check=1)
    assert "exists; revoke it first" in dup.stderr, dup.stderr
    bad_role = create(ty, "x", "owner", check=2)
    assert "unknown role \"owner\"" in bad_role.stderr
    bad_name = create(ty, "a b", "read", check=2)
    assert "may only have letters" in bad_name.stderr

    out = ty.run("server", "token", "revoke", "ci", check=0)
    assert out.stdout.strip() == "revoked token ci"
    rows = ty.json("server", "token", "list")
    assert rows[0]["name"] == "ci" and rows[0]["revoked_at"] is not None
    assert "revoked" in ty.run("server", "token", "list", check=0).stdout
    again = ty.run("server", "token", "revoke", "ci", check=1)
    assert "already revoked" in again.stderr
    missing = ty.run("server", "token", "revoke", "nobody", check=2)
    assert "no token named \"nobody\"" in missing.stderr
    # The name of a revoked token may be used again.
    assert TOKEN_RE.match(create(ty, "ci", "read").stdout.strip().splitlines()[-1])


def test_server_checks_tokens_on_every_request_and_stops_on_sigterm(ty):
    token = create(ty, "alice", "read").stdout.strip().splitlines()[-1]
    proc, url = start_server(ty)
    try:
        assert re.match(r"^http://127\.0\.0\.1:\d+$", url) and not url.endswith(":0"), url
        status, body = get(url + "/api/v1")
        assert status == 401 and "needs a token" in body["error"]
        status, body = get(url + "/api/v1", token)
        assert status == 200, body
        assert body["caller"] == {"name": "alice", "role": "read"}
        assert body["workspace"] == str(ty.workspace) and body["api"] == 1

        # Created and revoked with the CLI while the server runs: counts at once.
        later = create(ty, "later", "submit").stdout.strip().splitlines()[-1]
        assert get(url + "/api/v1", later)[0] == 200
        ty.run("server", "token", "revoke", "later", check=0)
        status, body = get(url + "/api/v1", later)
        assert status == 401 and body["error"] == "invalid or revoked token"

        status, body = get(url + "/api/v1", token, {"Origin": "http://evil.example"})
        assert status == 403 and "cross-origin" in body["error"]
    finally:
        code, rest = stop_server(proc)
    assert code == 0, rest


def test_without_tokens_loopback_is_local_admin_and_wider_listening_is_refused(ty):
    proc, url = start_server(ty)
    try:
        status, body = get(url + "/api/v1")
        assert status == 200 and body["caller"] == {"name": "local", "role": "admin"}
    finally:
        code, rest = stop_server(proc)
    assert code == 0, rest

    refused = ty.run("server", "--host", "0.0.0.0", "--port", "0", timeout=60)
    assert refused.returncode != 0
    assert "no tokens" in refused.stderr and "trainyard server token create" in refused.stderr, \
        refused.stderr

    token = create(ty, "admin", "admin").stdout.strip().splitlines()[-1]
    proc, url = start_server(ty, host="0.0.0.0")
    try:
        port = url.rsplit(":", 1)[1]
        assert get(f"http://127.0.0.1:{port}/api/v1")[0] == 401
        assert get(f"http://127.0.0.1:{port}/api/v1", token)[0] == 200
    finally:
        code, rest = stop_server(proc)
    assert code == 0, rest


def test_the_server_verbs_take_a_folder_never_a_url(ty, tmp_path):
    env = dict(os.environ)
    env["TRAINYARD_WORKSPACE"] = "http://127.0.0.1:1"
    for args in (["server", "--port", "0"], ["server", "token", "list"]):
        proc = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60, env=env,
                              cwd=str(tmp_path))
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith("trainyard: "), proc.stderr
    assert not (tmp_path / "http:").exists()


def test_access_log_has_one_line_per_request(ty):
    token = create(ty, "alice", "read").stdout.strip().splitlines()[-1]
    proc, url = start_server(ty, "--access-log")
    try:
        assert get(url + "/api/v1", token)[0] == 200
        assert get(url + "/api/v1")[0] == 401
        assert get(url + "/api/v1/nothing", token)[0] == 404
    finally:
        code, rest = stop_server(proc)
    assert code == 0, rest
    lines = [line for line in rest.splitlines() if " GET " in line]
    assert len(lines) == 3, rest
    assert re.match(r"^127\.0\.0\.1 GET /api/v1 200 \d+\.\d ms$", lines[0]), lines
    assert " GET /api/v1 401 " in lines[1] and " GET /api/v1/nothing 404 " in lines[2]
