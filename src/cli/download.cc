// trainyard download RUN [PATH] [-o DIR]
#include <cstdio>
#include <filesystem>

#include "cli/cli.h"
#include "common/files.h"
#include "common/strings.h"

namespace trainyard::cli {

namespace {

struct DownloadFlags {
  std::string run, path, out = ".";
};

Status Download(Context& ctx, const DownloadFlags& f) {
  namespace fs = std::filesystem;
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(f.run));
  ASSIGN_OR_RETURN(std::vector<store::FileRecord> files, ws->Files(run.id));
  std::string prefix = f.path;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  int copied = 0;
  uint64_t bytes = 0;
  std::string src_root = ws->RunDir(run.id);
  for (const auto& fr : files) {
    if (!prefix.empty() && fr.path != prefix && !StartsWith(fr.path, prefix + "/")) continue;
    std::string dest = f.out + "/" + fr.path;
    RETURN_IF_ERROR(MakeDirs(fs::path(dest).parent_path().string()));
    RETURN_IF_ERROR(CopyFile(src_root + "/" + fr.path, dest));
    ++copied;
    bytes += static_cast<uint64_t>(fr.size);
  }
  if (copied == 0) {
    return NotFound(prefix.empty() ? "run " + run.id + " has no files"
                                   : "run " + run.id + " has no file or folder \"" + prefix +
                                         "\" (see: trainyard files " + run.id + ")");
  }
  std::printf("downloaded %d file%s (%s) to %s\n", copied, copied == 1 ? "" : "s",
              HumanBytes(bytes).c_str(), f.out.c_str());
  return Status::Ok();
}

}  // namespace

void RegisterDownload(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<DownloadFlags>();
  CLI::App* cmd = app.add_subcommand(
      "download", "copy a run's files (all, one file, or a folder such as outputs) to a folder");
  cmd->add_option("run", f->run, "run id (or a unique prefix)")->required();
  cmd->add_option("path", f->path, "a file or folder of the run (see: trainyard files RUN)");
  cmd->add_option("-o,--output", f->out, "destination folder (default: current folder)");
  OnRun(cmd, ctx, [&ctx, f] { return Download(ctx, *f); });
}

}  // namespace trainyard::cli
