"""azureml.train.hyperdrive.exceptions: the hosted SDK's hyperdrive exception classes.

HyperDriveConfigException (a validation error in a sweep configuration) is also a ValueError, as
trainyard's own configuration errors are."""

from azureml.exceptions import AzureMLException, UserErrorException

__all__ = ["HyperDriveConfigException", "HyperDriveNotImplementedException",
           "HyperDriveRehydrateException", "HyperDriveScenarioNotSupportedException",
           "HyperDriveServiceException", "HyperDriveSystemException", "HyperDriveUserException"]


class HyperDriveUserException(UserErrorException):
    """An error in what the caller asked for."""


class HyperDriveSystemException(AzureMLException):
    """An error of the system (never raised by trainyard's configuration code)."""


class HyperDriveServiceException(HyperDriveSystemException):
    """An error of the service."""

    def _error_code(self):
        return "ServiceError"


class HyperDriveConfigException(HyperDriveUserException, ValueError):
    """A validation error while creating a HyperDrive configuration."""

    def _error_code(self):
        return "ValidationError"


class HyperDriveScenarioNotSupportedException(HyperDriveConfigException):
    """A combination of settings the service does not support (an early-termination policy
    with Bayesian sampling)."""

    def _error_code(self):
        return "ScenarioNotSupported"


class HyperDriveNotImplementedException(HyperDriveScenarioNotSupportedException):
    """The hosted SDK's exception for a capability its service does not implement; kept so that
    `except` clauses written against the hosted SDK keep working."""

    def _error_code(self):
        return "NotImplemented"


class HyperDriveRehydrateException(HyperDriveSystemException):
    """An error while re-creating a HyperDrive run from its record."""
