"""azureml.data.data_reference.DataReference: a path in a datastore, given to a run as a trainyard
input (docs/sdk.md): `as_mount()` is read in place (ro_mount), `as_download()` is copied into the
run folder (download). The script receives the path as its argument."""

import os
import re

__all__ = ["DataReference"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


class DataReference:
    """A reference to `path_on_datastore` in `datastore` (mode "mount" unless told)."""

    def __init__(self, datastore, data_reference_name=None, path_on_datastore=None,
                 mode="mount", path_on_compute=None, overwrite=False):
        if mode not in ("mount", "download", "upload"):
            raise ValueError("DataReference mode {!r}: expected 'mount' or 'download'".format(
                mode))
        self.datastore = datastore
        self.path_on_datastore = path_on_datastore
        self.data_reference_name = data_reference_name or datastore.name
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    def _derive(self, mode, path_on_compute=None, overwrite=False):
        return DataReference(self.datastore, self.data_reference_name, self.path_on_datastore,
                             mode, path_on_compute, overwrite)

    def as_mount(self):
        """The same path, read in place by the run (a trainyard ro_mount input)."""
        return self._derive("mount")

    def as_download(self, path_on_compute=None, overwrite=False):
        """The same path, copied into the run folder before the script starts (a trainyard
        download input). The script gets the copy's path as its argument; trainyard chooses
        where the copy goes, so path_on_compute cannot be given."""
        if path_on_compute is not None:
            raise NotImplementedError(
                "DataReference.as_download(path_on_compute=...): trainyard copies download "
                "inputs into the run folder and passes their path to the script; use "
                "as_download() and read the path from the script's argument")
        return self._derive("download", None, overwrite)

    def as_upload(self, path_on_compute=None, overwrite=False):
        raise NotImplementedError(
            "DataReference.as_upload: trainyard keeps a run's outputs in the run (write to "
            "./outputs); fetch them with run.download_files(prefix='outputs') or "
            "`trainyard download RUN outputs`, then datastore.upload(...)")

    def path(self, path=None, data_reference_name=None):
        """A reference to `path` under this one."""
        joined = os.path.join(self.path_on_datastore or "", path or "") or None
        return DataReference(self.datastore, data_reference_name or self.data_reference_name,
                             joined, self.mode)

    # ---- trainyard ----

    @property
    def _local_path(self):
        return self.datastore._resolve(self.path_on_datastore or "")

    def _trainyard_input(self):
        """The trainyard input document of this reference (docs/sdk.md)."""
        if self.mode == "upload":
            self.as_upload()
        path = self._local_path
        kind = "uri_file" if os.path.isfile(path) else "uri_folder"
        return {"type": kind, "path": path,
                "mode": "ro_mount" if self.mode == "mount" else "download"}

    def _trainyard_input_name(self):
        """A valid trainyard input name derived from data_reference_name (letters, digits, _)."""
        name = _UNSAFE.sub("_", self.data_reference_name or "data")
        return name if name and not name[0].isdigit() else "d_" + name

    def __str__(self):
        return "$AZUREML_DATAREFERENCE_{}".format(self.data_reference_name)

    def __repr__(self):
        return ("$AZUREML_DATAREFERENCE_{} (datastore {!r}, path {!r}, mode {!r}: trainyard "
                "input {})".format(self.data_reference_name, self.datastore.name,
                                   self.path_on_datastore, self.mode, self._local_path))

    def to_config(self):
        return {"dataStoreName": self.datastore.name, "mode": self.mode,
                "pathOnDataStore": self.path_on_datastore, "pathOnCompute": self.path_on_compute,
                "overwrite": self.overwrite}
