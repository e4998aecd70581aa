"""A small ingestion endpoint for tests, written from the protocol in src/tracking/protocol.h.

It decodes batches itself (an independent reading of the format), applies each (client, seq)
once, stores files, serves GET .../metrics, and can inject faults.
"""

import json
import math
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "test-token"


def _value(text):
    special = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
    return special[text] if text in special else float(text)


def decode_batch(body):
    """-> (header dict, [records]); raises ValueError naming the line on malformed input."""
    lines = body.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = json.loads(lines[0])
    records = []
    for number, line in enumerate(lines[1:], start=2):
        kind, _, rest = line.partition("\t")
        if kind in ("M", "R", "I"):
            fields = rest.split("\t", 3)
            if len(fields) != 4:
                raise ValueError(f"line {number}: bad {kind} record")
            name, step, ts, tail = fields
            records.append((kind, name, int(step), int(ts), _value(tail) if kind == "M" else tail))
        elif kind in ("T", "P"):
            key, value = rest.split("\t")
            records.append((kind, key, json.loads(value)))
        else:
            raise ValueError(f"line {number}: unknown record {kind!r}")
    return header, records


class FakeEndpoint:
    """fault(n) -> None | "fail" (503, not applied) | "lose-ack" (applied, then 500)."""

    def __init__(self, fault=None):
        self.fault = fault
        self.lock = threading.Lock()
        self.requests = 0
        self.applied = set()  # (client, seq)
        self.duplicates = 0
        self.points = {}  # name -> [(step, ts_us, rank, value)]
        self.rows = []  # (name, step, dict)
        self.images = []  # (name, step, path)
        self.tags = {}
        self.properties = {}
        self.files = {}
        self.runs = set()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status, body=b"{}"):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self):
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_POST(self):
                body = self._body()
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._answer(401)
                with endpoint.lock:
                    endpoint.requests += 1
                    n = endpoint.requests
                fault = endpoint.fault(n) if endpoint.fault else None
                if fault == "fail":
                    return self._answer(503)
                try:
                    header, records = decode_batch(body)
                except ValueError as error:
                    return self._answer(400, str(error).encode())
                run = self.path.split("/")[3]
                endpoint._apply(run, header, records)
                if fault == "lose-ack":
                    return self._answer(500)
                self._answer(200, json.dumps({"acked_seq": header["seq"]}).encode())

            def do_PUT(self):
                body = self._body()
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                with endpoint.lock:
                    endpoint.files[query["name"][0]] = body
                self._answer(200)

            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                wanted = query.get("name", [None])[0]

                def encode(v):
                    if math.isnan(v):
                        return "NaN"
                    if math.isinf(v):
                        return "Infinity" if v > 0 else "-Infinity"
                    return v

                with endpoint.lock:
                    out = {
                        name: [
                            {"step": s, "ts": ts, "rank": r, "value": encode(v)}
                            for s, ts, r, v in pts
                        ]
                        for name, pts in endpoint.points.items()
                        if wanted is None or name == wanted
                    }
                self._answer(200, json.dumps(out).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def uri(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def env(self, run_id="run-1", **extra):
        env = {
            "TRAINYARD_TRACKING_URI": self.uri,
            "TRAINYARD_RUN_ID": run_id,
            "TRAINYARD_TRACKING_TOKEN": TOKEN,
            "TRAINYARD_EXPERIMENT": "exp",
        }
        env.update(extra)
        return env

    def _apply(self, run, header, records):
        with self.lock:
            self.runs.add(run)
            key = (header["client"], header["seq"])
            if key in self.applied:
                self.duplicates += 1
                return
            self.applied.add(key)
            for record in records:
                kind = record[0]
                if kind == "M":
                    _, name, step, ts, value = record
                    self.points.setdefault(name, []).append((step, ts, header["rank"], value))
                elif kind == "R":
                    self.rows.append((record[1], record[2], json.loads(record[4])))
                elif kind == "I":
                    self.images.append((record[1], record[2], record[4]))
                elif kind == "T":
                    self.tags[record[1]] = record[2]
                else:
                    self.properties[record[1]] = record[2]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
