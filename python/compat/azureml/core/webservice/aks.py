"""azureml.core.webservice.AksWebservice: the hosted Kubernetes service, served on this machine by
trainyard (it says so once). num_replicas becomes the number of scoring workers (with an entry
script) or model instances (TorchScript models); gpu_cores > 0 serves on the GPU; the rest of the
cloud settings are ignored."""

from azureml.core.webservice.webservice import (Webservice, WebserviceDeploymentConfiguration,
                                                _warn_once)
from azureml.exceptions import WebserviceException

__all__ = ["AksServiceDeploymentConfiguration", "AksWebservice"]

_FIELDS = ("autoscale_enabled", "autoscale_min_replicas", "autoscale_max_replicas",
           "autoscale_refresh_seconds", "autoscale_target_utilization", "collect_model_data",
           "auth_enabled", "cpu_cores", "memory_gb", "enable_app_insights", "scoring_timeout_ms",
           "replica_max_concurrent_requests", "max_request_wait_time", "num_replicas",
           "primary_key", "secondary_key", "tags", "properties", "description", "gpu_cores",
           "period_seconds", "initial_delay_seconds", "timeout_seconds", "success_threshold",
           "failure_threshold", "namespace", "token_auth_enabled", "compute_target_name",
           "cpu_cores_limit", "memory_gb_limit")


class AksServiceDeploymentConfiguration(WebserviceDeploymentConfiguration):
    _webservice_type = "AKS"

    def __init__(self, **fields):
        unknown = sorted(set(fields) - set(_FIELDS))
        if unknown:
            raise TypeError("AksWebservice.deploy_configuration: unexpected arguments "
                            "{}".format(unknown))
        super().__init__(fields.get("tags"), fields.get("properties"), fields.get("description"))
        for name in _FIELDS:
            setattr(self, name, fields.get(name))
        self.validate_configuration()

    def validate_configuration(self):
        for field in ("cpu_cores", "memory_gb", "num_replicas", "autoscale_min_replicas",
                      "autoscale_max_replicas"):
            value = getattr(self, field)
            if value is not None and (isinstance(value, bool) or
                                      not isinstance(value, (int, float)) or value <= 0):
                raise WebserviceException("Invalid configuration, {} must be greater than "
                                          "zero.".format(field))
        if self.gpu_cores is not None and (not isinstance(self.gpu_cores, int) or
                                           self.gpu_cores < 0):
            raise WebserviceException("Invalid configuration, gpu_cores must be an integer "
                                      "greater than or equal to 0.")
        if self.num_replicas and self.autoscale_enabled:
            raise WebserviceException("Invalid configuration, autoscale enabled and "
                                      "num_replicas provided.")

    def _trainyard_options(self, has_entry):
        options = {}
        if self.num_replicas:
            options["workers" if has_entry else "instances"] = int(self.num_replicas)
        if self.gpu_cores:
            options["gpu"] = True
        return options


class AksWebservice(Webservice):
    """A service deployed with AksWebservice.deploy_configuration(...): served on this
    machine."""

    _webservice_type = "AKS"

    @staticmethod
    def deploy_configuration(autoscale_enabled=None, autoscale_min_replicas=None,
                             autoscale_max_replicas=None, autoscale_refresh_seconds=None,
                             autoscale_target_utilization=None, collect_model_data=None,
                             auth_enabled=None, cpu_cores=None, memory_gb=None,
                             enable_app_insights=None, scoring_timeout_ms=None,
                             replica_max_concurrent_requests=None, max_request_wait_time=None,
                             num_replicas=None, primary_key=None, secondary_key=None, tags=None,
                             properties=None, description=None, gpu_cores=None,
                             period_seconds=None, initial_delay_seconds=None,
                             timeout_seconds=None, success_threshold=None,
                             failure_threshold=None, namespace=None, token_auth_enabled=None,
                             compute_target_name=None, cpu_cores_limit=None,
                             memory_gb_limit=None):
        fields = dict(locals())
        return AksServiceDeploymentConfiguration(**fields)

    @classmethod
    def _say_served_locally(cls):
        _warn_once(cls, "AksWebservice: trainyard serves the service on this machine (no "
                   "Kubernetes cluster); num_replicas becomes scoring workers, gpu_cores > 0 the "
                   "GPU, the other cluster settings are ignored")
