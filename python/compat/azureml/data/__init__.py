"""azureml.data on a local trainyard workspace: datastores are folders of the workspace
(<workspace>/datastores/<name>) and data references are trainyard inputs."""

from azureml.data.azure_storage_datastore import AzureBlobDatastore, AzureFileDatastore
from azureml.data.data_reference import DataReference


class _NotInTrainyard:
    _what = ""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(self._what)

    def __getattr__(self, name):
        raise NotImplementedError(self._what)


def _refuse(name, what):
    return type(name, (_NotInTrainyard,), {"_what": what})


TabularDataset = _refuse(
    "TabularDataset", "azureml.data.TabularDataset: datasets are not in trainyard; upload files "
    "to a datastore and pass ds.path(...).as_mount() to the script")
FileDataset = _refuse(
    "FileDataset", "azureml.data.FileDataset: datasets are not in trainyard; upload files to a "
    "datastore and pass ds.path(...).as_mount() (or .as_download()) to the script")
OutputFileDatasetConfig = _refuse(
    "OutputFileDatasetConfig", "azureml.data.OutputFileDatasetConfig: output datasets are not "
    "in trainyard; write to ./outputs in the run and fetch them with run.download_files()")

__all__ = ["AzureBlobDatastore", "AzureFileDatastore", "DataReference", "FileDataset",
           "OutputFileDatasetConfig", "TabularDataset"]
