"""azureml.core.Webservice: model serving is not yet in trainyard."""

from azureml.core._refused import refused

Webservice = refused("Webservice", "model serving: not yet in trainyard")
AciWebservice = Webservice
AksWebservice = Webservice
LocalWebservice = Webservice

__all__ = ["AciWebservice", "AksWebservice", "LocalWebservice", "Webservice"]
