#!/usr/bin/env python3
"""Starts N ranks of a program with torch.distributed's launch contract (no mpirun) and checks them.

    launch_ranks.py --np 3 [--timeout 120] -- PROGRAM [ARGS...]
    launch_ranks.py --np 3 --expect-dead-rank 1 --within 30 -- PROGRAM --die

Used by ctest: collective.gloo.* (src/collective/multirank_test.cc over the Gloo transport) and
gpu.nccl.2 (tests/gpu/nccl_communicator_test.cc).

Each rank gets RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a MASTER_PORT such that MASTER_PORT + 1
(the collective runtime's rendezvous port) was free a moment ago; LOCAL_RANK is left unset so that
the runtime derives the topology from host names.

Normal mode: every rank must exit 0 within --timeout seconds. When a rank fails, the others get a
few seconds to fail too (they should: the runtime reports the dead peer), then are killed; the
launcher exits 1 on any failure or timeout.

--expect-dead-rank R: rank R is expected to die on purpose; every other rank must then exit with a
non-zero status (its pending operation failed) within --within seconds of the start, instead of
hanging. The launcher exits 0 when that holds.

Only the Python standard library is used; the children's output goes to this process's output.
"""

import argparse
import os
import socket
import subprocess
import sys
import time


def free_port():
    """A port that was free a moment ago (the kernel's pick); above 1024 so that port - 1 is too."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port > 1025:
            return port


def kill_all(procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--np", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--grace", type=float, default=15,
                        help="seconds the other ranks get to fail after one failed")
    parser.add_argument("--expect-dead-rank", type=int, default=None)
    parser.add_argument("--within", type=float, default=30)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no program given")

    rendezvous = free_port()
    procs = []
    start = time.monotonic()
    for rank in range(args.np):
        env = dict(os.environ)
        for var in ("LOCAL_RANK", "LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_SIZE",
                    "HOROVOD_GLOO_RENDEZVOUS_ADDR", "HOROVOD_GLOO_RENDEZVOUS_PORT"):
            env.pop(var, None)
        env.update(RANK=str(rank), WORLD_SIZE=str(args.np), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(rendezvous - 1))
        procs.append(subprocess.Popen(command, env=env))

    limit = args.within if args.expect_dead_rank is not None else args.timeout
    failed_at = None
    while True:
        codes = [p.poll() for p in procs]
        now = time.monotonic()
        if all(c is not None for c in codes):
            break
        if failed_at is None and any(c not in (None, 0) for c in codes):
            failed_at = now
        if now - start > limit or (failed_at is not None and
                                   args.expect_dead_rank is None and now - failed_at > args.grace):
            hung = [r for r, c in enumerate(codes) if c is None]
            print(f"launch_ranks: ranks {hung} still running after {now - start:.1f} s; "
                  "killing them", file=sys.stderr)
            kill_all(procs)
            return 1
        time.sleep(0.05)

    elapsed = time.monotonic() - start
    codes = [p.returncode for p in procs]
    print(f"launch_ranks: {args.np} ranks exited with {codes} after {elapsed:.1f} s",
          file=sys.stderr)
    if args.expect_dead_rank is None:
        return 0 if all(c == 0 for c in codes) else 1
    survivors = [c for r, c in enumerate(codes) if r != args.expect_dead_rank]
    if any(c == 0 for c in survivors):
        print("launch_ranks: a surviving rank succeeded although a peer died", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
