"""Runs a small training script in a fresh interpreter, as trainyard would."""

import os
import socket
import subprocess
import sys
import textwrap

_CLEARED = ("TRAINYARD_", "RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID")


def run_script(code, env=None, timeout=180, expect_returncode=0):
    base = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED)}
    base.update(env or {})
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == expect_returncode, (
        f"script failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return result


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
