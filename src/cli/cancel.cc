// trainyard cancel RUN
#include <cstdio>

#include "cli/cli.h"
#include "runner/runner.h"

namespace trainyard::cli {

void RegisterCancel(CLI::App& app, Context& ctx) {
  auto run_id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "cancel", "cancel a run: stops all of its processes, including ones the script started");
  cmd->add_option("run", *run_id, "run id (or a unique prefix)")->required();
  cmd->callback([&ctx, run_id] {
    auto ws = ctx.Workspace();
    if (!ws.ok()) return void(ctx.exit_code = Fail(ws.status()));
    auto run = runner::Cancel(*ws, *run_id);
    if (!run.ok()) return void(ctx.exit_code = Fail(run.status()));
    std::printf("%s %s\n", run->id.c_str(),
                StatusColoured(store::RunStatusName(run->status), ctx.stdout_tty).c_str());
  });
}

}  // namespace trainyard::cli
