// Execution: what a target does with a LaunchPlan once the run holds a slot. One interface for
// every target type (a local process group, one mpirun over a host list, a Slurm job), so the
// supervisor has one watch loop:
//
//   Stage() -> Start(env) -> Poll()... until kEnded [Cancel() at any point] -> Collect() ->
//   Outcome()
//
// Poll also moves new output into the per-rank logs (<run dir>/logs/rank-R.log). An execution
// stops the whole gang by itself when one rank fails (fail fast); Cancel() stops it on request
// (cancel, timeout). Not thread-safe: driven by the supervisor's one thread.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "targets/launch_plan.h"

namespace trainyard::targets {

struct ExecutionContext {
  std::string run_dir;   // <workspace>/runs/<id>; logs go to <run_dir>/logs
  std::string work_dir;  // where the ranks' outputs/ lands on this machine
  // Records a fact about the run as a run property ("slurm_job_id").
  std::function<void(const std::string& key, const std::string& value)> set_property;
};

struct ExecutionState {
  enum class Phase {
    kPending,  // submitted, not running yet (a Slurm job waiting for nodes)
    kRunning,  // the ranks run (time limits count from the first kRunning)
    kEnded,    // every process is gone (or the job has left the scheduler)
  };
  Phase phase = Phase::kPending;
  std::string detail;  // while pending: "Slurm job 12 PENDING (Resources)"
};

// How an ended execution went. `error` holds the reason with the failing rank's last stderr lines
// (and the launcher's), ready to store; empty on success.
struct ExecutionOutcome {
  bool succeeded = false;
  std::optional<int> exit_code;    // of the failing rank (or the job), 0 on success
  std::optional<int> failed_rank;  // unset when no rank is to blame (a lost host, the launcher)
  std::string failed_host;         // where it failed, when known
  std::string error;
};

class Execution {
 public:
  virtual ~Execution() = default;
  // Brings the run's code to the hosts that run it, when they do not see this machine's work
  // folder. Called while Preparing, before package environments are built on those hosts.
  virtual Status Stage() { return Status::Ok(); }
  // Starts the ranks (or submits the job); `env` is added to every rank's environment. On an
  // error nothing of the run is left running.
  virtual Status Start(const std::map<std::string, std::string>& env) = 0;
  // Waits up to `timeout_ms` for progress, moves new output into the logs, and says where the
  // run stands. An execution whose ranks started says kRunning at least once before kEnded.
  virtual ExecutionState Poll(int timeout_ms) = 0;
  // Stops every process of the run; Poll reports kEnded once they are gone.
  virtual void Cancel() = 0;
  // After kEnded (or a failed Start): closes the logs, brings outputs/ back into work_dir and
  // removes what the run left on other hosts.
  virtual Status Collect() = 0;
  // After kEnded.
  virtual ExecutionOutcome Outcome() const = 0;
};

// The execution for a plan of any target type ("local", "mpi": a process group; "slurm": a
// Slurm job). Plans are complete: everything the execution needs was rendered at submit time.
Result<std::unique_ptr<Execution>> MakeExecution(const LaunchPlan& plan,
                                                 const ExecutionContext& ctx);

// The readable failure: `headline`, then the failing rank's last stderr lines and the launcher's.
std::string FailureReport(const std::string& headline, const std::deque<std::string>& err_tail,
                          const std::deque<std::string>& launcher_tail);

}  // namespace trainyard::targets
