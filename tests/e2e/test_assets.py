"""Registered environments, data assets and datastore paths (issue 14, items 4 and 5).

The hosted `hello-iris-datastore-*` command-job examples (learn.microsoft.com,
reference-yaml-job-command: "datastore URI file/folder input") run verbatim: their curated
`azureml:AzureML-sklearn-...@latest` environment runs on the local interpreter, their
`azureml://datastores/workspaceblobstore/paths/example-data/...` is the workspace's
datastores/workspaceblobstore/example-data folder (data generated here), and `compute:
azureml:cpu-cluster` is a local target. `src/hello-iris.py` is this test's own.
`trainyard env create` / `data create` keep named versions that `azureml:NAME:V` / `@latest` name.
"""
import json
from pathlib import Path

import pytest

IRIS = "sepal_length,sepal_width,petal_length,petal_width,species\n" + "".join(
    f"{5 + i / 10},{3 + i / 20},{1 + i / 5},{i / 10},{'setosa' if i < 3 else 'virginica'}\n"
    for i in range(6))

HELLO_IRIS = """\
import argparse
import csv

parser = argparse.ArgumentParser()
parser.add_argument("--iris-csv")
args = parser.parse_args()
with open(args.iris_csv) as f:
    rows = list(csv.DictReader(f))
print("rows", len(rows), "species", sorted({r["species"] for r in rows}))
"""

HELLO_IRIS_DATASTORE_FILE = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: |
  echo "--iris-csv: ${{inputs.iris_csv}}"
  python hello-iris.py --iris-csv ${{inputs.iris_csv}}
code: src
inputs:
  iris_csv:
    type: uri_file 
    path: azureml://datastores/workspaceblobstore/paths/example-data/iris.csv
environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
compute: azureml:cpu-cluster
"""

HELLO_IRIS_DATASTORE_FOLDER = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: |
  ls ${{inputs.data_dir}}
  echo "--iris-csv: ${{inputs.data_dir}}/iris.csv"
  python hello-iris.py --iris-csv ${{inputs.data_dir}}/iris.csv
code: src
inputs:
  data_dir:
    type: uri_folder 
    path: azureml://datastores/workspaceblobstore/paths/example-data/
environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
compute: azureml:cpu-cluster
"""


@pytest.fixture
def ws(ty):
    ty.run("target", "add", "cpu-cluster", "--type", "local", check=0)
    store = Path(ty.workspace, "datastores", "workspaceblobstore", "example-data")
    store.mkdir(parents=True)
    (store / "iris.csv").write_text(IRIS)
    return ty


def run_job(ty, name, text, expect=0):
    root = ty.project(name, {"src/hello-iris.py": HELLO_IRIS, "job.yml": text})
    proc = ty.run("submit", root / "job.yml", "--wait")
    # expect None: refused, with whatever code the refusal has.
    assert proc.returncode == expect if expect is not None else proc.returncode != 0, \
        proc.stdout + proc.stderr
    if expect != 0:
        return None, proc.stderr
    run_id = proc.stderr.strip().splitlines()[0]
    assert ty.show(run_id)["status"] == "Completed"
    out = ty.run("logs", run_id, check=0).stdout
    env_log = Path(ty.workspace, "runs", run_id, "logs", "environment.log").read_text()
    return run_id, out + env_log


def test_hello_iris_datastore_file_verbatim(ws):
    _, out = run_job(ws, "f", HELLO_IRIS_DATASTORE_FILE)
    path = f"{ws.workspace}/datastores/workspaceblobstore/example-data/iris.csv"
    assert f"--iris-csv: {path}" in out
    assert "rows 6 species ['setosa', 'virginica']" in out
    assert "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest: a hosted curated environment" in out


def test_hello_iris_datastore_folder_verbatim(ws):
    _, out = run_job(ws, "d", HELLO_IRIS_DATASTORE_FOLDER)
    assert "iris.csv\n" in out and "rows 6" in out
    assert "(datastore path) = " + f"{ws.workspace}/datastores/workspaceblobstore/example-data" in out


def job(environment, path, type_="uri_file"):
    return f"""\
command: python hello-iris.py --iris-csv ${{{{inputs.iris_csv}}}}
code: src
inputs:
  iris_csv: {{type: {type_}, path: '{path}'}}
environment: {environment}
"""


def test_data_assets_versions_and_latest(ws):
    ty = ws
    one = ty.project("data1", {"iris.csv": IRIS})
    two = ty.project("data2", {"iris.csv": IRIS.replace("virginica", "versicolor")})
    ty.run("data", "create", "iris", "--path", one / "iris.csv", check=0)
    created = ty.json("data", "create", "iris", "--path", two / "iris.csv")
    assert created["version"] == "2" and created["type"] == "uri_file"
    # The hosted data asset YAML, its path relative to the file.
    (two / "data.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\n"
        "name: iris-dir\nversion: '7'\ntype: uri_folder\npath: .\ndescription: two\n")
    ty.run("data", "create", "--file", two / "data.yml", check=0)

    _, out = run_job(ty, "j1", job("azureml:AzureML-minimal-ubuntu22.04-py39-cpu@latest",
                                   "azureml:iris@latest"))
    assert "versicolor" in out and "data asset iris:2" in out
    _, out = run_job(ty, "j2", job("azureml:AzureML-minimal-ubuntu22.04-py39-cpu@latest",
                                   "azureml:iris:1"))
    assert "virginica" in out and "data asset iris:1" in out
    text = job("azureml:AzureML-minimal-ubuntu22.04-py39-cpu@latest", "azureml:iris-dir:7",
               "uri_folder").replace("${{inputs.iris_csv}}", "${{inputs.iris_csv}}/iris.csv")
    _, out = run_job(ty, "j3", text)
    assert "versicolor" in out

    listed = ty.json("data", "list")
    assert [(d["name"], d["version"]) for d in listed] == [
        ("iris", "1"), ("iris", "2"), ("iris-dir", "7")]
    shown = ty.json("data", "show", "iris-dir@latest")
    assert shown["path"] == str(two) and shown["description"] == "two"
    # A version is never replaced.
    again = ty.run("data", "create", "iris", "--path", one / "iris.csv", "--version", "1")
    assert again.returncode != 0 and "iris:1 already exists" in again.stderr


def test_registered_environment_from_the_hosted_yaml(ws):
    ty = ws
    root = ty.project("env", {
        "conda.yml": "name: x\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n"
                     "  - pip\n  - pip:\n    - azureml-defaults\n    - azureml-mlflow\n",
        "env.yml": "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\n"
                   "name: my-env\ndescription: my environment\nconda_file: conda.yml\n",
        "image.yml": "name: img-env\nversion: '3'\nimage: library/python:latest\n",
    })
    assert ty.json("env", "create", "--file", root / "env.yml")["version"] == "1"
    made = ty.json("env", "create", "--file", root / "env.yml")
    assert made["version"] == "2" and made["pip"] == ["azureml-defaults", "azureml-mlflow"]
    assert made["python"] == "3.11"
    ty.run("env", "create", "--file", root / "image.yml", check=0)
    names = [(e["name"], e["version"]) for e in ty.json("env", "list", "--registered")]
    assert names == [("img-env", "3"), ("my-env", "1"), ("my-env", "2")]
    assert ty.json("env", "show", "img-env:3")["image"] == "library/python:latest"
    assert "Registered environments" in ty.run("env", "list", check=0).stdout
    assert ty.json("env", "list") == []  # --json alone: the built environments, as before

    for ref, shown in [("azureml:my-env@latest", "my-env:2"), ("azureml:my-env:1", "my-env:1"),
                       ("azureml://registries/myreg/environments/my-env/versions/1", "my-env:1"),
                       ("azureml://registries/myreg/environments/my-env/labels/latest",
                        "my-env:2")]:
        _, out = run_job(ty, "e" + shown[-1] + str(len(ref)),
                         job(ref, "azureml://datastores/workspaceblobstore/paths/example-data/"
                                  "iris.csv"))
        assert f"registered environment {shown}, pip packages azureml-defaults azureml-mlflow" in out
        assert "asks python=3.11" in out and "rows 6" in out
        assert "azureml-defaults: provided by trainyard" in out


def test_hosted_registry_curated_names(ws):
    _, out = run_job(ws, "r", job("azureml://registries/azureml/environments/sklearn-1.5/labels/"
                                  "latest", "azureml://datastores/workspaceblobstore/paths/"
                                  "example-data/iris.csv"))
    assert "a hosted curated environment" in out and "rows 6" in out


@pytest.mark.parametrize("environment, path, message", [
    ("azureml:nope@latest", "azureml:iris@latest",
     'no environment named "nope" in the workspace (registered: my-env)'),
    ("azureml:my-env:9", "azureml:iris@latest", 'my-env has no version "9" (versions: 1)'),
    ("azureml:my-env", "azureml:iris@latest", "needs a version"),
    ("azureml:AzureML-tensorflow-2.4-ubuntu18.04-py37-cpu-inference@latest", "azureml:iris@latest",
     "TensorFlow environments are not supported"),
    ("azureml:my-env:1", "azureml:nodata:1",
     'no data asset named "nodata" in the workspace (registered: iris)'),
    ("azureml:my-env:1", "azureml://datastores/workspaceblobstore/paths/missing.csv",
     "missing.csv, which does not exist"),
    ("azureml:my-env:1", "azureml://datastores/workspaceblobstore/paths/../../x",
     "the path leaves the datastore"),
    # Web URLs are downloaded now (test_url_inputs.py); other remote URIs stay refused.
    ("azureml:my-env:1", "wasbs://datasets@azuremlexamples.blob.core.windows.net/iris.csv",
     "is not a local path (remote URIs are not supported)"),
])
def test_unknown_references_are_refused_at_submit(ws, environment, path, message):
    ty = ws
    root = ty.project("refs", {
        "env.yml": "name: my-env\nconda_file: {dependencies: [{pip: [azureml-core]}]}\n",
        "iris.csv": IRIS})
    ty.run("env", "create", "--file", root / "env.yml", check=0)
    ty.run("data", "create", "iris", "--path", root / "iris.csv", check=0)
    _, err = run_job(ty, "x", job(environment, path), expect=2)
    assert message in err, err
    assert ty.json("list") == []  # refused before anything is recorded


def test_data_asset_type_must_match_the_input(ws):
    ty = ws
    root = ty.project("t", {"d/iris.csv": IRIS})
    ty.run("data", "create", "folder", "--path", root / "d", check=0)
    _, err = run_job(ty, "x", job("azureml:AzureML-minimal-1@latest", "azureml:folder@latest"),
                     expect=2)
    assert "data asset folder:1 is a uri_folder, the input's type is uri_file" in err
    bad = ty.run("data", "create", "f2", "--path", root / "d", "--type", "uri_file")
    assert bad.returncode != 0 and "not a uri_file" in bad.stderr


def test_registered_image_environment_goes_to_the_image_support(ws):
    # A registered environment with `image:` runs in that image (tests/e2e/test_images.py runs
    # images); one that is not in local storage is refused at submit, naming it (never pulled).
    ty = ws
    root = ty.project("img", {"image.yml": "name: img-env\nimage: library/python:latest\n"})
    ty.run("env", "create", "--file", root / "image.yml", check=0)
    _, err = run_job(ty, "x", job("azureml:img-env@latest", "azureml://datastores/"
                                  "workspaceblobstore/paths/example-data/iris.csv"), expect=None)
    assert 'image "library/python:latest"' in err, err
    both = ty.project("both", {"c.yml": "name: both\nimage: x\nconda_file: {dependencies: "
                                        "[{pip: [tyhello]}]}\n"})
    ty.run("env", "create", "--file", both / "c.yml", check=0)
    _, err = run_job(ty, "y", job("azureml:both:1", "azureml://datastores/workspaceblobstore/"
                                  "paths/example-data/iris.csv"), expect=2)
    assert "has an image and a conda_file" in err, err
