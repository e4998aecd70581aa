"""azureml.train.estimator: the generic Estimator, as trainyard's estimator job form.

    from azureml.train.estimator import Estimator
    est = Estimator(source_directory=".", entry_script="train.py",
                    script_params={"--data": ds.as_mount(), "--epochs": 3},
                    compute_target=compute_target, pip_packages=["scikit-learn"])
    run = exp.submit(est)
"""

from azureml.train._distributed_training import Gloo, Mpi, Nccl, ParameterServer
from azureml.train.estimator._mml_base_estimator import MMLBaseEstimator

__all__ = ["Estimator", "Gloo", "MMLBaseEstimator", "Mpi", "Nccl", "ParameterServer"]


class Estimator(MMLBaseEstimator):
    """A generic estimator: runs `entry_script` of `source_directory` with `script_params` on the
    compute target, with the hosted SDK's constructor parameters (see MMLBaseEstimator for how
    each maps onto trainyard). Submitted as a `trainyard.Estimator`."""

    _trainyard_class = "Estimator"

    def __init__(self, source_directory, *, compute_target=None, vm_size=None, vm_priority=None,
                 entry_script=None, script_params=None, node_count=1, process_count_per_node=1,
                 distributed_backend=None, distributed_training=None, use_gpu=False,
                 use_docker=True, custom_docker_base_image=None, custom_docker_image=None,
                 image_registry_details=None, user_managed=False, conda_packages=None,
                 pip_packages=None, conda_dependencies_file_path=None,
                 pip_requirements_file_path=None, conda_dependencies_file=None,
                 pip_requirements_file=None, environment_variables=None,
                 environment_definition=None, inputs=None, source_directory_data_store=None,
                 shm_size=None, resume_from=None, max_run_duration_seconds=None, **private):
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
