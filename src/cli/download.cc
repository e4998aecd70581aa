// trainyard download RUN [PATH] [-o DIR]
#include <cstdio>
#include <filesystem>

#include "cli/cli.h"
#include "common/files.h"
#include "common/strings.h"

namespace trainyard::cli {

void RegisterDownload(CLI::App& app, Context& ctx) {
  struct Flags {
    std::string run, path, out = ".";
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "download", "copy a run's files (all, one file, or a folder such as outputs) to a folder");
  cmd->add_option("run", f->run, "run id (or a unique prefix)")->required();
  cmd->add_option("path", f->path, "a file or folder of the run (see: trainyard files RUN)");
  cmd->add_option("-o,--output", f->out, "destination folder (default: current folder)");
  cmd->callback([&ctx, f] {
    namespace fs = std::filesystem;
    auto ws = ctx.Workspace();
    if (!ws.ok()) return void(ctx.exit_code = Fail(ws.status()));
    auto run = (*ws)->GetRun(f->run);
    if (!run.ok()) return void(ctx.exit_code = Fail(run.status()));
    auto files = (*ws)->Files(run->id);
    if (!files.ok()) return void(ctx.exit_code = Fail(files.status()));
    std::string prefix = f->path;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    int copied = 0;
    uint64_t bytes = 0;
    std::string src_root = (*ws)->RunDir(run->id);
    for (const auto& fr : *files) {
      if (!prefix.empty() && fr.path != prefix && !StartsWith(fr.path, prefix + "/")) continue;
      std::string dest = f->out + "/" + fr.path;
      Status s = MakeDirs(fs::path(dest).parent_path().string());
      if (s.ok()) s = CopyFile(src_root + "/" + fr.path, dest);
      if (!s.ok()) return void(ctx.exit_code = Fail(s));
      ++copied;
      bytes += static_cast<uint64_t>(fr.size);
    }
    if (copied == 0) {
      return void(ctx.exit_code = Fail(NotFound(
                      prefix.empty() ? "run " + run->id + " has no files"
                                     : "run " + run->id + " has no file or folder \"" + prefix +
                                           "\" (see: trainyard files " + run->id + ")")));
    }
    std::printf("downloaded %d file%s (%s) to %s\n", copied, copied == 1 ? "" : "s",
                HumanBytes(bytes).c_str(), f->out.c_str());
  });
}

}  // namespace trainyard::cli
