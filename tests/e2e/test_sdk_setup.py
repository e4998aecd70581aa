"""What the set-up gives scripts and users for the Python SDK (issue 13): torchvision and what
Horovod's PyTorch examples import in a run's interpreter; `import trainyard, azureml.core` from a
plain /usr/bin/python3 after scripts/install_python.sh (trainyard.pth); and the local target's
use_gpu_fallback, which runs a use_gpu job on the CPU of a machine without GPUs."""
import os
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, SOURCE_DIR

PYTHON = "/usr/bin/python3"
BUILD = Path(BIN).resolve().parents[2]  # <build>/src/cli/trainyard
INSTALL = SOURCE_DIR / "scripts" / "install_python.sh"

# What a script written for the product page's PyTorch estimator, or Horovod's
# examples/pytorch/pytorch_mnist.py, takes from the image: torchvision's datasets, transforms and
# models (with PIL), filelock, distutils' LooseVersion.
TORCHVISION_SCRIPT = """
from distutils.version import LooseVersion
import numpy as np
import torch
import torchvision
from filelock import FileLock
from PIL import Image
from torchvision import datasets, models, transforms

torch.manual_seed(0)
image = Image.fromarray((np.random.rand(40, 40, 3) * 255).astype("uint8"))
transform = transforms.Compose([transforms.Resize(32), transforms.CenterCrop(32),
                                transforms.ToTensor(),
                                transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
x = transform(image).unsqueeze(0)
data = datasets.FakeData(size=4, image_size=(3, 32, 32), num_classes=10,
                         transform=transforms.ToTensor())
batch = torch.stack([data[i][0] for i in range(len(data))] + [x[0]])
model = models.resnet18(num_classes=10).eval()
with FileLock("outputs.lock"), torch.no_grad():
    out = model(batch)
assert LooseVersion(torch.__version__) >= LooseVersion("1.0")
print("torchvision", torchvision.__version__, "from", torchvision.__file__, flush=True)
print("logits", tuple(out.shape), flush=True)
"""


def _has_torchvision():
    return subprocess.run([PYTHON, "-c", "import torchvision, filelock"],
                          capture_output=True).returncode == 0


def test_torchvision_script_runs(ty):
    if not _has_torchvision():
        pytest.fail("torchvision or filelock is missing from /usr/bin/python3: run scripts/setup.sh "
                    "(it installs python3-torchvision and python3-filelock)")
    src = ty.project("proj", {"train.py": TORCHVISION_SCRIPT})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--wait",
                  env={"TRAINYARD_PYTHON": PYTHON}, check=0, timeout=180)
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["status"] == "Completed", info["error"]
    out = ty.run("logs", info["id"], check=0).stdout
    assert "logits (5, 10)" in out, out
    assert "from /usr/lib/python3/dist-packages/torchvision" in out, out


# ---------------------------------------------------------------------------- use_gpu_fallback
# CUDA_VISIBLE_DEVICES=-1 makes trainyard (and CUDA) see no GPU, so these run the same on a machine
# with GPUs.
NO_GPU = {"TRAINYARD_PYTHON": PYTHON, "CUDA_VISIBLE_DEVICES": "-1"}
GPU_SCRIPT = """
import os, torch
device = "cuda" if torch.cuda.is_available() else "cpu"
x = torch.ones(3, device=device)
print("rank", os.environ.get("RANK", "0"), "device", device, "sum", float(x.sum()), flush=True)
"""
SAID = ("[trainyard] use_gpu: target box has no GPU; running on the CPU "
        "(target option use_gpu_fallback=cpu)")


def test_use_gpu_without_a_gpu_is_refused_by_default(ty):
    src = ty.project("proj", {"train.py": GPU_SCRIPT})
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--set", "use_gpu=true",
                  env=NO_GPU, check=2)
    assert "use_gpu: true, but target \"local\" has no GPU" in proc.stderr, proc.stderr
    assert "--use-gpu-fallback cpu" in proc.stderr
    assert ty.json("list") == []


def test_use_gpu_fallback_cpu_runs_on_the_cpu(ty):
    assert "use_gpu_fallback" in ty.run("target", "add", "--help", check=0).stdout
    bad = ty.run("target", "add", "box", "--type", "local", "--use-gpu-fallback", "gpu", check=2)
    assert 'use_gpu_fallback: expected refuse or cpu, got "gpu"' in bad.stderr
    ty.run("target", "add", "box", "--type", "local", "--use-gpu-fallback", "cpu", check=0)
    src = ty.project("proj", {"train.py": GPU_SCRIPT})

    args = ["submit", "--source", src, "--entry", "train.py", "--target", "box", "--set",
            "use_gpu=true"]
    plan = ty.run(*args, "--dry-run", env=NO_GPU, check=0).stdout
    assert SAID[len("[trainyard] "):] in plan
    assert "CUDA_VISIBLE_DEVICES=" not in plan  # no device is assigned to the rank

    proc = ty.run(*args, "--stream", env=NO_GPU, check=0, timeout=120)
    assert SAID in proc.stdout, proc.stdout  # the streamed output says it, before the rank's
    assert proc.stdout.index(SAID) < proc.stdout.index("device cpu")
    run_id = proc.stderr.strip().splitlines()[0]
    info = ty.show(run_id)
    assert info["status"] == "Completed", info["error"]
    assert info["properties"]["gpu_fallback"] == "cpu"

    # Two ranks under mpirun: the rank shim is not asked to pin a GPU per rank.
    proc = ty.run(*args, "--set", "node_count=2", "--set", "distributed_backend=mpi", "--wait",
                  env=NO_GPU, check=0, timeout=120)
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert info["status"] == "Completed", info["error"]
    assert info["properties"]["gpu_fallback"] == "cpu"
    out = ty.run("logs", info["id"], check=0).stdout
    assert "rank 0 device cpu" in out and "rank 1 device cpu" in out, out

    # Without use_gpu nothing is said.
    proc = ty.run("submit", "--source", src, "--entry", "train.py", "--target", "box", "--wait",
                  env=NO_GPU, check=0, timeout=120)
    info = ty.show(proc.stderr.strip().splitlines()[0])
    assert "gpu_fallback" not in info["properties"]
    assert SAID not in ty.run("logs", info["id"], check=0).stdout


# -------------------------------------------------------------------------- install_python.sh
def _sdk_built():
    return any((BUILD / "python" / "trainyard").glob("_core*.so"))


def _import_check(userbase):
    """`import trainyard, azureml.core` in /usr/bin/python3 from /, nothing on PYTHONPATH."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(userbase), "PYTHONUSERBASE": str(userbase)}
    return subprocess.run(
        [PYTHON, "-c", "import trainyard, azureml.core; print(trainyard.__file__); "
                       "print(azureml.core.__file__)"],
        capture_output=True, text=True, cwd="/", env=env, timeout=60)


def _install(userbase, *args):
    env = dict(os.environ, PYTHONUSERBASE=str(userbase))
    env.pop("PYTHONPATH", None)
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_install_python_puts_the_sdk_on_the_users_path(tmp_path):
    if not _sdk_built():
        pytest.skip(f"{BUILD} has no Python SDK")
    userbase = tmp_path / "userbase"
    site = subprocess.run([PYTHON, "-c", "import site; print(site.getusersitepackages())"],
                          capture_output=True, text=True, env={"PYTHONUSERBASE": str(userbase)},
                          check=True).stdout.strip()
    pth = Path(site) / "trainyard.pth"
    system_pth = any(Path(d, "trainyard.pth").exists() for d in subprocess.run(
        [PYTHON, "-c", "import site; print('\\n'.join(site.getsitepackages()))"],
        capture_output=True, text=True, check=True).stdout.split())
    if not system_pth:  # the control: nothing else puts them there
        assert _import_check(userbase).returncode != 0

    first = _install(userbase, "--user", str(BUILD))
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"wrote {pth}" in first.stdout
    assert pth.read_text().splitlines()[1:] == [str(BUILD / "python"),
                                                str(BUILD / "python-compat" / "azureml")]
    # Not the Horovod stand-in: it works only inside runs, which get it on their PYTHONPATH.
    assert "horovod" not in pth.read_text()
    check = _import_check(userbase)
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines() == [str(BUILD / "python" / "trainyard" / "__init__.py"),
                                         str(BUILD / "python-compat" / "azureml" / "azureml" /
                                             "core" / "__init__.py")]
    if not system_pth:
        hv = subprocess.run([PYTHON, "-c", "import horovod"], capture_output=True, cwd="/",
                            env={"PYTHONUSERBASE": str(userbase), "PATH": "/usr/bin:/bin"})
        assert hv.returncode != 0  # a real Horovod is not installed here either

    # Idempotent: the same file, said so.
    before = pth.read_text()
    again = _install(userbase, "--user", str(BUILD))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already names" in again.stdout
    assert pth.read_text() == before
    assert sorted(p.name for p in pth.parent.iterdir()) == ["trainyard.pth"]

    # A file naming another build is replaced, and said so.
    pth.write_text("# old\n/nonexistent/python\n/nonexistent/python-compat/azureml\n")
    moved = _install(userbase, "--user", str(BUILD))
    assert moved.returncode == 0 and "replacing" in moved.stdout
    assert pth.read_text() == before

    removed = _install(userbase, "--user", "--remove")
    assert removed.returncode == 0 and not pth.exists()


def test_install_python_skips_a_build_without_the_sdk(tmp_path):
    fake_build = tmp_path / "build"
    (fake_build / "python" / "trainyard").mkdir(parents=True)
    proc = _install(tmp_path / "userbase", "--user", str(fake_build))
    assert proc.returncode == 0, proc.stderr
    assert "has no Python SDK" in proc.stdout
    assert not list((tmp_path / "userbase").rglob("trainyard.pth"))
