// trainyard list [--experiment NAME] [--status STATUS] [--sweep ID | --all] [--limit N] [--json]
// A sweep's trials are hidden unless --sweep (that sweep's) or --all asks for them.
#include <cstdio>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/strings.h"

namespace trainyard::cli {

namespace {

struct ListFlags {
  std::string experiment, status, sweep;
  int limit = 20;
  bool json = false, all = false;
};

Status List(Context& ctx, const ListFlags& f) {
  RETURN_IF_ERROR(CheckUtf8("--experiment", f.experiment));
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  store::RunFilter filter;
  filter.experiment = f.experiment;
  filter.limit = f.limit;
  if (!f.sweep.empty()) {
    ASSIGN_OR_RETURN(store::RunRecord sweep, ws->GetRun(f.sweep));
    if (sweep.kind != "sweep") {
      return InvalidArgument("--sweep: run " + sweep.id + " is not a sweep");
    }
    filter.parent = sweep.id;
  } else if (!f.all) {
    filter.parent = "";  // runs and sweeps, not the sweeps' trials
  }
  if (!f.status.empty()) {
    filter.status = store::ParseRunStatus(f.status);
    if (!filter.status) {
      return InvalidArgument(
          "--status: unknown status \"" + EscapeBytes(f.status) +
          "\" (one of Queued, "
          "Preparing, Starting, Running, Finalizing, Completed, Failed, Canceled, "
          "CancelRequested)");
    }
  }
  ASSIGN_OR_RETURN(std::vector<store::RunRecord> runs, ws->ListRuns(filter));
  if (f.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : runs) arr.push_back(RunToJson(ws, r, false));
    std::printf("%s\n", JsonText(arr).c_str());
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : runs) {
    std::string dur;
    if (r.started_at) dur = FormatDuration(r.ended_at.value_or(NowMicros()) - *r.started_at);
    std::string detail = r.status_detail.empty() ? "" : " (" + r.status_detail + ")";
    std::string kind = r.kind;
    if (r.trial_index) kind = "trial " + std::to_string(*r.trial_index);
    rows.push_back({r.id, kind, r.experiment,
                    StatusColoured(store::RunStatusName(r.status), ctx.stdout_tty) + detail,
                    FormatLocal(r.created_at), dur, r.target});
  }
  if (rows.empty()) {
    if (!f.sweep.empty()) {
      std::printf("no trials yet\n");
    } else {
      std::printf("no runs yet (submit one with: trainyard submit job.yaml)\n");
    }
    return Status::Ok();
  }
  PrintTable({"RUN", "KIND", "EXPERIMENT", "STATUS", "CREATED", "DURATION", "TARGET"}, rows,
             ctx.stdout_tty);
  return Status::Ok();
}

}  // namespace

void RegisterList(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<ListFlags>();
  CLI::App* cmd = app.add_subcommand("list", "list runs, newest first");
  cmd->add_option("--experiment", f->experiment, "only runs of this experiment");
  cmd->add_option("--status", f->status, "only runs with this status (e.g. Running, Failed)");
  auto* sweep =
      cmd->add_option("--sweep", f->sweep, "only the trials of this sweep (run id or prefix)");
  cmd->add_flag("--all", f->all, "also the sweeps' trials (hidden by default)")->excludes(sweep);
  cmd->add_option("--limit", f->limit, "at most N runs (0: all)")->capture_default_str();
  cmd->add_flag("--json", f->json, "machine-readable output");
  OnRun(cmd, ctx, [&ctx, f] { return List(ctx, *f); });
}

}  // namespace trainyard::cli
