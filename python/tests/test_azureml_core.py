"""azureml.core on a local trainyard workspace (issue 13): workspace config search and mapping,
compute targets, datastores, environments, ScriptRunConfig, and real runs submitted and followed
through the hosted SDK's names. Every test works in its own temporary folder and workspaces."""

import json
import os

import pytest

import trainyard
from azureml.core import (VERSION, ComputeTarget, Datastore, Environment, Experiment, Run,
                          ScriptRunConfig, Workspace)
from azureml.core.compute import AmlCompute
from azureml.core.compute_target import ComputeTargetException
from azureml.core.conda_dependencies import CondaDependencies
from azureml.core.runconfig import MpiConfiguration, PyTorchConfiguration, RunConfiguration
from azureml.exceptions import (ActivityFailedException, DatastoreException,
                                ProjectSystemException, UserErrorException)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A temporary folder as the current folder, with $TRAINYARD_WORKSPACES under it."""
    root = tmp_path / "workspaces"
    monkeypatch.setenv("TRAINYARD_WORKSPACES", str(root))
    monkeypatch.delenv("TRAINYARD_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_config(folder, **config):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return path


HOSTED = {"subscription_id": "sub-1", "resource_group": "rg-1"}


# ---- Workspace ----------------------------------------------------------------------------

def test_version_is_the_hosted_sdk_of_the_page_era():
    assert VERSION == "1.0.21"


def test_from_config_searches_the_current_folder_then_parents(home, monkeypatch, capsys):
    write_config(home / "a", workspace_name="first", **HOSTED)
    deep = home / "a" / "b" / "c"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    ws = Workspace.from_config()
    assert ws.path == str(home / "workspaces" / "first")
    assert os.path.isdir(ws.path)
    assert (ws.name, ws.subscription_id, ws.resource_group, ws.location) == (
        "first", "sub-1", "rg-1", "local")
    assert "Found the config file in: {}".format(home / "a" / "config.json") in \
        capsys.readouterr().out

    # .azureml/config.json anywhere up the tree comes before a plain config.json (hosted order)
    write_config(deep, workspace_name="plain")
    write_config(home / "a" / "b" / ".azureml", workspace_name="dotazureml")
    assert Workspace.from_config().name == "dotazureml"
    # a starting folder, or the file itself
    assert Workspace.from_config(path=str(home / "a")).name == "first"
    assert Workspace.from_config(path=str(deep / "config.json")).name == "plain"
    # another file name
    (deep / "other.json").write_text(json.dumps({"workspace_name": "other"}))
    assert Workspace.from_config(_file_name="other.json").name == "other"


def test_from_config_trainyard_workspace_key_wins(home):
    write_config(home, workspace_name="ignored", trainyard_workspace="ws-here", **HOSTED)
    ws = Workspace.from_config()
    assert ws.path == str(home / "ws-here")
    assert ws.name == "ignored"
    assert not (home / "workspaces" / "ignored").exists()


def test_from_config_without_a_file_is_a_user_error(home):
    with pytest.raises(UserErrorException) as error:
        Workspace.from_config()
    assert "We could not find config.json in: {} or in its parent directories".format(home) in \
        error.value.message
    assert "UserErrorException:" in str(error.value)


def test_from_config_with_a_file_naming_no_workspace(home):
    write_config(home, **HOSTED)
    with pytest.raises(UserErrorException, match="names no workspace"):
        Workspace.from_config()


def test_constructor_get_create_and_write_config(home):
    with pytest.raises(ProjectSystemException, match="not found"):
        Workspace.get("later")
    ws = Workspace("sub-2", "rg-2", "later")
    assert ws.path == str(home / "workspaces" / "later")
    assert isinstance(ws, trainyard.Workspace)
    assert Workspace.get("later").path == ws.path
    with pytest.raises(UserErrorException, match="already exists"):
        Workspace.create("later")
    assert Workspace.create("later", exist_ok=True, show_output=False).path == ws.path
    with pytest.raises(UserErrorException, match="workspace name"):
        Workspace("s", "r", "../escape")

    written = ws.write_config(path=str(home / "proj"))
    assert written == str(home / "proj" / ".azureml" / "config.json")
    config = json.loads(open(written).read())
    assert config == {"subscription_id": "sub-2", "resource_group": "rg-2",
                      "workspace_name": "later", "trainyard_workspace": ws.path}
    again = Workspace.from_config(path=str(home / "proj"))
    assert (again.path, again.subscription_id) == (ws.path, "sub-2")
    assert set(Workspace.list()) == {"later"}


def test_what_trainyard_does_not_do_says_so(home):
    ws = Workspace("s", "r", "w")
    from azureml.core import Dataset

    for call, words in [
        (lambda: Dataset.File.from_files("x"), "datastore"),
        (lambda: ws.get_default_keyvault(), "environment variables"),
        (lambda: Datastore.register_azure_blob_container(ws, "x", "c", "a"), "folder"),
    ]:
        with pytest.raises(NotImplementedError, match=words):
            call()


# ---- compute targets ------------------------------------------------------------------------

def test_compute_target_create_lookup_and_unknown(home, capsys):
    ws = Workspace("s", "r", "compute")
    with pytest.raises(ComputeTargetException, match="gpu-cluster not found"):
        ComputeTarget(workspace=ws, name="gpu-cluster")

    config = AmlCompute.provisioning_configuration(vm_size="STANDARD_NC6", max_nodes=4)
    target = ComputeTarget.create(ws, "gpu-cluster", config)
    out = capsys.readouterr().out
    assert "compute target 'gpu-cluster': trainyard local target (this machine, {} cores".format(
        os.cpu_count()) in out
    assert "vm_size STANDARD_NC6 is not used" in out
    assert ws.get_target("gpu-cluster").type == "local"
    assert ws.get_target("gpu-cluster").config.get("use_gpu_fallback") == "cpu"

    target.wait_for_completion(show_output=True)
    assert "Succeeded" in capsys.readouterr().out
    found = ComputeTarget(workspace=ws, name="gpu-cluster")
    assert isinstance(found, AmlCompute) and found.type == "AmlCompute"
    status = found.get_status().serialize()
    assert status["provisioningState"] == "Succeeded"
    assert status["scaleSettings"]["maxNodeCount"] == 4
    assert status["vmSize"] == "STANDARD_NC6"
    assert status["nodeStateCounts"]["runningNodeCount"] == 0
    assert set(ws.compute_targets) >= {"local", "gpu-cluster"}
    assert {t.name for t in ComputeTarget.list(ws)} >= {"local", "gpu-cluster"}


def test_compute_target_create_uses_an_existing_trainyard_target(home, capsys):
    ws = Workspace("s", "r", "mapped")
    ws.add_target("cpu-cluster", "local", max_concurrent_runs=2)
    ComputeTarget.create(ws, "cpu-cluster", AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", max_nodes=4))
    assert "compute target 'cpu-cluster': existing trainyard local target" in \
        capsys.readouterr().out
    assert ws.get_target("cpu-cluster").config.get("max_concurrent_runs") in (2, "2")
    assert "use_gpu_fallback" not in ws.get_target("cpu-cluster").config


# ---- datastores -----------------------------------------------------------------------------

def test_datastore_upload_path_mount_download(home, capsys):
    ws = Workspace("s", "r", "data")
    ds = ws.get_default_datastore()
    assert isinstance(ds, Datastore)
    assert ds.name == "workspaceblobstore" and ds.datastore_type == "AzureBlob"
    assert Datastore(ws) == ds and Datastore.get(ws, "workspaceblobstore") == ds
    assert set(ws.datastores) >= {"workspaceblobstore", "workspacefilestore"}

    src = home / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("one")
    (src / "sub" / "b.txt").write_text("two")
    ref = ds.upload(src_dir=str(src), target_path="digits", overwrite=False, show_progress=True)
    out = capsys.readouterr().out
    assert "Uploaded 2 files" in out
    folder = os.path.join(ws.path, "datastores", "workspaceblobstore", "digits")
    assert open(os.path.join(folder, "sub", "b.txt")).read() == "two"
    assert ref.path_on_datastore == "digits"

    (src / "a.txt").write_text("changed")
    ds.upload(src_dir=str(src), target_path="digits", show_progress=False)
    assert "Target already exists. Skipping upload for digits/a.txt" in capsys.readouterr().out
    assert open(os.path.join(folder, "a.txt")).read() == "one"
    ds.upload(src_dir=str(src), target_path="digits", overwrite=True, show_progress=False)
    assert open(os.path.join(folder, "a.txt")).read() == "changed"

    ds.upload_files([str(src / "sub" / "b.txt")], relative_root=str(src), target_path="files",
                    show_progress=False)
    assert os.path.isfile(os.path.join(ws.path, "datastores", "workspaceblobstore", "files",
                                       "sub", "b.txt"))

    assert ds.path("digits").as_mount()._trainyard_input() == {
        "type": "uri_folder", "path": folder, "mode": "ro_mount"}
    assert ds.path("digits/a.txt").as_download()._trainyard_input() == {
        "type": "uri_file", "path": os.path.join(folder, "a.txt"), "mode": "download"}
    assert ds._trainyard_input()["path"] == os.path.dirname(folder)
    assert str(ds.path("digits")).startswith("$AZUREML_DATAREFERENCE_")
    with pytest.raises(NotImplementedError, match="path to the script"):
        ds.path("digits").as_download(path_on_compute="/data")
    with pytest.raises(DatastoreException, match="leaves the datastore"):
        ds.path("../../etc")
    with pytest.raises(DatastoreException, match="not found"):
        Datastore.get(ws, "nope")
    with pytest.raises(DatastoreException, match="not found"):
        Datastore.get(ws, "..")

    got = home / "got"
    assert ds.download(str(got), prefix="digits", show_progress=False) == 2
    assert (got / "digits" / "sub" / "b.txt").read_text() == "two"


# ---- environments and run configurations -----------------------------------------------------

def test_conda_dependencies_round_trip(tmp_path):
    cd = CondaDependencies.create(pip_packages=["torch", "azureml-defaults", "tqdm==4.0"],
                                  conda_packages=["numpy"], python_version="3.11")
    assert list(cd.pip_packages) == ["azureml-defaults", "torch", "tqdm==4.0"]
    assert list(cd.conda_packages) == ["python=3.11", "numpy"]
    assert cd.get_python_version() == "3.11"
    text = cd.serialize_to_string()
    assert "- azureml-defaults" in text and "- numpy" in text
    path = tmp_path / "env" / "conda.yml"
    cd.save(str(path))
    again = CondaDependencies(str(path))
    assert again == cd
    assert again.serialize_to_string() == text
    again.add_pip_package("tqdm==4.1")
    again.remove_conda_package("numpy")
    again.add_channel("pytorch")
    assert list(again.pip_packages) == ["azureml-defaults", "torch", "tqdm==4.1"]
    # a python pin alone needs no conda: the job runs on trainyard's interpreter
    assert again._trainyard_packages() == (["azureml-defaults", "torch", "tqdm==4.1"], [])
    assert cd._trainyard_packages()[1] == ["python=3.11", "numpy"]


def test_environment_fields_register_and_refusals(home, tmp_path):
    ws = Workspace("s", "r", "envs")
    env = Environment("train-env")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["tqdm"])
    env.environment_variables = {"A": 1}
    assert env._trainyard_fields() == {"environment_variables": {"A": "1"},
                                       "pip_packages": ["azureml-defaults", "tqdm"]}
    registered = env.register(ws)
    assert registered.version == "1"
    assert env.register(ws).version == "2"
    got = Environment.get(ws, "train-env")
    assert got.version == "2" and got._trainyard_fields() == env._trainyard_fields()
    assert set(ws.environments) == {"train-env"}
    with pytest.raises(UserErrorException, match="not found"):
        Environment.get(ws, "nope")

    req = tmp_path / "requirements.txt"
    req.write_text("# comment\nrequests>=2\n")
    assert Environment.from_pip_requirements("r", str(req))._trainyard_fields()[
        "pip_packages"] == ["requests>=2"]

    user = Environment("mine")
    user.python.user_managed_dependencies = True
    user.python.interpreter_path = "/usr/bin/python3"
    assert user._trainyard_fields()["python"] == "/usr/bin/python3"

    env.docker.enabled = True
    with pytest.raises(NotImplementedError, match="docker"):
        env._trainyard_fields()


def test_script_run_config_fields(home):
    ws = Workspace("s", "r", "fields")
    ds = ws.get_default_datastore()
    (home / "proj").mkdir()
    (home / "proj" / "train.py").write_text("print('hi')\n")
    env = Environment("e")
    env.environment_variables = {}
    src = ScriptRunConfig(source_directory="proj", script="train.py",
                          arguments=["--data", ds.path("digits").as_mount(), "--lr", 0.5,
                                     "--flag", True, "--copy", ds.path("x").as_download(),
                                     "--again", ds.path("digits").as_mount(), ds,
                                     ds.path("x")],
                          compute_target="local", environment=env,
                          distributed_job_config=MpiConfiguration(process_count_per_node=2,
                                                                  node_count=2))
    fields = src._to_trainyard().fields
    # a data reference is an input named after the flag before it, else after its datastore
    assert fields["extra_args"] == ["--data", "${{inputs.data}}", "--lr", "0.5", "--flag",
                                    "True", "--copy", "${{inputs.copy}}", "--again",
                                    "${{inputs.again}}", "${{inputs.workspaceblobstore}}",
                                    "${{inputs.workspaceblobstore_2}}"]
    store = os.path.join(ws.path, "datastores", "workspaceblobstore")
    assert fields["inputs"]["data"] == {
        "type": "uri_folder", "path": os.path.join(store, "digits"), "mode": "ro_mount"}
    assert fields["inputs"]["copy"]["mode"] == "download"
    assert fields["inputs"]["again"] == fields["inputs"]["data"]
    assert fields["inputs"]["workspaceblobstore"]["path"] == store
    assert fields["inputs"]["workspaceblobstore_2"]["path"] == os.path.join(store, "x")
    assert (fields["node_count"], fields["process_count_per_node"],
            fields["distributed_backend"]) == (2, 2, "mpi")
    assert fields.get("compute_target", "local") == "local"
    assert fields["max_run_duration_seconds"] == 2592000

    torch_cfg = ScriptRunConfig("proj", "train.py", distributed_job_config=PyTorchConfiguration(
        process_count=4, node_count=2), compute_target=ComputeTarget(ws, "local"))
    tf = torch_cfg._to_trainyard().fields
    assert (tf["node_count"], tf["process_count_per_node"], tf["distributed_backend"]) == (
        2, 2, "pytorch")
    with pytest.raises(ValueError, match="multiple of node_count"):
        ScriptRunConfig("proj", "train.py", distributed_job_config=PyTorchConfiguration(
            process_count=3, node_count=2))._to_trainyard()

    cmd = ScriptRunConfig("proj", command=["python", "train.py", "--data", ds.path("digits"),
                                           "a b", "it's"], compute_target="local")
    fields = cmd._to_trainyard().fields
    assert fields["command"] == "python train.py --data ${{inputs.data}} 'a b' 'it'\"'\"'s'"
    assert fields["inputs"]["data"]["path"] == os.path.join(store, "digits")
    with pytest.raises(ValueError, match="either command"):
        ScriptRunConfig("proj", script="train.py", command="python train.py")

    rc = RunConfiguration()
    rc.environment.docker.enabled = True
    with pytest.raises(NotImplementedError, match="docker"):
        ScriptRunConfig("proj", "train.py", run_config=rc)._to_trainyard()


# ---- real runs --------------------------------------------------------------------------------

TRAIN = """\
import argparse, os, sys
from azureml.core.run import Run

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder")
parser.add_argument("--lr", type=float)
parser.add_argument("--tag")
args = parser.parse_args()
text = open(os.path.join(args.data_folder, "numbers.txt")).read()
numbers = [int(x) for x in text.split()]
run = Run.get_context()
run.log("lr", args.lr)
for n in numbers:
    run.log("n", n)
run.log_row("epoch", epoch=1, loss=0.5)
run.log_row("epoch", description="as the hosted SDK passes it", epoch=2, loss=0.25)
run.log_row("final", acc=0.9)
run.tag("tag", args.tag)
os.makedirs("outputs", exist_ok=True)
with open("outputs/sum.txt", "w") as f:
    f.write(str(sum(numbers)))
print("trained on", len(numbers), "numbers, argv", sys.argv[1:])
"""

FAIL = """\
import sys
print("about to fail", flush=True)
print("the cause: bad learning rate", file=sys.stderr, flush=True)
sys.exit(3)
"""


@pytest.fixture
def notebook(home):
    ws = Workspace("s", "r", "runs")
    proj = home / "proj"
    proj.mkdir()
    (proj / "train.py").write_text(TRAIN)
    (proj / "fail.py").write_text(FAIL)
    data = home / "data"
    data.mkdir()
    (data / "numbers.txt").write_text("1 2 3 4")
    ds = ws.get_default_datastore()
    ds.upload(src_dir=str(data), target_path="numbers", show_progress=False)
    return ws, proj, ds


def test_script_run_config_real_run(notebook, home, capsys):
    ws, proj, ds = notebook
    exp = Experiment(workspace=ws, name="core-test")
    src = ScriptRunConfig(source_directory=str(proj), script="train.py",
                          arguments=["--data-folder", ds.path("numbers").as_mount(),
                                     "--lr", 0.25, "--tag", "a b; rm -rf ~"])
    run = exp.submit(src, tags={"team": "core"})
    assert isinstance(run, Run) and isinstance(run, trainyard.Run)
    details = run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert "trained on 4 numbers, argv" in out
    assert "'a b; rm -rf ~'" in out  # one argument, no shell
    assert "RunId: {}".format(run.id) in out and "Execution Summary" in out
    assert details["status"] == "Completed" and run.get_status() == "Completed"
    assert repr(run) == "Run(Experiment: core-test,\nId: {},\nType: azureml.scriptrun,\n" \
        "Status: Completed)".format(run.id)

    metrics = run.get_metrics()
    assert metrics["lr"] == 0.25                   # logged once: the value
    assert metrics["n"] == [1, 2, 3, 4]            # several times: the list
    assert metrics["epoch"] == {"epoch": [1, 2], "loss": [0.5, 0.25]}  # a table
    assert metrics["final"] == {"acc": 0.9}                               # one row
    assert run.get_metrics(name="lr") == {"lr": 0.25}
    assert run.get_tags()["tag"] == "a b; rm -rf ~"
    assert run.get_tags()["team"] == "core"

    assert "outputs/sum.txt" in run.get_file_names()
    run.download_file("outputs/sum.txt", output_file_path=str(home / "sum.txt"))
    assert (home / "sum.txt").read_text() == "10"
    run.download_files(prefix="outputs", output_directory=str(home / "flat"), append_prefix=False)
    assert (home / "flat" / "sum.txt").read_text() == "10"

    with_logs = run.get_details_with_logs()
    assert any("trained on 4 numbers" in text for text in with_logs["logFiles"].values())
    run.tag("reviewed", "yes")
    run.set_tags({"a": "1", "b": 2})
    assert {k: run.get_tags()[k] for k in ("reviewed", "a", "b")} == {
        "reviewed": "yes", "a": "1", "b": "2"}
    run.add_properties({"p": "q"})
    assert run.get_properties()["p"] == "q"
    assert list(run.get_children()) == []
    assert ws.get_run(run.id[:-2]).id == run.id and isinstance(ws.get_run(run.id), Run)
    assert run.number == 1 and run.experiment.name == "core-test"
    assert [r.id for r in exp.get_runs()] == [run.id]
    assert [r.id for r in exp.get_runs(tags={"team": "core"})] == [run.id]
    assert list(exp.get_runs(tags={"team": "other"})) == []
    assert [r.id for r in Run.list(exp, status="Completed")] == [run.id]
    assert [e.name for e in Experiment.list(ws)] == ["core-test"]
    again = Run(exp, run.id)
    assert again.get_metrics()["lr"] == 0.25
    with pytest.raises(NotImplementedError, match="trainyard show {}".format(run.id)):
        run.get_portal_url()


def test_failing_run_raises_activity_failed(notebook):
    ws, proj, _ = notebook
    exp = Experiment(ws, "core-fail")
    run = exp.submit(ScriptRunConfig(source_directory=str(proj), script="fail.py"))
    with pytest.raises(ActivityFailedException) as caught:
        run.wait_for_completion()
    error = caught.value
    assert isinstance(error, trainyard.RunFailedError)
    assert error.run_id == run.id and error.status == "Failed"
    assert error.failed_rank == 0
    assert "3" in (error.error or "")
    assert "the cause: bad learning rate" in error.log_tail
    assert "Activity Failed" in str(error) and "the cause: bad learning rate" in str(error)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"

    (proj / "sleep.py").write_text("import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n")
    run = exp.submit(ScriptRunConfig(source_directory=str(proj), script="sleep.py"))
    run.cancel()
    with pytest.raises(ActivityFailedException) as caught:
        run.wait_for_completion()
    assert caught.value.status == "Canceled" and run.get_status() == "Canceled"


def test_unknown_compute_target_in_a_config_is_refused(notebook):
    ws, proj, _ = notebook
    src = ScriptRunConfig(source_directory=str(proj), script="train.py",
                          compute_target="no-such-cluster")
    with pytest.raises((ValueError, ComputeTargetException), match="no-such-cluster"):
        Experiment(ws, "core-bad").submit(src)


RANKS = """\
import os, sys
from azureml.core import Run
run = Run.get_context()
run.log("rank", int(os.environ["RANK"]))
print("rank", os.environ["RANK"], "of", os.environ["WORLD_SIZE"], "argv", sys.argv[1:])
"""


def test_command_form_and_pytorch_configuration_real_runs(notebook, capsys):
    ws, proj, ds = notebook
    (proj / "ranks.py").write_text(RANKS)
    exp = Experiment(ws, "core-forms")
    src = ScriptRunConfig(source_directory=str(proj), script="ranks.py", arguments=["x y"],
                          distributed_job_config=PyTorchConfiguration(process_count=2))
    run = exp.submit(src)
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert "rank 0 of 2 argv ['x y']" in out and "rank 1 of 2 argv ['x y']" in out
    assert sorted(run.get_metrics()["rank"]) == [0, 1]

    cmd = ScriptRunConfig(source_directory=str(proj),
                          command=["python", "train.py", "--data-folder",
                                   ds.path("numbers").as_download(), "--lr", 0.5, "--tag", "t"])
    run = exp.submit(cmd)
    assert run.wait_for_completion()["status"] == "Completed"
    assert run.get_metrics()["n"] == [1, 2, 3, 4]
    assert run.number == 2 and [r.number for r in exp.get_runs()] == [2, 1]


def test_environment_with_azureml_packages_real_run(notebook, capsys):
    """CondaDependencies naming azureml-* packages: provided by the compatibility package, not
    installed (nothing else asked: no environment is built)."""
    ws, proj, _ = notebook
    (proj / "version.py").write_text("import azureml.core\nprint('azureml', "
                                     "azureml.core.VERSION)\n")
    env = Environment("with-azureml")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["azureml-sdk"])
    run = Experiment(ws, "core-env").submit(ScriptRunConfig(str(proj), "version.py",
                                                             environment=env))
    details = run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert "azureml 1.0.21" in out
    assert "azureml-defaults: provided by trainyard's azureml compatibility package" in out
    assert set(details["properties"]["environment_provided"].split()) == {
        "azureml-defaults", "azureml-sdk"}
    assert "environment" not in details["properties"]  # no venv was built
