"""`trainyard serve` and `trainyard-serve` end to end: real TorchScript models made with
/usr/bin/python3, registered with `trainyard model register`, served over real HTTP; every endpoint,
every bad-input case of issue 16, batching against torch's own answers, /metrics and SIGTERM."""
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import BIN

SERVE_BIN = os.environ.get("TRAINYARD_SERVE_BIN") or str(
    Path(BIN).resolve().parent.parent / "serve" / "trainyard-serve")

torch = pytest.importorskip("torch")

MAKE_MODELS = r"""
import sys, torch, torch.nn as nn
torch.manual_seed(0)
class Digits(nn.Module):  # an MLP on 8x8 digits, flattened: [N, 64] -> [N, 10]
    def __init__(s):
        super().__init__(); s.l1 = nn.Linear(64, 32); s.l2 = nn.Linear(32, 10)
    def forward(s, x): return s.l2(torch.relu(s.l1(x)))
class Conv(nn.Module):  # a small conv net: [N, 1, 8, 8] -> [N, 10]
    def __init__(s):
        super().__init__(); s.c = nn.Conv2d(1, 4, 3, padding=1); s.f = nn.Linear(4 * 8 * 8, 10)
    def forward(s, x): return s.f(torch.relu(s.c(x)).flatten(1))
class Slow(nn.Module):  # [N, 2] -> [N, 2]: x * 2, after x[0, 0] products of 256x256 matrices
    def forward(s, x):
        y = torch.ones(256, 256)
        w = torch.eye(256)
        for _ in range(int(x[0, 0].item())):
            y = y @ w
        return x * 2 + y[0, 0] - 1
torch.jit.script(Slow().eval()).save(sys.argv[1] + "/slow.pt")
torch.jit.script(Digits().eval()).save(sys.argv[1] + "/digits.pt")
torch.jit.script(Conv().eval()).save(sys.argv[1] + "/conv.pt")
"""


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    (d / "make_models.py").write_text(MAKE_MODELS)  # torch.jit.script reads the source
    subprocess.run(["/usr/bin/python3", str(d / "make_models.py"), str(d)], check=True,
                   timeout=120)
    (d / "broken.pt").write_text("this is not a TorchScript archive\n")
    return d


def expected(path, rows):
    model = torch.jit.load(str(path))
    with torch.no_grad():
        return model(torch.tensor(rows, dtype=torch.float32)).tolist()


def close(a, b, tol=1e-4):
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b))
    return abs(a - b) <= tol * max(1.0, abs(b))


class Server:
    """A server process (trainyard serve or trainyard-serve) with its port; always stopped."""

    def __init__(self, argv, tmp, env=None):
        self.port_file = tmp / f"port.{time.monotonic_ns()}"
        self.out = open(tmp / f"serve.{time.monotonic_ns()}.out", "w+")
        self.err = open(tmp / f"serve.{time.monotonic_ns()}.err", "w+")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen([*map(str, argv), "--port", "0", "--port-file",
                                      str(self.port_file)], stdout=self.out, stderr=self.err,
                                     env=full_env)
        deadline = time.time() + 60
        while not self.port_file.exists():
            assert self.proc.poll() is None, f"server exited {self.proc.returncode}: {self.stderr()}"
            assert time.time() < deadline, "no port file after 60 s"
            time.sleep(0.05)
        self.port = int(self.port_file.read_text())

    def stdout(self):
        self.out.seek(0)
        return self.out.read()

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def request(self, method, path, body=None, headers=None, conn=None):
        """(status, parsed JSON or text, response headers)."""
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        data = body if body is None or isinstance(body, (bytes, str)) else json.dumps(body)
        c.request(method, path, body=data, headers=headers or {"Content-Type": "application/json"})
        res = c.getresponse()
        text = res.read().decode()
        if conn is None:
            c.close()
        try:
            return res.status, json.loads(text), res
        except ValueError:
            return res.status, text, res

    def wait_ready(self, path="/v2/health/ready", want=200, timeout=60):
        deadline = time.time() + timeout
        while True:
            status, body, _ = self.request("GET", path)
            if status == want:
                return body
            assert time.time() < deadline, f"{path} still {status}: {body}"
            time.sleep(0.05)

    def stop(self):
        """SIGTERM; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def close(self):
        self.stop()
        self.out.close()
        self.err.close()


@pytest.fixture
def servers():
    started = []
    yield lambda *a, **kw: started.append(Server(*a, **kw)) or started[-1]
    for s in started:
        s.close()


def register(ty, path, name, *tags):
    args = ["model", "register", "--name", name, "--path", path]
    for t in tags:
        args += ["--tag", t]
    out = ty.run(*args, check=0).stdout
    return out.strip().splitlines()[-1]


def digit_rows(n, seed=0):
    return [[((i * 7 + j * 3 + seed) % 17) / 16.0 for j in range(64)] for i in range(n)]


def test_serve_registered_models_answers_every_endpoint(ty, model_files, servers):
    assert register(ty, model_files / "digits.pt", "digits", "input_shape=64",
                    "input_dtype=FP32") == "digits:1"
    assert register(ty, model_files / "conv.pt", "conv", "input_shape=1,8,8") == "conv:1"
    s = servers([BIN, "--workspace", ty.workspace, "serve", "digits", "conv:1"], ty.tmp)
    assert s.wait_ready() == {"ready": True}
    assert f"listening on http://127.0.0.1:{s.port}" in s.stdout()
    # torch's OpenMP threads sleep between forwards instead of spinning (docs/serving.md).
    environ = (Path("/proc") / str(s.proc.pid) / "environ").read_bytes().split(b"\0")
    assert b"OMP_WAIT_POLICY=PASSIVE" in environ
    rows = digit_rows(3)
    want = expected(model_files / "digits.pt", rows)

    status, body, _ = s.request("POST", "/predictions/digits", {"data": rows})
    assert status == 200 and close(body, want), body
    status, body, _ = s.request("POST", "/predictions/digits/1", rows)  # a bare list too
    assert status == 200 and close(body, want), body

    flat = [v for r in rows for v in r]
    status, body, _ = s.request("POST", "/v2/models/digits/infer", {
        "id": "req-1", "inputs": [{"name": "x", "shape": [3, 64], "datatype": "FP32",
                                   "data": flat}]})
    assert status == 200, body
    assert body["id"] == "req-1" and body["model_name"] == "digits"
    out = body["outputs"][0]
    assert out["shape"] == [3, 10] and out["datatype"] == "FP32"
    assert close(out["data"], [v for r in want for v in r])
    status, body, _ = s.request("POST", "/v2/models/digits/versions/1/infer", {
        "inputs": [{"name": "x", "shape": [3, 64], "datatype": "FP32", "data": rows}]})
    assert status == 200 and close(body["outputs"][0]["data"], [v for r in want for v in r])

    status, meta, _ = s.request("GET", "/v2/models/digits")
    assert status == 200
    assert meta["name"] == "digits" and meta["versions"] == ["1"]
    assert meta["platform"] == "pytorch_torchscript"
    assert meta["inputs"][0]["shape"] == [-1, 64] and meta["inputs"][0]["datatype"] == "FP32"
    assert s.request("GET", "/v2/models/conv/versions/1")[1]["inputs"][0]["shape"] == [-1, 1, 8, 8]
    assert s.request("GET", "/v2/models/digits/ready")[:2] == (
        200, {"name": "digits", "version": "1", "ready": True})
    assert s.request("GET", "/v2/models/conv/versions/1/ready")[0] == 200
    assert s.request("GET", "/v2/health/live")[:2] == (200, {"live": True})
    assert s.request("GET", "/v2")[1]["name"] == "trainyard"
    assert s.request("GET", "/ping")[:2] == (200, {"status": "Healthy"})
    status, health, _ = s.request("GET", "/health")
    assert status == 200 and health["status"] == "Healthy"
    assert sorted((m["name"], m["state"]) for m in health["models"]) == [
        ("conv", "Ready"), ("digits", "Ready")]

    # Two tensor models and no scoring script: /score says where to go.
    status, body, _ = s.request("POST", "/score", {"data": rows})
    assert status == 400
    assert "conv:1, digits:1" in body["error"] and "/predictions/{model}" in body["error"]

    status, text, res = s.request("GET", "/metrics")
    assert status == 200 and res.getheader("Content-Type") == "text/plain; version=0.0.4"
    assert ('trainyard_requests_total{model="digits",version="1",endpoint="/predictions",'
            'code="200"} 2') in text, text
    assert 'trainyard_request_duration_seconds_count{model="digits",version="1"}' in text
    assert "trainyard_batch_size" in text and "trainyard_queue_depth" in text

    assert s.stop() == 0
    assert "stopping" in s.stderr()


def test_score_with_one_model_and_keep_alive(ty, model_files, servers):
    register(ty, model_files / "digits.pt", "digits", "input_shape=64")
    register(ty, model_files / "conv.pt", "digits")  # digits:2, a different model
    s = servers([BIN, "--workspace", ty.workspace, "serve", "digits:1"], ty.tmp)
    s.wait_ready()
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    for seed in range(5):  # one connection, kept alive
        rows = digit_rows(2, seed)
        status, body, _ = s.request("POST", "/score", {"data": rows}, conn=conn)
        assert status == 200 and close(body, expected(model_files / "digits.pt", rows)), body
    conn.close()
    # Only version 1 is served; 2 exists in the registry but not here.
    status, body, _ = s.request("POST", "/predictions/digits/2", {"data": digit_rows(1)})
    assert status == 404 and "served versions: 1" in body["error"]


def test_bad_input_is_a_json_error_and_the_server_goes_on(ty, model_files, servers):
    register(ty, model_files / "digits.pt", "digits", "input_shape=64", "input_dtype=FP32")
    s = servers([BIN, "--workspace", ty.workspace, "serve", "digits", "--max-body-bytes",
                 "20000"], ty.tmp)
    s.wait_ready()
    good = {"data": digit_rows(1)}

    status, body, _ = s.request("POST", "/predictions/digits", '{"data": [[1, 2,, 3]]}')
    assert status == 400 and "malformed JSON" in body["error"] and "column" in body["error"]

    status, body, _ = s.request("POST", "/predictions/digits", {"data": [[0.5] * 63]})
    assert status == 400 and "[-1, 64]" in body["error"], body

    status, body, _ = s.request("POST", "/predictions/digits", {"data": [[0.5] * 64, [0.5] * 63]})
    assert status == 400, body

    status, body, _ = s.request("POST", "/v2/models/digits/infer", {
        "inputs": [{"name": "x", "shape": [1, 64], "datatype": "INT64", "data": [1] * 64}]})
    assert status == 400 and "FP32" in body["error"] and "INT64" in body["error"], body

    status, body, _ = s.request("POST", "/v2/models/digits/infer", {
        "inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [1] * 60}]})
    assert status == 400 and "64" in body["error"], body

    status, body, _ = s.request("POST", "/predictions/digits", {"data": [[0.5] * 64] * 200})
    assert status == 413 and "20000 bytes" in body["error"], body

    status, body, _ = s.request("POST", "/predictions/nope", good)
    assert status == 404 and "no model 'nope'" in body["error"] and "digits:1" in body["error"]
    status, body, _ = s.request("POST", "/predictions/digits/9", good)
    assert status == 404 and "no version '9'" in body["error"]
    status, body, _ = s.request("GET", "/v2/models/digits/versions/9/ready")
    assert status == 404
    status, body, _ = s.request("GET", "/nothing/here")
    assert status == 404 and "POST /score" in body["error"]
    status, body, res = s.request("GET", "/predictions/digits")
    assert status == 405 and res.getheader("Allow") == "POST" and "error" in body

    # After all that, the model still answers.
    status, body, _ = s.request("POST", "/predictions/digits", good)
    assert status == 200 and close(body, expected(model_files / "digits.pt", good["data"]))
    _, text, _ = s.request("GET", "/metrics")
    assert 'endpoint="/predictions",code="400"} 3' in text, text
    assert 'code="413"} 1' in text, text


def test_loading_and_broken_models_answer_503_with_the_reason(ty, model_files, servers, tmp_path):
    # A model whose file is a FIFO stays "loading" until something is written into it.
    fifo = tmp_path / "slow.pt"
    os.mkfifo(fifo)
    s = servers([SERVE_BIN, "--model", f"slow:1={fifo}", "--model", f"broken:1="
                 f"{model_files / 'broken.pt'}", "--model", f"digits:3={model_files / 'digits.pt'}",
                 "--model-tags", '{"input_shape": "64"}'], tmp_path)
    s.wait_ready("/v2/models/digits/ready")
    status, body, _ = s.request("GET", "/v2/models/slow/ready")
    assert status == 503 and body["ready"] is False and "still loading" in body["error"]
    status, body, _ = s.request("POST", "/predictions/slow", {"data": digit_rows(1)})
    assert status == 503 and body["error"] == "model slow:1 is still loading"

    status, body = s.request("GET", "/v2/models/broken/ready")[:2]
    assert status == 503 and "broken.pt" in body["error"], body
    deadline = time.time() + 30
    while "model broken:1 failed to load: " not in s.stderr():
        assert time.time() < deadline, s.stderr()
        time.sleep(0.05)
    status, body = s.request("GET", "/v2/health/ready")[:2]
    assert status == 503 and "broken:1 failed to load" in body["error"]
    assert "slow:1 is still loading" in body["error"]
    assert s.request("GET", "/ping")[1] == {"status": "Partial Healthy"}

    # The loaded model serves meanwhile.
    status, body, _ = s.request("POST", "/predictions/digits", {"data": digit_rows(2)})
    assert status == 200 and close(body, expected(model_files / "digits.pt", digit_rows(2)))

    # Feed the FIFO bytes that are no model (at every open of it by the loader): the loader's
    # message becomes the answer.
    deadline = time.time() + 30
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO until the loader opens it
            try:
                os.write(fd, b"garbage")
            finally:
                os.close(fd)
        except OSError:
            pass
        status, body = s.request("GET", "/v2/models/slow/ready")[:2]
        if "still loading" not in body["error"]:
            break
        assert time.time() < deadline, body
        time.sleep(0.05)
    assert status == 503 and "slow.pt" in body["error"], body
    assert s.stop() == 0


def test_batching_gives_the_answers_of_batch_one(model_files, servers, tmp_path):
    s = servers([SERVE_BIN, "--model", f"conv:1={model_files / 'conv.pt'}", "--batch-size", "8",
                 "--max-batch-delay-ms", "20", "--instances", "2"], tmp_path)
    s.wait_ready()
    images = [[[[((n * 5 + i * 8 + j) % 11) / 10.0 for j in range(8)] for i in range(8)]]
              for n in range(48)]
    want = expected(model_files / "conv.pt", images)

    def one(n):
        return s.request("POST", "/predictions/conv", {"data": [images[n]]})[:2]

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(one, range(48)))
    for n, (status, body) in enumerate(answers):
        assert status == 200, body
        assert close(body[0], want[n]), (n, body, want[n])
    _, text, _ = s.request("GET", "/metrics")
    assert ('trainyard_requests_total{model="conv",version="1",endpoint="/predictions",'
            'code="200"} 48') in text
    assert 'trainyard_batch_size_count{model="conv",version="1"}' in text
    assert s.stop() == 0


def test_deadline_is_504_and_a_full_queue_is_503(model_files, servers, tmp_path):
    # One instance, one place in the queue; a forward of 6000 products takes seconds here (500
    # took only 0.2 s, too short for the requests below to find it still running).
    s = servers([SERVE_BIN, "--model", f"slow:1={model_files / 'slow.pt'}", "--queue-size", "1",
                 "--timeout-ms", "20000"], tmp_path)
    s.wait_ready()
    assert s.request("POST", "/predictions/slow", {"data": [[0, 1]]})[:2] == (200, [[0.0, 2.0]])
    with ThreadPoolExecutor(max_workers=3) as pool:
        first = pool.submit(s.request, "POST", "/predictions/slow", {"data": [[6000, 1]]})
        time.sleep(0.3)  # the first is queued or running for seconds from here on
        others = [pool.submit(s.request, "POST", "/predictions/slow", {"data": [[0, n]]})
                  for n in (2, 3)]
        answers = [f.result()[:2] for f in others]
        assert first.result()[:2] == (200, [[12000.0, 2.0]])
    full = [body for status, body in answers if status == 503]
    assert full and "queue full" in full[0]["error"], answers
    s.stop()

    s = servers([SERVE_BIN, "--model", f"slow:1={model_files / 'slow.pt'}", "--timeout-ms",
                 "300"], tmp_path)
    s.wait_ready()
    status, body, _ = s.request("POST", "/predictions/slow", {"data": [[6000, 1]]})
    assert status == 504 and "deadline" in body["error"], body
    deadline = time.time() + 60  # the slow forward ends; quick requests answer again
    while s.request("POST", "/predictions/slow", {"data": [[0, 1]]})[0] != 200:
        assert time.time() < deadline
        time.sleep(0.2)
    _, text, _ = s.request("GET", "/metrics")
    assert 'endpoint="/predictions",code="504"} ' in text
    assert s.stop() == 0


def test_scoring_script_serves_score(model_files, servers, tmp_path):
    src = tmp_path / "app"
    src.mkdir()
    (src / "score.py").write_text(
        "import json, os\n"
        "def init():\n"
        "    global size\n"
        "    size = os.path.getsize(os.path.join(os.environ['AZUREML_MODEL_DIR'], 'digits.pt'))\n"
        "def run(raw):\n"
        "    return {'size': size, 'n': len(json.loads(raw)['data'])}\n")
    model_dir = tmp_path / "m" / "digits" / "1"
    model_dir.mkdir(parents=True)
    (model_dir / "digits.pt").write_bytes((model_files / "digits.pt").read_bytes())
    s = servers([SERVE_BIN, "--entry", "score.py", "--source", src, "--model",
                 f"digits:1={model_dir / 'digits.pt'}"], tmp_path)
    s.wait_ready()
    status, body, _ = s.request("POST", "/score", {"data": [1, 2, 3]})
    assert status == 200 and body == {"size": (model_files / "digits.pt").stat().st_size, "n": 3}
    status, body, _ = s.request("POST", "/predictions/digits", {"data": [1]})
    assert status == 404 and "scoring script" in body["error"]
    assert s.stop() == 0


def test_serve_errors(ty, model_files, tmp_path):
    proc = ty.run("serve", "nope", "--port", "0")
    assert proc.returncode != 0 and "nope" in proc.stderr
    proc = ty.run("serve", "bad name!", "--port", "0")
    assert proc.returncode == 2 and "bad name!" in proc.stderr
    # A port in use: the server cannot listen and exits non-zero.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([SERVE_BIN, "--model", f"d:1={model_files / 'digits.pt'}",
                               "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "cannot listen" in proc.stderr
    proc = subprocess.run([SERVE_BIN, "--model", "no-version=/x.pt"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "NAME:VERSION=PATH" in proc.stderr
    proc = subprocess.run([SERVE_BIN, "--port", "0"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "nothing to serve" in proc.stderr
