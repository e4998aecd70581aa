// trainyard show RUN [--json]
#include <cstdio>
#include <cstdlib>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/strings.h"
#include "targets/launch_plan.h"

namespace trainyard::cli {

namespace {

struct ShowFlags {
  std::string run;
  bool json = false;
};

Status Show(Context& ctx, const ShowFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(f.run));
  nlohmann::json j = RunToJson(ws, run, true);
  if (f.json) {
    std::printf("%s\n", JsonText(j).c_str());
    return Status::Ok();
  }
  bool c = ctx.stdout_tty;
  auto line = [&](const std::string& k, const std::string& v) {
    if (!v.empty()) std::printf("%s %s\n", Colour(k + ":", "1", c).c_str(), v.c_str());
  };
  line("run", run.id);
  line("experiment", run.experiment);
  line("name", run.display_name);
  if (j["properties"].contains("description")) {
    line("description", j["properties"]["description"].get<std::string>());
  }
  std::string st = StatusColoured(store::RunStatusName(run.status), c);
  if (!run.status_detail.empty()) st += " (" + run.status_detail + ")";
  line("status", st);
  line("target", run.target);
  if (!run.parent_id.empty()) {  // a sweep's trial
    line("sweep", run.parent_id + (run.trial_index ? ", trial " + std::to_string(*run.trial_index)
                                                   : std::string()));
    std::vector<std::string> params;
    const nlohmann::ordered_json values = runner::TrialParameters(run);
    for (const auto& [k, v] : values.items()) {
      params.push_back(k + "=" + ShellQuote(v.get<std::string>()));
    }
    line("parameters", Join(params, " "));
  }
  line("created", FormatLocal(run.created_at));
  if (run.started_at) line("started", FormatLocal(*run.started_at));
  if (run.ended_at) line("ended", FormatLocal(*run.ended_at));
  if (j.contains("duration_seconds")) {
    line("duration",
         FormatDuration(static_cast<int64_t>(j["duration_seconds"].get<double>() * 1e6)));
  }
  if (run.exit_code) line("exit code", std::to_string(*run.exit_code));
  if (run.failed_rank) {
    std::string where = std::to_string(*run.failed_rank);
    if (j["properties"].contains("failed_host")) {
      where += " on " + j["properties"]["failed_host"].get<std::string>();
    }
    line("failed rank", Colour(where, "31;1", c));
  }
  std::vector<std::string> argv;
  for (const auto& a : j["argv"]) {  // bytes that are not UTF-8 as $'\xff'
    auto bytes = targets::BytesFromJson(a);
    argv.push_back(bytes.ok() ? ShellQuote(*bytes) : "?");
  }
  line("argv", Join(argv, " "));
  line("interpreter",
       run.interpreter.empty() ? "" : run.interpreter + " (torch " + run.torch_version + ")");
  if (const auto& props = j["properties"]; props.contains("build_hash")) {  // C++ entries
    auto prop = [&](const char* k) { return props.value(k, std::string()); };
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f s", std::atof(prop("build_seconds").c_str()));
    line("build", prop("build_kind") + " " + prop("build_hash").substr(0, 12) + ", cache " +
                      prop("build_cache") + ", built in " + secs +
                      (prop("build_incremental") == "true" ? " (incremental)" : "") + "; " +
                      prop("build_toolchain"));
  }
  const auto& s = j["snapshot"];
  if (s.contains("files")) {
    std::string snap = s["id"].get<std::string>().substr(0, 12) + ", " +
                       std::to_string(s["files"].get<int64_t>()) + " files, " +
                       HumanBytes(s["bytes"].get<uint64_t>()) + ", from " +
                       s["source_dir"].get<std::string>();
    if (s["git_commit"].is_string()) {
      snap += ", git " + s["git_commit"].get<std::string>().substr(0, 12) +
              (s["git_dirty"].get<bool>() ? " (dirty)" : "");
    }
    line("snapshot", snap);
  }
  if (auto tags = ws->Tags(run.id); tags.ok()) {  // an old workspace may hold odd bytes: \xff
    for (const auto& [k, v] : *tags) line("tag", EscapeBytes(k) + "=" + EscapeBytes(v));
  }
  line("folder", j["run_dir"].get<std::string>());
  if (!run.error.empty()) {
    std::printf("%s\n%s\n", Colour("error:", "31;1", c).c_str(), run.error.c_str());
  }
  return Status::Ok();
}

}  // namespace

void RegisterShow(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<ShowFlags>();
  CLI::App* cmd = app.add_subcommand("show", "show everything about a run");
  cmd->add_option("run", f->run, "run id (or a unique prefix)")->required();
  cmd->add_flag("--json", f->json, "machine-readable output");
  OnRun(cmd, ctx, [&ctx, f] { return Show(ctx, *f); });
}

}  // namespace trainyard::cli
