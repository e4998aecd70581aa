// The slurm target: trainyard renders a batch script (--nodes, --ntasks-per-node, --gres, --time,
// partition/account/QoS), submits it with sbatch, follows the job with scontrol, and cancels it
// with scancel. Ranks start with `srun --kill-on-bad-exit=1` through the rank shim. The run's
// folder must be visible on the nodes (the workspace, or the target's shared_folder, on a shared
// file system). Thread-compatible (immutable after construction).
#pragma once

#include <nlohmann/json.hpp>

#include "targets/target.h"

namespace trainyard::targets {

class SlurmTarget : public Target {
 public:
  static Result<std::unique_ptr<Target>> Create(const std::string& name,
                                                const nlohmann::json& config);
  static std::vector<TargetOption> Options();

  std::string name() const override { return name_; }
  std::string type() const override { return "slurm"; }
  int capacity() const override { return max_concurrent_runs_; }
  Status Check(const spec::JobSpec& spec) const override;
  Result<LaunchPlan> Plan(const spec::JobSpec& spec, const PlanContext& ctx) const override;
  std::string python() const override { return python_; }

 private:
  SlurmTarget() = default;
  std::string name_;
  std::string partition_, account_, qos_, time_limit_;
  std::vector<std::string> sbatch_args_;
  std::string shared_folder_;
  std::string trainyard_bin_;
  std::string python_;
  std::string tracking_address_;
  int max_concurrent_runs_ = 100;
  int gpus_per_node_ = -1;  // -1: unknown (Slurm checks --gres itself)
};

// Slurm's --time from seconds: minutes, rounded up ("D-HH:MM:SS" is not needed).
std::string SlurmTime(double seconds);

}  // namespace trainyard::targets
