"""azureml.core.compute.ComputeTarget over trainyard targets (see azureml.core.compute)."""

import datetime
import glob
import json
import os

from azureml.exceptions import ComputeTargetException

__all__ = ["ComputeTarget", "ComputeTargetProvisioningConfiguration"]


def _settings_path(workspace, name):
    return os.path.join(workspace.path, "azureml", "compute", name + ".json")


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _gpu_count():
    return len(glob.glob("/dev/nvidia[0-9]*"))


def _describe(target):
    """One line saying what a trainyard target is."""
    config = dict(getattr(target, "config", {}) or {})
    if target.type == "local":
        gpus = _gpu_count()
        text = "this machine, {} cores, {}".format(
            os.cpu_count(), "{} GPU{}".format(gpus, "s" if gpus > 1 else "") if gpus
            else "no GPU")
        if config.get("use_gpu_fallback") == "cpu" and not gpus:
            text += "; use_gpu jobs run on the CPU"
        return text
    if target.type == "slurm":
        return "Slurm partition {}".format(config.get("partition", "(default)"))
    if target.type == "mpi":
        return "Open MPI hosts {}".format(config.get("hosts", "?"))
    return ", ".join("{}={}".format(k, v) for k, v in sorted(config.items()))


class ComputeTargetProvisioningConfiguration:
    """The base of provisioning configurations."""

    def validate_configuration(self):
        pass


class ComputeTarget:
    """`ComputeTarget(workspace, name)`: the trainyard target `name` of the workspace
    (ComputeTargetException when there is none)."""

    _compute_type = "AmlCompute"

    def __new__(cls, workspace=None, name=None):
        if cls is ComputeTarget:
            from azureml.core.compute.amlcompute import AmlCompute

            cls = AmlCompute
        return super().__new__(cls)

    def __init__(self, workspace, name):
        try:
            target = workspace.get_target(name)
        except ValueError as error:
            raise ComputeTargetException(
                "ComputeTargetNotFound: Compute Target with name {} not found in provided "
                "workspace ({}; targets: {}). Create it with ComputeTarget.create(ws, {!r}, "
                "AmlCompute.provisioning_configuration(...)) or `trainyard target add {} "
                "--type local|mpi|slurm`".format(name, error, ", ".join(sorted(workspace.targets)),
                                                  name, name)) from None
        self.workspace = workspace
        self.name = name
        self._target = target
        self._settings = {}
        path = _settings_path(workspace, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                self._settings = json.load(f)

    # ---- hosted attributes ----

    @property
    def type(self):
        return self._compute_type

    @property
    def trainyard_target(self):
        """The trainyard.Target underneath (.name, .type, .config)."""
        return self._target

    @property
    def location(self):
        return "local"

    @property
    def provisioning_state(self):
        return "Succeeded"

    @property
    def provisioning_errors(self):
        return None

    @property
    def created_on(self):
        return self._settings.get("creationTime")

    @property
    def modified_on(self):
        return self._settings.get("modifiedTime")

    @property
    def tags(self):
        return dict(self._settings.get("tags") or {})

    @property
    def description(self):
        return self._settings.get("description")

    @property
    def cluster_resource_id(self):
        return "trainyard:{}/targets/{}".format(self.workspace.path, self.name)

    id = cluster_resource_id

    # ---- create / list / delete ----

    @staticmethod
    def create(workspace, name, provisioning_configuration):
        """An existing trainyard target `name` is used as it is; otherwise a local target is
        registered (use_gpu_fallback=cpu). Prints which."""
        existing = name in workspace.targets
        if existing:
            target = workspace.get_target(name)
            how = "existing trainyard {} target".format(target.type)
        else:
            target = workspace.add_target(name, "local", use_gpu_fallback="cpu")
            how = "trainyard local target"
        config = provisioning_configuration
        settings = config._settings() if hasattr(config, "_settings") else {}
        settings["creationTime"] = settings["modifiedTime"] = _now()
        os.makedirs(os.path.dirname(_settings_path(workspace, name)), exist_ok=True)
        tmp = _settings_path(workspace, name) + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(settings, f, indent=2)
        os.replace(tmp, _settings_path(workspace, name))
        print("compute target {!r}: {} ({}){}".format(
            name, how, _describe(target),
            "" if existing or target.type != "local" or not settings.get("vmSize")
            else "; vm_size {} is not used".format(settings["vmSize"])), flush=True)
        return ComputeTarget(workspace, name)

    @staticmethod
    def list(workspace):
        return [ComputeTarget(workspace, n) for n in workspace.targets]

    @staticmethod
    def attach(workspace, name, attach_configuration):
        raise NotImplementedError(
            "ComputeTarget.attach: register the machines as a trainyard target (`trainyard "
            "target add {} --type mpi --hosts ...` or `--type slurm --partition ...`), then "
            "ComputeTarget(ws, {!r})".format(name, name))

    def delete(self):
        remove = getattr(self.workspace, "remove_target", None)
        if remove is None:
            raise NotImplementedError(
                "ComputeTarget.delete: run `trainyard --workspace {} target remove {}`".format(
                    self.workspace.path, self.name))
        remove(self.name)
        try:
            os.unlink(_settings_path(self.workspace, self.name))
        except FileNotFoundError:
            pass

    detach = delete

    def refresh_state(self):
        self._target = self.workspace.get_target(self.name)

    def wait_for_completion(self, show_output=False, min_node_count=None, timeout_in_minutes=20,
                            is_delete_operation=False):
        """A trainyard target is ready when registered: says so and returns at once."""
        if show_output:
            print("Succeeded\n{} wait for completion finished: trainyard target {!r} is "
                  "ready".format(self.type, self.name), flush=True)

    def get_status(self):
        from azureml.core.compute.amlcompute import AmlComputeStatus

        return AmlComputeStatus(self)

    def serialize(self):
        return {"id": self.cluster_resource_id, "name": self.name, "location": "local",
                "tags": self.tags, "properties": {"computeType": self.type,
                                                  "provisioningState": "Succeeded",
                                                  "trainyardType": self._target.type,
                                                  "trainyardConfig": dict(self._target.config)},
                "status": self.get_status().serialize()}

    def __repr__(self):
        return "{}(workspace={!r}, name={!r}, trainyard {} target: {})".format(
            type(self).__name__, self.workspace.name, self.name, self._target.type,
            _describe(self._target))
