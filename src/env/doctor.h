// `trainyard doctor`: checks of the machine and configuration that training jobs depend on, each
// with a concrete fix when it is not OK. The library only gathers the checks; the CLI prints them.
#pragma once

#include <string>
#include <vector>

namespace trainyard::env {

struct DoctorCheck {
  // Stable identifiers, in this order: "interpreter", "python", "torch", "torchvision", "blas",
  // "threads", "openmpi", "slurm", "gpu", "workspace".
  std::string name;
  enum class Level { kOk, kInfo, kWarn, kError } level = Level::kOk;
  std::string value;  // what was found, for a person ("1.13.0a0", "mpirun (Open MPI) 4.1.4")
  std::string fix;    // what to do about it; "" when nothing needs doing
};

struct DoctorInputs {
  std::string python_requested;  // the job spec / --set python value; "" when not given
  std::string cache_dir;         // for the interpreter probe cache; "" disables it
  std::string workspace_dir;
  std::string workspace_source;  // "--workspace", "TRAINYARD_WORKSPACE" or "default ~/.trainyard"
  int schema_version = -1;       // of the workspace store; -1 if the workspace is not created yet
  int expected_schema_version = 0;  // the newest schema this binary supports
};

// "ok", "info", "warn", "error".
const char* DoctorLevelName(DoctorCheck::Level level);

// Runs every check and returns them all, in the order listed above, whatever fails (a check that
// cannot run reports kError or kWarn itself). Runs the interpreter (unless its probe is cached),
// `mpirun --version`, `sbatch --version` and `scontrol ping` (telling "Slurm client missing" from
// "client installed, no controller reachable"), each with a timeout, so it may take a few seconds.
// Never prints. Thread-safe (reads the environment; do not setenv concurrently).
std::vector<DoctorCheck> RunDoctor(const DoctorInputs& inputs);

}  // namespace trainyard::env
