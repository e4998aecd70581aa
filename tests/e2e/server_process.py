"""`trainyard server` as the end-to-end tests run it: a real process on a port (0 = a free one),
ready once it prints "serving DIR at URL". Its stderr goes to a file beside the workspace (a pipe
nobody drains could stall it), and `log()` reads it."""
import os
import re
import signal
import subprocess
import tempfile
import time

from conftest import BIN

SERVING_RE = re.compile(r"^serving (\S+) at (https?://\S+)$", re.MULTILINE)


def self_signed_cert(folder):
    """(cert.pem, key.pem) in `folder`: a certificate for 127.0.0.1 and localhost, made now."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


class ServerProcess:
    """`trainyard server --workspace W --host H --port P [--tls-cert C --tls-key K] [extra...]`.

    The server gets this process's environment without TRAINYARD_WORKSPACE, TRAINYARD_TOKEN and
    TRAINYARD_SERVER_TRACKING_URI (what a test sets for its clients is not the server's)."""

    def __init__(self, workspace, port=0, tls=None, extra=(), host="127.0.0.1"):
        self.workspace = workspace
        self.host = host
        self.port = port
        self.tls = tls  # (cert, key) or None
        self.extra = list(extra)
        self.proc = None
        self.url = None
        fd, self.log_path = tempfile.mkstemp(prefix="server-", suffix=".log",
                                             dir=os.path.dirname(os.path.abspath(workspace)))
        os.close(fd)

    def start(self, timeout=60):
        """Starts the server and returns its URL once it serves (the real port when port was 0)."""
        env = dict(os.environ)
        for name in ("TRAINYARD_WORKSPACE", "TRAINYARD_TOKEN", "TRAINYARD_SERVER_TRACKING_URI"):
            env.pop(name, None)
        tls = ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])] if self.tls else []
        offset = os.path.getsize(self.log_path)  # a restart appends to the same file
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [BIN, "server", "--workspace", str(self.workspace), "--host", self.host,
                 "--port", str(self.port), *tls, *self.extra],
                stdout=subprocess.DEVNULL, stderr=log, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = SERVING_RE.search(self.log()[offset:])
            if m:
                assert m.group(1) == str(self.workspace), m.group(0)
                self.url = m.group(2)
                self.port = int(self.url.rsplit(":", 1)[1])
                return self.url
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"trainyard server did not start: {self.log()[offset:]}")

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self):
        """SIGTERM (SIGKILL after 20 s); returns the exit code (None when it was not running)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code, self.proc = self.proc.returncode, None
        return code
