"""azureml.core.Keyvault: no key vault in trainyard."""

from azureml.core._refused import refused

Keyvault = refused("Keyvault", "trainyard has no key vault; pass secrets to runs as environment "
                   "variables (Environment.environment_variables)")

__all__ = ["Keyvault"]
