"""azureml.core.webservice.AciWebservice: the hosted Azure Container Instances service, served on
this machine by trainyard (it says so once). The cloud-only settings (cpu_cores, memory_gb,
auth_enabled, ssl_*, dns_name_label, location, vnet_*, ...) are checked as the hosted SDK checks
them and then ignored."""

from azureml.core.webservice.webservice import (Webservice, WebserviceDeploymentConfiguration,
                                                _warn_once)
from azureml.exceptions import WebserviceException

__all__ = ["AciServiceDeploymentConfiguration", "AciWebservice"]


class AciServiceDeploymentConfiguration(WebserviceDeploymentConfiguration):
    _webservice_type = "ACI"

    def __init__(self, cpu_cores=None, memory_gb=None, tags=None, properties=None,
                 description=None, location=None, auth_enabled=None, ssl_enabled=None,
                 enable_app_insights=None, ssl_cert_pem_file=None, ssl_key_pem_file=None,
                 ssl_cname=None, dns_name_label=None, primary_key=None, secondary_key=None,
                 collect_model_data=None, cmk_vault_base_url=None, cmk_key_name=None,
                 cmk_key_version=None, vnet_name=None, subnet_name=None):
        super().__init__(tags=tags, properties=properties, description=description)
        self.cpu_cores = cpu_cores
        self.memory_gb = memory_gb
        self.location = location
        self.auth_enabled = auth_enabled
        self.ssl_enabled = ssl_enabled
        self.enable_app_insights = enable_app_insights
        self.ssl_cert_pem_file = ssl_cert_pem_file
        self.ssl_key_pem_file = ssl_key_pem_file
        self.ssl_cname = ssl_cname
        self.dns_name_label = dns_name_label
        self.primary_key = primary_key
        self.secondary_key = secondary_key
        self.collect_model_data = collect_model_data
        self.cmk_vault_base_url = cmk_vault_base_url
        self.cmk_key_name = cmk_key_name
        self.cmk_key_version = cmk_key_version
        self.vnet_name = vnet_name
        self.subnet_name = subnet_name
        self.validate_configuration()

    def validate_configuration(self):
        for field in ("cpu_cores", "memory_gb"):
            value = getattr(self, field)
            if value is not None and (isinstance(value, bool) or
                                      not isinstance(value, (int, float)) or value <= 0):
                raise WebserviceException("Invalid configuration, {} must be greater than "
                                          "zero.".format(field))
        if self.ssl_enabled and not (self.ssl_cert_pem_file and self.ssl_key_pem_file):
            raise WebserviceException("Error, SSL must be configured with both a cert file "
                                      "and key file")
        if bool(self.vnet_name) != bool(self.subnet_name):
            raise WebserviceException("Error, vnet_name and subnet_name must be given together")


class AciWebservice(Webservice):
    """A service deployed with AciWebservice.deploy_configuration(...) (or with no deployment
    configuration): served on this machine."""

    _webservice_type = "ACI"

    @staticmethod
    def deploy_configuration(cpu_cores=None, memory_gb=None, tags=None, properties=None,
                             description=None, location=None, auth_enabled=None,
                             ssl_enabled=None, enable_app_insights=None, ssl_cert_pem_file=None,
                             ssl_key_pem_file=None, ssl_cname=None, dns_name_label=None,
                             primary_key=None, secondary_key=None, collect_model_data=None,
                             cmk_vault_base_url=None, cmk_key_name=None, cmk_key_version=None,
                             vnet_name=None, subnet_name=None):
        """An AciServiceDeploymentConfiguration; tags, properties and description are kept on
        the service, the rest is ignored (served on this machine)."""
        return AciServiceDeploymentConfiguration(
            cpu_cores, memory_gb, tags, properties, description, location, auth_enabled,
            ssl_enabled, enable_app_insights, ssl_cert_pem_file, ssl_key_pem_file, ssl_cname,
            dns_name_label, primary_key, secondary_key, collect_model_data, cmk_vault_base_url,
            cmk_key_name, cmk_key_version, vnet_name, subnet_name)

    @classmethod
    def _say_served_locally(cls):
        _warn_once(cls, "AciWebservice: trainyard serves the service on this machine (no Azure "
                   "Container Instances); cpu_cores, memory_gb, auth, SSL, DNS and network "
                   "settings are ignored")
