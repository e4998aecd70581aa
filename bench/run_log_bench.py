"""Prints what one Run.log() call costs a Python training loop (goal: <= 5 us).

    PYTHONPATH=<build>/python /usr/bin/python3 bench/run_log_bench.py [N]

Online: against an in-process fake endpoint (python/tests/fake_endpoint.py), so the numbers
include the sender thread competing for the CPU; offline: values kept in memory, nothing printed.
"""

import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
# The trainyard package (with its compiled _core) comes from PYTHONPATH, the fake endpoint from
# the Python tests.
sys.path.insert(0, os.path.join(_HERE, "..", "python", "tests"))

from fake_endpoint import TOKEN, FakeEndpoint  # noqa: E402

from trainyard import _core  # noqa: E402
from trainyard.run import Run  # noqa: E402


def per_call_us(fn, n):
    start = time.perf_counter()
    for i in range(n):
        fn("bench/loss", i * 0.5)
    return (time.perf_counter() - start) / n * 1e6


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    endpoint = FakeEndpoint()
    online = Run(_core.Recorder.create(uri=endpoint.uri, run_id="bench", token=TOKEN))
    offline = Run(_core.Recorder.create(quiet=True))

    class Noop:
        def log(self, name, value, step=None, description=""):
            pass

    rows = [
        ("empty Python method (reference)", per_call_us(Noop().log, n)),
        ("Run.log, offline", per_call_us(offline.log, n)),
        ("Run.log, online", per_call_us(online.log, n)),
        ("_core.Recorder.log, online", per_call_us(online._recorder.log, n)),
    ]
    start = time.perf_counter()
    online.flush(120)
    flush_s = time.perf_counter() - start
    for label, us in rows:
        print(f"{label:36s} {us:6.2f} us/call")
    print(f"flush of the remaining online points: {flush_s:.2f} s; "
          f"stored: {len(endpoint.points['bench/loss'])} points")
    endpoint.close()


if __name__ == "__main__":
    main()
