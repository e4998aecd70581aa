// trainyard snapshot restore [--force] RUN DIR
#include "snapshot/snapshot.h"

#include <cstdio>
#include <filesystem>
#include <system_error>

#include "cli/cli.h"

namespace trainyard::cli {

namespace {

struct RestoreFlags {
  std::string run, dir;
  bool force = false;
};

// OK when `dir` is missing or an empty folder; InvalidArgument naming it (and one of its entries)
// when it holds anything, so that a restore cannot silently mix with (or overwrite) other files.
Status CheckEmptyDestination(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::symlink_status(dir, ec);
  if (ec || !fs::exists(st)) return Status::Ok();
  if (!fs::is_directory(st)) {
    return InvalidArgument("cannot restore into " + dir + ": it exists and is not a folder");
  }
  fs::directory_iterator it(dir, ec);
  if (ec) return IoError("cannot read the folder " + dir + ": " + ec.message());
  if (it == fs::directory_iterator()) return Status::Ok();
  return InvalidArgument("the folder " + dir + " is not empty (it holds " +
                         it->path().filename().string() +
                         "); restore into a new or empty folder, or pass --force to write the "
                         "snapshot's files over what is there (other files are kept)");
}

Status SnapshotRestore(Context& ctx, const RestoreFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(f.run));
  if (!f.force) RETURN_IF_ERROR(CheckEmptyDestination(f.dir));
  RETURN_IF_ERROR(snapshot::Restore(ws->SnapshotsDir(), run.snapshot_id, f.dir));
  auto files = snapshot::ReadManifest(ws->SnapshotsDir(), run.snapshot_id);
  size_t links = 0;
  if (files.ok()) {
    for (const snapshot::ManifestEntry& e : *files) links += e.is_symlink() ? 1 : 0;
  }
  std::string counts = std::to_string(files.ok() ? files->size() - links : 0) + " files";
  if (links > 0) counts += ", " + std::to_string(links) + " symlinks";
  std::printf("restored snapshot %s (%s) of run %s to %s\n", run.snapshot_id.substr(0, 12).c_str(),
              counts.c_str(), run.id.c_str(), f.dir.c_str());
  return Status::Ok();
}

}  // namespace

void RegisterSnapshot(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<RestoreFlags>();
  CLI::App* cmd = app.add_subcommand("snapshot", "work with the code snapshots of runs");
  cmd->require_subcommand(1);
  CLI::App* restore = cmd->add_subcommand("restore", "write the code a run ran into a folder");
  restore->add_option("run", f->run, "run id (or a unique prefix)")->required();
  restore->add_option("dir", f->dir, "destination folder (created if missing; must be empty)")
      ->required();
  restore->add_flag("--force", f->force,
                    "restore into a folder that is not empty: the snapshot's files replace those "
                    "of the same name, other files are kept");
  OnRun(restore, ctx, [&ctx, f] { return SnapshotRestore(ctx, *f); });
}

}  // namespace trainyard::cli
