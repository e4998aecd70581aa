// The mpi target: a list of hosts that Open MPI reaches with its own remote launch (`mpirun
// --host ... --mca plm_rsh_agent <agent>`; default agent ssh). trainyard never opens a remote
// shell itself except through that same agent, to copy the code to hosts without a shared folder.
// Thread-compatible (immutable after construction).
#pragma once

#include <nlohmann/json.hpp>
#include <utility>

#include "targets/target.h"

namespace trainyard::targets {

struct HostSlots {
  std::string host;
  int slots = 1;
};

// "h1:4,h2:4" (slots default to 1). InvalidArgument naming the bad entry.
Result<std::vector<HostSlots>> ParseHostList(const std::string& text);
// An Open MPI hostfile: "host slots=N" per line, '#' comments.
Result<std::vector<HostSlots>> ReadHostfile(const std::string& path);

class MpiTarget : public Target {
 public:
  static Result<std::unique_ptr<Target>> Create(const std::string& name,
                                                const nlohmann::json& config);
  static std::vector<TargetOption> Options();

  std::string name() const override { return name_; }
  std::string type() const override { return "mpi"; }
  int capacity() const override { return max_concurrent_runs_; }
  Status Check(const spec::JobSpec& spec) const override;
  Result<LaunchPlan> Plan(const spec::JobSpec& spec, const PlanContext& ctx) const override;
  std::string python() const override { return python_; }

 private:
  MpiTarget() = default;
  std::string name_;
  std::vector<HostSlots> hosts_;
  std::string agent_ = "ssh";
  std::string shared_folder_;
  std::string remote_folder_ = "/tmp/trainyard";
  std::string mpirun_ = "mpirun";
  std::string trainyard_bin_;
  std::string python_;
  std::string tracking_address_;
  std::vector<std::string> mpirun_args_;
  int max_concurrent_runs_ = 1;
  int gpus_per_host_ = 0;
  int cores_per_host_ = 0;
};

}  // namespace trainyard::targets
