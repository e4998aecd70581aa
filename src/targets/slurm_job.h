// Following one Slurm job for the supervisor: submit the rendered batch script with sbatch, read
// its state with scontrol, split its labelled output (srun --label, in <run dir>/slurm.out and
// slurm.err on the shared file system) into per-rank logs, and cancel it with scancel.
// Not thread-safe; used by the supervisor's thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>

#include "common/status.h"
#include "targets/execution.h"
#include "targets/launch_plan.h"
#include "targets/log_capture.h"

namespace trainyard::targets {

struct SlurmState {
  std::string state;   // PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL, ...
  std::string reason;  // Slurm's Reason field ("None" when none)
  int exit_code = 0;   // of the batch script (ExitCode=code:signal)
  int signal = 0;
  bool terminal = false;
};

// Parses `scontrol show job -o` output.
SlurmState ParseScontrol(const std::string& text);

// Reads "srun: error: h2: task 3: Exited with exit code 3" / "task 3: Killed" from srun's
// messages: the first failing task, its host and exit code (128+9 for Killed). False when none.
bool ParseSrunCulprit(const std::deque<std::string>& lines, int* task, int* exit_code,
                      std::string* host);

class SlurmJob {
 public:
  SlurmJob(std::string run_dir, std::string log_dir);

  // Writes the batch script and submits it with the plan's sbatch argv; `env` is added to
  // sbatch's environment (Slurm exports it to the job). Returns the job id.
  Result<std::string> Submit(const LaunchPlan& plan, const std::map<std::string, std::string>& env);
  Result<SlurmState> Poll();
  Status Cancel();
  // Moves new output from slurm.out / slurm.err into the per-rank logs.
  void PumpLogs();
  void CloseLogs() { demux_.Close(); }
  const TaggedDemux& demux() const { return demux_; }
  const std::string& job_id() const { return job_id_; }

 private:
  std::string run_dir_;
  std::string job_id_;
  TaggedDemux demux_;
  int64_t offsets_[2] = {0, 0};
};

// The execution of "slurm" plans (targets/execution.h): sbatch, scontrol every 0.3 s, scancel.
std::unique_ptr<Execution> MakeSlurmExecution(const LaunchPlan& plan, const ExecutionContext& ctx);

}  // namespace trainyard::targets
