"""azureml.core.run.Run for scripts running under trainyard: the run-context surface of the seed's
service, with its argument names and order, over trainyard.Run."""

import os
import shutil
import tempfile

import trainyard.run


class Run(trainyard.run.Run):
    """The current run (Run.get_context()); metrics go to trainyard."""

    @classmethod
    def get_context(cls, allow_offline=True, **kwargs):
        return super().get_context()

    @property
    def display_name(self):
        return self.id

    def log(self, name, value, description="", step=None):
        super().log(name, value, step=step, description=description)

    def log_list(self, name, value, description=""):
        super().log_list(name, value)

    def log_row(self, name, /, description=None, **kwargs):
        super().log_row(name, **kwargs)

    def log_table(self, name, value, description=""):
        super().log_table(name, value)

    def log_image(self, name, path=None, plot=None, description=""):
        super().log_image(name, path=path, plot=plot)

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False):
        """Like the seed's service: a metric logged once maps to its value, else to a list."""
        metrics = super().get_metrics(name)
        return {n: v[0] if len(v) == 1 else v for n, v in metrics.items()}

    def get_tags(self):
        return {k: "" if v is None else v for k, v in super().get_tags().items()}

    def upload_file(self, name, path_or_stream, datastore_name=None):
        if hasattr(path_or_stream, "read"):
            with tempfile.NamedTemporaryFile(prefix="trainyard-upload-") as tmp:
                shutil.copyfileobj(path_or_stream, tmp)
                tmp.flush()
                super().upload_file(name, tmp.name)
            return
        super().upload_file(name, os.fspath(path_or_stream))

    def upload_folder(self, name, path, datastore_name=None):
        super().upload_folder(name, path)

    def flush(self, timeout_seconds=300):
        super().flush(timeout_seconds)

    def get_status(self):
        return "Running"

    def complete(self, _set_status=True):
        """The run completes when the script exits; this only flushes."""
        self.flush()

    def fail(self, error_details=None, error_code=None, _set_status=True):
        """The run fails when the script exits non-zero; this only flushes."""
        self.flush()

    def cancel(self):
        self.flush()
