// trainyard files RUN
#include <cstdio>

#include "cli/cli.h"
#include "common/strings.h"

namespace trainyard::cli {

namespace {

struct FilesFlags {
  std::string run;
  bool json = false;
};

Status Files(Context& ctx, const FilesFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(f.run));
  ASSIGN_OR_RETURN(std::vector<store::FileRecord> files, ws->Files(run.id));
  if (f.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& fr : files) arr.push_back({{"path", fr.path}, {"size", fr.size}});
    std::printf("%s\n", JsonText(arr).c_str());
    return Status::Ok();
  }
  if (files.empty() && !store::IsTerminal(run.status)) {
    std::printf("(files are listed when the run ends; it is %s)\n",
                store::RunStatusName(run.status));
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& fr : files)
    rows.push_back({HumanBytes(static_cast<uint64_t>(fr.size)), fr.path});
  PrintTable({"SIZE", "PATH"}, rows, ctx.stdout_tty);
  return Status::Ok();
}

}  // namespace

void RegisterFiles(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<FilesFlags>();
  CLI::App* cmd = app.add_subcommand("files", "list a run's files (outputs/ and logs/)");
  cmd->add_option("run", f->run, "run id (or a unique prefix)")->required();
  cmd->add_flag("--json", f->json, "machine-readable output");
  OnRun(cmd, ctx, [&ctx, f] { return Files(ctx, *f); });
}

}  // namespace trainyard::cli
