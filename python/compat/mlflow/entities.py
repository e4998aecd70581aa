"""mlflow.entities: the run, its info and data, as trainyard's mlflow compatibility package
shows them (read-only views of the trainyard run)."""


class RunStatus:
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @staticmethod
    def is_terminated(status):
        return status in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


class RunInfo:
    """run_id (= run_uuid), experiment_id (the trainyard experiment's name), run_name, status,
    start_time / end_time (ms), artifact_uri, lifecycle_stage, user_id."""

    def __init__(self, run_id, experiment_id, run_name, status, start_time, end_time=None,
                 artifact_uri="", lifecycle_stage="active", user_id=""):
        self.run_id = run_id
        self.run_uuid = run_id
        self.experiment_id = experiment_id
        self.run_name = run_name
        self.status = status
        self.start_time = start_time
        self.end_time = end_time
        self.artifact_uri = artifact_uri
        self.lifecycle_stage = lifecycle_stage
        self.user_id = user_id

    def __repr__(self):
        return (f"<RunInfo: run_id={self.run_id!r}, experiment_id={self.experiment_id!r}, "
                f"status={self.status!r}>")


class RunData:
    """metrics ({key: latest value}), params ({key: str}), tags ({key: str})."""

    def __init__(self, metrics=None, params=None, tags=None):
        self.metrics = dict(metrics or {})
        self.params = dict(params or {})
        self.tags = dict(tags or {})

    def __repr__(self):
        return f"<RunData: metrics={self.metrics!r}, params={self.params!r}, tags={self.tags!r}>"


class Run:
    def __init__(self, run_info, run_data):
        self._info = run_info
        self._data = run_data

    @property
    def info(self):
        return self._info

    @property
    def data(self):
        return self._data

    def __repr__(self):
        return f"<Run: info={self._info!r}, data={self._data!r}>"


class Experiment:
    def __init__(self, experiment_id, name, artifact_location="", lifecycle_stage="active",
                 tags=None):
        self.experiment_id = experiment_id
        self.name = name
        self.artifact_location = artifact_location
        self.lifecycle_stage = lifecycle_stage
        self.tags = dict(tags or {})

    def __repr__(self):
        return f"<Experiment: experiment_id={self.experiment_id!r}, name={self.name!r}>"
