"""trainyard's `azureml` compatibility package: the hosted SDK's names on a local workspace.

- inside training scripts: the run context (`azureml.core.Run.get_context()`), mapped onto
  trainyard's run tracking; trainyard puts this package on a run's PYTHONPATH only when the run's
  interpreter has no real `azureml` package;
- in notebooks and scripts that submit runs: `azureml.core` (Workspace, Experiment, Run,
  ScriptRunConfig, Environment, Datastore, compute targets) over the `trainyard` SDK (docs/sdk.md),
  and `azureml.train` (the estimators).

Whatever trainyard does not do raises NotImplementedError naming the trainyard way.
"""
