"""azureml.core.Dataset: datasets are not in trainyard; use datastore paths as inputs."""

from azureml.core._refused import refused

Dataset = refused("Dataset", "datasets are not in trainyard; upload files to a datastore "
                  "(ws.get_default_datastore().upload(...)) and pass "
                  "datastore.path(p).as_mount() or .as_download() as a script argument")

__all__ = ["Dataset"]
