"""mlflow.xgboost: autolog (a no-op that says so); its models are not provided by trainyard's mlflow
compatibility package (save them with xgboost's own API under outputs/)."""

import mlflow

FLAVOR_NAME = "xgboost"


def autolog(*args, **kwargs):
    """A no-op that says so: log metrics and params with mlflow.log_metric / log_param."""
    mlflow._autolog_note("mlflow.xgboost.autolog")


def _no_models(what):
    raise NotImplementedError(
        f"mlflow.xgboost.{what} is not provided by trainyard's mlflow compatibility package: save the "
        f"model with xgboost's own API under outputs/ (kept with the run; docs/mlflow.md)")


def save_model(*args, **kwargs):
    _no_models("save_model")


def log_model(*args, **kwargs):
    _no_models("log_model")


def load_model(*args, **kwargs):
    _no_models("load_model")
