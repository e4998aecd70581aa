// trainyard cancel RUN
#include <cstdio>

#include "cli/cli.h"
#include "common/process.h"
#include "runner/runner.h"

namespace trainyard::cli {

namespace {

Status Cancel(Context& ctx, const std::string& run_id) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::RunRecord run, runner::Cancel(ws, run_id));
  std::printf("%s %s\n", run.id.c_str(),
              StatusColoured(store::RunStatusName(run.status), ctx.stdout_tty).c_str());
  std::fflush(stdout);
  // What is still running on this machine: a supervisor that was killed stops nothing. Every
  // process of a run (ranks, mpirun, rank-exec, what they started) carries TRAINYARD_RUN_ID.
  StopReport left = StopProcessesWithEnvironment("TRAINYARD_RUN_ID=" + run.id, 3000);
  auto list = [](const std::vector<std::pair<pid_t, std::string>>& procs) {
    std::string out;
    for (const auto& [pid, what] : procs) {
      out += (out.empty() ? "" : ", ") + std::to_string(pid) + " (" + what + ")";
    }
    return out;
  };
  if (!left.stopped.empty()) {
    std::fprintf(stderr, "stopped %zu process%s of run %s that %s still running: %s\n",
                 left.stopped.size(), left.stopped.size() == 1 ? "" : "es", run.id.c_str(),
                 left.stopped.size() == 1 ? "was" : "were", list(left.stopped).c_str());
  }
  if (!left.failed.empty()) {
    return FailedPrecondition("could not stop " + std::to_string(left.failed.size()) +
                              " process(es) of run " + run.id + ": " + list(left.failed));
  }
  return Status::Ok();
}

}  // namespace

void RegisterCancel(CLI::App& app, Context& ctx) {
  auto run_id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "cancel", "cancel a run: stops all of its processes, including ones the script started");
  cmd->add_option("run", *run_id, "run id (or a unique prefix)")->required();
  OnRun(cmd, ctx, [&ctx, run_id] { return Cancel(ctx, *run_id); });
}

}  // namespace trainyard::cli
