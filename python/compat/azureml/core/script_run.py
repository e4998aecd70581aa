"""azureml.core.ScriptRun: the run of a ScriptRunConfig, which is an azureml.core.Run here."""

from azureml.core.run import Run as ScriptRun

__all__ = ["ScriptRun"]
