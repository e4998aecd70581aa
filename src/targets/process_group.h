// The processes of one run on this machine: started from a LaunchPlan, watched together, and
// stopped together ("fail fast as a gang").
//
// The supervisor makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so every process a rank
// starts, even one that double-forks, stays in the supervisor's tree; Stop() kills that whole
// tree. Each process the plan names (a rank, or mpirun) also gets PR_SET_PDEATHSIG(SIGKILL), so
// it dies if the supervisor is killed. Ranks under mpirun are not its children here: each runs
// under `trainyard rank-exec`, which dies with its launcher (mpirun here, orted on a remote host,
// which ends when it loses mpirun) and stops everything under it (cli/rank_exec.cc). What a rank
// started in a new session outlives a killed supervisor; every process of a run carries
// TRAINYARD_RUN_ID in its environment, by which `trainyard cancel` finds and stops it.
// Not thread-safe; used by the supervisor's one thread.
#pragma once

#include <sys/types.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "targets/launch_plan.h"
#include "targets/log_capture.h"

namespace trainyard::targets {

struct RankExit {
  int index = 0;  // process index in the plan
  int rank = 0;
  int exit_code = 0;  // exit status, or 128 + signal
  bool signaled = false;
};

class ProcessGroup {
 public:
  ProcessGroup() = default;
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  // Makes the calling process a subreaper. Call once, before Start.
  static Status BecomeSubreaper();

  // Starts every process of the plan, logging rank i to <log_dir>/rank-<rank>.log. On failure
  // to start any, stops those started and returns the error.
  Status Start(const LaunchPlan& plan, const std::string& log_dir);

  // Waits up to `timeout_ms` for output or exits, captures output, and returns processes that
  // exited since the last call, in the order seen.
  std::vector<RankExit> Poll(int timeout_ms);

  bool AllExited() const;
  // Sends SIGTERM to every descendant of this process, waits up to `grace_ms`, then SIGKILLs
  // what is left, until no descendant remains; drains remaining output.
  void Stop(int grace_ms);
  // Flushes and closes the logs.
  void CloseLogs();

  // The last stderr lines of a rank (found in whichever process's output carried it).
  std::deque<std::string> StderrTail(int rank) const;
  // The last lines a launcher (mpirun) wrote itself, both streams; empty without a launcher.
  std::deque<std::string> LauncherTail() const;
  size_t size() const { return procs_.size(); }

 private:
  struct Proc {
    pid_t pid = -1;
    int rank = 0;
    int fds[2] = {-1, -1};
    std::unique_ptr<RankLog> log;        // a plain rank
    std::unique_ptr<TaggedDemux> demux;  // or a launcher whose output names ranks
    bool exited = false;
  };
  void Drain(Proc& p, int stream);
  void ReapChildren(std::vector<RankExit>* exits);

  std::vector<Proc> procs_;
};

}  // namespace trainyard::targets
