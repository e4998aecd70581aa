"""mlflow.sklearn: autolog (a no-op that says so), save_model / log_model (a pickled model in
MLflow's folder layout: MLmodel + model.pkl) and load_model."""

import os
import pickle

import mlflow
from mlflow import _model

FLAVOR_NAME = "sklearn"


def autolog(*args, **kwargs):
    """A no-op that says so: log metrics and params with mlflow.log_metric / log_param."""
    mlflow._autolog_note("mlflow.sklearn.autolog")


def save_model(sk_model, path, serialization_format="pickle", **kwargs):
    """Writes `path`/model.pkl (pickle) and `path`/MLmodel."""
    if serialization_format not in ("pickle", "cloudpickle"):
        raise mlflow.MlflowException(f"Unrecognized serialization format: {serialization_format}",
                                     error_code="INVALID_PARAMETER_VALUE")
    path = _model.prepare(path)
    with open(os.path.join(path, "model.pkl"), "wb") as f:
        pickle.dump(sk_model, f)
    import sklearn

    _model.write_mlmodel(path, FLAVOR_NAME,
                         {"pickled_model": "model.pkl", "serialization_format": "pickle",
                          "sklearn_version": sklearn.__version__},
                         "mlflow.sklearn", "model.pkl")


def log_model(sk_model, artifact_path=None, name=None, **kwargs):
    """save_model, then the folder as the run's files `artifact_path/...`."""
    return _model.log(save_model, sk_model, artifact_path or name or "model")


def load_model(model_uri, dst_path=None):
    """The model of a folder written by save_model (a local path or file:// URI)."""
    with open(os.path.join(_model.local_path(model_uri), "model.pkl"), "rb") as f:
        return pickle.load(f)  # noqa: S301 - the user's own model
