// LaunchPlan: everything a target will do to start a run, rendered before anything runs.
// `submit --dry-run` prints it; the run stores it; golden tests pin it.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
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

// How the run's code reaches the hosts that run its ranks.
struct Staging {
  // "local": ranks run on this machine in <run dir>/work.
  // "shared": `dir` is in a folder every host sees; the snapshot is restored straight into it.
  // "copy": restored in <run dir>/work, then copied to `dir` on each host of `hosts` through the
  //         launch agent (`agent` + host + a command), and outputs/ fetched back from hosts[0].
  std::string mode = "local";
  std::string dir;
  std::vector<std::string> hosts;
  std::vector<std::string> agent;
};

// Where the run's package environment (pip_packages / conda_packages) is prepared; the target
// decides, the supervisor does it while the run is Preparing. An empty `hash` means none.
struct EnvironmentPlan {
  std::string hash;      // env::EnvHash of the request (<run dir>/environment.json)
  std::string describe;  // "pip install tyhello", for messages
  // "here": built (or reused) by the supervisor on this machine in `envs_dir`, which the ranks
  //         see at the same path (local runs, or a folder every host shares);
  // "hosts": built (or reused) on every host of `hosts` by running `command` there through the
  //         launch agent (`agent` + host + the command), with the request on its stdin; each host
  //         keeps its own cache in `envs_dir`.
  std::string where = "here";
  std::string envs_dir;
  std::string python;  // the interpreter the ranks run: <envs_dir>/<hash>/bin/python(3)
  std::vector<std::string> hosts;
  std::vector<std::string> agent;
  std::vector<std::string> command;
};

struct LaunchPlan {
  std::string target;  // target name
  std::string type;    // "local", "mpi"
  int world_size = 1;
  Staging staging;
  EnvironmentPlan environment;
  // The address ranks use to reach this machine's tracking endpoint ("" = 127.0.0.1, and the
  // endpoint listens on loopback only).
  std::string tracking_address;
  // Slurm: the batch script, written to <run dir>/job.sbatch and submitted by processes[0]
  // (sbatch); the supervisor then follows the job instead of a process.
  std::string batch_script;
  std::vector<ProcessSpec> processes;
  std::vector<std::string> notes;  // human-readable facts ("inputs.data: read in place")
  // Facts the plan decided about the run ({"gpu_fallback": "cpu"}), stored as run properties by
  // the supervisor when the run prepares.
  std::map<std::string, std::string> properties;
  // Lines trainyard says in the run's output ("[trainyard] use_gpu: ... running on the CPU"):
  // written by the supervisor into rank 0's log (as stderr) before the ranks start, so that
  // `logs`, `--stream` and the SDK's show_output show them.
  std::vector<std::string> messages;

  nlohmann::json ToJson() const;
  static Result<LaunchPlan> FromJson(const nlohmann::json& j);
  // A readable rendering: target, then per process its cwd, environment and argv (shell-quoted
  // for display only; nothing is ever run through a shell).
  std::string ToText() const;
};

// Bytes in the plan's JSON (arguments, environment values, the batch script): a string when they
// are valid UTF-8, else {"bytes_b64": "<base64 of the bytes>"}, since JSON text cannot carry other
// bytes. BytesFromJson reads either form back; InvalidArgument for anything else.
nlohmann::json BytesToJson(std::string_view bytes);
Result<std::string> BytesFromJson(const nlohmann::json& j);

}  // namespace trainyard::targets
