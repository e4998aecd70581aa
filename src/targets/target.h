// Compute targets. A Target turns a validated job into a LaunchPlan (pure: nothing runs) and
// knows its limits (capacity, GPUs). Targets are named and stored in the workspace; "local" is
// always there, with defaults, unless the user stored their own "local".
//
// Registry: MakeTarget() maps a stored record's type to an implementation; each type describes
// its options in one table (TargetOption) that feeds `target add --help`, validation and JSON.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "spec/job_spec.h"
#include "store/workspace.h"
#include "targets/launch_plan.h"

namespace trainyard::targets {

struct TargetOption {
  std::string name;           // "max_concurrent_runs"
  std::string type;           // "int", "string", "bool"
  std::string default_value;  // as text
  std::string help;
};

// What a plan needs beyond the spec, all known at submit time.
struct PlanContext {
  std::string run_id;
  std::string workspace_dir;
  std::string run_dir;        // <workspace>/runs/<id>
  std::string work_dir;       // the run's working directory (materialized snapshot)
  std::string interpreter;    // resolved Python interpreter (absolute)
  std::string trainyard_exe;  // for the rank shim (`trainyard rank-exec`) under mpirun
  // The program that replaces entry_script in the ranks' argv, relative to the work folder
  // wherever the target puts it ("" = the entry itself): a C++ entry runs the program trainyard
  // builds, placed in the work folder (".trainyard/bin/NAME") before the ranks start.
  std::string program;
  std::map<std::string, std::string> input_values;  // name -> literal or path the script reads
  int master_port = 0;                              // 0: choose a free one
  // Folders put in front of PYTHONPATH (the `trainyard` package, compatibility packages), ""
  // for none; the job's own PYTHONPATH (or the submitter's) follows them.
  std::string python_path;
  // The package environment the job asks for (pip_packages / conda_packages); "" hash for none.
  // The target places it (LaunchPlan::environment) and runs the ranks with its interpreter,
  // <envs dir>/<hash>/<env_python>.
  std::string env_hash;
  std::string env_python = "bin/python";  // "bin/python3" for conda prefixes
  std::string env_describe;               // "pip install tyhello"
};

class Target {
 public:
  virtual ~Target() = default;
  virtual std::string name() const = 0;
  virtual std::string type() const = 0;
  // How many runs may hold a slot at once; extra runs wait as Queued.
  virtual int capacity() const = 0;
  // Checks the job against what this target can do (GPUs, backends); InvalidArgument naming the
  // field otherwise. Called at submit time, before anything runs.
  virtual Status Check(const spec::JobSpec& spec) const = 0;
  virtual Result<LaunchPlan> Plan(const spec::JobSpec& spec, const PlanContext& ctx) const = 0;
  // The interpreter the target's hosts run (its `python` option), "" when it takes the resolved
  // one. A package environment for this target is built on top of it.
  virtual std::string python() const { return ""; }
};

// The processes of one run (nodes x processes per node) a target allows unless its
// `max_processes` option says otherwise: every process is planned, stored and started, so a
// typo such as 1000000 must not exhaust the machine and the workspace.
inline constexpr int kDefaultMaxProcesses = 4096;

// OK when spec's nodes x processes per node (computed in 64 bits) is at most `max_processes`;
// otherwise InvalidArgument naming the fields, the product and the option that raises it.
// Every target made by MakeTarget checks it in Check and Plan.
Status CheckProcessCount(const spec::JobSpec& spec, const std::string& target_name,
                         const std::string& target_type, int64_t max_processes);

// What every process of a run carries from the spec (its arguments, variables and inputs) is
// copied into the stored plan once per process the target starts itself (local ranks without
// mpi), and handed to exec: a process may carry at most kMaxProcessSpecBytes of it and a plan at
// most kMaxPlanSpecBytes in all. InvalidArgument naming the sizes otherwise. Checked with
// CheckProcessCount.
inline constexpr int64_t kMaxProcessSpecBytes = int64_t{1} << 20;  // 1 MiB
inline constexpr int64_t kMaxPlanSpecBytes = int64_t{256} << 20;   // 256 MiB
Status CheckPlanSize(const spec::JobSpec& spec, const std::string& target_type);

// Option tables per type.
const std::map<std::string, std::vector<TargetOption>>& TargetTypes();

// Validates `options` (name -> text) for `type` and renders the config JSON with defaults filled.
Result<std::string> MakeTargetConfig(const std::string& type,
                                     const std::map<std::string, std::string>& options);

Result<std::unique_ptr<Target>> MakeTarget(const store::TargetRecord& record);

// The named target from the workspace ("local" falls back to the built-in default). Unknown
// names are InvalidArgument listing the known ones and a did-you-mean.
Result<std::unique_ptr<Target>> LookupTarget(store::Workspace* ws, const std::string& name);

}  // namespace trainyard::targets
