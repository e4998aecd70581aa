"""pip_packages end to end: a wheel from a local wheelhouse, the environment cache, concurrent
builds, a broken package, and `trainyard env`; the same on the mpi hosts (with and without a shared
folder) and Slurm targets of the test harness (tests/harness); conda_packages with a fake conda.
pip never reaches the network: the wheelhouse is given alone through TRAINYARD_PIP_FIND_LINKS, so
pip runs with --no-index."""
import json
import subprocess
import sys
import threading
from datetime import datetime
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import hosts, slurm_cluster  # noqa: E402,F401  (module-scoped fixtures)

HARNESS_HOST_COUNT = 2

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


# ------------------------------------------------------------------------- provided and system packages
# The hosted SDK's environments list azureml-* packages (azureml-defaults above all): trainyard's
# azureml compatibility package stands in for them, so they are said, not installed; and what the
# system interpreter has (Debian's torch, numpy) is not fetched again, even offline.
AZUREML_SCRIPT = """
import sys, azureml.core
print("azureml from", azureml.core.__file__, flush=True)
print("executable", sys.executable, flush=True)
"""

PROVIDED = ("provided by trainyard's azureml compatibility package (not installed)")


def _run_info(ty, proc):
    return ty.show(proc.stderr.strip().splitlines()[0])


def test_only_azureml_packages_need_no_environment(ty, tmp_path):
    src = ty.project("proj", {"train.py": AZUREML_SCRIPT,
                              "requirements.txt": "# hosted\nazureml-core==1.0.21\n"})
    empty = tmp_path / "wheels"
    empty.mkdir()
    env = _env(empty)  # nothing can be fetched: a pip install would fail
    args = ["submit", "--source", src, "--entry", "train.py", "--set",
            "pip_packages=[azureml-defaults, AzureML_SDK]", "--set",
            "pip_requirements_file=requirements.txt"]
    plan = ty.run(*args, "--dry-run", env=env, check=0).stdout
    assert f"azureml-defaults: {PROVIDED}" in plan and "no package environment" in plan
    assert "/envs/" not in plan

    info = _run_info(ty, ty.run(*args, "--wait", env=env, check=0, timeout=120))
    assert info["status"] == "Completed", info["error"]
    assert info["interpreter"] == PYTHON
    assert not (ty.workspace / "envs").exists() or _env_dirs(ty) == []
    assert info["properties"]["environment_provided"] == \
        "azureml-core==1.0.21 azureml-defaults azureml-sdk"
    assert "environment" not in info["properties"]
    log = (Path(info["run_dir"]) / "logs" / "environment.log").read_text()
    for p in ("azureml-core==1.0.21", "azureml-defaults", "azureml-sdk"):
        assert f"{p}: {PROVIDED}" in log, log
    # The run's output says it too (what `--stream` and the SDK's show_output show), then the
    # script imports azureml.core from trainyard's compatibility package.
    out = _logged_lines(ty, info["id"])
    assert f"[trainyard] azureml-defaults: {PROVIDED}" in out, out
    assert any(l.startswith("azureml from ") and "python-compat" in l for l in out), out

    # conda_packages naming only azureml-* need no conda either (there is none here).
    if not any(Path(d, c).exists() for d in ("/usr/bin", "/bin")
               for c in ("conda", "mamba", "micromamba")):
        proc = ty.run("submit", "--source", src, "--entry", "train.py", "--set",
                      "conda_packages=[azureml-defaults]", "--wait",
                      env=dict(env, TRAINYARD_CONDA=""), check=0, timeout=120)
        info = _run_info(ty, proc)
        assert info["status"] == "Completed", info["error"]
        assert info["properties"]["environment_provided"] == "azureml-defaults"


def test_azureml_and_system_packages_with_a_wheel(ty, wheelhouse):
    """azureml-defaults is dropped, torch and numpy are the system's (offline: --no-index on a
    wheelhouse without them), tyhello is installed; the environment is the one of [tyhello,
    torch, numpy] (azureml-* are not part of its hash)."""
    src = ty.project("proj", {"train.py": SCRIPT + "import torch, numpy\n"
                              "print('torch from', torch.__file__, flush=True)\n"})
    proc, first = _submit(ty, src, wheelhouse, packages="[azureml-defaults, torch, numpy, tyhello]")
    info = ty.show(first)
    assert info["status"] == "Completed", info["error"]
    [env_dir] = _env_dirs(ty)
    assert info["interpreter"] == str(env_dir / "bin" / "python")
    log = (Path(info["run_dir"]) / "logs" / "environment.log").read_text()
    assert f"azureml-defaults: {PROVIDED}" in log
    assert "Requirement already satisfied: torch" in log, log
    assert "Requirement already satisfied: numpy" in log, log
    assert "Successfully installed tyhello" in log and "--no-index" in log
    assert "azureml" not in ty.json("env", "list")[0]["packages"]
    out = _logged_lines(ty, first)
    assert any(l.startswith("torch from /usr/lib/python3") for l in out), out

    _, second = _submit(ty, src, wheelhouse, packages="[torch, numpy, tyhello]")
    info2 = ty.show(second)
    assert info2["status"] == "Completed", info2["error"]
    assert info2["properties"]["environment_reused"] == "true"
    assert _env_dirs(ty) == [env_dir]

    # A torch the system does not have is not pretended: offline, the run fails in Preparing.
    _, third = _submit(ty, src, wheelhouse, packages="[torch==0.0.1]", check=1)
    info3 = ty.show(third)
    assert info3["status"] == "Failed"
    assert "torch==0.0.1" in info3["error"], info3["error"]


# ------------------------------------------------------------------------------------------ conda
# These machines have no conda (and no network): a fake conda, written here, stands in for the
# package solver only. It logs its argv, fails for a package named "broken*" the way conda
# reports a missing package, and otherwise makes the prefix a real environment of the system's
# Python (a venv: bin/python3, its own site-packages), so everything after `conda create` --
# the cache, the lock, the marker, pip into the prefix, the ranks' interpreter -- is real.
FAKE_CONDA = """#!/bin/sh
echo "$*" >> {log}
prefix=""; prev=""
for a in "$@"; do
  [ "$prev" = --prefix ] && prefix="$a"
  prev="$a"
done
for a in "$@"; do
  case "$a" in
    broken*) echo "PackagesNotFoundError: The following packages are not available from current channels:" >&2
             echo "  - $a" >&2
             exit 1;;
  esac
done
[ "$1" = create ] && [ -n "$prefix" ] || {{ echo "fake conda: unexpected arguments: $*" >&2; exit 2; }}
{python} -m venv --system-site-packages --without-pip "$prefix" || exit 1
mkdir -p "$prefix/conda-meta"
echo "fake conda: created $prefix"
"""

CONDA_SCRIPT = """
import os, sys
print("executable", sys.executable, flush=True)
print("prefix", sys.prefix, flush=True)
try:
    import tyhello
    print("tyhello", tyhello.__file__, flush=True)
except ImportError:
    pass
"""


@pytest.fixture
def fake_conda(tmp_path):
    log = tmp_path / "conda-argv.log"
    exe = tmp_path / "fakebin" / "conda"
    exe.parent.mkdir()
    exe.write_text(FAKE_CONDA.format(log=log, python=PYTHON))
    exe.chmod(0o755)
    return exe, log


def _conda_env(conda, **extra):
    env = dict(_pip_offline_env(), TRAINYARD_PYTHON=PYTHON, TRAINYARD_CONDA=str(conda))
    env.update(extra)
    return env


def _logged_lines(ty, run_id):
    return ty.run("logs", run_id, check=0).stdout.splitlines()


def test_conda_absent_is_refused_at_submit(ty, tmp_path):
    src = ty.project("proj", {"train.py": CONDA_SCRIPT})
    empty = tmp_path / "emptybin"
    empty.mkdir()
    env = {"TRAINYARD_PYTHON": PYTHON, "PATH": str(empty) + ":/usr/bin:/bin",
           "TRAINYARD_CONDA": ""}
    if any(Path(d, c).exists() for d in ("/usr/bin", "/bin")
           for c in ("conda", "mamba", "micromamba")):
        pytest.skip("a conda is installed in /usr/bin here")
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--set",
                  "conda_packages=[numpy]", env=env, check=2)
    assert "conda_packages" in proc.stderr and "no conda, mamba or micromamba" in proc.stderr
    # A configured executable that is not there is named.
    env["TRAINYARD_CONDA"] = str(tmp_path / "no-such-conda")
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--set",
                  "conda_packages=[numpy]", env=env, check=2)
    assert "TRAINYARD_CONDA" in proc.stderr and "no-such-conda" in proc.stderr
    assert ty.json("list") == []


def test_conda_env_built_with_fake_conda_then_reused(ty, fake_conda):
    conda, log = fake_conda
    src = ty.project("proj", {"train.py": CONDA_SCRIPT})
    env = _conda_env(conda, TRAINYARD_CONDA_CHANNELS="conda-forge, defaults")
    args = ["submit", "--source", src, "--entry", "train.py", "--set",
            "conda_packages=[numpy, python=3.11, numpy]"]
    plan = ty.run(*args, "--dry-run", env=env, check=0).stdout
    assert "conda create numpy python=3.11" in plan and "will be built" in plan
    assert "/bin/python3" in plan

    proc = ty.run(*args, "--wait", env=env, check=0, timeout=300)
    first = proc.stderr.strip().splitlines()[0]
    info = ty.show(first)
    assert info["status"] == "Completed", info["error"]
    [env_dir] = _env_dirs(ty)
    assert info["interpreter"] == str(env_dir / "bin" / "python3")
    assert info["properties"]["environment_reused"] == "false"
    lines = _logged_lines(ty, first)
    assert f"executable {env_dir}/bin/python3" in lines and f"prefix {env_dir}" in lines
    # The argv conda got: create into the cache folder, channels in order, packages once, sorted.
    assert log.read_text().splitlines() == [
        f"create --yes --prefix {env_dir} -c conda-forge -c defaults numpy python=3.11"]
    [listed] = ty.json("env", "list")
    assert listed["kind"] == "conda" and listed["conda"] == str(conda)
    assert listed["conda_packages"] == ["numpy", "python=3.11"]

    proc = ty.run(*args, "--wait", env=env, check=0, timeout=300)
    info2 = ty.show(proc.stderr.strip().splitlines()[0])
    assert info2["status"] == "Completed", info2["error"]
    assert info2["properties"]["environment_reused"] == "true"
    assert len(log.read_text().splitlines()) == 1  # conda ran once
    assert _env_dirs(ty) == [env_dir]

    # Other channels are another environment.
    proc = ty.run(*args, "--wait", env=_conda_env(conda), check=0, timeout=300)
    assert ty.show(proc.stderr.strip().splitlines()[0])["status"] == "Completed"
    assert len(_env_dirs(ty)) == 2


def test_conda_with_pip_packages_installs_into_the_prefix(ty, fake_conda, wheelhouse):
    conda, log = fake_conda
    src = ty.project("proj", {"train.py": CONDA_SCRIPT})
    env = _conda_env(conda, TRAINYARD_PIP_FIND_LINKS=str(wheelhouse))
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--set",
                  "conda_packages=[python=3.11]", "--set", "pip_packages=[tyhello]", "--wait",
                  env=env, check=0, timeout=300)
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["status"] == "Completed", info["error"]
    [env_dir] = _env_dirs(ty)
    lines = _logged_lines(ty, info["id"])
    assert any(line.startswith(f"tyhello {env_dir}/lib/") for line in lines), lines
    elog = (Path(info["run_dir"]) / "logs" / "environment.log").read_text()
    assert "fake conda: created" in elog and "Successfully installed tyhello" in elog


def test_conda_failure_fails_in_preparing_with_condas_message(ty, fake_conda):
    conda, _ = fake_conda
    src = ty.project("proj", {"train.py": CONDA_SCRIPT})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--set",
                  "conda_packages=[broken-pkg]", "--wait", env=_conda_env(conda), check=1,
                  timeout=300)
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["status"] == "Failed"
    history = [h["status"] for h in info["status_history"]]
    assert "Preparing" in history and "Running" not in history
    assert "conda create failed" in info["error"]
    assert "PackagesNotFoundError" in info["error"] and "broken-pkg" in info["error"]
    assert _env_dirs(ty) == []


# ---------------------------------------------------------------- mpi hosts and Slurm (harness)
# The harness hosts share this machine's file system, so "on each host" is told apart by the
# agent: the build runs in each host's namespace (its host name in the log), and the per-host
# caches of one folder show the lock at work (one host builds, the other waits and reuses).
HOST_SCRIPT = """
import json, os, socket, sys, tyhello
print(json.dumps({"rank": os.environ["RANK"], "host": socket.gethostname(),
                  "exe": sys.executable, "tyhello": tyhello.__file__}), flush=True)
"""


def _add_mpi_target(ty, hosts, tmp_path, shared):
    cidr = hosts.cidr
    opts = ["-o", "hosts=" + ",".join(f"{a}:1" for a in hosts.addrs),
            "-o", f"launch_agent={hosts.rsh_agent}",
            "-o", f"tracking_address={hosts.root_addr}",
            "-o", f"mpirun_args=--mca oob_tcp_if_include {cidr} --mca btl_tcp_if_include {cidr}"]
    folder = tmp_path / ("shared" if shared else "remote")
    opts += ["-o", f"{'shared_folder' if shared else 'remote_folder'}={folder}"]
    ty.run("target", "add", "cluster", "--type", "mpi", *opts, check=0)
    return folder


def _submit_on(ty, target, src, house, packages="[tyhello]", check=0, env=None, extra=()):
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--target", target,
                  "--set", "node_count=2", "--set", "process_count_per_node=1",
                  "--set", "distributed_backend=pytorch", "--set", f"pip_packages={packages}",
                  *extra, env=dict(env or {}, **_env(house)), check=check, timeout=300)
    return proc


def _ranks(ty, run_id):
    out = {}
    for line in ty.run("logs", run_id, check=0).stdout.splitlines():
        if line.startswith("[rank ") and "{" in line:
            d = json.loads(line.split("] ", 1)[1])
            out[int(d["rank"])] = d
    return out


@pytest.mark.parametrize("shared", [False, True], ids=["copy", "shared"])
def test_mpi_hosts_environment(ty, hosts, wheelhouse, tmp_path, shared):
    folder = _add_mpi_target(ty, hosts, tmp_path, shared)
    envs = folder / "envs"
    src = ty.project("proj", {"train.py": HOST_SCRIPT})
    plan = _submit_on(ty, "cluster", src, wheelhouse, extra=["--dry-run"]).stdout
    if shared:
        assert f"prepared on this machine in {envs}/" in plan, plan
    else:
        assert "prepared on each host (" + ", ".join(hosts.addrs) + f") in {envs}" in plan, plan
        assert "env build --envs-dir" in plan

    proc = _submit_on(ty, "cluster", src, wheelhouse, extra=["--wait"])
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["status"] == "Completed", info["error"]
    [env_dir] = [p for p in envs.iterdir() if p.is_dir()]
    ranks = _ranks(ty, info["id"])
    assert sorted(ranks) == [0, 1]
    assert ranks[0]["host"] != ranks[1]["host"]
    for r in ranks.values():
        assert r["exe"] == str(env_dir / "bin" / "python")
        assert r["tyhello"].startswith(str(env_dir))
    assert info["properties"]["environment_reused"] == "false"
    elog = (Path(info["run_dir"]) / "logs" / "environment.log").read_text()
    assert elog.count("Successfully installed tyhello") == 1, elog
    if not shared:
        # Each host ran the build through the agent; the second one waited for the first's
        # lock (their caches are one folder here) and reused its work.
        for addr in hosts.addrs:
            assert f"[{addr}] " in elog, elog
        for name in hosts.names:
            assert f"trainyard env build on {name} in {envs}" in elog, elog
        assert elog.count(f"environment {env_dir.name} reused") == 1, elog
        assert not Path(folder, info["id"]).exists()  # the code went, the cache stays
    assert not (ty.workspace / "envs").exists()  # nothing built here for the hosts

    proc = _submit_on(ty, "cluster", src, wheelhouse, extra=["--wait"])
    info2 = ty.show(proc.stderr.strip().splitlines()[0])
    assert info2["status"] == "Completed", info2["error"]
    assert info2["properties"]["environment_reused"] == "true"
    elog = (Path(info2["run_dir"]) / "logs" / "environment.log").read_text()
    assert "Successfully installed" not in elog
    print(f"\nmpi hosts ({'shared folder' if shared else 'per host'}), Preparing to Starting: "
          f"built {_preparing_seconds(info):.3f} s, reused {_preparing_seconds(info2):.3f} s")


def test_environment_is_built_on_the_hosts_interpreter(ty, wheelhouse, tmp_path):
    """A target's python option (the hosts' interpreter) is the base of its environments."""
    ty.run("target", "add", "lab", "--type", "mpi", "-o", "hosts=h1:1,h2:1", "-o",
           f"shared_folder={tmp_path / 'shared'}", "-o", "python=/opt/hostpy/bin/python3",
           check=0)
    src = ty.project("proj", {"train.py": HOST_SCRIPT})
    plan = _submit_on(ty, "lab", src, wheelhouse, extra=["--dry-run"]).stdout
    assert "(pip install tyhello on /opt/hostpy/bin/python3)" in plan, plan
    assert f"ranks run {tmp_path / 'shared'}/envs/" in plan, plan
    local = ty.run("submit", "--source", src, "--entry", "train.py", "--set",
                   "pip_packages=[tyhello]", "--dry-run", env=_env(wheelhouse), check=0).stdout
    # Another base interpreter, another environment.
    assert plan.split("environment: ")[1][:64] != local.split("environment: ")[1][:64]


def test_mpi_hosts_broken_package_fails_in_preparing_naming_the_host(ty, hosts, wheelhouse,
                                                                      tmp_path):
    folder = _add_mpi_target(ty, hosts, tmp_path, shared=False)
    src = ty.project("proj", {"train.py": HOST_SCRIPT})
    proc = _submit_on(ty, "cluster", src, wheelhouse, packages="[no-such-package-xyz]",
                      extra=["--wait"], check=1)
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["status"] == "Failed"
    history = [h["status"] for h in info["status_history"]]
    assert "Preparing" in history and "Running" not in history
    assert "No matching distribution" in info["error"] and "no-such-package-xyz" in info["error"]
    assert any(f"on host {a}" in info["error"] for a in hosts.addrs), info["error"]
    assert not [p for p in (folder / "envs").iterdir() if p.is_dir()]


def test_slurm_environment(ty, slurm_cluster, wheelhouse):
    env = slurm_cluster.env
    ty.run("target", "add", "slurmc", "--type", "slurm", "--tracking-address",
           slurm_cluster.hosts.root_addr, check=0, env=env)
    src = ty.project("proj", {"train.py": HOST_SCRIPT})
    plan = _submit_on(ty, "slurmc", src, wheelhouse, env=env, extra=["--dry-run"]).stdout
    assert f"prepared on this machine in {ty.workspace}/envs/" in plan, plan

    proc = _submit_on(ty, "slurmc", src, wheelhouse, env=env, extra=["--wait"])
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["status"] == "Completed", info["error"]
    [env_dir] = _env_dirs(ty)
    ranks = _ranks(ty, info["id"])
    assert sorted(ranks) == [0, 1] and ranks[0]["host"] != ranks[1]["host"]
    for r in ranks.values():
        assert r["exe"] == str(env_dir / "bin" / "python")
        assert r["tyhello"].startswith(str(env_dir))
    assert info["properties"]["environment_reused"] == "false"

    proc = _submit_on(ty, "slurmc", src, wheelhouse, env=env, extra=["--wait"])
    info2 = ty.show(proc.stderr.strip().splitlines()[0])
    assert info2["status"] == "Completed", info2["error"]
    assert info2["properties"]["environment_reused"] == "true"
    print(f"\nslurm, Preparing to Starting: built {_preparing_seconds(info):.3f} s, "
          f"reused {_preparing_seconds(info2):.3f} s")

    proc = _submit_on(ty, "slurmc", src, wheelhouse, env=env, packages="[no-such-package-xyz]",
                      extra=["--wait"], check=1)
    info3 = ty.show(proc.stderr.strip().splitlines()[0])
    assert "Running" not in [h["status"] for h in info3["status_history"]]
    assert "No matching distribution" in info3["error"]
    assert "slurm_job_id" not in info3["properties"]  # nothing was submitted
