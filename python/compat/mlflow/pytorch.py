"""mlflow.pytorch: autolog (a no-op that says so), save_model / log_model (torch.save of the
whole model in MLflow's folder layout: MLmodel + data/model.pth) and load_model."""

import os

import mlflow
from mlflow import _model

FLAVOR_NAME = "pytorch"


def autolog(*args, **kwargs):
    """A no-op that says so: log metrics with mlflow.log_metric."""
    mlflow._autolog_note("mlflow.pytorch.autolog")


def save_model(pytorch_model, path, **kwargs):
    """Writes `path`/data/model.pth (torch.save of the model) and `path`/MLmodel."""
    import torch

    path = _model.prepare(path)
    os.makedirs(os.path.join(path, "data"))
    torch.save(pytorch_model, os.path.join(path, "data", "model.pth"))
    _model.write_mlmodel(path, FLAVOR_NAME,
                         {"model_data": "data", "pytorch_version": torch.__version__},
                         "mlflow.pytorch", "data")


def log_model(pytorch_model, artifact_path=None, name=None, **kwargs):
    """save_model, then the folder as the run's files `artifact_path/...`."""
    return _model.log(save_model, pytorch_model, artifact_path or name or "model")


def load_model(model_uri, dst_path=None, **kwargs):
    """The model of a folder written by save_model (a local path or file:// URI)."""
    import torch

    path = os.path.join(_model.local_path(model_uri), "data", "model.pth")
    try:
        return torch.load(path, weights_only=False, **kwargs)
    except TypeError:  # a torch without weights_only
        return torch.load(path, **kwargs)
