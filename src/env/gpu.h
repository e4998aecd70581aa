// Counting the NVIDIA GPUs a job started from this process would see, without loading CUDA.
// All functions are safe to call from any thread (they read the environment and the file system).
#pragma once

#include <optional>
#include <string>

namespace trainyard::env {

// Where CountGpusFrom looks; the defaults are the real locations.
struct GpuSources {
  std::string proc_gpus_dir = "/proc/driver/nvidia/gpus";  // one entry per GPU (driver loaded)
  std::string dev_dir = "/dev";                            // nvidia0, nvidia1, ... device files
  // The value of CUDA_VISIBLE_DEVICES; nullopt when the variable is unset.
  std::optional<std::string> cuda_visible_devices;
};

// The number of GPUs: entries of proc_gpus_dir, else /dev/nvidia<N> files, else 0. When
// cuda_visible_devices is set, the count is that of the listed devices, read as CUDA does: the list
// stops at the first empty, negative ("-1") or out-of-range index, so "" and "-1" give 0; UUIDs
// ("GPU-...", "MIG-...") count one each. Never more than the GPUs present. Never fails.
int CountGpusFrom(const GpuSources& sources);

// CountGpusFrom with the real locations and this process's CUDA_VISIBLE_DEVICES.
int CountGpus();

}  // namespace trainyard::env
