"""Command jobs in container images (issue 14, item 3; docs/jobs.md, "Images"): `environment:
{image: ...}` and `{build: {path: ...}}` run the ranks through bubblewrap on the image's root file
system as podman's storage unpacks it (`podman image mount`), with the code, inputs and outputs
mounted and the host's network (the tracking endpoint is on 127.0.0.1). The image is made here,
offline, from Debian's busybox-static and bash-static (`podman import` of a tarball); nothing is
ever pulled. An image that is not in local storage, or no engine, is refused at submit.
"""
import io
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import pytest

PODMAN = shutil.which("podman")
BUSYBOX = "/bin/busybox"
BASH_STATIC = "/bin/bash-static"

pytestmark = pytest.mark.skipif(
    not (PODMAN and shutil.which("bwrap") and os.path.exists(BUSYBOX)
         and os.path.exists(BASH_STATIC) and os.geteuid() == 0),
    reason="needs root, podman, bwrap, busybox-static and bash-static (scripts/setup.sh)")

TOOLS = ["sh", "cat", "echo", "ls", "mkdir", "env", "test", "wget", "printf", "grep", "sleep"]


def podman(*args, check=True):
    return subprocess.run([PODMAN, *args], capture_output=True, text=True, check=check,
                          timeout=120)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """localhost/trainyard-test-busybox:<random>: /bin/busybox (and its applets), /bin/bash, an
    empty /etc, and ENV IMAGE_VAR=from-image, PATH=/bin."""
    root = tmp_path_factory.mktemp("rootfs")
    tar_path = root.parent / (root.name + ".tar")
    with tarfile.open(tar_path, "w") as tar:
        for d in ["bin", "etc", "dev", "proc", "tmp"]:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755 if d != "tmp" else 0o1777
            tar.addfile(info)
        tar.add(BUSYBOX, "bin/busybox")
        # The image's "python3": a script, so that a job's python is seen to be the image's.
        script = b"#!/bin/bash\necho \"image-python3 $*\"\n"
        info = tarfile.TarInfo("bin/python3")
        info.size = len(script)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(script))
        tar.add(BASH_STATIC, "bin/bash")
        for tool in TOOLS:
            info = tarfile.TarInfo("bin/" + tool)
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    name = f"localhost/trainyard-test-busybox:{uuid.uuid4().hex[:8]}"
    podman("import", "--change", "ENV=IMAGE_VAR=from-image", "--change", "ENV=PATH=/bin",
           str(tar_path), name)
    yield name
    podman("image", "unmount", "--force", name, check=False)
    podman("rmi", "--force", name, check=False)


def submit(ty, folder, text, *extra, env=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.yml").write_text(text)
    return ty.run("submit", folder / "job.yml", "--wait", *extra, env=env)


def completed(ty, folder, text, *extra):
    proc = submit(ty, folder, text, *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = proc.stderr.strip().splitlines()[0]
    info = ty.show(run_id)
    assert info["status"] == "Completed", (info, ty.run("logs", run_id).stdout)
    return run_id, info


def logs(ty, run_id):
    return ty.run("logs", run_id, check=0).stdout


def test_hello_world_in_the_image(ty, image):
    # The hosted hello-world example (cli/jobs/basics/hello-world.yml) with its image swapped for
    # the local one: the command runs in the image, not on the host.
    text = f"""\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: echo "hello world"; ls /; test -e /bin/busybox && test ! -e /usr/bin/podman && echo isolated
environment:
  image: {image}
"""
    run_id, info = completed(ty, ty.tmp / "hw", text)
    out = logs(ty, run_id)
    assert "hello world" in out and "isolated" in out
    listing = out.split("hello world", 1)[1].split("isolated")[0].split()
    assert "bin" in listing and "trainyard" in listing and "usr" not in listing, out
    assert info["properties"]["image"] == image
    assert len(info["properties"]["image_id"]) == 64


def test_code_inputs_and_outputs_are_mounted(ty, image):
    code = ty.project("code", {"run.sh": "echo code-ran \"$@\"\n"})
    data = ty.project("data", {"file.txt": "folder-data\n", "single.txt": "one-file\n"})
    text = f"""\
code: {code}
command: |
  bash run.sh ${{{{inputs.msg}}}}
  cat ${{{{inputs.folder}}}}/file.txt
  cat ${{{{inputs.single}}}}
  echo "$PWD"
  echo result > ${{{{outputs.model}}}}/f.txt
  (echo nope > ${{{{inputs.folder}}}}/new.txt) 2>/dev/null || echo inputs-read-only
  (echo nope > /bin/x) 2>/dev/null || echo image-read-only
inputs:
  msg: "a b; echo injected"
  folder: {{type: uri_folder, path: {data}}}
  single: {{type: uri_file, path: {data / "single.txt"}}}
outputs:
  model: {{type: uri_folder}}
environment: {{image: {image}}}
"""
    run_id, _ = completed(ty, ty.tmp / "io", text)
    out = logs(ty, run_id)
    assert "code-ran a b; echo injected" in out
    assert "\ninjected" not in out
    assert "folder-data" in out and "one-file" in out
    assert "/trainyard/work\n" in out
    assert "inputs-read-only" in out and "image-read-only" in out
    assert not (data / "new.txt").exists()
    files = [f["path"] for f in ty.json("files", run_id)]
    assert "outputs/model/f.txt" in files
    dest = ty.tmp / "dl"
    ty.run("download", run_id, "--output", dest, check=0)
    found = list(dest.rglob("f.txt"))
    assert found and found[0].read_text() == "result\n"


def test_image_env_and_job_variables(ty, image):
    text = f"""\
command: echo "image=$IMAGE_VAR path=$PATH mine=$MINE home=$HOME"
environment_variables: {{MINE: job-value}}
environment: {{image: {image}}}
"""
    run_id, _ = completed(ty, ty.tmp / "env", text)
    assert "image=from-image path=/bin mine=job-value home=/tmp" in logs(ty, run_id)
    text = text.replace("{MINE: job-value}", "{MINE: job-value, IMAGE_VAR: job-wins}")
    run_id, _ = completed(ty, ty.tmp / "env2", text)
    assert "image=job-wins" in logs(ty, run_id)


def test_tracking_endpoint_is_reachable_from_the_image(ty, image):
    # busybox wget speaks MLflow's REST API to the run's endpoint on 127.0.0.1 (host network).
    text = f"""\
command: >-
  wget -q -O- --header "Authorization: Bearer $MLFLOW_TRACKING_TOKEN"
  --header "Content-Type: application/json"
  --post-data "{{\\"run_id\\": \\"$MLFLOW_RUN_ID\\", \\"key\\": \\"loss\\", \\"value\\": 0.25, \\"timestamp\\": 1, \\"step\\": 3}}"
  "$MLFLOW_TRACKING_URI/api/2.0/mlflow/runs/log-metric" && echo logged
environment: {{image: {image}}}
"""
    run_id, _ = completed(ty, ty.tmp / "track", text)
    assert "logged" in logs(ty, run_id)
    metrics = ty.run("metrics", run_id, "--json", check=0).stdout
    assert "loss" in metrics and "0.25" in metrics, metrics


def test_pytorch_ranks_each_run_in_the_image(ty, image):
    text = f"""\
command: echo "rank $RANK of $WORLD_SIZE" > ${{{{outputs.o}}}}/rank-$RANK.txt
outputs:
  o: {{type: uri_folder}}
distribution: {{type: pytorch, process_count_per_instance: 2}}
environment: {{image: {image}}}
"""
    run_id, _ = completed(ty, ty.tmp / "pt", text)
    files = [f["path"] for f in ty.json("files", run_id)]
    assert "outputs/o/rank-0.txt" in files and "outputs/o/rank-1.txt" in files


def test_cancel_stops_the_ranks_in_the_image(ty, image):
    folder = ty.tmp / "cancel"
    folder.mkdir()
    (folder / "job.yml").write_text(f"""\
command: echo $$ > ${{{{outputs.o}}}}/pid; sleep 60
outputs:
  o: {{type: uri_folder}}
environment: {{image: {image}}}
""")
    run_id = ty.run("submit", folder / "job.yml", check=0).stdout.strip()
    ty.wait_status(run_id, {"Running"})
    pidfile = Path(ty.workspace, "runs", run_id, "work", "outputs", "o", "pid")
    deadline = time.time() + 30
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.time() < deadline:
        time.sleep(0.1)
    pid = int(pidfile.read_text())
    assert os.path.exists(f"/proc/{pid}")
    assert "Canceled" in ty.run("cancel", run_id, check=0).stdout
    assert ty.show(run_id)["status"] == "Canceled"
    deadline = time.time() + 10
    while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}")


def test_build_from_a_dockerfile_offline(ty, image):
    ctx = ty.project("ctx", {
        "Dockerfile": f"FROM {image}\nENV BUILT=yes\nCOPY hello.txt /hello.txt\n",
        "hello.txt": "copied-by-build\n",
    })
    text = """\
command: cat /hello.txt; echo "built=$BUILT image=$IMAGE_VAR"
environment:
  build:
    path: ctx
"""
    folder = ty.tmp
    (folder / "job.yml").write_text(text)
    proc = ty.run("submit", folder / "job.yml", "--wait")
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stderr.strip().splitlines()[0]
    assert ty.show(run_id)["status"] == "Completed"
    built = ty.show(run_id)["properties"]["image_id"]
    try:
        out = logs(ty, run_id)
        assert "copied-by-build" in out and "built=yes image=from-image" in out
        assert ctx.exists()
    finally:
        podman("image", "unmount", "--force", built, check=False)
        podman("rmi", "--force", built, check=False)


def test_build_whose_base_is_not_local_is_refused_at_submit(ty):
    ty.project("bad", {"Dockerfile": "FROM example.invalid/none:1\n"})
    (ty.tmp / "job.yml").write_text("command: echo x\nenvironment: {build: {path: bad}}\n")
    proc = ty.run("submit", ty.tmp / "job.yml")
    assert proc.returncode != 0
    assert "environment.build: podman build --pull=never" in proc.stderr, proc.stderr
    assert ty.json("list") == []


def test_refused_at_submit(ty, image):
    # Not in local storage: named with the engine, nothing pulled, nothing recorded.
    proc = submit(ty, ty.tmp / "a", "command: echo x\nenvironment: {image: localhost/absent:0}\n")
    assert proc.returncode != 0
    assert 'image "localhost/absent:0" is not in podman\'s local storage' in proc.stderr
    assert "never pulls" in proc.stderr
    # No engine.
    proc = submit(ty, ty.tmp / "b", f"command: echo x\nenvironment: {{image: {image}}}\n",
                  env={"TRAINYARD_PODMAN": str(ty.tmp / "no-podman")})
    assert proc.returncode != 0
    assert f'running image "{image}" needs the podman engine' in proc.stderr, proc.stderr
    # mpi: mpirun and the rank shim are outside the image.
    proc = submit(ty, ty.tmp / "c", f"command: echo x\nenvironment: {{image: {image}}}\n"
                  "distribution: {type: mpi, process_count_per_instance: 2}\n")
    assert proc.returncode != 0
    assert "distribution: mpi does not run in an image yet" in proc.stderr
    # Other target types.
    ty.run("target", "add", "hosts", "--type", "mpi", "--hosts", "localhost", check=0)
    proc = submit(ty, ty.tmp / "d", f"command: echo x\nenvironment: {{image: {image}}}\n"
                  "compute: hosts\n")
    assert proc.returncode != 0
    assert f'target "hosts" (mpi) cannot run image {image}' in proc.stderr, proc.stderr
    assert ty.json("list") == []


def test_registered_environment_with_an_image_runs_in_it(ty, image):
    # The hosted environment YAML (name, image) registered with `trainyard env create`, then
    # named by a job as azureml:NAME@latest.
    root = ty.project("env", {"env.yml": f"name: busy\nimage: {image}\n"})
    ty.run("env", "create", "--file", root / "env.yml", check=0)
    text = "command: test -e /bin/busybox && test ! -e /usr && echo in-registered-image\n" \
           "environment: azureml:busy@latest\n"
    run_id, info = completed(ty, ty.tmp / "reg", text)
    assert "in-registered-image" in logs(ty, run_id)
    assert info["properties"]["image"] == image


def test_python_is_the_images_own(ty, image):
    code = ty.project("py", {"train.py": "print('never run by the host python')\n"})
    text = f"""\
code: {code}
command: python3 train.py --lr 0.1 && python train.py || echo no-python-in-image
environment: {{image: {image}}}
"""
    run_id, _ = completed(ty, ty.tmp / "pyjob", text)
    out = logs(ty, run_id)
    assert "image-python3 train.py --lr 0.1" in out
    assert "no-python-in-image" in out
    assert "never run by the host python" not in out
