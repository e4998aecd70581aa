"""Runs one command as N ranks with torch.distributed's contract, as torchrun would start them:
RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT (no
mpirun, so hvd.init() takes the Gloo transport, which meets at MASTER_PORT + 1).

    python3 gloo_ranks.py -n 3 [--timeout 300] [--gloo-timeout 60] -- python3 -m pytest x.py

Every rank's output is printed as it comes, each line prefixed with "[rank k] ". The launcher
exits 0 when every rank exits 0. On the first rank that fails, or when --timeout runs out, it
kills every rank (each rank's whole process group) at once, so that nothing hangs waiting for
the failed rank and nothing is left behind, and exits with that rank's status (124 on timeout).

ctest runs the python.hvd.<name>.gloo.<N> entries through this (python/collective.cmake);
script_runner.run_gloo_ranks is the same launch for tests that start ranks themselves.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

# Launch variables of another launcher that must not reach the ranks: with OMPI_* set, hvd.init()
# would take MPI.
_DROPPED = ("OMPI_", "PMIX_", "PMI_", "HOROVOD_", "LOCAL_", "SLURM_")


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def master_port():
    """A MASTER_PORT that was free a moment ago, with the next one free too: the collective
    runtime's Gloo rendezvous takes MASTER_PORT + 1 (docs/collective.md)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65000 and _port_free(port + 1):
            return port


def rank_env(rank, n, port, gloo_timeout):
    """The environment of rank `rank` of `n`: this process's, less other launchers' variables,
    plus torch.distributed's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
    env.update(RANK=str(rank), WORLD_SIZE=str(n), LOCAL_RANK=str(rank),
               LOCAL_WORLD_SIZE=str(n), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
               HOROVOD_GLOO_TIMEOUT_SECONDS=str(gloo_timeout), OMP_NUM_THREADS="1")
    return env


def _die_with_parent():
    """In a rank, before exec: SIGKILL when the launcher dies (even by SIGKILL), so that no rank
    outlives it. Linux only; elsewhere a no-op."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _kill(procs):
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the rank and anything it started
            except ProcessLookupError:
                pass
    for p in procs:
        p.wait()


def run(argv, n, timeout=300, gloo_timeout=60, echo=None):
    """Runs `argv` as `n` ranks; returns (status, [(returncode, output) of each rank]). status is
    0 when every rank exited 0, else the first failing rank's exit status (128 + signal for a
    signal; 124 when `timeout` ran out), the other ranks then being killed (returncode -9).
    `echo(rank, line)`, when given, sees each output line as it comes."""
    port = master_port()
    procs, outputs, readers = [], [[] for _ in range(n)], []

    def read(rank, stream):
        for line in stream:
            outputs[rank].append(line)
            if echo is not None:
                echo(rank, line)
        stream.close()

    try:
        for rank in range(n):
            p = subprocess.Popen(argv, env=rank_env(rank, n, port, gloo_timeout),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, errors="replace",
                                 start_new_session=True, preexec_fn=_die_with_parent)
            procs.append(p)
            t = threading.Thread(target=read, args=(rank, p.stdout), daemon=True)
            t.start()
            readers.append(t)
        deadline = time.monotonic() + timeout
        status = 0
        while status == 0:
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed:
                status = failed[0] if failed[0] > 0 else 128 - failed[0]
            elif all(c == 0 for c in codes):
                break
            elif time.monotonic() > deadline:
                status = 124
            else:
                time.sleep(0.05)
    finally:
        _kill(procs)
        for t in readers:
            t.join(timeout=10)
    if status == 124 and echo is not None:
        echo(None, f"timed out after {timeout} s: killed every rank\n")
    return status, [(p.returncode, "".join(lines)) for p, lines in zip(procs, outputs)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, required=True, help="number of ranks")
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds before every rank is killed (default 300)")
    parser.add_argument("--gloo-timeout", type=int, default=60,
                        help="HOROVOD_GLOO_TIMEOUT_SECONDS of the ranks (default 60)")
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="-- command and arguments")
    args = parser.parse_args()
    # SIGTERM/SIGINT (ctest, a user) end the launcher through run()'s cleanup: every rank killed.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv or args.n < 1:
        parser.error("give -n N and a command after --")
    lock = threading.Lock()

    def echo(rank, line):
        with lock:
            prefix = "[gloo_ranks] " if rank is None else f"[rank {rank}] "
            sys.stdout.write(prefix + line)
            sys.stdout.flush()

    status, _ = run(argv, args.n, args.timeout, args.gloo_timeout, echo)
    if status != 0:
        echo(None, f"failed: status {status} (every rank was stopped)\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
