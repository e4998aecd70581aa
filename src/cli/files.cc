// trainyard files RUN
#include <cstdio>

#include "cli/cli.h"
#include "common/strings.h"

namespace trainyard::cli {

void RegisterFiles(CLI::App& app, Context& ctx) {
  struct Flags {
    std::string run;
    bool json = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("files", "list a run's files (outputs/ and logs/)");
  cmd->add_option("run", f->run, "run id (or a unique prefix)")->required();
  cmd->add_flag("--json", f->json, "machine-readable output");
  cmd->callback([&ctx, f] {
    auto ws = ctx.Workspace();
    if (!ws.ok()) return void(ctx.exit_code = Fail(ws.status()));
    auto run = (*ws)->GetRun(f->run);
    if (!run.ok()) return void(ctx.exit_code = Fail(run.status()));
    auto files = (*ws)->Files(run->id);
    if (!files.ok()) return void(ctx.exit_code = Fail(files.status()));
    if (f->json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& fr : *files) arr.push_back({{"path", fr.path}, {"size", fr.size}});
      std::printf("%s\n", arr.dump(2).c_str());
      return;
    }
    if (files->empty() && !store::IsTerminal(run->status)) {
      std::printf("(files are listed when the run ends; it is %s)\n",
                  store::RunStatusName(run->status));
      return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& fr : *files)
      rows.push_back({HumanBytes(static_cast<uint64_t>(fr.size)), fr.path});
    PrintTable({"SIZE", "PATH"}, rows, ctx.stdout_tty);
  });
}

}  // namespace trainyard::cli
