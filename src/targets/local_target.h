// The local target: runs on this machine, supervised by a detached trainyard process.
// node_count > 1 is simulated: each "node" is a group of processes with its own NODE_RANK and
// LOCAL_RANK numbering, all on this machine. Thread-compatible (immutable after construction).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "targets/target.h"

namespace trainyard::targets {

class LocalTarget : public Target {
 public:
  // Options as Options() lists them; a use_gpu_fallback other than "refuse" or "cpu" is taken as
  // "refuse" (Create refuses it).
  LocalTarget(std::string name, const nlohmann::json& config);
  // As the constructor, but InvalidArgument for a use_gpu_fallback other than "refuse" or "cpu".
  static Result<std::unique_ptr<Target>> Create(const std::string& name,
                                                const nlohmann::json& config);
  static std::vector<TargetOption> Options();

  std::string name() const override { return name_; }
  std::string type() const override { return "local"; }
  int capacity() const override { return max_concurrent_runs_; }
  Status Check(const spec::JobSpec& spec) const override;
  Result<LaunchPlan> Plan(const spec::JobSpec& spec, const PlanContext& ctx) const override;

  int gpus() const { return gpus_; }
  int cores() const { return cores_; }
  // "refuse" (the default): a use_gpu job on a target without GPUs is refused at submit.
  // "cpu": it runs on the CPU instead (no CUDA_VISIBLE_DEVICES), its output says so in a
  // "[trainyard] use_gpu: ..." line, and the run gets the property gpu_fallback=cpu.
  const std::string& use_gpu_fallback() const { return use_gpu_fallback_; }

 private:
  // The plan's processes, with the paths in `ctx` (the host's, or those inside an image).
  Result<LaunchPlan> PlanProcesses(const spec::JobSpec& spec, const PlanContext& ctx) const;
  // use_gpu asked of a target without GPUs that runs such jobs on the CPU.
  bool FallsBackToCpu(const spec::JobSpec& spec) const;

  std::string name_;
  int max_concurrent_runs_;
  int gpus_;
  int cores_;
  std::string use_gpu_fallback_;
};

// The program's argv for a job (interpreter + entry + arguments, or the command's words), with
// inputs substituted. Shared by every target type. A command written as a string is
// {"bash", "-c", SCRIPT}: ShellPreamble, then spec::ShellScript (every ${{inputs.X}} and
// ${{outputs.X}} one word, never shell syntax).
Result<std::vector<std::string>> ProgramArgv(const spec::JobSpec& spec, const PlanContext& ctx);

// environment.image or environment.build: the ranks run in a container image (env/image.h).
bool UsesImage(const spec::JobSpec& spec);

// ${{outputs.NAME}} for each output: <work_dir>/outputs/NAME (a folder, made by the supervisor
// before the ranks start, kept with the run), or <work_dir>/outputs/NAME/FILE for a uri_file.
std::map<std::string, std::string> OutputValues(const spec::JobSpec& spec,
                                                const std::string& work_dir);

// For a shell command that runs python or python3: bash functions (exported to the bash
// processes it starts) that make both words mean ctx.interpreter, then a newline; "" otherwise.
std::string ShellPreamble(const spec::JobSpec& spec, const PlanContext& ctx);
// One `mpirun` (run in `cwd` on this machine) that starts every rank through `trainyard
// rank-exec` (the rank shim), with the target's `launcher_args` (-np, hosts, agent, ...),
// exporting every variable of `env` to the ranks, with tagged output (split into per-rank logs by
// the supervisor).
ProcessSpec MpirunProcess(const PlanContext& ctx, const std::string& cwd,
                          const std::vector<std::string>& launcher_args,
                          const std::vector<std::string>& program,
                          std::map<std::string, std::string> env);

// Environment common to every rank of a run on any target (TRAINYARD_*, user variables,
// inputs); rank variables are added by the target.
std::map<std::string, std::string> BaseEnvironment(const spec::JobSpec& spec,
                                                   const PlanContext& ctx);

// Places the job's environment (ctx->env_hash; nothing when empty) in `envs_dir`, prepared on
// this machine ("here"), and makes ctx->interpreter its interpreter. Targets whose hosts do not
// see `envs_dir` change `where` afterwards.
void PlaceEnvironment(const std::string& envs_dir, PlanContext* ctx, LaunchPlan* plan);

}  // namespace trainyard::targets
