"""azureml.core.compute.AmlCompute: a cluster, here a trainyard target (see azureml.core.compute).
`provisioning_configuration` keeps the hosted parameters; `get_status().serialize()` answers in
the hosted shape (provisioningState "Succeeded", node counts, scale settings)."""

from azureml.core.compute.compute import (ComputeTarget, ComputeTargetProvisioningConfiguration,
                                          _now)

__all__ = ["AmlCompute", "AmlComputeProvisioningConfiguration", "AmlComputeStatus"]


class AmlComputeProvisioningConfiguration(ComputeTargetProvisioningConfiguration):
    def __init__(self, vm_size="", vm_priority="dedicated", min_nodes=0, max_nodes=None,
                 idle_seconds_before_scaledown=None, tags=None, description=None, **kwargs):
        self.vm_size = vm_size
        self.vm_priority = vm_priority
        self.min_nodes = min_nodes
        self.max_nodes = max_nodes
        self.idle_seconds_before_scaledown = idle_seconds_before_scaledown
        self.tags = tags
        self.description = description
        self.other = dict(kwargs)

    def validate_configuration(self):
        if self.max_nodes is not None and self.min_nodes is not None and \
                self.min_nodes > self.max_nodes:
            raise ValueError("min_nodes ({}) is more than max_nodes ({})".format(
                self.min_nodes, self.max_nodes))

    def _settings(self):
        self.validate_configuration()
        return {"vmSize": self.vm_size, "vmPriority": self.vm_priority,
                "minNodeCount": self.min_nodes, "maxNodeCount": self.max_nodes,
                "idleSecondsBeforeScaledown": self.idle_seconds_before_scaledown,
                "tags": self.tags, "description": self.description}


class AmlComputeStatus:
    """The status of a trainyard target in the hosted shape (a registered target is always
    Succeeded and Steady; node counts are 0: nodes are not kept running between runs)."""

    def __init__(self, compute):
        settings = compute._settings
        self.current_node_count = 0
        self.target_node_count = 0
        self.node_state_counts = {"preparingNodeCount": 0, "runningNodeCount": 0,
                                  "idleNodeCount": 0, "unusableNodeCount": 0,
                                  "leavingNodeCount": 0, "preemptedNodeCount": 0}
        self.allocation_state = "Steady"
        self.allocation_state_transition_time = settings.get("modifiedTime") or _now()
        self.errors = None
        self.creation_time = settings.get("creationTime")
        self.modified_time = settings.get("modifiedTime")
        self.provisioning_state = "Succeeded"
        self.provisioning_state_transition_time = None
        self.scale_settings = {"minNodeCount": settings.get("minNodeCount", 0),
                               "maxNodeCount": settings.get("maxNodeCount"),
                               "nodeIdleTimeBeforeScaleDown":
                               "PT{}S".format(settings.get("idleSecondsBeforeScaledown") or 120)}
        self.vm_priority = (settings.get("vmPriority") or "dedicated").capitalize()
        self.vm_size = settings.get("vmSize") or ""
        self.trainyard_target = {"name": compute.name, "type": compute._target.type,
                                 "config": dict(compute._target.config)}

    def serialize(self):
        return {
            "currentNodeCount": self.current_node_count,
            "targetNodeCount": self.target_node_count,
            "nodeStateCounts": dict(self.node_state_counts),
            "allocationState": self.allocation_state,
            "allocationStateTransitionTime": self.allocation_state_transition_time,
            "errors": self.errors,
            "creationTime": self.creation_time,
            "modifiedTime": self.modified_time,
            "provisioningState": self.provisioning_state,
            "provisioningStateTransitionTime": self.provisioning_state_transition_time,
            "scaleSettings": dict(self.scale_settings),
            "vmPriority": self.vm_priority,
            "vmSize": self.vm_size,
            "trainyardTarget": dict(self.trainyard_target),
        }


class AmlCompute(ComputeTarget):
    """A cluster: a trainyard target of the workspace."""

    _compute_type = "AmlCompute"

    @staticmethod
    def provisioning_configuration(vm_size="", vm_priority="dedicated", min_nodes=0,
                                   max_nodes=None, idle_seconds_before_scaledown=None,
                                   admin_username=None, admin_user_password=None,
                                   admin_user_ssh_key=None, vnet_resourcegroup_name=None,
                                   vnet_name=None, subnet_name=None, tags=None,
                                   description=None, remote_login_port_public_access="NotSpecified",
                                   identity_type=None, identity_id=None, location=None,
                                   enable_node_public_ip=True):
        config = AmlComputeProvisioningConfiguration(
            vm_size=vm_size, vm_priority=vm_priority, min_nodes=min_nodes, max_nodes=max_nodes,
            idle_seconds_before_scaledown=idle_seconds_before_scaledown, tags=tags,
            description=description)
        config.validate_configuration()
        return config

    @staticmethod
    def supported_vmsizes(workspace, location=None):
        raise NotImplementedError("AmlCompute.supported_vmsizes: trainyard targets have no VM "
                                  "sizes (a local target is this machine)")

    def update(self, min_nodes=None, max_nodes=None, idle_seconds_before_scaledown=None):
        raise NotImplementedError(
            "AmlCompute.update: change a trainyard target with `trainyard target remove {0}` "
            "and `trainyard target add {0} ...`".format(self.name))

    def list_nodes(self):
        return []

    def get_active_runs(self, type=None, tags=None, properties=None, status=None):
        raise NotImplementedError("AmlCompute.get_active_runs: use `trainyard list --status "
                                  "Running`")
