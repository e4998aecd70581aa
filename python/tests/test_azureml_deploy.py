"""The product page's "deploy the trained model" flows through the hosted SDK's names (issue 16),
over the real binding (trainyard._sdk), supervisor (the trainyard executable), server and scoring
workers: a real training run writes a TorchScript model, run.register_model registers it,
Model.deploy / Webservice.deploy_from_model serve it on this machine, requests go over real HTTP.
Every test deletes the deployments it made."""

import json
import os
import subprocess

import pytest

import trainyard.model as tym
from azureml.core import Environment, Experiment, Model, ScriptRunConfig, Webservice, Workspace
from azureml.core.image import ContainerImage
from azureml.core.model import InferenceConfig, ModelNotFoundException
from azureml.core.webservice import AciWebservice, LocalWebservice
from azureml.exceptions import WebserviceException

TRAIN = """\
import os
import torch
from azureml.core import Run

run = Run.get_context()
model = torch.nn.Linear(4, 1)
with torch.no_grad():
    model.weight.fill_(1.0)
    model.bias.fill_(0.5)
os.makedirs("outputs", exist_ok=True)
torch.jit.save(torch.jit.script(model), "outputs/model.pt")
run.log("accuracy", 0.875)
"""

SCORE = """\
import json
import torch
from azureml.core.model import Model

def init():
    global model
    path = Model.get_model_path("digits")
    model = torch.jit.load(path)
    print("init: loaded", path, flush=True)

def run(raw_data):
    data = torch.tensor(json.loads(raw_data)["data"], dtype=torch.float32)
    return model(data).tolist()
"""

BROKEN = """\
def init():
    raise ValueError("no weights here")

def run(raw_data):
    return raw_data
"""


def _cli_ready():
    """The supervisor of a deployment is `trainyard deployment supervise`: the executable must
    know the verbs."""
    try:
        exe = tym.trainyard_executable()
    except FileNotFoundError:
        return False
    helps = [subprocess.run([exe, verb, "--help"], capture_output=True, text=True).stdout
             for verb in ("model", "deploy")]
    return "register" in helps[0] and "--entry" in helps[1]


pytestmark = pytest.mark.skipif(not _cli_ready(),
                                reason="trainyard model/deploy are not built in this tree")


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A fresh workspace, the current folder a temporary one; every deployment left is deleted
    afterwards (their supervisors and servers stop)."""
    monkeypatch.setenv("TRAINYARD_WORKSPACES", str(tmp_path / "workspaces"))
    monkeypatch.delenv("TRAINYARD_WORKSPACE", raising=False)
    monkeypatch.delenv("AZUREML_MODEL_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    workspace = Workspace("sub", "rg", "serving")
    yield workspace
    for deployment in tym.Deployment.list(workspace):
        deployment.delete()


@pytest.fixture
def trained(ws, tmp_path):
    """A completed run whose outputs/model.pt is sum(x) + 0.5, and the scoring folder."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "train.py").write_text(TRAIN)
    run = Experiment(ws, "digits").submit(ScriptRunConfig("proj", "train.py"))
    run.wait_for_completion()
    serve = tmp_path / "serve"
    serve.mkdir()
    (serve / "score.py").write_text(SCORE)
    (serve / "env.yml").write_text("name: scoring\ndependencies:\n  - python=3.11\n")
    return run, serve


def test_issue_flow_register_deploy_score_logs_delete(ws, trained, capsys):
    run, serve = trained
    model = run.register_model(model_name="digits", model_path="outputs/model.pt",
                               tags={"area": "digits"}, description="linear")
    assert (model.name, model.version, model.id) == ("digits", 1, "digits:1")
    assert (model.run_id, model.experiment_name) == (run.id, "digits")
    assert model.tags == {"area": "digits"} and model.description == "linear"
    assert model.created_time is not None

    inference_config = InferenceConfig(entry_script="score.py", source_directory=str(serve),
                                       environment=Environment("scoring"))
    deployment_config = LocalWebservice.deploy_configuration()
    service = Model.deploy(ws, "digits-local", [model], inference_config, deployment_config)
    assert isinstance(service, LocalWebservice)
    service.wait_for_deployment(show_output=True)
    assert "Healthy" in capsys.readouterr().out
    assert service.state == "Healthy"
    assert service.scoring_uri.startswith("http://127.0.0.1:") and \
        service.scoring_uri.endswith("/score")
    assert service.swagger_uri is None

    answer = service.run(json.dumps({"data": [[1, 2, 3, 4], [0, 0, 0, 0]]}))
    assert answer == [[10.5], [0.5]]
    assert "init: loaded" in service.get_logs()

    # A version in use cannot be deleted; the service is found again by name and listed.
    with pytest.raises(WebserviceException, match="digits-local"):
        model.delete()
    again = Webservice(ws, "digits-local")
    assert type(again) is LocalWebservice and again.scoring_uri == service.scoring_uri
    assert [s.name for s in Webservice.list(ws)] == ["digits-local"]
    assert [s.name for s in Webservice.list(ws, model_name="digits")] == ["digits-local"]
    assert Webservice.list(ws, compute_type="ACI") == []

    service.delete()
    assert Webservice.list(ws) == []
    with pytest.raises(WebserviceException, match="WebserviceNotFound"):
        Webservice(ws, "digits-local")
    model.delete()
    with pytest.raises(ModelNotFoundException):
        Model(ws, "digits")


def test_registry_versions_lineage_download_and_lookup(ws, trained, tmp_path, capsys):
    run, _ = trained
    first = run.register_model("digits", "outputs/model.pt")
    same = run.register_model("digits", "outputs/model.pt")
    assert same.version == first.version == 1  # the same bytes: that version again

    other = tmp_path / "other.pt"
    other.write_bytes(b"not the same bytes")
    second = Model.register(ws, model_path=str(other), model_name="digits",
                            tags={"stage": "test"}, properties={"source": "local"})
    assert "Registering model digits" in capsys.readouterr().out
    assert second.version == 2 and second.run_id is None

    assert Model(ws, "digits").version == 2
    assert Model(ws, "digits", version=1).run_id == run.id
    assert Model(ws, id="digits:1").version == 1
    assert Model(ws, "digits", tags=["stage"]).version == 2
    assert Model(ws, "digits", run_id=run.id).version == 1
    assert [m.id for m in Model.list(ws)] == ["digits:1", "digits:2"]
    assert [m.id for m in Model.list(ws, name="digits", latest=True)] == ["digits:2"]
    assert [m.id for m in Model.list(ws, tags=[["stage", "test"]])] == ["digits:2"]
    with pytest.raises(ModelNotFoundException):
        Model(ws, "digits", version=9)
    with pytest.raises(ModelNotFoundException):
        Model(ws, "nothing")

    target = tmp_path / "dl"
    path = first.download(target_dir=str(target))
    assert os.path.basename(path) == "model.pt" and os.path.getsize(path) > 0
    with pytest.raises(WebserviceException, match="exist_ok"):
        first.download(target_dir=str(target))
    assert first.download(target_dir=str(target), exist_ok=True) == path

    # Outside a scoring process get_model_path is the registry's read-only copy.
    assert Model.get_model_path("digits", version=1, _workspace=ws) == first.url
    with open(first.url, "rb") as f, open(path, "rb") as g:
        assert f.read() == g.read()


def test_old_flow_image_configuration_and_deploy_from_model_on_aci(ws, trained, monkeypatch):
    run, serve = trained
    model = run.register_model("digits", "outputs/model.pt")
    monkeypatch.chdir(serve)  # the hosted SDK takes execution_script from the current folder
    image_config = ContainerImage.image_configuration(execution_script="score.py",
                                                      runtime="python", conda_file="env.yml")
    aci_config = AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1,
                                                    tags={"data": "digits"},
                                                    description="digits on ACI")
    monkeypatch.setattr(AciWebservice, "_said", False, raising=False)  # said once per process
    with pytest.warns(UserWarning, match="on this machine"):
        service = Webservice.deploy_from_model(workspace=ws, name="digits-aci", models=[model],
                                               image_config=image_config,
                                               deployment_config=aci_config)
    assert isinstance(service, AciWebservice)
    service.wait_for_deployment(show_output=True)
    assert service.state == "Healthy"
    assert service.tags == {"data": "digits"} and service.description == "digits on ACI"
    assert service.run(json.dumps({"data": [[1, 1, 1, 1]]})) == [[4.5]]
    with pytest.raises(WebserviceException, match="keys"):
        service.get_keys()
    with pytest.raises(NotImplementedError, match="overwrite=True"):
        service.update(tags={"a": "b"})
    service.delete()


def test_torchscript_without_a_script_names_taken_and_overwrite(ws, trained):
    run, _ = trained
    model = run.register_model("digits", "outputs/model.pt")
    config = LocalWebservice.deploy_configuration()
    service = Model.deploy(ws, "digits-ts", [model], deployment_config=config)
    service.wait_for_deployment()
    answer = service.run({"data": [[1, 2, 3, 4]]})
    assert "10.5" in json.dumps(answer)
    with pytest.raises(WebserviceException, match="Response Code: 400"):
        service.run("{not json")

    with pytest.raises(WebserviceException, match="digits-ts"):
        Model.deploy(ws, "digits-ts", [model], deployment_config=config)
    replaced = Model.deploy(ws, "digits-ts", [model], deployment_config=config, overwrite=True)
    replaced.wait_for_deployment()
    assert replaced.state == "Healthy"
    assert "10.5" in json.dumps(replaced.run({"data": [[1, 2, 3, 4]]}))
    replaced.delete()


def test_a_failing_init_fails_the_deployment_with_its_message(ws, trained, tmp_path):
    run, _ = trained
    model = run.register_model("digits", "outputs/model.pt")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "score.py").write_text(BROKEN)
    service = Model.deploy(ws, "digits-broken", [model],
                           InferenceConfig(entry_script="score.py", source_directory=str(broken)),
                           LocalWebservice.deploy_configuration())
    with pytest.raises(WebserviceException, match="no weights here"):
        service.wait_for_deployment(timeout_sec=300)
    assert service.state == "Failed"
    service.delete()


def test_unknown_model_is_refused_by_deploy(ws):
    with pytest.raises(WebserviceException, match="nothing"):
        Model.deploy(ws, "nothing-svc", ["nothing:3"],
                     deployment_config=LocalWebservice.deploy_configuration())


def test_trainyard_api_register_deploy_score_delete(ws, trained):
    """trainyard.Model / trainyard.deploy: the same registry and deployments without the
    hosted names (deploy waits until the service answers)."""
    import trainyard

    run, _ = trained
    handle = trainyard.get_run(run.id, ws.path)
    model = handle.register_model("digits", "outputs/model.pt", tags={"k": "v"})
    assert isinstance(model, trainyard.Model)
    assert (model.id, model.run_id, model.path, model.tags) == (
        "digits:1", run.id, "model.pt", {"k": "v"})
    assert model.metrics.get("accuracy") == 0.875
    assert [m.id for m in trainyard.Model.list(ws, "digits")] == ["digits:1"]
    assert os.path.isfile(model.local_path())

    service = trainyard.deploy(ws, "digits-api", [model])
    assert service.state == "Healthy" and service.port > 0
    assert "10.5" in json.dumps(service.score({"data": [[1, 2, 3, 4]]}))
    assert [d.name for d in trainyard.Deployment.list(ws)] == ["digits-api"]
    assert trainyard.Deployment.get(ws, "digits-api").models == [("digits", 1)]
    with pytest.raises(trainyard.model.CliError) as error:
        model.delete()
    assert error.value.exit_code == 1 and "digits-api" in error.value.message
    service.delete()
    assert trainyard.Deployment.list(ws) == []
    model.delete()
    assert trainyard.Model.list(ws) == []
