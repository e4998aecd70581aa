// trainyard snapshot restore RUN DIR
#include "snapshot/snapshot.h"

#include <cstdio>

#include "cli/cli.h"

namespace trainyard::cli {

void RegisterSnapshot(CLI::App& app, Context& ctx) {
  struct Flags {
    std::string run, dir;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("snapshot", "work with the code snapshots of runs");
  cmd->require_subcommand(1);
  CLI::App* restore = cmd->add_subcommand("restore", "write the code a run ran into a folder");
  restore->add_option("run", f->run, "run id (or a unique prefix)")->required();
  restore->add_option("dir", f->dir, "destination folder (created if missing)")->required();
  restore->callback([&ctx, f] {
    auto ws = ctx.Workspace();
    if (!ws.ok()) return void(ctx.exit_code = Fail(ws.status()));
    auto run = (*ws)->GetRun(f->run);
    if (!run.ok()) return void(ctx.exit_code = Fail(run.status()));
    Status s = snapshot::Restore((*ws)->SnapshotsDir(), run->snapshot_id, f->dir);
    if (!s.ok()) return void(ctx.exit_code = Fail(s));
    auto files = snapshot::ReadManifest((*ws)->SnapshotsDir(), run->snapshot_id);
    std::printf("restored snapshot %s (%zu files) of run %s to %s\n",
                run->snapshot_id.substr(0, 12).c_str(), files.ok() ? files->size() : 0,
                run->id.c_str(), f->dir.c_str());
  });
}

}  // namespace trainyard::cli
