"""mlflow.xgboost: autolog (a no-op that says so); its models are not provided by trainyard's
mlflow compatibility package (save them with xgboost's own API under outputs/)."""

from mlflow._flavor import define

define(globals(), "xgboost")
