"""azureml.core.Model: the model registry is not yet in trainyard (issue 16)."""

from azureml.core._refused import refused

Model = refused("Model", "model registry: not yet in trainyard (issue 16); keep models as run "
                "outputs (write ./outputs/model.pt, then run.download_file('outputs/model.pt'))")
InferenceConfig = refused("InferenceConfig", "model serving: not yet in trainyard")

__all__ = ["InferenceConfig", "Model"]
