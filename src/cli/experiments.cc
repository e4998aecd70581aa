// trainyard experiments [--json]
#include <cstdio>

#include "cli/cli.h"
#include "common/clock.h"

namespace trainyard::cli {

namespace {

Status Experiments(Context& ctx, bool json) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(std::vector<store::ExperimentSummary> exps, ws->ListExperiments());
  if (json) {
    ASSIGN_OR_RETURN(nlohmann::json arr, runner::ExperimentsToJson(ws));
    std::printf("%s\n", JsonText(arr).c_str());
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : exps) {
    rows.push_back({e.name, std::to_string(e.runs), std::to_string(e.active),
                    e.last_run_at ? FormatLocal(*e.last_run_at) : "-"});
  }
  if (rows.empty()) {
    std::printf("no experiments yet\n");
    return Status::Ok();
  }
  PrintTable({"EXPERIMENT", "RUNS", "ACTIVE", "LAST RUN"}, rows, ctx.stdout_tty);
  return Status::Ok();
}

}  // namespace

void RegisterExperiments(CLI::App& app, Context& ctx) {
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("experiments", "list experiments and their runs");
  cmd->add_flag("--json", *json, "machine-readable output");
  OnRun(cmd, ctx, [&ctx, json] { return Experiments(ctx, *json); });
}

}  // namespace trainyard::cli
