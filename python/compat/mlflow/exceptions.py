"""mlflow.exceptions: MlflowException with MLflow's error codes."""


class MlflowException(Exception):
    """An MLflow error: .message and .error_code ("INVALID_PARAMETER_VALUE", ...)."""

    def __init__(self, message, error_code="INTERNAL_ERROR", **kwargs):
        self.message = str(message)
        self.error_code = error_code
        self.json_kwargs = kwargs
        super().__init__(self.message)

    def serialize_as_json(self):
        import json

        return json.dumps({"error_code": self.error_code, "message": self.message,
                           **self.json_kwargs})


class RestException(MlflowException):
    """An error answered by a tracking server ({"error_code": ..., "message": ...})."""

    def __init__(self, json):
        super().__init__(json.get("message", ""), json.get("error_code", "INTERNAL_ERROR"))
        self.json = json
