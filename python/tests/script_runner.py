"""Runs a small training script in a fresh interpreter, as trainyard would."""

import os
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
