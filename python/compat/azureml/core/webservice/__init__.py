"""azureml.core.webservice on trainyard: deployed services run on this machine, served by
trainyard's C++ server (docs/models-python.md)."""

from azureml.core.webservice.webservice import Webservice, WebserviceDeploymentConfiguration
from azureml.core.webservice.local import LocalWebservice, LocalWebserviceDeploymentConfiguration
from azureml.core.webservice.aci import AciServiceDeploymentConfiguration, AciWebservice
from azureml.core.webservice.aks import AksServiceDeploymentConfiguration, AksWebservice

__all__ = ["AciServiceDeploymentConfiguration", "AciWebservice",
           "AksServiceDeploymentConfiguration", "AksWebservice", "LocalWebservice",
           "LocalWebserviceDeploymentConfiguration", "Webservice",
           "WebserviceDeploymentConfiguration"]
