// trainyard doctor [--python PATH] [--json]
#include "env/doctor.h"

#include <sys/stat.h>

#include <cstdio>

#include "cli/cli.h"
#include "common/files.h"

namespace trainyard::cli {

namespace {

struct DoctorFlags {
  std::string python;
  bool json = false;
};

// The exit code is kExitRunFailed when a check failed (the report says which).
Result<int> Doctor(Context& ctx, const DoctorFlags& f) {
  env::DoctorInputs in;
  in.python_requested = f.python;
  in.workspace_dir = store::ResolveWorkspaceDir(ctx.workspace_flag, &in.workspace_source);
  in.expected_schema_version = store::kSchemaVersion;
  // Only look at an existing workspace; doctor does not create one.
  if (PathExists(in.workspace_dir + "/workspace.db")) {
    auto ws = ctx.Workspace();
    if (ws.ok()) {
      in.schema_version = (*ws)->schema_version();
      in.cache_dir = (*ws)->CacheDir();
    } else {
      in.schema_version = -1;
    }
  }
  auto checks = env::RunDoctor(in);
  bool bad = false;
  for (const auto& c : checks) bad |= c.level == env::DoctorCheck::Level::kError;
  if (f.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& c : checks) {
      arr.push_back({{"name", c.name},
                     {"level", env::DoctorLevelName(c.level)},
                     {"value", c.value},
                     {"fix", c.fix}});
    }
    std::printf("%s\n", JsonText(arr).c_str());
  } else {
    bool col = ctx.stdout_tty;
    for (const auto& c : checks) {
      std::string mark;
      switch (c.level) {
        case env::DoctorCheck::Level::kOk: mark = Colour("ok  ", "32", col); break;
        case env::DoctorCheck::Level::kInfo: mark = Colour("info", "36", col); break;
        case env::DoctorCheck::Level::kWarn: mark = Colour("warn", "33", col); break;
        case env::DoctorCheck::Level::kError: mark = Colour("FAIL", "31;1", col); break;
      }
      std::string name = c.name;
      name.resize(12, ' ');
      std::printf("%s  %s %s\n", mark.c_str(), name.c_str(), c.value.c_str());
      if (!c.fix.empty())
        std::printf("      %s  fix: %s\n", std::string(12, ' ').c_str(), c.fix.c_str());
    }
  }
  return bad ? kExitRunFailed : kExitOk;
}

}  // namespace

void RegisterDoctor(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<DoctorFlags>();
  CLI::App* cmd = app.add_subcommand(
      "doctor", "check what training needs here: Python, torch, BLAS, threads, MPI, Slurm, GPUs");
  cmd->add_option("--python", f->python, "check this interpreter instead of the default");
  cmd->add_flag("--json", f->json, "machine-readable output");
  OnRun(cmd, ctx, [&ctx, f] { return Doctor(ctx, *f); });
}

}  // namespace trainyard::cli
