"""Reading recorded runs from outside them (after they finished, or while they run).

    from trainyard import get_run
    run = get_run("digits_1795685501_e6203061")      # or a unique prefix
    run.status, run.get_metrics()["loss"], run.get_tags()

It asks the `trainyard` command (the one workspace implementation, in C++) for JSON, so it sees
exactly what `trainyard show` and `trainyard metrics` see. The command is $TRAINYARD_BIN, else
`trainyard` on PATH; the workspace is the given folder, else $TRAINYARD_WORKSPACE, else
~/.trainyard.
"""

import json
import os
import shutil
import subprocess

__all__ = ["RecordedRun", "get_run"]


def _trainyard():
    exe = os.environ.get("TRAINYARD_BIN") or shutil.which("trainyard")
    if not exe:
        raise RuntimeError("the trainyard command was not found: set TRAINYARD_BIN or put it on "
                           "PATH")
    return exe


def _number(v):
    return float(v) if isinstance(v, str) else v  # "NaN", "Infinity", "-Infinity"


class RecordedRun:
    """A run in a workspace. Values are read when asked for, so a running run is current."""

    def __init__(self, run_id, workspace=None):
        self._workspace = workspace
        self.id = self._json("show", run_id)["id"]

    def _json(self, *args):
        cmd = [_trainyard()]
        if self._workspace:
            cmd += ["--workspace", str(self._workspace)]
        proc = subprocess.run(cmd + list(args) + ["--json"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip() or f"trainyard {' '.join(args)} failed")
        return json.loads(proc.stdout)

    def get_details(self):
        """Everything `trainyard show --json` says about the run."""
        return self._json("show", self.id)

    @property
    def status(self):
        return self.get_details()["status"]

    def get_metrics(self, name=None, full=False):
        """{name: [values]} in logging order; with full=True, {name: [{step, timestamp, rank,
        value}]}. NaN and infinities come back as floats."""
        args = ["metrics", self.id] + (["--name", name] if name else [])
        series = self._json(*args)
        out = {}
        for metric, points in series.items():
            for p in points:
                p["value"] = _number(p["value"])
            out[metric] = points if full else [p["value"] for p in points]
        return out

    def get_tags(self):
        return self._json("tags", self.id)["tags"]

    def get_properties(self):
        return self._json("tags", self.id)["properties"]


def get_run(run_id, workspace=None):
    """The recorded run with this id (or unique prefix); RuntimeError when there is none."""
    return RecordedRun(run_id, workspace)
