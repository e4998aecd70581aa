// trainyard cancel RUN
#include <cstdio>

#include "cli/cli.h"
#include "runner/runner.h"

namespace trainyard::cli {

namespace {

Status Cancel(Context& ctx, const std::string& run_id) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::RunRecord run, runner::Cancel(ws, run_id));
  std::printf("%s %s\n", run.id.c_str(),
              StatusColoured(store::RunStatusName(run.status), ctx.stdout_tty).c_str());
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
