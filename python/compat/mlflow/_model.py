"""A model folder in MLflow's layout (an MLmodel file naming the flavor, and the model's own
file), written by mlflow.sklearn / mlflow.pytorch save_model and read back by their load_model."""

import os
import sys
import tempfile
import time
import uuid

from mlflow.exceptions import MlflowException


def _mlmodel(flavor, flavor_fields, loader_module, data):
    lines = ["flavors:"]
    lines += ["  python_function:", f"    data: {data}", f"    loader_module: {loader_module}",
              f"    python_version: {sys.version.split()[0]}", f"  {flavor}:"]
    lines += [f"    {k}: {v}" for k, v in flavor_fields.items()]
    lines += [f"model_uuid: {uuid.uuid4().hex}",
              f"utc_time_created: '{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())}'"]
    return "\n".join(lines) + "\n"


def prepare(path):
    path = os.fspath(path)
    if os.path.exists(path) and os.listdir(path):
        raise MlflowException(f"Path '{path}' already exists and is not empty",
                              error_code="RESOURCE_ALREADY_EXISTS")
    os.makedirs(path, exist_ok=True)
    return path


def write_mlmodel(path, flavor, flavor_fields, loader_module, data):
    with open(os.path.join(path, "MLmodel"), "w", encoding="utf-8") as f:
        f.write(_mlmodel(flavor, flavor_fields, loader_module, data))


def log(save, model, artifact_path, **kwargs):
    """save_model into a temporary folder, then log_artifacts(folder, artifact_path)."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="trainyard-mlflow-model-") as tmp:
        folder = os.path.join(tmp, "model")
        save(model, folder, **kwargs)
        mlflow.log_artifacts(folder, artifact_path)
    return ModelInfo(artifact_path, mlflow.active_run().info.run_id)


def local_path(model_uri):
    """A local folder for `model_uri`: a path, file://, or runs:/<this run>/<path> (the run's
    folder, when the run's files are on this machine)."""
    uri = os.fspath(model_uri)
    if uri.startswith("file://"):
        return uri[len("file://"):]
    if uri.startswith("runs:/"):
        raise NotImplementedError(
            f"load_model({uri!r}): runs:/ URIs are not resolved inside a run; load from the "
            f"folder the model was saved to (save_model(model, path)), or download the run's "
            f"files with `trainyard download`")
    if "://" in uri or uri.startswith(("models:", "mlflow-artifacts:")):
        raise NotImplementedError(f"load_model({uri!r}): only local folders are read by "
                                  f"trainyard's mlflow compatibility package")
    return uri


class ModelInfo:
    def __init__(self, artifact_path, run_id):
        self.artifact_path = artifact_path
        self.run_id = run_id
        self.model_uri = f"runs:/{run_id}/{artifact_path}"
