"""azureml.core.webservice.LocalWebservice: a service on this machine (the hosted SDK's local
Docker service; trainyard serves it without Docker)."""

from azureml.core.webservice.webservice import Webservice, WebserviceDeploymentConfiguration
from azureml.exceptions import WebserviceException

__all__ = ["LocalWebservice", "LocalWebserviceDeploymentConfiguration"]


class LocalWebserviceDeploymentConfiguration(WebserviceDeploymentConfiguration):
    """port: where the service listens (None: any free port)."""

    _webservice_type = "Local"

    def __init__(self, port=None):
        super().__init__()
        self.port = port
        self.validate_configuration()

    def validate_configuration(self):
        if self.port is not None and (isinstance(self.port, bool) or
                                      not isinstance(self.port, int) or
                                      not 1 <= self.port <= 65535):
            raise WebserviceException("Error, port must be an int in [1, 65535], got "
                                      "{!r}".format(self.port))

    def _trainyard_options(self, has_entry):
        return {} if self.port is None else {"port": self.port}


class LocalWebservice(Webservice):
    """A service deployed with LocalWebservice.deploy_configuration(port=...)."""

    _webservice_type = "Local"

    def __init__(self, workspace, name, must_exist=True):
        super().__init__(workspace, name)

    @staticmethod
    def deploy_configuration(port=None):
        """A LocalWebserviceDeploymentConfiguration (port None: any free port)."""
        return LocalWebserviceDeploymentConfiguration(port=port)

    def reload(self, wait=False):
        raise NotImplementedError(
            "LocalWebservice.reload: a trainyard service is not changed in place (its code is a "
            "snapshot); deploy it again with Model.deploy(..., overwrite=True)")

    def delete(self, delete_cache=True, delete_image=False, delete_volume=True):
        super().delete()
