"""azureml.core.authentication: a local trainyard workspace needs no authentication.

The classes accept the hosted arguments so that notebooks run unchanged; nothing is sent anywhere
and no credential is read or kept (passing one to Workspace(...) changes nothing)."""

__all__ = ["AbstractAuthentication", "AzureCliAuthentication", "InteractiveLoginAuthentication",
           "MsiAuthentication", "ServicePrincipalAuthentication"]


class AbstractAuthentication:
    """No authentication: a local workspace is a folder of this machine."""

    def __init__(self, *args, **kwargs):
        pass

    def get_authentication_header(self):
        raise NotImplementedError("authentication headers: a local trainyard workspace has no "
                                  "service to authenticate to")


class InteractiveLoginAuthentication(AbstractAuthentication):
    pass


class AzureCliAuthentication(AbstractAuthentication):
    pass


class ServicePrincipalAuthentication(AbstractAuthentication):
    pass


class MsiAuthentication(AbstractAuthentication):
    pass
