// trainyard cancel RUN   (a sweep: its controller stops and every active trial is canceled)
#include <cstdio>

#include "cli/cli.h"
#include "common/process.h"
#include "runner/runner.h"
#include "runner/sweep.h"

namespace trainyard::cli {

namespace {

// What is still running on this machine of run `id`: a supervisor that was killed stops
// nothing. Every process of a run (ranks, mpirun, rank-exec, what they started) carries
// TRAINYARD_RUN_ID.
Status StopLeftovers(const std::string& id) {
  StopReport left = StopProcessesWithEnvironment("TRAINYARD_RUN_ID=" + id, 3000);
  auto list = [](const std::vector<std::pair<pid_t, std::string>>& procs) {
    std::string out;
    for (const auto& [pid, what] : procs) {
      out += (out.empty() ? "" : ", ") + std::to_string(pid) + " (" + what + ")";
    }
    return out;
  };
  if (!left.stopped.empty()) {
    std::fprintf(stderr, "stopped %zu process%s of run %s that %s still running: %s\n",
                 left.stopped.size(), left.stopped.size() == 1 ? "" : "es", id.c_str(),
                 left.stopped.size() == 1 ? "was" : "were", list(left.stopped).c_str());
  }
  if (!left.failed.empty()) {
    return FailedPrecondition("could not stop " + std::to_string(left.failed.size()) +
                              " process(es) of run " + id + ": " + list(left.failed));
  }
  return Status::Ok();
}

Status Cancel(Context& ctx, const std::string& run_id) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::RunRecord target, ws->GetRun(run_id));
  if (target.kind != "sweep") {
    ASSIGN_OR_RETURN(store::RunRecord run, runner::Cancel(ws, target.id));
    std::printf("%s %s\n", run.id.c_str(),
                StatusColoured(store::RunStatusName(run.status), ctx.stdout_tty).c_str());
    std::fflush(stdout);
    return StopLeftovers(run.id);
  }
  // A sweep: the trials active now are the ones whose processes may be left over afterwards.
  store::RunFilter children;
  children.parent = target.id;
  ASSIGN_OR_RETURN(std::vector<store::RunRecord> before, ws->ListRuns(children));
  ASSIGN_OR_RETURN(store::RunRecord run, runner::CancelSweep(ws, target.id));
  std::printf("%s %s\n", run.id.c_str(),
              StatusColoured(store::RunStatusName(run.status), ctx.stdout_tty).c_str());
  ASSIGN_OR_RETURN(std::vector<store::RunRecord> trials, ws->ListRuns(children));
  for (auto it = trials.rbegin(); it != trials.rend(); ++it) {  // by index
    std::printf("  trial %lld %s %s\n", static_cast<long long>(it->trial_index.value_or(-1)),
                it->id.c_str(),
                StatusColoured(store::RunStatusName(it->status), ctx.stdout_tty).c_str());
  }
  std::fflush(stdout);
  Status status = StopLeftovers(run.id);
  for (const auto& t : before) {
    if (store::IsTerminal(t.status)) continue;
    Status s = StopLeftovers(t.id);
    if (status.ok()) status = s;
  }
  return status;
}

}  // namespace

void RegisterCancel(CLI::App& app, Context& ctx) {
  auto run_id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "cancel",
      "cancel a run: stops all of its processes, including ones the script started; a sweep: "
      "stops creating trials and cancels every active one");
  cmd->add_option("run", *run_id, "run or sweep id (or a unique prefix)")->required();
  OnRun(cmd, ctx, [&ctx, run_id] { return Cancel(ctx, *run_id); });
}

}  // namespace trainyard::cli
