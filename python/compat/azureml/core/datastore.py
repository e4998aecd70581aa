"""azureml.core.Datastore on a local trainyard workspace: <workspace>/datastores/<name> folders.

"workspaceblobstore" (the default) and "workspacefilestore" always exist; other names exist once
their folder does. Registering cloud storage is not in trainyard."""

import os
import re

from azureml.data.azure_storage_datastore import (AbstractDatastore, AzureBlobDatastore,
                                                   AzureFileDatastore, _datastores_folder)
from azureml.exceptions import DatastoreException

__all__ = ["Datastore"]

DEFAULT_DATASTORE = "workspaceblobstore"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_BUILTIN = {"workspaceblobstore": AzureBlobDatastore, "workspacefilestore": AzureFileDatastore}


def _register_refused(kind):
    def refuse(*args, **kwargs):
        raise NotImplementedError(
            "Datastore.{}: cloud storage is not in trainyard; a datastore is a folder of the "
            "workspace (<workspace>/datastores/<name>): use Datastore(ws, name) or "
            "ws.get_default_datastore() and upload() to it".format(kind))
    return staticmethod(refuse)


class _DatastoreMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, AbstractDatastore)


class Datastore(metaclass=_DatastoreMeta):
    """`Datastore(workspace, name=None)`: the named datastore (default: workspaceblobstore)."""

    def __new__(cls, workspace, name=None):
        return Datastore.get(workspace, name or DEFAULT_DATASTORE)

    @staticmethod
    def get(workspace, datastore_name):
        if datastore_name in _BUILTIN:
            return _BUILTIN[datastore_name](workspace, datastore_name)
        folder = os.path.join(_datastores_folder(workspace), str(datastore_name))
        if not _NAME.match(str(datastore_name)) or not os.path.isdir(folder):
            raise DatastoreException(
                "Datastore {!r} not found in workspace {!r} (a trainyard datastore is a folder "
                "of the workspace: {})".format(datastore_name, workspace.name, folder))
        return AzureBlobDatastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace):
        return AzureBlobDatastore(workspace, DEFAULT_DATASTORE)

    @staticmethod
    def _all(workspace):
        stores = {n: Datastore.get(workspace, n) for n in _BUILTIN}
        folder = _datastores_folder(workspace)
        for n in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if n not in stores and _NAME.match(n) and os.path.isdir(os.path.join(folder, n)):
                stores[n] = AzureBlobDatastore(workspace, n)
        return stores

    @staticmethod
    def list(workspace):
        return list(Datastore._all(workspace).values())

    register_azure_blob_container = _register_refused("register_azure_blob_container")
    register_azure_file_share = _register_refused("register_azure_file_share")
    register_azure_data_lake = _register_refused("register_azure_data_lake")
    register_azure_data_lake_gen2 = _register_refused("register_azure_data_lake_gen2")
    register_azure_sql_database = _register_refused("register_azure_sql_database")
    register_azure_postgre_sql = _register_refused("register_azure_postgre_sql")
    register_azure_my_sql = _register_refused("register_azure_my_sql")
    register_dbfs = _register_refused("register_dbfs")
    register_hdfs = _register_refused("register_hdfs")
