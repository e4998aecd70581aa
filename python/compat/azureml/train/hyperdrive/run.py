"""azureml.train.hyperdrive.run: HyperDriveRun, the run of a sweep.

The sweep's own run (status, details, cancel, wait) is an azureml.core.Run. What needs its trials
(the best run, the children sorted by the primary metric, the children's metrics) needs the sweep
controller that runs trials, which trainyard does not have yet (issue 15): those methods raise
NotImplementedError saying so."""

from azureml.core.run import Run

__all__ = ["HyperDriveRun"]

_NO_CONTROLLER = ("HyperDriveRun.{}: trainyard does not run sweep trials yet (issue 15: the "
                  "sweep controller comes next), so there are no child runs to {}; follow the "
                  "sweep with `trainyard show {}`")


class HyperDriveRun(Run):
    """`HyperDriveRun(experiment, run_id, hyperdrive_config=None)`: a handle on a sweep's run."""

    RUN_TYPE = "hyperdrive"
    HYPER_DRIVE_RUN_USER_AGENT = "sdk_run_hyper_drive"

    def __init__(self, experiment, run_id, hyperdrive_config=None, **kwargs):
        super().__init__(experiment, run_id, **kwargs)
        self._hyperdrive_config = hyperdrive_config

    @property
    def type(self):
        return self.RUN_TYPE

    @property
    def hyperdrive_config(self):
        """The HyperDriveConfig the run was created from (when this handle was given it)."""
        if self._hyperdrive_config is None:
            raise NotImplementedError(
                "HyperDriveRun.hyperdrive_config: trainyard does not rebuild a HyperDriveConfig "
                "from a recorded sweep; read the sweep's document with `trainyard show {} "
                "--json`".format(self.id))
        return self._hyperdrive_config

    def _no_controller(self, method, what):
        raise NotImplementedError(_NO_CONTROLLER.format(method, what, self.id))

    def get_best_run_by_primary_metric(self, include_failed=True, include_canceled=True,
                                       include_resume_from_runs=False):
        """The child run with the best primary metric."""
        self._no_controller("get_best_run_by_primary_metric", "compare")

    def get_children_sorted_by_primary_metric(self, top=0, reverse=False,
                                              discard_no_metric=False):
        """The child runs sorted by their primary metric."""
        self._no_controller("get_children_sorted_by_primary_metric", "sort")

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False):
        """{child run id: its metrics} for every child run."""
        self._no_controller("get_metrics", "read metrics of")

    def get_hyperparameters(self):
        """{child run id: its hyperparameters} for every child run."""
        self._no_controller("get_hyperparameters", "read parameters of")

    def get_diagnostics(self):
        """The sweep's diagnostics."""
        self._no_controller("get_diagnostics", "diagnose")

    def fail(self, error_details=None, error_code=None, _set_status=True):
        """Not supported for a HyperDriveRun (as hosted)."""
        raise NotImplementedError(
            "HyperDriveRun.fail: trainyard records a run's end itself; cancel the sweep with "
            "run.cancel() (`trainyard cancel {}`)".format(self.id))
