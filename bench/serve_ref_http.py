"""Reference server for the serving benchmark: the standard library's http.server
(ThreadingHTTPServer, HTTP/1.1 keep-alive, one thread per connection) around a TorchScript file.

POST /score with {"data": nested lists} (or a bare nested list) -> the model's output as nested
lists, the same JSON as trainyard-serve's /score. GET /ping -> {"status": "Healthy"}.

    /usr/bin/python3 bench/serve_ref_http.py --model model.pt [--host 127.0.0.1] [--port 0]
        [--port-file F] [--threads N]

--threads sets torch's intra-op threads (torch.set_num_threads). Port 0 picks a free port; once
listening it is written to --port-file (tmp + rename).
"""
import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch


def make_handler(model):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms ACK stalls

        def log_message(self, format, *args):  # no line per request
            pass

        def reply(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/ping":
                self.reply(200, {"status": "Healthy"})
            else:
                self.reply(404, {"error": f"no route {self.path}"})

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != "/score":
                self.reply(404, {"error": f"no route {self.path}"})
                return
            try:
                body = json.loads(raw)
                data = body["data"] if isinstance(body, dict) else body
                x = torch.tensor(data, dtype=torch.float32)
            except (ValueError, KeyError, TypeError) as e:
                self.reply(400, {"error": str(e)})
                return
            with torch.no_grad():
                y = model(x)
            self.reply(200, y.tolist())

    return Handler


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the listen backlog (default 5; Werkzeug's is 128)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's)")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model = torch.jit.load(args.model).eval()
    server = Server((args.host, args.port), make_handler(model))
    server.daemon_threads = True
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(server.server_port))
        os.replace(tmp, args.port_file)
    print(f"listening on http://{args.host}:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
