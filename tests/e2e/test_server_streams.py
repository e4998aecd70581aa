"""Live streams, files and cancel through `trainyard server` with a real run: the log lines a
real run prints arrive over server-sent events in order while it runs (the same lines as
`trainyard logs`), the events stream gives its statuses and ends, its output files download, and
a cancel over the API stops a running run."""
import http.client
import json
import time

from server_process import ServerProcess

TRAIN = """
import os, sys, time
for i in range(40):
    print(f"line {i}", flush=True)
    if i % 10 == 9:
        print(f"err {i}", file=sys.stderr, flush=True)
    time.sleep(0.05)
os.makedirs("outputs", exist_ok=True)
with open("outputs/result.txt", "w") as f:
    f.write("done\\n")
"""

SLEEPER = """
import time
print("started", flush=True)
time.sleep(300)
"""


class Server(ServerProcess):
    """`trainyard server` on a free port (the workspace has no tokens: loopback, admin)."""

    def __init__(self, workspace):
        super().__init__(workspace)
        self.start()

    def request(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request(method, path, body=body)
        res = conn.getresponse()
        data = res.read()
        conn.close()
        return res.status, res.getheader("Content-Type"), data

    def events(self, path, timeout=60):
        """Reads a server-sent event stream to its end: [(type, data)]."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        conn.request("GET", path)
        res = conn.getresponse()
        assert res.status == 200, res.read()
        assert res.getheader("Content-Type") == "text/event-stream"
        out, kind, data = [], None, ""
        for raw in res:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
            elif line == "" and kind:
                out.append((kind, json.loads(data)))
                kind, data = None, ""
        conn.close()
        return out


def test_a_real_runs_logs_status_and_files_over_the_server(ty):
    src = ty.project("proj", {"train.py": TRAIN})
    server = Server(ty.workspace)
    try:
        run_id = ty.submit("--source", src, "--entry", "train.py")
        ty.wait_status(run_id, {"Running", "Completed"})
        # Follows while the run prints (about 2 s), to its end.
        events = server.events(f"/api/v1/runs/{run_id}/logs/stream?tail=0")
        assert events[-1] == ("end", {})
        lines = [data["text"] for kind, data in events if kind == "line"]
        cli = ty.run("logs", run_id, check=0).stdout.splitlines()
        assert lines == cli
        assert [t for t in lines if t.startswith("line ")] == [f"line {i}" for i in range(40)]
        assert "err 39" in lines

        status_events = server.events(f"/api/v1/runs/{run_id}/events")
        assert status_events[-1] == ("end", {})
        final = [data for kind, data in status_events if kind == "status"][-1]
        assert final["status"] == "Completed" and final["ended"] is True

        status, ctype, body = server.request("GET", f"/api/v1/runs/{run_id}/logs?tail=1")
        assert status == 200 and ctype.startswith("text/plain")
        assert body.decode() == cli[-1] + "\n"

        status, _, body = server.request("GET", f"/api/v1/runs/{run_id}/files")
        assert status == 200
        paths = [f["path"] for f in json.loads(body)["files"]]
        assert "outputs/result.txt" in paths, paths
        status, _, body = server.request("GET", f"/api/v1/runs/{run_id}/files/outputs/result.txt")
        assert (status, body) == (200, b"done\n")
        status, _, _ = server.request(
            "GET", f"/api/v1/runs/{run_id}/files/..%2F..%2Fworkspace.db")
        assert status == 400

        status, _, body = server.request("GET", f"/api/v1/runs/{run_id}/snapshot/train.py")
        assert (status, body.decode()) == (200, TRAIN)
    finally:
        server.stop()


def test_cancel_over_the_server_stops_a_running_run(ty):
    src = ty.project("proj", {"train.py": SLEEPER})
    server = Server(ty.workspace)
    try:
        run_id = ty.submit("--source", src, "--entry", "train.py")
        ty.wait_status(run_id, {"Running"})
        status, _, body = server.request("POST", f"/api/v1/runs/{run_id}/cancel?wait=30", b"")
        assert status == 200, body
        assert json.loads(body)["status"] == "Canceled"
        assert ty.show(run_id)["status"] == "Canceled"
    finally:
        server.stop()
