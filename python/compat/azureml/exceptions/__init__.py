"""azureml.exceptions on a local trainyard workspace: the hosted SDK's exception classes.

Every class keeps the hosted names and constructor (`AzureMLException(exception_message,
inner_exception=None, ...)`, `.message`, `.inner_exception`) and prints the way the hosted SDK does
("ClassName:\\n\\tMessage: ...\\n\\tInnerException ...\\n\\tErrorResponse ...").

ActivityFailedException, raised by `Run.wait_for_completion()` for a run that ends Failed or
Canceled, is also a `trainyard.RunFailedError` (so a RuntimeError) with `.run_id`, `.status`,
`.error`, `.failed_rank` and `.log_tail` (the run's last log lines).
"""

import json

__all__ = [
    "AzureMLException",
    "UserErrorException",
    "ActivityFailedException",
    "AuthenticationException",
    "ComputeTargetException",
    "DatastoreException",
    "ExperimentExecutionException",
    "ProjectSystemException",
    "RunConfigurationException",
    "SnapshotException",
    "TrainingException",
    "WebserviceException",
    "ModelNotFoundException",
    "ModelPathNotFoundException",
    "WorkspaceException",
]


class AzureMLException(Exception):
    """The base class of the hosted SDK's errors."""

    def __init__(self, exception_message="", inner_exception=None, target=None, details=None,
                 message_format=None, message_parameters=None, reference_code=None, **kwargs):
        Exception.__init__(self, exception_message)
        self._message = exception_message
        self._inner_exception = inner_exception
        self._target = target
        self._details = details
        self._reference_code = reference_code

    @property
    def message(self):
        return self._message

    @message.setter
    def message(self, value):
        self._message = value

    @property
    def inner_exception(self):
        return self._inner_exception

    def _error_response(self):
        return {"error": {"code": self._error_code(), "message": self._message}}

    def _error_code(self):
        return "SystemError"

    def _serialize_json(self, indent=4):
        return json.dumps(self._error_response(), indent=indent)

    def __str__(self):
        return "{0}:\n\tMessage: {1}\n\tInnerException {2}\n\tErrorResponse \n{3}".format(
            type(self).__name__, self._message, self._inner_exception, self._serialize_json())

    def __repr__(self):
        return "{0}({1!r})".format(type(self).__name__, self._message)


class UserErrorException(AzureMLException):
    """An error in what the caller asked for (a missing config file, an unknown name...)."""

    def _error_code(self):
        return "UserError"


class AuthenticationException(UserErrorException):
    """Authentication: a local workspace needs none (never raised by trainyard)."""


class WorkspaceException(UserErrorException):
    """A workspace that cannot be opened or created."""


class ProjectSystemException(UserErrorException):
    """A workspace that does not exist (hosted: the resource was not found)."""


class ComputeTargetException(AzureMLException):
    """A compute target that does not exist or cannot be registered."""


class DatastoreException(UserErrorException):
    """A datastore operation that cannot be done (unknown name, path outside the datastore)."""


class ExperimentExecutionException(AzureMLException):
    """An experiment submission that failed before the run was recorded."""


class RunConfigurationException(UserErrorException):
    """A run configuration that cannot be converted into a trainyard job."""


class SnapshotException(AzureMLException):
    """A snapshot (the copy of source_directory) that failed."""


class TrainingException(AzureMLException):
    """A training configuration error."""


class WebserviceException(AzureMLException):
    """A model registry or web service error (deploy, state, scoring): the trainyard command's
    message."""


class ModelNotFoundException(WebserviceException):
    """A model (name, version) that the workspace's registry does not hold. A WebserviceException
    too, which is what the hosted Model raises for it."""


class ModelPathNotFoundException(AzureMLException):
    """Model.get_model_path: no such model under AZUREML_MODEL_DIR or in the registry."""


def _run_failed_error_base():
    try:
        import trainyard

        return trainyard.RunFailedError
    except (ImportError, AttributeError):  # trainyard without the SDK: a plain RuntimeError
        return RuntimeError


class ActivityFailedException(AzureMLException, _run_failed_error_base()):
    """A run that ended Failed or Canceled (raised by `Run.wait_for_completion()`).

    `error_details` is the run's error document (a dict or its JSON text); `.run_id`, `.status`,
    `.error`, `.failed_rank` and `.log_tail` (the last lines of the failing rank's log, one str)
    are those of `trainyard.RunFailedError`.
    """

    def __init__(self, error_details=None, inner_exception=None, run_id=None, status=None,
                 error=None, failed_rank=None, log_tail="", **kwargs):
        if isinstance(error_details, str):
            try:
                error_details = json.loads(error_details)
            except ValueError:
                error_details = {"error": {"message": error_details}}
        self.error_details = error_details or {}
        self.run_id = run_id
        self.status = status
        self.error = error
        self.failed_rank = failed_rank
        self.log_tail = log_tail or ""
        message = "Activity Failed:\n" + json.dumps(self.error_details, indent=4)
        if self.log_tail:
            message += "\nLast log lines{}:\n{}".format(
                "" if failed_rank is None else " (rank {})".format(failed_rank), self.log_tail)
        AzureMLException.__init__(self, message, inner_exception=inner_exception, **kwargs)

    def _error_response(self):
        return self.error_details or super()._error_response()

    def _error_code(self):
        return "UserError"
