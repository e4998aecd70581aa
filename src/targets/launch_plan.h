// LaunchPlan: everything a target will do to start a run, rendered before anything runs.
// `submit --dry-run` prints it; the run stores it; golden tests pin it.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainyard::targets {

// One process the target starts (a rank, or a launcher such as mpirun that starts ranks).
struct ProcessSpec {
  int rank = 0;  // first global rank this process stands for
  int node_rank = 0;
  int local_rank = 0;
  std::vector<std::string> argv;           // exact argv; argv[0] absolute or found on PATH
  std::map<std::string, std::string> env;  // set on top of the supervisor's environment
  std::string cwd;
  // The process is an `mpirun --tag-output` launcher: its output is split into per-rank logs.
  bool tagged_output = false;
};

struct LaunchPlan {
  std::string target;  // target name
  std::string type;    // "local"
  int world_size = 1;
  std::vector<ProcessSpec> processes;
  std::vector<std::string> notes;  // human-readable facts ("inputs.data: read in place")

  nlohmann::json ToJson() const;
  static Result<LaunchPlan> FromJson(const nlohmann::json& j);
  // A readable rendering: target, then per process its cwd, environment and argv (shell-quoted
  // for display only; nothing is ever run through a shell).
  std::string ToText() const;
};

}  // namespace trainyard::targets
