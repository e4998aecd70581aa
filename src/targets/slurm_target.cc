#include "targets/slurm_target.h"

#include <unistd.h>

#include <cmath>

#include "common/process.h"
#include "common/strings.h"
#include "spec/parse.h"
#include "targets/local_target.h"

namespace trainyard::targets {

std::string SlurmTime(double seconds) {
  long minutes = static_cast<long>(std::ceil(seconds / 60.0));
  return std::to_string(std::max(1L, minutes));
}

std::vector<TargetOption> SlurmTarget::Options() {
  return {
      {"partition", "string", "", "Slurm partition (--partition)"},
      {"account", "string", "", "Slurm account (--account)"},
      {"qos", "string", "", "Slurm QoS (--qos)"},
      {"time_limit", "string", "the run's limit",
       "--time when the run has no max_run_duration_seconds (Slurm format)"},
      {"sbatch_args", "string", "", "extra sbatch arguments (split like a shell would)"},
      {"shared_folder", "string", "the workspace",
       "a folder the nodes see, where runs execute (default: the run's folder in the workspace)"},
      {"trainyard_bin", "string", "this trainyard", "trainyard's path on the nodes"},
      {"python", "string", "the resolved interpreter", "the Python interpreter on the nodes"},
      {"tracking_address", "string", "this host's name",
       "the address ranks use to reach this machine (the run's tracking endpoint)"},
      {"max_concurrent_runs", "int", "100", "runs submitted to Slurm at once"},
      {"gpus_per_node", "int", "unchecked", "GPUs per node, to refuse larger requests early"},
      {"max_processes", "int", "4096",
       "processes one run may have (nodes x processes per node); larger runs are refused"},
  };
}

Result<std::unique_ptr<Target>> SlurmTarget::Create(const std::string& name,
                                                    const nlohmann::json& c) {
  std::unique_ptr<SlurmTarget> t(new SlurmTarget());
  t->name_ = name;
  t->partition_ = c.value("partition", "");
  t->account_ = c.value("account", "");
  t->qos_ = c.value("qos", "");
  t->time_limit_ = c.value("time_limit", "");
  if (std::string extra = c.value("sbatch_args", ""); !extra.empty()) {
    ASSIGN_OR_RETURN(t->sbatch_args_, spec::SplitCommand(extra));
  }
  t->shared_folder_ = c.value("shared_folder", "");
  t->trainyard_bin_ = c.value("trainyard_bin", "");
  t->python_ = c.value("python", "");
  t->tracking_address_ = c.value("tracking_address", HostName());
  t->max_concurrent_runs_ = c.value("max_concurrent_runs", 100);
  t->gpus_per_node_ = c.value("gpus_per_node", -1);
  return std::unique_ptr<Target>(std::move(t));
}

Status SlurmTarget::Check(const spec::JobSpec& spec) const {
  if (FindOnPath("sbatch").empty()) {
    return InvalidArgument("compute_target: target \"" + name_ +
                           "\" is a Slurm cluster, but sbatch is not on PATH here (Debian: "
                           "apt-get install slurm-client)");
  }
  if (spec.use_gpu && gpus_per_node_ >= 0 && spec.process_count_per_node > gpus_per_node_) {
    return InvalidArgument(
        "process_count_per_node: " + std::to_string(spec.process_count_per_node) +
        " processes each need a GPU, but the nodes of target \"" + name_ + "\" have " +
        std::to_string(gpus_per_node_));
  }
  return Status::Ok();
}

Result<LaunchPlan> SlurmTarget::Plan(const spec::JobSpec& spec, const PlanContext& given) const {
  PlanContext ctx = given;
  if (!python_.empty()) ctx.interpreter = python_;
  if (!trainyard_bin_.empty()) ctx.trainyard_exe = trainyard_bin_;
  LaunchPlan plan;
  plan.target = name_;
  plan.type = "slurm";
  plan.world_size = static_cast<int>(spec.TotalProcesses());  // at most max_processes
  plan.tracking_address = tracking_address_;
  if (!shared_folder_.empty()) {
    plan.staging.mode = "shared";
    plan.staging.dir = shared_folder_ + "/" + ctx.run_id + "/work";
    ctx.work_dir = plan.staging.dir;
  }
  // The nodes see the run's folder, so they see the workspace (or the shared folder): the
  // environment is built once there before the job is submitted.
  PlaceEnvironment((shared_folder_.empty() ? ctx.workspace_dir : shared_folder_) + "/envs", &ctx,
                   &plan);
  ASSIGN_OR_RETURN(auto program, ProgramArgv(spec, ctx));
  auto env = BaseEnvironment(spec, ctx);
  int port = ctx.master_port ? ctx.master_port : PickFreePort();
  env["MASTER_PORT"] = std::to_string(port);
  bool user_threads = false;
  for (const auto& [k, v] : spec.environment_variables) user_threads |= k == "OMP_NUM_THREADS";
  if (spec.use_gpu) env["TRAINYARD_GPU_PER_RANK"] = "1";

  std::string s = "#!/bin/bash\n";
  auto sb = [&s](const std::string& opt) { s += "#SBATCH " + opt + "\n"; };
  sb("--job-name=" + ShellQuote("trainyard-" + ctx.run_id));
  sb("--nodes=" + std::to_string(spec.node_count));
  sb("--ntasks-per-node=" + std::to_string(spec.process_count_per_node));
  sb("--chdir=" + ShellQuote(ctx.work_dir));
  sb("--output=" + ShellQuote(ctx.run_dir + "/slurm.out"));
  sb("--error=" + ShellQuote(ctx.run_dir + "/slurm.err"));
  // A lost node fails the run instead of silently starting it again later.
  sb("--no-requeue");
  if (spec.max_run_duration_seconds > 0) {
    sb("--time=" + SlurmTime(spec.max_run_duration_seconds));
  } else if (!time_limit_.empty()) {
    sb("--time=" + ShellQuote(time_limit_));
  }
  if (!partition_.empty()) sb("--partition=" + ShellQuote(partition_));
  if (!account_.empty()) sb("--account=" + ShellQuote(account_));
  if (!qos_.empty()) sb("--qos=" + ShellQuote(qos_));
  if (spec.use_gpu) sb("--gres=gpu:" + std::to_string(spec.process_count_per_node));
  s += "set -u\n";
  // The tracking endpoint's address and token come from sbatch's own environment (Slurm exports
  // it to the job), so the token is never written to a file.
  env.erase("TRAINYARD_TRACKING_URI");
  env.erase("TRAINYARD_TRACKING_TOKEN");
  for (const auto& [k, v] : env) s += "export " + k + "=" + ShellQuote(v) + "\n";
  s += "export MASTER_ADDR=\"$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)\"\n";
  if (!user_threads) {
    s += "export OMP_NUM_THREADS=$(( $(nproc) / " + std::to_string(spec.process_count_per_node) +
         " > 0 ? $(nproc) / " + std::to_string(spec.process_count_per_node) + " : 1 ))\n";
  }
  std::vector<std::string> srun = {"srun", "--kill-on-bad-exit=1", "--label"};
  srun.push_back(spec.distributed_backend == "mpi" ? "--mpi=pmix" : "--mpi=none");
  srun.insert(srun.end(), {ctx.trainyard_exe, "rank-exec", "--"});
  srun.insert(srun.end(), program.begin(), program.end());
  std::vector<std::string> quoted;
  for (const auto& w : srun) quoted.push_back(ShellQuote(w));
  s += "exec " + Join(quoted, " ") + "\n";
  plan.batch_script = s;

  ProcessSpec submit;
  submit.argv = {"sbatch", "--parsable"};
  submit.argv.insert(submit.argv.end(), sbatch_args_.begin(), sbatch_args_.end());
  submit.argv.push_back(ctx.run_dir + "/job.sbatch");
  submit.cwd = ctx.run_dir;
  plan.processes.push_back(std::move(submit));
  plan.notes.push_back("the run's folder " + ctx.run_dir +
                       " must be visible on the nodes (shared file system)");
  return plan;
}

}  // namespace trainyard::targets
