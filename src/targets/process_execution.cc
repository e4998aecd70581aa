// The execution of "local" and "mpi" plans: the plan's processes (ranks, or one mpirun that starts
// them) run as a ProcessGroup of the supervisor. "copy" staging brings the code to the hosts
// before and outputs/ back after.
#include "targets/process_execution.h"

#include <cstdlib>

#include "common/process.h"
#include "targets/staging.h"

namespace trainyard::targets {

namespace {

constexpr int kStopGraceMs = 3000;     // cancel, timeout: time to save a checkpoint
constexpr int kFailureGraceMs = 1000;  // after a rank failed

// mpirun's words when a host's daemon died or could not be reached.
bool MpirunLostAHost(const std::deque<std::string>& lines) {
  for (const auto& l : lines) {
    if (l.find("lost communication with a remote daemon") != std::string::npos ||
        l.find("unable to reliably start one or more daemons") != std::string::npos ||
        l.find("daemon on the node") != std::string::npos) {
      return true;
    }
  }
  return false;
}

class ProcessExecution : public Execution {
 public:
  ProcessExecution(LaunchPlan plan, ExecutionContext ctx)
      : plan_(std::move(plan)), ctx_(std::move(ctx)) {}

  Status Stage() override {
    if (plan_.staging.mode != "copy") return Status::Ok();
    return PushCode(plan_.staging, ctx_.work_dir);
  }

  Status Start(const std::map<std::string, std::string>& env) override {
    LaunchPlan plan = plan_;
    for (auto& p : plan.processes) {
      for (const auto& [k, v] : env) p.env[k] = v;
    }
    Status started = group_.Start(plan, ctx_.run_dir + "/logs");
    if (!started.ok()) {
      group_.Stop(0);
      ended_ = true;
    }
    return started;
  }

  ExecutionState Poll(int timeout_ms) override {
    // The ranks run from Start on; say so once even when they are gone by the first look.
    if (!reported_running_ && !ended_) {
      reported_running_ = true;
      return {ExecutionState::Phase::kRunning, ""};
    }
    if (ended_) return {ExecutionState::Phase::kEnded, ""};
    for (const RankExit& e : group_.Poll(timeout_ms)) {
      last_exit_code_ = e.exit_code;
      if (e.exit_code != 0 && !first_failure_) first_failure_ = e;
    }
    if (first_failure_) {
      group_.Stop(kFailureGraceMs);  // the other ranks, and anything the ranks started
      ended_ = true;
    } else if (group_.AllExited()) {
      group_.Stop(kStopGraceMs);  // what the ranks left behind
      ended_ = true;
    }
    return {ended_ ? ExecutionState::Phase::kEnded : ExecutionState::Phase::kRunning, ""};
  }

  void Cancel() override {
    if (ended_) return;
    group_.Stop(kStopGraceMs);
    ended_ = true;
  }

  Status Collect() override {
    group_.CloseLogs();
    if (plan_.staging.mode != "copy") return Status::Ok();
    Status fetched = FetchOutputs(plan_.staging, ctx_.work_dir);
    CleanRemote(plan_.staging);
    return fetched;
  }

  ExecutionOutcome Outcome() const override {
    ExecutionOutcome out;
    if (!first_failure_) {
      out.succeeded = true;
      out.exit_code = last_exit_code_;
      return out;
    }
    RankExit culprit = *first_failure_;
    std::deque<std::string> launcher = group_.LauncherTail();
    std::string host = plan_.type == "local" ? HostName() : "";
    // Under mpirun the failing process is mpirun itself; it names the rank that failed first,
    // unless a host (its daemon) was lost.
    bool named = !launcher.empty() && ParseMpirunCulprit(launcher, &culprit, &host);
    bool launcher_failed = !launcher.empty() && !named;
    out.failed_host = host;
    out.exit_code = culprit.exit_code;
    if (!launcher_failed) out.failed_rank = culprit.rank;
    std::string how = culprit.signaled
                          ? "was killed by signal " + std::to_string(culprit.exit_code - 128)
                          : "exited with code " + std::to_string(culprit.exit_code);
    std::string who =
        launcher_failed
            ? std::string(MpirunLostAHost(launcher) ? "a host was lost or unreachable: " : "") +
                  "mpirun "
            : (plan_.world_size > 1 ? "rank " + std::to_string(culprit.rank) + " "
                                    : "the script ") +
                  (host.empty() ? "" : "on " + host + " ");
    out.error = FailureReport(who + how, group_.StderrTail(culprit.rank), launcher);
    return out;
  }

 private:
  LaunchPlan plan_;
  ExecutionContext ctx_;
  ProcessGroup group_;
  std::optional<RankExit> first_failure_;
  int last_exit_code_ = 0;
  bool reported_running_ = false;
  bool ended_ = false;
};

}  // namespace

bool ParseMpirunCulprit(const std::deque<std::string>& lines, RankExit* culprit,
                        std::string* host) {
  bool named = false;
  for (const auto& l : lines) {
    if (size_t n = l.find(" on node "); n != std::string::npos) {
      size_t from = n + 9, to = l.find(' ', from);
      *host = l.substr(from, to == std::string::npos ? std::string::npos : to - from);
    }
    size_t p = l.find("Process name: [[");
    if (p != std::string::npos) {
      size_t comma = l.find("],", p);
      if (comma != std::string::npos) {
        culprit->rank = std::atoi(l.c_str() + comma + 2);
        named = true;
      }
    }
    p = l.find("Exit code:");
    if (p != std::string::npos) {
      culprit->exit_code = std::atoi(l.c_str() + p + 10);
      culprit->signaled = false;
    }
    p = l.find("exited on signal ");
    if (p != std::string::npos) {
      size_t rank_at = l.find("rank ");
      if (rank_at != std::string::npos) {
        culprit->rank = std::atoi(l.c_str() + rank_at + 5);
        named = true;
      }
      culprit->exit_code = 128 + std::atoi(l.c_str() + p + 17);
      culprit->signaled = true;
    }
  }
  return named;
}

std::unique_ptr<Execution> MakeProcessExecution(const LaunchPlan& plan,
                                                const ExecutionContext& ctx) {
  return std::make_unique<ProcessExecution>(plan, ctx);
}

}  // namespace trainyard::targets
