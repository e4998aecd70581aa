// trainyard supervise --workspace DIR RUN  (internal: the detached owner of one run)
#include "cli/cli.h"
#include "runner/runner.h"
#include "store/workspace.h"

namespace trainyard::cli {

void RegisterSupervise(CLI::App& app, Context& ctx) {
  auto run_id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("supervise", "(internal) supervise one run");
  cmd->group("");  // hidden from --help
  cmd->add_option("run", *run_id)->required();
  // The exit code is the supervisor's own (runner::Supervise).
  OnRun(cmd, ctx, [&ctx, run_id]() -> Result<int> {
    return runner::Supervise(store::ResolveWorkspaceDir(ctx.workspace_flag), *run_id);
  });
}

}  // namespace trainyard::cli
