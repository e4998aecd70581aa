"""Datastores of a local trainyard workspace: each is a folder, <workspace>/datastores/<name>.

`upload` copies files into it (an existing file is kept unless overwrite=True, and said so, as the
hosted SDK does); `path(p)` is a DataReference that a run receives as a trainyard input; a
datastore itself in script_params or arguments is a mount of its root."""

import os
import shutil

from azureml.data.data_reference import DataReference
from azureml.exceptions import DatastoreException, UserErrorException

__all__ = ["AbstractDatastore", "AzureBlobDatastore", "AzureFileDatastore"]


def _datastores_folder(workspace):
    return os.path.join(workspace.path, "datastores")


def _console(show_progress, text):
    if show_progress:
        print(text, flush=True)


class AbstractDatastore:
    """A named folder of the workspace."""

    datastore_type = None

    def __init__(self, workspace, name):
        self.workspace = workspace
        self.name = name
        self._folder = os.path.join(_datastores_folder(workspace), name)
        os.makedirs(self._folder, exist_ok=True)

    # hosted attributes, answered locally
    @property
    def container_name(self):
        return self.name

    @property
    def account_name(self):
        return "trainyard"

    @property
    def protocol(self):
        return "file"

    @property
    def endpoint(self):
        return self._folder

    def _resolve(self, path_on_datastore):
        """The absolute path of `path_on_datastore`; it must stay inside the datastore."""
        rel = os.fspath(path_on_datastore or "").replace("\\", "/").lstrip("/")
        full = os.path.normpath(os.path.join(self._folder, rel))
        if full != self._folder and not full.startswith(self._folder + os.sep):
            raise DatastoreException("datastore {!r}: path {!r} leaves the datastore".format(
                self.name, path_on_datastore))
        return full

    # ---- data references ----

    def path(self, path=None, data_reference_name=None):
        """A DataReference to `path` in this datastore (mode mount)."""
        if path is not None:
            self._resolve(path)
        return DataReference(self, data_reference_name, path)

    def as_mount(self):
        return DataReference(self, None, None, "mount")

    def as_download(self, path_on_compute=None):
        return DataReference(self, None, None, "mount").as_download(path_on_compute)

    def as_upload(self, path_on_compute=None):
        return DataReference(self, None, None, "mount").as_upload(path_on_compute)

    def _trainyard_input(self):
        return self.as_mount()._trainyard_input()

    def _trainyard_input_name(self):
        return self.as_mount()._trainyard_input_name()

    def __str__(self):
        return "$AZUREML_DATAREFERENCE_{}".format(self.name)

    # ---- files ----

    def upload(self, src_dir, target_path=None, overwrite=False, show_progress=True):
        """Copies every file under `src_dir` to `target_path` (default: the root). An existing
        file is kept unless overwrite=True. Returns the DataReference of target_path."""
        src_dir = os.path.abspath(os.fspath(src_dir))
        if not os.path.isdir(src_dir):
            raise UserErrorException("upload: src_dir {} is not a folder".format(src_dir))
        files = []
        for root, dirs, names in os.walk(src_dir):
            dirs.sort()
            for n in sorted(names):
                full = os.path.join(root, n)
                files.append((full, os.path.relpath(full, src_dir)))
        self._upload(files, target_path, overwrite, show_progress)
        return DataReference(self, None, target_path)

    def upload_files(self, files, relative_root=None, target_path=None, overwrite=False,
                     show_progress=True):
        """Copies `files` to target_path/<path relative to relative_root> (default root: their
        common folder)."""
        paths = [os.path.abspath(os.fspath(f)) for f in files]
        for p in paths:
            if not os.path.isfile(p):
                raise UserErrorException("upload_files: {} is not a file".format(p))
        if not paths:
            return DataReference(self, None, target_path)
        if relative_root is None:
            relative_root = os.path.commonpath([os.path.dirname(p) for p in paths])
        relative_root = os.path.abspath(os.fspath(relative_root))
        pairs = []
        for p in paths:
            if os.path.commonpath([p, relative_root]) != relative_root:
                raise UserErrorException(
                    "upload_files: relative_root {} is not a parent of {}".format(
                        relative_root, p))
            pairs.append((p, os.path.relpath(p, relative_root)))
        self._upload(pairs, target_path, overwrite, show_progress)
        return DataReference(self, None, target_path)

    def _upload(self, pairs, target_path, overwrite, show_progress):
        base = self._resolve(target_path or "")
        estimated = len(pairs)
        _console(show_progress, "Uploading an estimated of {} files".format(estimated))
        count = 0
        for src, rel in pairs:
            dest = os.path.join(base, rel)
            if os.path.exists(dest) and not overwrite:
                estimated -= 1
                print("Target already exists. Skipping upload for {}".format(
                    os.path.relpath(dest, self._folder)), flush=True)
                continue
            _console(show_progress, "Uploading {}".format(src))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            tmp = dest + ".trainyard-upload"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
            count += 1
            _console(show_progress, "Uploaded {}, {} files out of an estimated total of {}".format(
                src, count, estimated))
        _console(show_progress, "Uploaded {} files".format(count))
        return count

    def download(self, target_path, prefix=None, overwrite=False, show_progress=True):
        """Copies the files under `prefix` (default: all) to target_path/<their path>; returns
        how many were copied. An existing local file is kept unless overwrite=True."""
        start = self._resolve(prefix or "")
        if os.path.isfile(start):
            files = [start]
        else:
            files = [os.path.join(r, n) for r, _, ns in os.walk(start) for n in sorted(ns)]
        count = 0
        for f in sorted(files):
            rel = os.path.relpath(f, self._folder)
            dest = os.path.join(os.fspath(target_path), rel)
            if os.path.exists(dest) and not overwrite:
                print("Target already exists. Skipping download for {}".format(dest), flush=True)
                continue
            os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
            shutil.copyfile(f, dest)
            count += 1
            _console(show_progress, "Downloaded {}, {} files out of an estimated total of "
                     "{}".format(rel, count, len(files)))
        return count

    def set_as_default(self):
        raise NotImplementedError(
            "Datastore.set_as_default: the default datastore of a trainyard workspace is always "
            "'workspaceblobstore'")

    def unregister(self):
        raise NotImplementedError(
            "Datastore.unregister: a trainyard datastore is the folder {}; delete it by "
            "hand".format(self._folder))

    def __repr__(self):
        return "{}(name={!r}, folder={!r})".format(type(self).__name__, self.name, self._folder)

    def __eq__(self, other):
        return isinstance(other, AbstractDatastore) and other._folder == self._folder

    def __hash__(self):
        return hash(self._folder)


class AzureBlobDatastore(AbstractDatastore):
    """A blob container, here a folder of the workspace."""

    datastore_type = "AzureBlob"


class AzureFileDatastore(AbstractDatastore):
    """A file share, here a folder of the workspace."""

    datastore_type = "AzureFile"
