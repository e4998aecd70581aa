// trainyard wait RUN [--timeout SECONDS] [--stream]
#include <cstdio>

#include "cli/cli.h"

namespace trainyard::cli {

namespace {

struct WaitFlags {
  std::string run;
  double timeout = 0;
  bool stream = false;
};

// The exit code is kExitRunFailed when the run ended other than Completed.
Result<int> Wait(Context& ctx, const WaitFlags& f) {
  ASSIGN_OR_RETURN(store::RunRecord run, WaitAndReport(ctx, f.run, f.timeout, f.stream));
  std::printf("%s %s\n", run.id.c_str(),
              StatusColoured(store::RunStatusName(run.status), ctx.stdout_tty).c_str());
  if (run.status != store::RunStatus::kCompleted) {
    if (!run.error.empty()) std::fprintf(stderr, "%s\n", run.error.c_str());
    return kExitRunFailed;
  }
  return kExitOk;
}

}  // namespace

void RegisterWait(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<WaitFlags>();
  CLI::App* cmd = app.add_subcommand("wait", "wait for a run to end; exit 0 only if Completed");
  cmd->add_option("run", f->run, "run id (or a unique prefix)")->required();
  cmd->add_option("--timeout", f->timeout, "give up after SECONDS (exit 1, the run goes on)");
  cmd->add_flag("--stream", f->stream, "show the run's output live");
  OnRun(cmd, ctx, [&ctx, f] { return Wait(ctx, *f); });
}

}  // namespace trainyard::cli
