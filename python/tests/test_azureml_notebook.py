"""A notebook written for the hosted SDK, cell after cell, against a fresh local workspace (the
sequence of Azure/MachineLearningNotebooks' distributed-pytorch-with-horovod notebook, with a
datastore upload and results read back), and its error paths; then the estimator's parameters one
by one (what maps onto trainyard, what is refused, what is ignored with a note), the telemetry
cell, and RunDetails.

IPython is not installed here, so RunDetails' Jupyter view is exercised with a stand-in kernel
(an `IPython` module whose get_ipython() has a kernel and whose display() records what is shown);
everything else is real: real runs of a real supervisor in a temporary workspace.
"""
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

import trainyard

TERMINAL = ("Completed", "Failed", "Canceled")

TRAIN = """\
import argparse
import os
import time

import torch
from azureml.core.run import Run

parser = argparse.ArgumentParser()
parser.add_argument('--data-folder', required=True)
parser.add_argument('--epochs', type=int, default=1)
parser.add_argument('--go', default='')
args = parser.parse_args()

run = Run.get_context()
with open(os.path.join(args.data_folder, 'train.csv')) as f:
    rows = [[float(v) for v in line.split(',')] for line in f if line.strip()]
x = torch.tensor([r[0] for r in rows])
y = torch.tensor([r[1] for r in rows])
w = torch.zeros(1, requires_grad=True)
opt = torch.optim.SGD([w], lr=0.002)
print('started with {} rows'.format(len(rows)), flush=True)
if args.go:                      # the notebook sees the line above live, then says go
    deadline = time.time() + 60
    while not os.path.exists(args.go):
        if time.time() > deadline:
            raise SystemExit('nobody said go: the output was not shown live')
        time.sleep(0.05)
for epoch in range(args.epochs):
    opt.zero_grad()
    loss = ((w * x - y) ** 2).mean()
    loss.backward()
    opt.step()
    run.log('loss', loss.item())
    run.log_row('progress', epoch=epoch, loss=loss.item())
    print('epoch {} loss {:.4f}'.format(epoch, loss.item()), flush=True)
run.log('final_w', w.item())
os.makedirs('outputs', exist_ok=True)
with open('outputs/weights.json', 'w') as f:
    f.write('{"w": %r}' % w.item())
"""

FAIL = """\
import os
import sys
import time

rank = int(os.environ['RANK'])
print('rank {} starting'.format(rank), flush=True)
if rank == 1:
    print('about to fail: bad batch 17', file=sys.stderr, flush=True)
    sys.exit(3)
time.sleep(30)
"""


def _trainyard_bin():
    exe = os.environ.get("TRAINYARD_BIN")
    if exe:
        return exe
    return str(Path(trainyard.__file__).resolve().parents[2] / "src" / "cli" / "trainyard")


class LiveStdout(io.TextIOBase):
    """A sys.stdout that records what is written and, when `trigger` appears, creates `go`
    (so a script waiting for `go` proceeds only if its output is shown while it runs)."""

    def __init__(self, trigger, go):
        self.text = ""
        self.trigger, self.go = trigger, go

    def writable(self):
        return True

    def write(self, s):
        self.text += s
        if self.trigger in self.text and not os.path.exists(self.go):
            Path(self.go).write_text("go")
        return len(s)


@pytest.fixture
def notebook(tmp_path, monkeypatch):
    """A notebook folder below a folder holding config.json (found by searching upwards), and a
    fresh workspace for it. Yields the folder; cancels unfinished runs afterwards."""
    monkeypatch.delenv("TRAINYARD_WORKSPACE", raising=False)
    monkeypatch.setenv("TRAINYARD_WORKSPACES", str(tmp_path / "workspaces"))
    (tmp_path / "config.json").write_text(json.dumps({
        "subscription_id": "11111111-2222-3333-4444-555555555555",
        "resource_group": "notebooks",
        "workspace_name": "nbws",
        "trainyard_workspace": str(tmp_path / "ws"),
    }))
    folder = tmp_path / "how-to-use-azureml" / "pytorch"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    runs = []
    yield types.SimpleNamespace(folder=folder, tmp=tmp_path, runs=runs)
    for run in runs:
        if run.get_status() not in TERMINAL:
            run.cancel()
            run.wait_for_completion(raise_on_error=False)
    monkeypatch.chdir(tmp_path)
    shutil.rmtree(tmp_path / "ws", ignore_errors=True)


def _cells_up_to_the_experiment(nb, capsys):
    """The notebook's cells: version, diagnostics, workspace, compute target, datastore,
    project folder, experiment. Returns their variables."""
    # Cell: check core SDK version number
    import azureml.core
    print("SDK version:", azureml.core.VERSION)
    out = capsys.readouterr().out
    assert out.startswith("SDK version: 1.") and out.strip() != "SDK version:", out

    # Cell: diagnostics
    from azureml.telemetry import set_diagnostics_collection
    set_diagnostics_collection(send_diagnostics=True)
    out = capsys.readouterr().out
    assert "Turning diagnostics collection on." in out
    assert "no diagnostics are collected or sent" in out

    # Cell: initialize workspace (config.json is two folders up)
    from azureml.core.workspace import Workspace
    ws = Workspace.from_config()
    print('Workspace name: ' + ws.name,
          'Azure region: ' + ws.location,
          'Subscription id: ' + ws.subscription_id,
          'Resource group: ' + ws.resource_group, sep='\n')
    out = capsys.readouterr().out
    assert "Workspace name: nbws" in out
    assert "Subscription id: 11111111-2222-3333-4444-555555555555" in out
    assert "Resource group: notebooks" in out
    assert Path(ws.path) == nb.tmp / "ws"

    # Cell: create or attach existing AmlCompute
    from azureml.core.compute import AmlCompute, ComputeTarget
    from azureml.core.compute_target import ComputeTargetException
    cluster_name = "gpucluster"
    try:
        compute_target = ComputeTarget(workspace=ws, name=cluster_name)
        print('Found existing compute target.')
    except ComputeTargetException:
        print('Creating a new compute target...')
        compute_config = AmlCompute.provisioning_configuration(vm_size='STANDARD_NC6',
                                                               max_nodes=4)
        compute_target = ComputeTarget.create(ws, cluster_name, compute_config)
        compute_target.wait_for_completion(show_output=True)
    status = compute_target.get_status().serialize()
    print(status)
    out = capsys.readouterr().out
    assert "Creating a new compute target..." in out
    assert "gpucluster" in out and "local" in out, out
    assert isinstance(status, dict)
    # Run the cell again: the target is found now.
    assert ComputeTarget(workspace=ws, name=cluster_name).name == cluster_name
    assert cluster_name in ws.compute_targets

    # Cell: upload the data to the default datastore
    data = nb.folder / "data"
    data.mkdir()
    (data / "train.csv").write_text("".join(f"{i},{2.5 * i}\n" for i in range(1, 21)))
    ds = ws.get_default_datastore()
    ds.upload(src_dir=str(data), target_path='linear', overwrite=True, show_progress=True)
    capsys.readouterr()

    # Cell: create a project directory and copy the training script into it
    project_folder = './pytorch-linear'
    os.makedirs(project_folder, exist_ok=True)
    Path(project_folder, "train.py").write_text(TRAIN)

    # Cell: create an experiment
    from azureml.core import Experiment
    experiment = Experiment(ws, name='pytorch-linear')
    return types.SimpleNamespace(ws=ws, ds=ds, compute_target=compute_target,
                                 experiment=experiment, project_folder=project_folder)


def test_notebook_cells(notebook, capsys, monkeypatch):
    v = _cells_up_to_the_experiment(notebook, capsys)

    # Cell: create a PyTorch estimator, the datastore folder mounted in script_params
    from azureml.train.dnn import PyTorch
    go = str(notebook.tmp / "go")
    estimator = PyTorch(source_directory=v.project_folder,
                        script_params={'--data-folder': v.ds.path('linear').as_mount(),
                                       '--epochs': 3,
                                       '--go': go},
                        compute_target=v.compute_target,
                        entry_script='train.py',
                        use_gpu=True)

    # Cell: submit (asynchronous)
    run = v.experiment.submit(estimator)
    notebook.runs.append(run)
    print(run)
    assert run.id in capsys.readouterr().out
    assert run.get_status() not in ("Completed", "Failed", "Canceled")

    # Cell: block until done, with the output shown live
    live = LiveStdout("started with 20 rows", go)
    monkeypatch.setattr(sys, "stdout", live)
    details = run.wait_for_completion(show_output=True)
    monkeypatch.undo()
    assert os.path.exists(go), live.text        # the notebook saw the line while the run ran
    assert "epoch 2 loss" in live.text, live.text
    assert details["status"] == "Completed"
    assert details["runId"] == run.id
    assert details["target"] == "gpucluster"
    assert details["startTimeUtc"] and details["endTimeUtc"]

    # Cell: metrics, in the hosted SDK's shapes
    metrics = run.get_metrics()
    assert isinstance(metrics["loss"], list) and len(metrics["loss"]) == 3
    assert metrics["loss"] == sorted(metrics["loss"], reverse=True)     # it trains
    assert isinstance(metrics["final_w"], float) and 0 < metrics["final_w"] <= 2.5
    assert metrics["progress"]["epoch"] == [0, 1, 2]
    assert metrics["progress"]["loss"] == pytest.approx(metrics["loss"])
    assert run.get_metrics(name="final_w") == {"final_w": metrics["final_w"]}

    # Cell: download a file of the run's outputs
    assert "outputs/weights.json" in run.get_file_names()
    target = notebook.tmp / "downloaded" / "weights.json"
    target.parent.mkdir()
    run.download_file("outputs/weights.json", output_file_path=str(target))
    assert json.loads(target.read_text())["w"] == pytest.approx(metrics["final_w"])

    # Cell: the run's details as a text table (no Jupyter here)
    from azureml.widgets import RunDetails
    capsys.readouterr()
    RunDetails(run).show()
    table = capsys.readouterr().out
    assert run.id in table and "Completed" in table, table
    assert "final_w" in table and "loss" in table and "gpucluster" in table


def test_unknown_compute_target(notebook, capsys):
    from azureml.core import Workspace
    from azureml.core.compute import ComputeTarget
    from azureml.core.compute_target import ComputeTargetException

    ws = Workspace.from_config()
    with pytest.raises(ComputeTargetException, match="no-such-cluster"):
        ComputeTarget(workspace=ws, name="no-such-cluster")


def _cli_error(*args):
    """The message `trainyard submit --dry-run` prints for the same job."""
    proc = subprocess.run([_trainyard_bin(), "submit", "--dry-run", *args], capture_output=True,
                          text=True)
    assert proc.returncode == 2, proc
    return proc.stderr.strip().removeprefix("trainyard: ")


def _without_origin(message):
    """A validation message without where the job came from ("job.yaml:3:1: ",
    "--set node_count=0: ", "<PyTorch>: "): the field path and the problem."""
    return message.split(": ", 1)[1]


@pytest.mark.parametrize("kwargs,flags,field", [
    ({"node_count": 0}, ["--set", "node_count=0"], "node_count"),
    ({"distributed_backend": "mpii", "process_count_per_node": 2},
     ["--set", "distributed_backend=mpii", "--set", "process_count_per_node=2"],
     "distributed_backend"),
    ({"process_count_per_node": 2}, ["--set", "process_count_per_node=2"],
     "process_count_per_node"),
])
def test_bad_parameter_is_the_clis_message(notebook, kwargs, flags, field):
    from azureml.train.dnn import PyTorch

    src = notebook.folder / "proj"
    src.mkdir()
    (src / "train.py").write_text("print('hi')\n")
    with pytest.raises(ValueError) as err:
        PyTorch(source_directory=str(src), entry_script="train.py", **kwargs)
    expected = _cli_error("--source", str(src), "--entry", "train.py", *flags)
    assert _without_origin(str(err.value)) == _without_origin(expected)
    assert f": {field}: " in str(err.value)


def test_failing_run_raises_activity_failed(notebook, capsys):
    from azureml.core import Experiment, Workspace
    from azureml.exceptions import ActivityFailedException
    from azureml.train.estimator import Estimator, Gloo

    ws = Workspace.from_config()
    src = notebook.folder / "failing"
    src.mkdir()
    (src / "train.py").write_text(FAIL)
    est = Estimator(source_directory=str(src), entry_script="train.py",
                    process_count_per_node=2, distributed_training=Gloo())
    run = Experiment(ws, "failing").submit(est)
    notebook.runs.append(run)
    with pytest.raises(ActivityFailedException) as err:
        run.wait_for_completion(show_output=True)
    e = err.value
    assert isinstance(e, trainyard.RunFailedError)
    assert e.run_id == run.id and e.status == "Failed"
    assert e.failed_rank == 1
    tail = e.log_tail if isinstance(e.log_tail, str) else "\n".join(e.log_tail)
    assert "bad batch 17" in tail
    assert "3" in str(e.error)                     # rank 1's exit code
    assert run.get_status() == "Failed"
    # Without raising: the details say the same, and so does RunDetails' table.
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    from azureml.widgets import RunDetails
    capsys.readouterr()
    RunDetails(run).show()
    table = capsys.readouterr().out
    assert "Failed" in table and "bad batch 17" in table, table
    assert [line.split()[-1] for line in table.splitlines()
            if line.startswith("failed rank")] == ["1"], table


# ---- the estimator's parameters ----


@pytest.fixture
def src(tmp_path, monkeypatch):
    monkeypatch.delenv("TRAINYARD_WORKSPACE", raising=False)
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "train.py").write_text("print('hi')\n")
    monkeypatch.chdir(tmp_path)
    return folder


def test_parameters_map_onto_the_estimator_form(src, capsys):
    from azureml.train.dnn import Mpi, PyTorch

    class Target:                      # a ComputeTarget: only its name is used
        name = "gpucluster"

    est = PyTorch(source_directory="src", entry_script="train.py", compute_target=Target(),
                  script_params={"--lr": 0.01, "--epochs": 3, "--flag": None, "--amp": True,
                                 "--name": "x y"},
                  distributed_training=Mpi(process_count_per_node=2), node_count=2,
                  environment_variables={"OMP_NUM_THREADS": "1"},
                  max_run_duration_seconds=600, pip_packages=["tqdm"])
    fields = est._to_trainyard().fields
    assert fields["source_directory"] == str(src)
    assert fields["compute_target"] == "gpucluster"
    assert list(fields["script_params"].items()) == [
        ("--lr", "0.01"), ("--epochs", "3"), ("--flag", None), ("--amp", "True"),
        ("--name", "x y")]
    assert (fields["distributed_backend"], fields["node_count"],
            fields["process_count_per_node"]) == ("mpi", 2, 2)
    assert fields["environment_variables"] == {"OMP_NUM_THREADS": "1"}
    assert fields["max_run_duration_seconds"] == 600
    assert fields["pip_packages"] == ["tqdm"]
    assert isinstance(est._to_trainyard(), trainyard.PyTorch)


@pytest.mark.parametrize("backend,expected", [("mpi", "mpi"), ("gloo", "gloo"),
                                              ("nccl", "nccl")])
def test_distributed_backend_names(src, backend, expected):
    from azureml.train.dnn import Gloo, Mpi, Nccl, PyTorch

    by_name = PyTorch(source_directory="src", entry_script="train.py",
                      process_count_per_node=2, distributed_backend=backend)
    config = {"mpi": Mpi(process_count_per_node=2), "gloo": Gloo(), "nccl": Nccl()}[backend]
    by_object = PyTorch(source_directory="src", entry_script="train.py",
                        process_count_per_node=2, distributed_training=config)
    for est in (by_name, by_object):
        fields = est._to_trainyard().fields
        assert fields["distributed_backend"] == expected
        assert fields["process_count_per_node"] == 2


def test_mpi_plan_starts_mpirun_with_the_ranks(src, tmp_path):
    from azureml.train.dnn import Mpi, PyTorch

    est = PyTorch(source_directory="src", entry_script="train.py",
                  distributed_training=Mpi(process_count_per_node=2))
    ws = trainyard.Workspace(str(tmp_path / "ws"))
    plan = json.dumps(est.dry_run(ws))
    assert "mpirun" in plan and "train.py" in plan


def test_data_references_become_inputs(src, tmp_path):
    from azureml.train.estimator import Estimator

    class Ref:                          # the docs/sdk.md protocol
        def __init__(self, path, mode):
            self.path, self.mode = path, mode

        def _trainyard_input(self):
            return {"type": "uri_folder", "path": self.path, "mode": self.mode}

    data = tmp_path / "data"
    data.mkdir()
    est = Estimator("src", entry_script="train.py",
                    script_params={"--data-dir": Ref(str(data), "ro_mount"),
                                   "--copy": Ref(str(data), "download")})
    fields = est._to_trainyard().fields
    assert fields["script_params"] == {"--data-dir": "${{inputs.data_dir}}",
                                       "--copy": "${{inputs.copy}}"}
    assert fields["inputs"]["data_dir"]["mode"] == "ro_mount"
    assert fields["inputs"]["copy"]["mode"] == "download"
    assert fields["inputs"]["copy"]["path"] == str(data)


def test_inputs_list_and_datastore_paths(notebook):
    from azureml.core import Workspace
    from azureml.train.estimator import Estimator

    ws = Workspace.from_config()
    ds = ws.get_default_datastore()
    data = notebook.folder / "data"
    (data / "a").mkdir(parents=True)
    (data / "a" / "x.txt").write_text("x")
    ds.upload(src_dir=str(data), target_path="up", show_progress=False)
    src = notebook.folder / "src"
    src.mkdir()
    (src / "train.py").write_text("print('hi')\n")
    est = Estimator(str(src), entry_script="train.py",
                    script_params={"--root": ds, "--a": ds.path("up/a").as_download()},
                    inputs=[ds.path("up/a", data_reference_name="extra").as_mount()])
    fields = est._to_trainyard().fields
    assert fields["script_params"] == {"--root": "${{inputs.root}}", "--a": "${{inputs.a}}"}
    assert fields["inputs"]["root"]["mode"] == "ro_mount"
    assert fields["inputs"]["a"]["mode"] == "download"
    assert Path(fields["inputs"]["a"]["path"], "x.txt").read_text() == "x"
    assert fields["inputs"]["extra"] == {"type": "uri_folder", "mode": "ro_mount",
                                         "path": fields["inputs"]["a"]["path"]}


@pytest.mark.parametrize("kwargs,words", [
    ({"custom_docker_image": "pytorch/pytorch:latest"}, ["custom_docker_image", "pip_packages"]),
    ({"custom_docker_base_image": "ubuntu"}, ["custom_docker_base_image", "containers"]),
    ({"image_registry_details": object()}, ["image_registry_details"]),
    ({"resume_from": "ckpt"}, ["resume_from", "as_download"]),
    ({"distributed_backend": "ps"}, ["parameter servers", "Mpi"]),
])
def test_what_trainyard_cannot_do_is_refused(src, kwargs, words):
    from azureml.train.dnn import PyTorch

    with pytest.raises(NotImplementedError) as err:
        PyTorch(source_directory="src", entry_script="train.py", **kwargs)
    for w in words:
        assert w in str(err.value)


@pytest.mark.parametrize("name", ["TensorFlow", "Chainer"])
def test_other_frameworks_refuse(src, name):
    import azureml.train.dnn as dnn

    with pytest.raises(NotImplementedError, match=f"no {name} estimator"):
        getattr(dnn, name)(source_directory="src", entry_script="train.py")


def test_machine_parameters_are_ignored_with_a_note(src, capsys):
    from azureml.train.dnn import PyTorch

    est = PyTorch(source_directory="src", entry_script="train.py", vm_size="STANDARD_NC6",
                  vm_priority="lowpriority", shm_size="2g", framework_version="0.4")
    out = capsys.readouterr().out
    assert "vm_size='STANDARD_NC6' ignored" in out
    assert "vm_priority='lowpriority' ignored" in out
    assert "shm_size='2g' ignored" in out
    assert "framework_version='0.4'" in out and "interpreter's torch" in out
    assert "vm_size" not in est._to_trainyard().fields


def test_both_backend_forms_and_user_managed_packages_are_refused(src):
    from azureml.train.dnn import Mpi, PyTorch

    with pytest.raises(ValueError, match="distributed_backend and distributed_training"):
        PyTorch(source_directory="src", entry_script="train.py", distributed_backend="mpi",
                distributed_training=Mpi())
    with pytest.raises(ValueError, match="user_managed=True"):
        PyTorch(source_directory="src", entry_script="train.py", user_managed=True,
                pip_packages=["tqdm"])
    with pytest.raises(TypeError, match="unexpected keyword argument 'nodes'"):
        PyTorch(source_directory="src", entry_script="train.py", nodes=2)


def test_conda_file_and_requirements_outside_the_source(src, tmp_path, capsys):
    from azureml.train.estimator import Estimator

    conda = tmp_path / "env.yml"
    conda.write_text("name: x\nchannels: [conda-forge]\ndependencies:\n  - python=3.6.2\n"
                     "  - numpy\n  - pip\n  - pip:\n    - tqdm==4.*\n")
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("# comment\nrich\n\n")
    (src / "requirements.txt").write_text("pyyaml\n")
    est = Estimator("src", entry_script="train.py", conda_dependencies_file_path=str(conda),
                    pip_requirements_file_path=str(reqs))
    fields = est._to_trainyard().fields
    assert fields["conda_packages"] == ["numpy"]
    assert fields["pip_packages"] == ["tqdm==4.*", "rich"]
    assert "python=3.6.2" in capsys.readouterr().out
    inside = Estimator("src", entry_script="train.py",
                       pip_requirements_file_path=str(src / "requirements.txt"))
    assert inside._to_trainyard().fields["pip_requirements_file"] == "requirements.txt"


def test_supported_versions_name_the_interpreters_torch():
    import torch
    from azureml.train.dnn import PyTorch

    assert PyTorch.get_supported_versions() == [".".join(torch.__version__.split(".")[:2])]


# ---- telemetry ----


def test_set_diagnostics_collection_records_and_sends_nothing(tmp_path, capsys):
    from azureml.telemetry import get_diagnostics_collection_info, set_diagnostics_collection

    path = tmp_path / "telemetry.json"
    set_diagnostics_collection(send_diagnostics=True, reason="for the notebook", path=str(path))
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Turning diagnostics collection on. for the notebook"
    assert json.loads(path.read_text()) == {"send_diagnostics": True,
                                            "diagnostics_verbosity": "INFO"}
    assert get_diagnostics_collection_info(path=str(path)) == (True, "INFO")
    set_diagnostics_collection(send_diagnostics=False)
    assert capsys.readouterr().out == ""
    assert get_diagnostics_collection_info() == (False, "INFO")


# ---- RunDetails in Jupyter ----


class StandInKernel:
    """An `IPython` module as a Jupyter kernel has it: get_ipython() has a kernel; display()
    records each HTML shown or updated."""

    def __init__(self):
        self.shown = []
        kernel = self

        class HTML:
            def __init__(self, data):
                self.data = data

        class Handle:
            def update(self, obj):
                kernel.shown.append(obj.data)

        def display(obj, display_id=None):
            kernel.shown.append(obj.data)
            return Handle()

        self.ipython = types.ModuleType("IPython")
        self.ipython.get_ipython = lambda: types.SimpleNamespace(kernel=object())
        self.display = types.ModuleType("IPython.display")
        self.display.HTML, self.display.display = HTML, display
        self.ipython.display = self.display


@pytest.mark.parametrize("with_ipywidgets", [False, True])
def test_run_details_in_jupyter_refreshes_until_the_run_ends(notebook, monkeypatch, capsys,
                                                             with_ipywidgets):
    from azureml.core import Experiment, Workspace
    from azureml.train.estimator import Estimator
    from azureml.widgets import RunDetails

    ws = Workspace.from_config()
    src = notebook.folder / "slow"
    src.mkdir()
    go = notebook.tmp / "go"
    (src / "train.py").write_text(
        "import os, time\nfrom azureml.core.run import Run\nrun = Run.get_context()\n"
        "run.log('step', 1)\nrun.flush()\n"
        f"while not os.path.exists({str(go)!r}):\n    time.sleep(0.05)\nrun.log('step', 2)\n")
    run = Experiment(ws, "widget").submit(Estimator(str(src), entry_script="train.py"))
    notebook.runs.append(run)

    kernel = StandInKernel()
    monkeypatch.setitem(sys.modules, "IPython", kernel.ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", kernel.display)
    widgets = []
    if with_ipywidgets:                 # an ipywidgets HTML widget whose value is updated
        stand_in = types.ModuleType("ipywidgets")

        class HTML:
            def __init__(self, value=""):
                self.value = value
                widgets.append(self)

        stand_in.HTML = HTML
        monkeypatch.setitem(sys.modules, "ipywidgets", stand_in)
        kernel.display.display = lambda obj, display_id=None: kernel.shown.append(obj)
    else:                               # not installed: an IPython display updated in place
        monkeypatch.setitem(sys.modules, "ipywidgets", None)

    def current():
        return widgets[0].value if with_ipywidgets else kernel.shown[-1]

    details = RunDetails(run)
    details._refresh_seconds = 0.2
    capsys.readouterr()
    details.show()                                          # returns at once
    assert capsys.readouterr().out == ""                    # nothing printed as text
    if with_ipywidgets:
        assert kernel.shown == widgets                      # one widget, updated in place
    assert run.id in current() and "refreshing every" in current()
    deadline = time.time() + 60
    while "<td>step</td><td>1</td>" not in current() and time.time() < deadline:
        time.sleep(0.1)                                     # the view shows step=1 live
    assert "<td>step</td><td>1</td>" in current(), current()
    go.write_text("go")
    details._thread.join(60)
    assert not details._thread.is_alive()
    assert "Completed" in current() and "refreshing" not in current()
    assert "<td>step</td><td>2</td><td>2</td>" in current(), current()
    if with_ipywidgets:
        assert kernel.shown == widgets
    assert run.get_metrics()["step"] == [1, 2]
    data = details.get_widget_data()
    assert data["status"] == "Completed" and data["metrics"]["step"] == {"last": 2, "count": 2}
