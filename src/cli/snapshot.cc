// trainyard snapshot restore RUN DIR
#include "snapshot/snapshot.h"

#include <cstdio>

#include "cli/cli.h"

namespace trainyard::cli {

namespace {

struct RestoreFlags {
  std::string run, dir;
};

Status SnapshotRestore(Context& ctx, const RestoreFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(f.run));
  RETURN_IF_ERROR(snapshot::Restore(ws->SnapshotsDir(), run.snapshot_id, f.dir));
  auto files = snapshot::ReadManifest(ws->SnapshotsDir(), run.snapshot_id);
  std::printf("restored snapshot %s (%zu files) of run %s to %s\n",
              run.snapshot_id.substr(0, 12).c_str(), files.ok() ? files->size() : 0, run.id.c_str(),
              f.dir.c_str());
  return Status::Ok();
}

}  // namespace

void RegisterSnapshot(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<RestoreFlags>();
  CLI::App* cmd = app.add_subcommand("snapshot", "work with the code snapshots of runs");
  cmd->require_subcommand(1);
  CLI::App* restore = cmd->add_subcommand("restore", "write the code a run ran into a folder");
  restore->add_option("run", f->run, "run id (or a unique prefix)")->required();
  restore->add_option("dir", f->dir, "destination folder (created if missing)")->required();
  OnRun(restore, ctx, [&ctx, f] { return SnapshotRestore(ctx, *f); });
}

}  // namespace trainyard::cli
