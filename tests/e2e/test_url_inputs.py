"""Web URLs as inputs (issue 14, item 5; docs/jobs.md, "Web inputs").

A `type: uri_file` input whose path is an http:// or https:// URL is downloaded at submit into the
workspace's download cache (<workspace>/cache/downloads/), revalidated on each submit with
If-None-Match (304: the cached copy), and the run reads the cached file. Every server here is a
real HTTP server on 127.0.0.1 (http.server in a thread) that serves ETags, answers 304 and counts
what it was asked; nothing leaves the machine.
"""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


class Files:
    """What the server serves ({path: (body, etag)}) and what it saw."""

    def __init__(self):
        self.files = {}
        self.requests = []  # (path, If-None-Match or None)
        self.bodies = 0
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        state = self.server.state
        with state.lock:
            state.requests.append((self.path, self.headers.get("If-None-Match")))
            entry = state.files.get(self.path)
            if entry is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, etag = entry
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            state.bodies += 1
        self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server:
    def __init__(self):
        self.state = Files()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.state = self.state
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def serve(self, path, body, etag):
        with self.state.lock:
            self.state.files[path] = (body, etag)

    def stop(self):
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()
            self.running = False


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    # The runs' requests go to 127.0.0.1 directly, whatever proxy the machine configures.
    for v in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
              "TRAINYARD_OFFLINE"]:
        monkeypatch.delenv(v, raising=False)


def job(ty, name, url, type_="uri_file", extra=""):
    """A job that prints its input file and where it read it."""
    folder = ty.tmp / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.yml"
    path.write_text(
        "command: |\n"
        "  echo \"input at ${{inputs.iris}}\"\n"
        "  cat ${{inputs.iris}}\n"
        "inputs:\n"
        f"  iris:\n    type: {type_}\n    path: {url}\n{extra}")
    return path


def completed(ty, path, *extra, env=None):
    proc = ty.run("submit", path, "--wait", *extra, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = proc.stderr.strip().splitlines()[0]
    assert ty.show(run_id)["status"] == "Completed"
    return run_id


def output(ty, run_id):
    return ty.run("logs", run_id, check=0).stdout


def env_log(ty, run_id):
    return (ty.workspace / "runs" / run_id / "logs" / "environment.log").read_text()


def input_path(ty, run_id):
    line = next(l for l in output(ty, run_id).splitlines() if l.startswith("input at "))
    return Path(line[len("input at "):])


def refused(ty, path, *extra, env=None):
    proc = ty.run("submit", path, "--wait", *extra, env=env)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert ty.json("list") == [], "a refused submit records nothing"
    return proc.stderr


def test_download_then_revalidate_then_new_version(ty, server):
    url = server.url("/datasets/iris.csv")
    server.serve("/datasets/iris.csv", b"sepal_length,species\n5.1,setosa\n", '"v1"')
    path = job(ty, "j", url)

    # The plan says the URL and the cache path (a dry run fills the cache like a submit).
    plan = ty.run("submit", path, "--dry-run", check=0)
    cache = ty.workspace / "cache" / "downloads"
    assert url in plan.stdout + plan.stderr
    assert str(cache) in plan.stdout + plan.stderr
    server.state.requests.clear()
    server.state.bodies = 0

    first = completed(ty, path)
    assert server.state.requests == [("/datasets/iris.csv", '"v1"')]  # revalidated: cached
    assert server.state.bodies == 0
    assert "5.1,setosa" in output(ty, first)
    first_input = input_path(ty, first)
    assert first_input.name == "iris.csv"
    assert str(first_input).startswith(str(cache) + "/")
    log = env_log(ty, first)
    assert f"inputs.iris: {url}: not modified (304)" in log, log

    # A changed file (a new ETag) is downloaded again; the earlier run's input keeps its bytes.
    new_body = b"sepal_length,species\n6.3,virginica\n"
    server.serve("/datasets/iris.csv", new_body, '"v2"')
    second = completed(ty, path)
    assert server.state.requests[-1] == ("/datasets/iris.csv", '"v1"')
    assert server.state.bodies == 1
    assert "6.3,virginica" in output(ty, second)
    log = env_log(ty, second)
    assert f"inputs.iris: {url}: downloaded ({len(new_body)} B, ETag \"v2\")" in log, log
    second_input = input_path(ty, second)
    assert second_input != first_input
    assert first_input.read_bytes() == b"sepal_length,species\n5.1,setosa\n"
    assert second_input.read_bytes() == b"sepal_length,species\n6.3,virginica\n"

    # mode: download copies the cached file into the run, as for a local file.
    copied = completed(ty, job(ty, "copy", url, extra="    mode: download\n"))
    got = input_path(ty, copied)
    assert str(got).startswith(str(ty.workspace / "runs" / copied)), got
    assert got.read_bytes() == second_input.read_bytes()


def test_first_submit_downloads(ty, server):
    url = server.url("/x/data.csv")
    server.serve("/x/data.csv", b"a,b\n1,2\n", '"e1"')
    run_id = completed(ty, job(ty, "j", url))
    assert server.state.requests == [("/x/data.csv", None)]
    assert server.state.bodies == 1
    assert "a,b\n1,2" in output(ty, run_id)
    assert f"{url}: downloaded (8 B, ETag \"e1\") into {ty.workspace}/cache/downloads/" in \
        env_log(ty, run_id)


def test_404_and_connection_refused_are_refused_at_submit(ty, server):
    url = server.url("/missing.csv")
    err = refused(ty, job(ty, "missing", url))
    assert f"inputs.iris.path: {url}: HTTP 404 Not Found" in err, err

    closed = server.url("/iris.csv")
    server.stop()
    err = refused(ty, job(ty, "closed", closed))
    assert f"inputs.iris.path: {closed}: connection refused" in err, err
    assert "trainyard data cache URL FILE" in err


def test_unreachable_server_uses_the_cached_copy_with_a_note(ty, server):
    url = server.url("/iris.csv")
    server.serve("/iris.csv", b"cached,copy\n", '"c"')
    path = job(ty, "j", url)
    completed(ty, path)
    server.stop()
    run_id = completed(ty, path)
    assert "cached,copy" in output(ty, run_id)
    log = env_log(ty, run_id)
    assert f"inputs.iris: {url}: could not reach the server (connection refused" in log, log
    assert "the cached copy stored" in log

    # TRAINYARD_OFFLINE=1: no server is contacted; what is not cached is refused.
    offline = {"TRAINYARD_OFFLINE": "1"}
    run_id = completed(ty, path, env=offline)
    assert "TRAINYARD_OFFLINE is set: the cached copy" in env_log(ty, run_id)
    err = ty.run("submit", job(ty, "other", url + "?v=2"), "--wait", env=offline).stderr
    assert "not in the download cache, and TRAINYARD_OFFLINE is set" in err, err


def test_a_url_names_one_file(ty, server):
    url = server.url("/datasets/")
    err = refused(ty, job(ty, "folder", url, type_="uri_folder"))
    assert "a web URL names one file: give type: uri_file" in err, err
    proc = ty.run("data", "create", "d", "--path", url, "--type", "uri_folder")
    assert proc.returncode != 0 and "a web URL names one file" in proc.stderr, proc.stderr


def test_data_asset_with_a_url_is_downloaded_at_submit(ty, server):
    url = server.url("/iris.csv")
    server.serve("/iris.csv", b"from,asset\n", '"a"')
    ty.run("data", "create", "iris", "--path", url, check=0)
    assert server.state.requests == [], "registering does not download"
    shown = ty.json("data", "show", "iris@latest")
    assert shown["type"] == "uri_file" and shown["path"] == url
    run_id = completed(ty, job(ty, "j", "azureml:iris@latest"))
    assert "from,asset" in output(ty, run_id)
    assert f"inputs.iris (data asset iris:1): {url}: downloaded" in env_log(ty, run_id)


def test_data_cache_fills_the_cache_offline(ty, server):
    url = server.url("/datasets/iris.csv")  # served by nobody: never contacted
    local = ty.tmp / "iris-local.csv"
    local.write_text("put,by,hand\n")
    proc = ty.run("data", "cache", url, local, check=0)
    assert url in proc.stdout and "put in the download cache" in proc.stdout
    listed = ty.json("data", "cache", "--list")
    assert [(c["url"], c["pinned"], c["size"]) for c in listed] == [(url, True, 12)]
    run_id = completed(ty, job(ty, "j", url))
    assert server.state.requests == []
    assert "put,by,hand" in output(ty, run_id)
    assert "not revalidated" in env_log(ty, run_id)

    # data cache URL: downloads now (the pin is replaced by the server's copy).
    server.serve("/datasets/iris.csv", b"from,the,server\n", '"s"')
    proc = ty.run("data", "cache", url, check=0)
    assert "downloaded" in proc.stdout
    run_id = completed(ty, job(ty, "k", url))
    assert "from,the,server" in output(ty, run_id)
    assert server.state.requests[-1] == ("/datasets/iris.csv", '"s"')
