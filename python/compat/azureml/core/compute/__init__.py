"""azureml.core.compute: compute targets of a local workspace are trainyard targets.

`ComputeTarget.create(ws, name, config)` uses an existing trainyard target of that name as it is
(an administrator maps a cluster name to a Slurm partition with `trainyard target add gpu-cluster
--type slurm --partition gpu`); otherwise it registers a local target (this machine) with
use_gpu_fallback=cpu, so use_gpu jobs also run on a machine without GPUs. It prints which."""

from azureml.core.compute.amlcompute import AmlCompute, AmlComputeProvisioningConfiguration
from azureml.core.compute.compute import ComputeTarget, ComputeTargetProvisioningConfiguration

__all__ = ["AmlCompute", "AmlComputeProvisioningConfiguration", "ComputeTarget",
           "ComputeTargetProvisioningConfiguration", "AksCompute", "BatchCompute",
           "DatabricksCompute", "DataFactoryCompute", "AdlaCompute", "HDInsightCompute",
           "RemoteCompute", "ComputeInstance", "KubernetesCompute"]


def _refused(name, how):
    def refuse(*args, **kwargs):
        raise NotImplementedError("azureml.core.compute.{}: {}".format(name, how))

    return type(name, (), {"__init__": refuse, "attach_configuration": staticmethod(refuse),
                           "provisioning_configuration": staticmethod(refuse)})


_HOSTS = ("not in trainyard; register the machines as a trainyard target: `trainyard target add "
          "NAME --type mpi --hosts h1:4,h2:4` or `--type slurm --partition P`, then "
          "ComputeTarget(ws, NAME)")
RemoteCompute = _refused("RemoteCompute", _HOSTS)
ComputeInstance = _refused("ComputeInstance", _HOSTS)
AksCompute = _refused("AksCompute", "model serving: not yet in trainyard")
KubernetesCompute = _refused("KubernetesCompute", _HOSTS)
BatchCompute = _refused("BatchCompute", _HOSTS)
DatabricksCompute = _refused("DatabricksCompute", "Databricks is not in trainyard")
DataFactoryCompute = _refused("DataFactoryCompute", "Data Factory is not in trainyard")
AdlaCompute = _refused("AdlaCompute", "Data Lake Analytics is not in trainyard")
HDInsightCompute = _refused("HDInsightCompute", "HDInsight is not in trainyard")
