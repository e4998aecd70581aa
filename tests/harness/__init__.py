"""trainyard's multi-host test harness: fake hosts (network namespaces), Open MPI launch agent,
a real Slurm cluster. See README.md. ``from harness import hosts, slurm_cluster`` gives the
module-scoped pytest fixtures."""
from .conftest_harness import (FINAL_SLURM_STATES, HARNESS_DIR, Hosts, SlurmCluster, hosts,
                               hosts_down, hosts_up, missing_requirements, netns_hosts, slurm,
                               slurm_cluster, slurm_down, slurm_up)

__all__ = ["FINAL_SLURM_STATES", "HARNESS_DIR", "Hosts", "SlurmCluster", "hosts", "hosts_down",
           "hosts_up", "missing_requirements", "netns_hosts", "slurm", "slurm_cluster",
           "slurm_down", "slurm_up"]
