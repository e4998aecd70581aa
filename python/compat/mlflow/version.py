"""mlflow.version: the compatibility package's version (MLflow 2's fluent API)."""

from mlflow import __version__ as VERSION  # noqa: F401,N812
