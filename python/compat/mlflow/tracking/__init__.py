"""mlflow.tracking: the tracking URI functions; MlflowClient is not provided (the fluent API is)."""

from mlflow import get_tracking_uri, set_tracking_uri  # noqa: F401


class MlflowClient:
    """Not provided by trainyard's mlflow compatibility package."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            "mlflow.tracking.MlflowClient is not provided by trainyard's mlflow compatibility "
            "package: inside a run use the fluent API (mlflow.log_metric, log_param, set_tag, "
            "log_artifact); read runs from outside with trainyard.Workspace / `trainyard metrics`"
            " (docs/mlflow.md)")
