// trainyard download RUN [PATH] [-o DIR]
#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "cli/cli.h"
#include "common/files.h"
#include "common/strings.h"
#include "snapshot/manifest.h"

namespace trainyard::cli {

namespace {

struct DownloadFlags {
  std::string run, path, out = ".";
};

// The run's files from a server (GET /api/v1/runs/{id}/files, then each file's bytes). A path
// the server names that would land outside -o (absolute, or with "..") is refused.
Status DownloadFromServer(Context& ctx, const DownloadFlags& f) {
  namespace fs = std::filesystem;
  ASSIGN_OR_RETURN(std::unique_ptr<server::Client> client, ctx.Remote());
  if (f.run.empty() || f.run.find_first_of("/?#%") != std::string::npos) {
    return InvalidArgument("not a run id: \"" + f.run + "\"");
  }
  ASSIGN_OR_RETURN(nlohmann::json run, client->GetJson("/api/v1/runs/" + f.run));
  const std::string id = run.is_object() && run.contains("id") && run["id"].is_string()
                             ? run["id"].get<std::string>()
                             : f.run;
  ASSIGN_OR_RETURN(nlohmann::json listing, client->GetJson("/api/v1/runs/" + id + "/files"));
  std::string prefix = f.path;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (!prefix.empty()) RETURN_IF_ERROR(snapshot::ValidateManifestPath(prefix));
  int copied = 0;
  uint64_t bytes = 0;
  if (!listing.is_object() || !listing.contains("files") || !listing["files"].is_array()) {
    return Internal("the server's list of files of " + id + " is not {\"files\": [...]}");
  }
  for (const auto& file : listing["files"]) {
    if (!file.is_object() || !file.contains("path") || !file["path"].is_string()) {
      return Internal("the server listed a file without a path: " + file.dump());
    }
    const std::string path = file["path"].get<std::string>();
    if (!prefix.empty() && path != prefix && !StartsWith(path, prefix + "/")) continue;
    if (Status ok = snapshot::ValidateManifestPath(path); !ok.ok()) {
      return InvalidArgument("the server listed a file path that is not safe to write: " +
                             ok.message());
    }
    const std::string dest = f.out + "/" + path;
    RETURN_IF_ERROR(MakeDirs(fs::path(dest).parent_path().string()));
    const std::string tmp = dest + ".ty-download";
    FILE* out = std::fopen(tmp.c_str(), "wb");
    if (out == nullptr) return ErrnoError("open " + tmp, errno);
    uint64_t got = 0;
    bool write_failed = false;
    Status s = client->GetStream("/api/v1/runs/" + id + "/files/" + path,
                                 [&](const char* data, size_t size) {
                                   if (std::fwrite(data, 1, size, out) != size) {
                                     write_failed = true;
                                     return false;
                                   }
                                   got += size;
                                   return true;
                                 });
    bool closed = std::fclose(out) == 0;
    if (s.ok() && (write_failed || !closed)) s = IoError("writing " + tmp + " failed");
    if (!s.ok()) {
      std::remove(tmp.c_str());
      return s.WithContext(path);
    }
    if (std::rename(tmp.c_str(), dest.c_str()) != 0) return ErrnoError("rename to " + dest, errno);
    ++copied;
    bytes += got;
  }
  if (copied == 0) {
    return NotFound(prefix.empty() ? "run " + id + " has no files"
                                   : "run " + id + " has no file or folder \"" + prefix +
                                         "\" (see: trainyard files " + id + ")");
  }
  std::printf("downloaded %d file%s (%s) to %s\n", copied, copied == 1 ? "" : "s",
              HumanBytes(bytes).c_str(), f.out.c_str());
  return Status::Ok();
}

Status Download(Context& ctx, const DownloadFlags& f) {
  namespace fs = std::filesystem;
  if (!ctx.ServerUrl().empty()) return DownloadFromServer(ctx, f);
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
