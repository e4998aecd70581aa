"""azureml.train on a local trainyard workspace: the hosted SDK's estimators (`estimator`, `dnn`)
as trainyard job configurations. Submodules are imported on use, so a training script that only
needs the run context never loads them."""
