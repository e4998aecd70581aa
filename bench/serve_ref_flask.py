"""Reference server for the serving benchmark: the Flask app a user would write around a
TorchScript file (Debian: python3-flask; Werkzeug's threaded server, one thread per connection).

POST /score with {"data": nested lists} (or a bare nested list) -> the model's output as nested
lists, the same JSON as trainyard-serve's /score. GET /ping -> {"status": "Healthy"}.

    /usr/bin/python3 bench/serve_ref_flask.py --model model.pt [--host 127.0.0.1] [--port 0]
        [--port-file F] [--threads N]

--threads sets torch's intra-op threads (torch.set_num_threads). Port 0 picks a free port; once
listening it is written to --port-file (tmp + rename). Werkzeug's make_server is what app.run()
calls; it is used directly only to learn the port.
"""
import argparse
import json
import os

import torch
from flask import Flask, Response, request
from werkzeug.serving import make_server


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
    app = Flask(__name__)

    @app.post("/score")
    def score():
        try:
            body = json.loads(request.get_data())
            data = body["data"] if isinstance(body, dict) else body
            x = torch.tensor(data, dtype=torch.float32)
        except (ValueError, KeyError, TypeError) as e:
            return Response(json.dumps({"error": str(e)}), 400, mimetype="application/json")
        with torch.no_grad():
            y = model(x)
        return Response(json.dumps(y.tolist()), mimetype="application/json")

    @app.get("/ping")
    def ping():
        return {"status": "Healthy"}

    server = make_server(args.host, args.port, app, threaded=True)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(server.server_port))
        os.replace(tmp, args.port_file)
    print(f"listening on http://{args.host}:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
