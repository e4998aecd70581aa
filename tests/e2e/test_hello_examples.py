"""The hosted service's published `hello-*` command jobs (Azure/azureml-examples,
cli/jobs/basics/; issue 14, item 7), as examples/hosted-hello/ holds them, each run with
`trainyard submit FILE --wait` on a fresh workspace, offline, checking what it prints, writes and
logs.

What the hosted service provides is made here, offline: the image `library/python:latest` (a
busybox+bash image imported under that name when podman's storage lacks it: the image examples run
`echo` and `ls`), the target `cpu-cluster`, the datastore folder `workspaceblobstore`, the data
assets, and the content of https://azuremlexamples.blob.core.windows.net/datasets/iris.csv (put in
the download cache with `trainyard data cache`, written from scikit-learn's bundled iris data).
"""
import csv
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import SOURCE_DIR

EXAMPLES = SOURCE_DIR / "examples" / "hosted-hello"
IRIS_URL = "https://azuremlexamples.blob.core.windows.net/datasets/iris.csv"
IMAGE = "library/python:latest"
PODMAN = shutil.which("podman")

needs_images = pytest.mark.skipif(
    not (PODMAN and shutil.which("bwrap") and os.path.exists("/bin/busybox")
         and os.path.exists("/bin/bash-static") and os.geteuid() == 0),
    reason="needs root, podman, bwrap, busybox-static and bash-static (scripts/setup.sh)")


def podman(*args, check=True):
    return subprocess.run([PODMAN, *args], capture_output=True, text=True, check=check,
                          timeout=120)


@pytest.fixture(scope="module")
def python_image(tmp_path_factory):
    """library/python:latest in podman's storage: the machine's own if it has one, else a
    busybox+bash image imported under that name (removed afterwards)."""
    if podman("image", "exists", IMAGE, check=False).returncode == 0:
        yield IMAGE
        return
    tar_path = tmp_path_factory.mktemp("image") / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for d in ["bin", "etc", "dev", "proc", "tmp"]:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add("/bin/busybox", "bin/busybox")
        tar.add("/bin/bash-static", "bin/bash")
        for tool in ["sh", "echo", "ls", "cat"]:
            info = tarfile.TarInfo("bin/" + tool)
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    podman("import", "--change", "ENV=PATH=/bin", str(tar_path), "localhost/" + IMAGE)
    yield IMAGE
    podman("image", "unmount", "--force", "localhost/" + IMAGE, check=False)
    podman("rmi", "--force", "localhost/" + IMAGE, check=False)


@pytest.fixture
def iris_csv(tmp_path):
    """iris.csv from scikit-learn's bundled data set: 150 rows."""
    from sklearn.datasets import load_iris
    iris = load_iris()
    path = tmp_path / "iris.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width", "species"])
        for row, target in zip(iris.data, iris.target):
            w.writerow([*(f"{v:g}" for v in row), iris.target_names[target]])
    return path


def submit(ty, name, *extra, expect=0, env=None):
    proc = ty.run("submit", EXAMPLES / name, "--wait", *extra, env=env)
    if expect is None:
        assert proc.returncode != 0, proc.stdout + proc.stderr
        assert ty.json("list") == [], "a refused submit records nothing"
        return None, proc.stderr
    assert proc.returncode == expect, proc.stdout + proc.stderr
    run_id = proc.stderr.strip().splitlines()[0]
    assert ty.show(run_id)["status"] == "Completed"
    return run_id, ty.run("logs", run_id, check=0).stdout


def env_log(ty, run_id):
    return (ty.workspace / "runs" / run_id / "logs" / "environment.log").read_text()


def downloaded(ty, run_id, path, tmp_path):
    out = tmp_path / ("got-" + run_id)
    ty.run("download", run_id, path, "-o", out, check=0)
    return (out / path).read_text()


def test_the_image_examples_are_refused_without_the_image(ty):
    if PODMAN and podman("image", "exists", IMAGE, check=False).returncode == 0:
        pytest.skip(f"{IMAGE} is in podman's storage")
    _, err = submit(ty, "hello-world.yml", expect=None)
    assert IMAGE in err and "podman" in err, err


@needs_images
def test_hello_world_examples_in_the_image(ty, python_image, tmp_path):
    ty.run("target", "add", "cpu-cluster", "--type", "local", check=0)

    run_id, out = submit(ty, "hello-world.yml")
    assert out.strip() == "hello world"
    assert ty.show(run_id)["properties"]["image"] == IMAGE

    run_id, out = submit(ty, "hello-world-org.yml")
    assert out.strip() == "hello world"
    info = ty.show(run_id)
    assert info["experiment"] == "hello-world-example"
    assert info["display_name"] == "hello-world-example"
    assert info["tags"] == {"hello": "world"}
    assert info["properties"]["description"].startswith(
        '# Azure Machine Learning "hello world" job\n')

    run_id, out = submit(ty, "hello-world-full.yml")  # compute: azureml:cpu-cluster
    assert out.strip() == "hello world"
    assert ty.show(run_id)["target"] == "cpu-cluster"

    _, out = submit(ty, "hello-world-env-var.yml")
    assert out.strip() == "hello world"

    _, out = submit(ty, "hello-world-input.yml")
    assert out.split("\n")[:2] == ["hello world", "42"]

    run_id, _ = submit(ty, "hello-world-output.yml")
    assert downloaded(ty, run_id, "outputs/helloworld.txt", tmp_path) == "hello world\n"

    run_id, _ = submit(ty, "hello-world-output-data.yml")  # image: python
    assert downloaded(ty, run_id, "outputs/hello_output/helloworld.txt", tmp_path) == \
        "hello world\n"

    _, out = submit(ty, "hello-code.yml")  # ls in the working folder: the code (and outputs/)
    assert {"hello-iris.py", "hello-mlflow.py"} <= set(out.split()), out


def test_hello_iris_file_from_the_download_cache(ty, iris_csv, tmp_path):
    # No network: the URL's content is put in the cache, then the example runs unchanged.
    ty.run("data", "cache", IRIS_URL, iris_csv, check=0)
    run_id, out = submit(ty, "hello-iris-file.yml")
    cached = next(l for l in out.splitlines() if l.startswith("--iris-csv: "))
    cached = Path(cached[len("--iris-csv: "):])
    assert cached.name == "iris.csv"
    assert str(cached).startswith(str(ty.workspace / "cache" / "downloads"))
    assert "[150 rows x 5 columns]" in out
    assert "0  5.1  3.5  1.4  0.2  setosa" in out
    log = env_log(ty, run_id)
    assert f"inputs.iris_csv: {IRIS_URL}: the copy put in the download cache" in log
    assert "sklearn-1.5/labels/latest: a hosted curated environment" in log
    assert downloaded(ty, run_id, "outputs/iris.csv", tmp_path) == iris_csv.read_text()


def test_hello_iris_literal_passes_the_url_as_text(ty):
    # Its input is a literal string: the script downloads it at run time (network), as on the
    # hosted service; `type: uri_file` there is a second literal input named "type".
    proc = ty.run("submit", EXAMPLES / "hello-iris-literal.yml", "--dry-run", check=0)
    assert f"_ty_inputs_iris_csv={IRIS_URL}" in proc.stdout.replace("'", "").replace("\\", "")
    assert ty.json("data", "cache", "--list") == []  # a literal is not downloaded


def test_hello_iris_datastore_examples(ty, iris_csv):
    store = ty.workspace / "datastores" / "workspaceblobstore" / "example-data"
    store.mkdir(parents=True)
    shutil.copy(iris_csv, store / "iris.csv")
    _, out = submit(ty, "hello-iris-datastore-file.yml")
    assert f"--iris-csv: {store}/iris.csv" in out and "[150 rows x 5 columns]" in out
    _, out = submit(ty, "hello-iris-datastore-folder.yml")
    assert out.startswith("iris.csv\n") and "[150 rows x 5 columns]" in out


def test_hello_data_asset_examples(ty, tmp_path):
    folder = tmp_path / "sample"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    (folder / "b.txt").write_text("b")
    ty.run("data", "create", "local-folder-example", "--path", folder, check=0)
    ty.run("data", "create", "sampledata", "--path", folder, check=0)
    for name in ["hello-data-uri-folder.yml", "hello-dataset.yml"]:
        run_id, out = submit(ty, name)
        assert out.split() == ["a.txt", "b.txt"], out
        assert "(data asset " in env_log(ty, run_id)


def test_hello_local_input_examples(ty):
    ty.run("target", "add", "cpu-cluster", "--type", "local", check=0)
    _, out = submit(ty, "hello-local-file-as-input.yml")
    assert out == (EXAMPLES / "data" / "somedata.txt").read_text()
    _, out = submit(ty, "hello-local-folder-as-input.yml")
    assert out.split() == ["somedata.txt"]


def test_hello_mlflow(ty):
    run_id, _ = submit(ty, "hello-mlflow.yml")
    info = ty.show(run_id)
    assert info["properties"]["hello_param"] == "world"
    value = ty.json("metrics", run_id, "--name", "hello_metric")["hello_metric"][0]["value"]
    assert 0 <= float(value) < 1
    assert "helloworld.txt" in {f["path"] for f in ty.json("files", run_id)}


@pytest.mark.parametrize("name,message", [
    ("hello-iris-folder.yml", '"wasbs://datasets@azuremlexamples.blob.core.windows.net/" is not '
                              "a local path"),
    ("hello-custom_model_inline.yml", 'unknown type "custom_model"'),
    ("hello-interactive.yml", "services"),
])
def test_examples_trainyard_refuses(ty, name, message):
    _, err = submit(ty, name, expect=None)
    assert message in err, err
