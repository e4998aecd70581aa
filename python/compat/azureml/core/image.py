"""azureml.core.Image: container images are not in trainyard."""

from azureml.core._refused import refused

Image = refused("Image", "container images are not in trainyard; model serving is not yet in "
                "trainyard")
ContainerImage = Image

__all__ = ["ContainerImage", "Image"]
