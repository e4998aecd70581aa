"""pip_packages end to end: a wheel from a local wheelhouse, the environment cache, concurrent
builds, a broken package, and `trainyard env`. pip never reaches the network: the wheelhouse is
given alone through TRAINYARD_PIP_FIND_LINKS, so pip runs with --no-index."""
import subprocess
import threading
from datetime import datetime
import time
from pathlib import Path

import pytest

PYTHON = "/usr/bin/python3"

SCRIPT = """
import os, sys, tyhello
os.makedirs("outputs", exist_ok=True)
with open("outputs/hello.txt", "w") as f:
    f.write(tyhello.GREETING + "\\n" + sys.executable + "\\n" + tyhello.__file__ + "\\n")
print(tyhello.GREETING, flush=True)
"""


def _pip_offline_env():
    # No pip configuration (files or PIP_* variables) may point pip elsewhere.
    return {"PIP_CONFIG_FILE": "/dev/null", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""}


@pytest.fixture
def wheelhouse(tmp_path):
    """Builds tyhello-0.1 (a one-module package) into a wheelhouse, offline."""
    src = tmp_path / "tyhello-src"
    (src / "tyhello").mkdir(parents=True)
    (src / "tyhello" / "__init__.py").write_text('GREETING = "hello from tyhello"\n')
    (src / "setup.py").write_text(
        'from setuptools import setup\nsetup(name="tyhello", version="0.1", '
        'packages=["tyhello"])\n')
    house = tmp_path / "wheelhouse"
    house.mkdir()
    env = dict(__import__("os").environ, **_pip_offline_env())
    proc = subprocess.run([PYTHON, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(house), str(src)],
                          capture_output=True, text=True, env=env, timeout=120)
    if proc.returncode != 0:
        pytest.skip("cannot build a wheel offline here (python3-setuptools and python3-wheel "
                    "needed): " + proc.stderr[-500:])
    assert list(house.glob("tyhello-0.1-*.whl"))
    return house


def _env(house):
    return dict(_pip_offline_env(), TRAINYARD_PIP_FIND_LINKS=str(house),
                TRAINYARD_PYTHON=PYTHON)


def _submit(ty, src, house, packages="[tyhello]", wait=True, check=0):
    args = ["submit", "--source", src, "--entry", "train.py", "--set",
            f"pip_packages={packages}"]
    if wait:
        args.append("--wait")
    proc = ty.run(*args, env=_env(house), check=check, timeout=300)
    out = (proc.stderr if wait else proc.stdout).strip().splitlines()
    return proc, (out[0] if wait else out[-1])


def _preparing_seconds(info):
    """Seconds from Preparing to Starting, from the run's status history."""
    at = {}
    for h in info["status_history"]:  # the first time each status was entered
        at.setdefault(h["status"], datetime.fromisoformat(h["at"].replace("Z", "+00:00")))
    return (at["Starting"] - at["Preparing"]).total_seconds()


def _env_dirs(ty):
    envs = ty.workspace / "envs"
    return sorted(p for p in envs.iterdir() if p.is_dir()) if envs.exists() else []


def test_wheel_is_installed_then_reused(ty, wheelhouse):
    src = ty.project("proj", {"train.py": SCRIPT})

    plan = ty.run("submit", "--source", src, "--entry", "train.py", "--set",
                  "pip_packages=[tyhello]", "--dry-run", env=_env(wheelhouse), check=0).stdout
    assert "/envs/" in plan and "/bin/python" in plan
    assert "will be built" in plan and "pip install tyhello" in plan

    # Watch the run while it prepares: the status detail names the environment being built.
    t0 = time.monotonic()
    _, first = _submit(ty, src, wheelhouse, wait=False)
    details = set()
    while True:
        info = ty.show(first)
        details.add(info["status_detail"])
        if info["status"] in ("Completed", "Failed", "Canceled"):
            break
        time.sleep(0.02)
    miss = time.monotonic() - t0
    assert any(d.startswith("building environment ") and "pip install tyhello" in d
               for d in details), details
    assert info["status"] == "Completed", info["error"]
    assert "hello from tyhello" in ty.run("logs", first, check=0).stdout
    [env_dir] = _env_dirs(ty)
    assert info["interpreter"] == str(env_dir / "bin" / "python")
    assert info["properties"]["environment"] == env_dir.name
    assert info["properties"]["environment_reused"] == "false"
    files = {f["path"] for f in ty.json("files", first)}
    assert "logs/environment.log" in files
    log = (Path(info["run_dir"]) / "logs" / "environment.log").read_text()
    assert "Successfully installed tyhello" in log and "--no-index" in log
    out = ty.tmp / "dl1"
    ty.run("download", first, "outputs", "-o", out, check=0)
    hello = (out / "outputs" / "hello.txt").read_text().splitlines()
    assert hello[0] == "hello from tyhello"
    assert hello[2].startswith(str(env_dir))  # imported from the environment, not the system

    plan = ty.run("submit", "--source", src, "--entry", "train.py", "--set",
                  "pip_packages=[TyHello]", "--dry-run", env=_env(wheelhouse), check=0).stdout
    assert "cached, reused" in plan

    t0 = time.monotonic()
    _, second = _submit(ty, src, wheelhouse)
    hit = time.monotonic() - t0
    info2 = ty.show(second)
    assert info2["status"] == "Completed", info2["error"]
    assert info2["interpreter"] == info["interpreter"]
    assert info2["properties"]["environment_reused"] == "true"
    assert _env_dirs(ty) == [env_dir]
    print(f"\nsubmit to end, environment built (miss): {miss:.2f} s, reused (hit): {hit:.2f} s; "
          f"Preparing to Starting: miss {_preparing_seconds(info):.3f} s, "
          f"hit {_preparing_seconds(info2):.3f} s")
    assert hit < miss

    listed = ty.json("env", "list")
    assert [e["hash"] for e in listed] == [env_dir.name]
    assert listed[0]["packages"] == ["tyhello"]
    assert listed[0]["find_links"] == [str(wheelhouse)]
    text = ty.run("env", "list", check=0).stdout
    assert env_dir.name[:12] in text and "tyhello" in text
    shown = ty.run("env", "show", env_dir.name[:12], check=0).stdout
    assert "tyhello" in shown and str(env_dir / "bin" / "python") in shown
    pruned = ty.json("env", "prune")
    assert pruned["removed"] == [env_dir.name]
    assert ty.json("env", "list") == []


def test_concurrent_runs_share_one_build(ty, wheelhouse):
    src = ty.project("proj", {"train.py": SCRIPT})
    ty.json("list")  # creates the workspace first: two first submits at once race on it
    ids = []
    lock = threading.Lock()

    def go():
        _, run_id = _submit(ty, src, wheelhouse, wait=False)
        with lock:
            ids.append(run_id)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 2
    infos = [ty.wait_status(i, {"Completed", "Failed", "Canceled"}, timeout=240) for i in ids]
    for info in infos:
        assert info["status"] == "Completed", info["error"]
    assert len(_env_dirs(ty)) == 1
    logs = [(Path(i["run_dir"]) / "logs" / "environment.log").read_text() for i in infos]
    built = [log for log in logs if "Successfully installed tyhello" in log]
    assert len(built) == 1, logs
    assert sorted(i["properties"]["environment_reused"] for i in infos) == ["false", "true"]


def test_broken_package_fails_in_preparing(ty, wheelhouse):
    src = ty.project("proj", {"train.py": SCRIPT})
    proc, run_id = _submit(ty, src, wheelhouse, packages="[no-such-package-xyz]", check=1)
    info = ty.show(run_id)
    assert info["status"] == "Failed"
    history = [h["status"] for h in info["status_history"]]
    assert "Preparing" in history and "Running" not in history
    assert "pip install" in info["error"]
    assert "no-such-package-xyz" in info["error"]
    assert "No matching distribution" in info["error"]
    assert _env_dirs(ty) == []  # nothing half-made
    assert ty.json("env", "list") == []


def test_requirements_file(ty, wheelhouse):
    src = ty.project("proj", {"train.py": SCRIPT, "requirements.txt": "# from a file\ntyhello\n"})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--set",
                  "pip_requirements_file=requirements.txt", "--wait", env=_env(wheelhouse),
                  check=0, timeout=300)
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["status"] == "Completed", info["error"]
    [env] = ty.json("env", "list")
    assert env["packages"] == [] and "tyhello" in env["requirements"]
