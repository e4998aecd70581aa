"""azureml.core on a local trainyard workspace (docs/sdk.md).

`from azureml.core.run import Run` (inside training scripts) loads only the run context; the other
names load when first used."""

import importlib

from azureml.core.run import Run  # noqa: F401

# The hosted SDK release of the product page's era (March 2019; azureml-sdk 1.0.21).
VERSION = "1.0.21"
__version__ = VERSION

_LAZY = {
    "Workspace": "azureml.core.workspace",
    "Experiment": "azureml.core.experiment",
    "ScriptRunConfig": "azureml.core.script_run_config",
    "RunConfiguration": "azureml.core.runconfig",
    "Environment": "azureml.core.environment",
    "Datastore": "azureml.core.datastore",
    "ComputeTarget": "azureml.core.compute",
    "Model": "azureml.core.model",
    "Dataset": "azureml.core.dataset",
    "Image": "azureml.core.image",
    "Webservice": "azureml.core.webservice",
    "Keyvault": "azureml.core.keyvault",
    "ScriptRun": "azureml.core.script_run",
    "get_run": "azureml.core.run",
}

__all__ = ["VERSION", "Run"] + sorted(_LAZY)


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module 'azureml.core' has no attribute {!r}".format(name))
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
