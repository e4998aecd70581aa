"""trainyard's stand-in for the `azureml` package inside training scripts.

Only the run context (azureml.core.Run / azureml.core.run.Run) is provided, mapped onto
trainyard.Run. trainyard puts this package on a run's PYTHONPATH only when the run's interpreter
has no real `azureml` package.
"""
