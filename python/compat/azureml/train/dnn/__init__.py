"""azureml.train.dnn: the PyTorch estimator and the distributed-training settings.

    from azureml.train.dnn import PyTorch
    pt_est = PyTorch(source_directory="./my-pytorch-project", script_params={"--data_dir": ds},
                     compute_target=compute_target, entry_script="train.py",
                     node_count=2, process_count_per_node=1, distributed_backend="mpi")
    run = exp.submit(pt_est)

PyTorch is submitted as a `trainyard.PyTorch`: the run's interpreter has torch and torchvision,
and (with distributed_backend="mpi") `import horovod.torch` is trainyard's Horovod-compatible
runtime. TensorFlow and Chainer estimators are not available (NotImplementedError).
"""

from azureml.train._distributed_training import Gloo, Mpi, Nccl, ParameterServer
from azureml.train.estimator._mml_base_estimator import MMLBaseEstimator, _note

__all__ = ["Chainer", "Gloo", "Mpi", "Nccl", "ParameterServer", "PyTorch", "TensorFlow"]


def _torch_version():
    """major.minor of the interpreter's torch (from its metadata: torch is not imported)."""
    from importlib import metadata

    try:
        return ".".join(metadata.version("torch").split("+")[0].split(".")[:2])
    except metadata.PackageNotFoundError:
        return None


class PyTorch(MMLBaseEstimator):
    """The PyTorch estimator, with the hosted SDK's constructor parameters (see MMLBaseEstimator
    for how each maps onto trainyard). `framework_version` cannot pick another torch: runs use the
    interpreter's (a note says so when they differ)."""

    _trainyard_class = "PyTorch"

    def __init__(self, source_directory, *, compute_target=None, vm_size=None, vm_priority=None,
                 entry_script=None, script_params=None, node_count=1, process_count_per_node=1,
                 distributed_backend=None, distributed_training=None, use_gpu=False,
                 use_docker=True, custom_docker_base_image=None, custom_docker_image=None,
                 image_registry_details=None, user_managed=False, conda_packages=None,
                 pip_packages=None, conda_dependencies_file_path=None,
                 pip_requirements_file_path=None, conda_dependencies_file=None,
                 pip_requirements_file=None, environment_variables=None,
                 environment_definition=None, inputs=None, source_directory_data_store=None,
                 shm_size=None, resume_from=None, max_run_duration_seconds=None,
                 framework_version=None, **private):
        if framework_version is not None:
            installed = _torch_version()
            if installed is None or str(framework_version) != installed:
                _note(f"framework_version={framework_version!r}: runs use the interpreter's "
                      f"torch ({installed or 'not installed'}); to get another version, name it "
                      f"in pip_packages (e.g. 'torch=={framework_version}.*')")
        self.framework_version = framework_version
        super().__init__(
            source_directory, compute_target=compute_target, vm_size=vm_size,
            vm_priority=vm_priority, entry_script=entry_script, script_params=script_params,
            node_count=node_count, process_count_per_node=process_count_per_node,
            distributed_backend=distributed_backend, distributed_training=distributed_training,
            use_gpu=use_gpu, use_docker=use_docker,
            custom_docker_base_image=custom_docker_base_image,
            custom_docker_image=custom_docker_image, image_registry_details=image_registry_details,
            user_managed=user_managed, conda_packages=conda_packages, pip_packages=pip_packages,
            conda_dependencies_file_path=conda_dependencies_file_path,
            pip_requirements_file_path=pip_requirements_file_path,
            conda_dependencies_file=conda_dependencies_file,
            pip_requirements_file=pip_requirements_file,
            environment_variables=environment_variables,
            environment_definition=environment_definition, inputs=inputs,
            source_directory_data_store=source_directory_data_store, shm_size=shm_size,
            resume_from=resume_from, max_run_duration_seconds=max_run_duration_seconds, **private)

    @staticmethod
    def get_supported_versions():
        """The torch versions a run can use without installing one: the interpreter's."""
        version = _torch_version()
        return [version] if version else []


class _Unavailable:
    _framework = ""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            f"azureml.train.dnn.{type(self).__name__}: trainyard has no {self._framework} "
            f"estimator (its runs carry PyTorch). Run a {self._framework} script as a generic job "
            f"with azureml.train.estimator.Estimator(source_directory, entry_script=..., "
            f"pip_packages=[...]) or trainyard.Estimator")

    @staticmethod
    def get_supported_versions():
        return []


class TensorFlow(_Unavailable):
    """Not available under trainyard (NotImplementedError)."""

    _framework = "TensorFlow"


class Chainer(_Unavailable):
    """Not available under trainyard (NotImplementedError)."""

    _framework = "Chainer"
