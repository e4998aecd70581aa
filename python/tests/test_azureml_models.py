"""azureml.core Model, InferenceConfig, deployment configurations and ContainerImage
configurations (issue 16), against the hosted SDK's documented behaviour: argument checks,
Model.get_model_path inside a scoring process (AZUREML_MODEL_DIR), service names, and what a
deployment configuration asks of the deployments (the request trainyard._sdk.deploy receives, read
from a recording stand-in for the binding). The flows over the real binding, server and workers
are in test_azureml_deploy.py."""

import json
import os
import sys
import warnings

import pytest

import trainyard
from azureml.core import Environment, Model, Workspace
from azureml.core.conda_dependencies import CondaDependencies
from azureml.core.image import ContainerImage
from azureml.core.model import InferenceConfig, ModelNotFoundException
from azureml.core.webservice import (AciWebservice, AksWebservice, LocalWebservice,
                                     Webservice)
from azureml.exceptions import WebserviceException


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINYARD_WORKSPACES", str(tmp_path / "workspaces"))
    monkeypatch.delenv("TRAINYARD_WORKSPACE", raising=False)
    monkeypatch.delenv("AZUREML_MODEL_DIR", raising=False)
    monkeypatch.delenv("TRAINYARD_MODELS", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---- get_model_path in a scoring process -----------------------------------------------------

def test_get_model_path_with_one_model_is_the_file_in_azureml_model_dir(home, monkeypatch):
    folder = home / "models" / "digits" / "3"
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"x")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(folder))
    assert Model.get_model_path("digits") == str(folder / "model.pt")
    assert Model.get_model_path("digits", version=3) == str(folder / "model.pt")
    with pytest.raises(ModelNotFoundException, match="other"):
        Model.get_model_path("other")
    with pytest.raises(WebserviceException, match="digits:2"):
        Model.get_model_path("digits", version=2)


def test_get_model_path_with_several_models_uses_name_and_version_folders(home, monkeypatch):
    root = home / "models"
    for name, version, file in [("digits", 1, "model.pt"), ("digits", 2, "model.pt"),
                                ("resnet", 1, "weights")]:
        d = root / name / str(version) / file
        if file == "weights":
            d.mkdir(parents=True)
            (d / "a.bin").write_bytes(b"a")
        else:
            d.parent.mkdir(parents=True)
            d.write_bytes(b"m")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(root))
    assert Model.get_model_path("digits") == str(root / "digits" / "2" / "model.pt")
    assert Model.get_model_path("digits", 1) == str(root / "digits" / "1" / "model.pt")
    assert Model.get_model_path("resnet") == str(root / "resnet" / "1" / "weights")
    with pytest.raises(ModelNotFoundException):
        Model.get_model_path("digits", 7)


def test_get_model_path_prefers_the_servers_model_list(home, monkeypatch):
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(home / "anything"))
    monkeypatch.setenv("TRAINYARD_MODELS", json.dumps([
        {"name": "digits", "version": "1", "path": "/m/digits/1/model.pt"},
        {"name": "digits", "version": "4", "path": "/m/digits/4/model.pt"},
        {"name": "other", "version": "2", "path": "/m/other/2/dir"}]))
    assert Model.get_model_path("digits") == "/m/digits/4/model.pt"
    assert Model.get_model_path("digits", version=1) == "/m/digits/1/model.pt"
    assert Model.get_model_path("other") == "/m/other/2/dir"
    with pytest.raises(ModelNotFoundException, match="digits:1, digits:4, other:2"):
        Model.get_model_path("missing")


# ---- argument checks --------------------------------------------------------------------------

def test_model_needs_a_name_or_an_id(home):
    ws = Workspace("s", "r", "models")
    with pytest.raises(WebserviceException, match="name or id"):
        Model(ws)
    with pytest.raises(WebserviceException, match="NAME:VERSION"):
        Model(ws, id="digits:latest-ish")


def test_register_of_a_missing_path_or_with_child_paths_is_refused(home):
    ws = Workspace("s", "r", "models")
    with pytest.raises(WebserviceException, match="nope.pt"):
        Model.register(ws, model_path="nope.pt", model_name="m")
    (home / "m").mkdir()
    with pytest.raises(NotImplementedError, match="whole file or folder"):
        Model.register(ws, "m", "m", child_paths=["a"])


def test_local_deploy_configuration_checks_the_port():
    assert LocalWebservice.deploy_configuration().port is None
    assert LocalWebservice.deploy_configuration(port=6789).port == 6789
    for bad in (0, 65536, "80", True):
        with pytest.raises(WebserviceException, match=r"\[1, 65535\]"):
            LocalWebservice.deploy_configuration(port=bad)


def test_aci_and_aks_configurations_check_what_the_hosted_sdk_checks():
    config = AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1, tags={"a": "b"},
                                                auth_enabled=True, description="d")
    assert (config.cpu_cores, config.memory_gb, config.tags, config.description) == (
        1, 1, {"a": "b"}, "d")
    with pytest.raises(WebserviceException, match="cpu_cores must be greater than zero"):
        AciWebservice.deploy_configuration(cpu_cores=0)
    with pytest.raises(WebserviceException, match="memory_gb"):
        AciWebservice.deploy_configuration(memory_gb=-1)
    with pytest.raises(WebserviceException, match="SSL"):
        AciWebservice.deploy_configuration(ssl_enabled=True)
    with pytest.raises(WebserviceException, match="autoscale"):
        AksWebservice.deploy_configuration(autoscale_enabled=True, num_replicas=2)
    with pytest.raises(WebserviceException, match="gpu_cores"):
        AksWebservice.deploy_configuration(gpu_cores=-1)


def test_inference_config_checks_runtime_files_and_environment(home):
    (home / "src").mkdir()
    (home / "src" / "score.py").write_text("def init(): pass\ndef run(d): return d\n")
    (home / "env.yml").write_text("name: x\ndependencies: [python=3.11]\n")
    config = InferenceConfig(entry_script="score.py", source_directory="src")
    assert config.runtime == "python"
    with pytest.raises(WebserviceException, match="runtime"):
        InferenceConfig(entry_script="score.py", source_directory="src", runtime="java")
    with pytest.raises(NotImplementedError, match="Spark"):
        InferenceConfig(entry_script="score.py", source_directory="src", runtime="spark-py")
    with pytest.raises(WebserviceException, match="score.py"):
        InferenceConfig(entry_script="score.py")  # not in the current folder
    with pytest.raises(WebserviceException, match="missing.yml"):
        InferenceConfig(entry_script="src/score.py", runtime="python", conda_file="missing.yml")
    with pytest.raises(WebserviceException, match="conda_file"):
        InferenceConfig(entry_script="src/score.py", conda_file="env.yml",
                        environment=Environment("e"))
    with pytest.raises(WebserviceException, match="source_directory"):
        InferenceConfig(entry_script="score.py", source_directory="nowhere")


def test_image_configuration_checks_as_hosted(home):
    (home / "score.py").write_text("def init(): pass\ndef run(d): return d\n")
    config = ContainerImage.image_configuration(execution_script="score.py", runtime="python")
    assert (config.execution_script, config.runtime) == ("score.py", "python")
    with pytest.raises(WebserviceException, match="runtime"):
        ContainerImage.image_configuration(execution_script="score.py", runtime="R")
    with pytest.raises(WebserviceException, match="absolute path"):
        ContainerImage.image_configuration(execution_script=str(home / "score.py"),
                                           runtime="python")
    with pytest.raises(WebserviceException, match="env.yml"):
        ContainerImage.image_configuration("score.py", "python", conda_file="env.yml")
    with pytest.raises(NotImplementedError, match="stores no container images"):
        ContainerImage(Workspace("s", "r", "img"), name="x")


@pytest.mark.parametrize("name", ["ab", "Digits", "1digits", "digits-", "d_igits", "a" * 33])
def test_service_names_follow_the_hosted_rule(home, name):
    ws = Workspace("s", "r", "names")
    with pytest.raises(WebserviceException, match="lowercase letters"):
        Model.deploy(ws, name, ["m:1"], deployment_config=LocalWebservice.deploy_configuration())


def test_immutable_versions_refuse_tag_changes_clearly():
    model = Model.__new__(Model)
    for call in (lambda: model.add_tags({"a": "b"}), lambda: model.remove_tags(["a"]),
                 lambda: model.add_properties({"a": "b"}), lambda: model.update(tags={})):
        with pytest.raises(NotImplementedError, match="immutable"):
            call()


# ---- what deploy asks of the binding --------------------------------------------------------

def _document(name):
    return {"name": name, "state": "Transitioning", "scoring_uri": "", "port": 0,
            "models": [{"name": "digits", "version": 1}], "entry": "", "error": "",
            "restarts": 0, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "logs": "/tmp/x.log"}


class RecordingBinding:
    """Stands in for trainyard._sdk's deployment functions: records every call and answers as the
    binding does (JSON text; ValueError, the binding's NotFound, for the deployment "nope")."""

    def __init__(self):
        self.calls = []

    def deploy(self, workspace, request):
        self.calls.append(("deploy", workspace, request))
        return json.dumps(_document(request["name"]))

    def deployment_show(self, workspace, name):
        self.calls.append(("deployment_show", workspace, name))
        if name == "nope":
            raise ValueError("no deployment named nope")
        return json.dumps(_document(name))


@pytest.fixture
def recorder(home, monkeypatch):
    binding = RecordingBinding()
    monkeypatch.setattr(trainyard.model, "_binding", lambda: binding)
    return binding


def _deploy_call(recorder):
    found = [c for c in recorder.calls if c[0] == "deploy"]
    assert len(found) == 1, recorder.calls
    return found[0]


def test_model_deploy_passes_entry_source_port_and_packages(home, recorder):
    ws = Workspace("s", "r", "deploy")
    (home / "serve").mkdir()
    (home / "serve" / "score.py").write_text("def init(): pass\ndef run(d): return d\n")
    env = Environment("scoring")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["azureml-defaults",
                                                                           "pillow"])
    config = InferenceConfig(entry_script="score.py", source_directory="serve", environment=env)
    service = Model.deploy(ws, "digits-svc", ["digits:1"], config,
                           LocalWebservice.deploy_configuration(port=8890))
    assert isinstance(service, LocalWebservice) and service.state == "Transitioning"
    # Model.deploy does not wait: one deploy call and nothing polled.
    assert [c[0] for c in recorder.calls] == ["deploy"]
    _, workspace, request = _deploy_call(recorder)
    assert workspace == ws.path
    assert request["name"] == "digits-svc" and request["models"] == ["digits:1"]
    assert (request["entry"], request["source"], request["port"]) == (
        "score.py", str(home / "serve"), 8890)
    assert request["pip"] == ["azureml-defaults", "pillow"]
    assert "gpu" not in request and "conda_file" not in request
    # The hosted compute type is kept beside the deployment: Webservice(ws, name) reopens it as
    # the class it was deployed as.
    assert type(Webservice(ws, "digits-svc")) is LocalWebservice


def test_aks_replicas_become_workers_and_gpu_cores_the_gpu(home, recorder, monkeypatch):
    monkeypatch.setattr(AksWebservice, "_said", False, raising=False)  # said once per process
    ws = Workspace("s", "r", "aks")
    (home / "score.py").write_text("def init(): pass\ndef run(d): return d\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        service = Model.deploy(ws, "aks-svc", ["digits:1"], InferenceConfig("score.py"),
                               AksWebservice.deploy_configuration(num_replicas=3, gpu_cores=1,
                                                                  cpu_cores=2))
    assert isinstance(service, AksWebservice) and service.compute_type == "AKS"
    assert any("on this machine" in str(w.message) for w in caught)
    request = _deploy_call(recorder)[2]
    assert request["workers"] == 3 and request["gpu"] is True and "instances" not in request


def test_no_deployment_config_is_aci_served_locally_with_a_warning(home, recorder, monkeypatch):
    monkeypatch.setattr(AciWebservice, "_said", False, raising=False)  # said once per process
    ws = Workspace("s", "r", "aci")
    with pytest.warns(UserWarning, match="AciWebservice: trainyard serves"):
        service = Model.deploy(ws, "torchscript-svc", ["digits:1"])
    assert isinstance(service, AciWebservice) and service.compute_type == "ACI"
    request = _deploy_call(recorder)[2]
    assert "entry" not in request and "source" not in request
    assert request["models"] == ["digits:1"]


def test_conda_packages_go_to_a_conda_file_kept_in_the_workspace(home, recorder):
    ws = Workspace("s", "r", "conda")
    (home / "score.py").write_text("def init(): pass\ndef run(d): return d\n")
    env = Environment("scoring")
    env.python.conda_dependencies = CondaDependencies.create(conda_packages=["scipy"],
                                                             pip_packages=["pillow"])
    Model.deploy(ws, "conda-svc", ["digits:1"], InferenceConfig("score.py", environment=env),
                 LocalWebservice.deploy_configuration())
    conda_file = _deploy_call(recorder)[2]["conda_file"]
    assert conda_file == os.path.join(ws.path, "azureml", "webservices", "conda-svc.conda.yml")
    text = open(conda_file).read()
    assert "scipy" in text and "pillow" in text


def test_unknown_service_is_webservice_not_found(home, recorder):
    ws = Workspace("s", "r", "unknown")
    with pytest.raises(WebserviceException, match="WebserviceNotFound.*nope"):
        LocalWebservice(ws, "nope")
    assert ("deployment_show", ws.path, "nope") in recorder.calls


# ---- trainyard.model over the binding ----------------------------------------------------------

def test_deploy_request_is_what_trainyard_deploy_would_be_given(home):
    (home / "serve").mkdir()
    request = trainyard.model.deploy_request(
        "svc", [trainyard.Model(None, {"name": "digits", "version": 2}), "other"],
        entry="score.py", source="serve", conda_file="env.yml", instances="2", host="0.0.0.0",
        max_batch_delay_ms=7, batch_size=4, pip_packages=["pillow"])
    assert request == {"name": "svc", "models": ["digits:2", "other"], "entry": "score.py",
                       "source": str(home / "serve"), "instances": 2, "host": "0.0.0.0",
                       "max_batch_delay_ms": 7, "batch_size": 4,
                       # relative to the entry's folder, as `trainyard deploy` run there saw it
                       "conda_file": str(home / "serve" / "env.yml"), "pip": ["pillow"]}
    plain = trainyard.model.deploy_request("svc", ["digits"], conda_file="env.yml", gpu=True)
    assert plain == {"name": "svc", "models": ["digits"], "gpu": True,
                     "conda_file": str(home / "env.yml")}
    with pytest.raises(trainyard.model.CliError, match="--port: 'eighty'") as error:
        trainyard.model.deploy_request("svc", ["digits"], port="eighty")
    assert error.value.exit_code == 2


def test_binding_errors_are_cli_errors_with_the_clis_message_and_exit_code(home):
    ws = trainyard.Workspace(str(home / "ws"))
    with pytest.raises(trainyard.model.CliError) as error:
        trainyard.Model.get(ws, "nothing")
    assert error.value.exit_code == 2 and error.value.message.startswith("trainyard: ")
    assert "nothing" in error.value.message
    with pytest.raises(trainyard.model.CliError) as error:
        trainyard.Model.register(ws, str(home / "missing.pt"), "digits")
    assert error.value.exit_code == 2 and "missing.pt" in error.value.message
    with pytest.raises(trainyard.model.CliError) as error:
        trainyard.Deployment.get(ws, "nope")
    assert error.value.exit_code == 2 and "nope" in error.value.message
    from trainyard import _sdk
    with pytest.raises(ValueError, match="unknown request field nmae"):
        _sdk.deploy(ws.path, {"nmae": "svc", "models": ["digits"]})

    # The binding's own registry: a local file registered, listed, found, copied and deleted.
    (home / "model.pt").write_bytes(b"weights")
    model = trainyard.Model.register(ws, str(home / "model.pt"), "digits", tags={"k": 1},
                                     description="d")
    assert (model.id, model.path, model.tags, model.description) == (
        "digits:1", "model.pt", {"k": "1"}, "d")
    assert trainyard.Model.register(ws, str(home / "model.pt"), "digits").already_registered
    assert [m.id for m in trainyard.Model.list(ws)] == ["digits:1"]
    assert trainyard.Model.get(ws, "digits").deployments == []
    with open(model.local_path(), "rb") as f:
        assert f.read() == b"weights"
    copied = model.download(home / "out")
    assert copied == str(home / "out" / "model.pt")
    with pytest.raises(trainyard.model.CliError, match="exists"):
        model.download(home / "out")
    model.delete()
    assert trainyard.Model.list(ws, "digits") == []


def test_trainyard_executable_follows_trainyard_bin(monkeypatch, tmp_path):
    monkeypatch.setenv("TRAINYARD_BIN", str(tmp_path / "trainyard"))
    assert trainyard.model.trainyard_executable() == str(tmp_path / "trainyard")


def test_register_model_inside_the_script_says_when_it_works(home):
    from azureml.core import Run

    context = Run.get_context()  # offline here: the same object a training script gets
    with pytest.raises(NotImplementedError, match="trainyard model register --run"):
        context.register_model("digits", "outputs/model.pt")
    with pytest.raises(RuntimeError, match="recorded run"):
        trainyard.Run.get_context().register_model("digits", "outputs/model.pt")
