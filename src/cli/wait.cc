// trainyard wait RUN [--timeout SECONDS] [--stream]
#include <cstdio>

#include "cli/cli.h"

namespace trainyard::cli {

void RegisterWait(CLI::App& app, Context& ctx) {
  struct Flags {
    std::string run;
    double timeout = 0;
    bool stream = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("wait", "wait for a run to end; exit 0 only if Completed");
  cmd->add_option("run", f->run, "run id (or a unique prefix)")->required();
  cmd->add_option("--timeout", f->timeout, "give up after SECONDS (exit 1, the run goes on)");
  cmd->add_flag("--stream", f->stream, "show the run's output live");
  cmd->callback([&ctx, f] {
    auto run = WaitAndReport(ctx, f->run, f->timeout, f->stream);
    if (!run.ok()) return void(ctx.exit_code = Fail(run.status()));
    std::printf("%s %s\n", run->id.c_str(),
                StatusColoured(store::RunStatusName(run->status), ctx.stdout_tty).c_str());
    if (run->status != store::RunStatus::kCompleted) {
      if (!run->error.empty()) std::fprintf(stderr, "%s\n", run->error.c_str());
      ctx.exit_code = kExitRunFailed;
    }
  });
}

}  // namespace trainyard::cli
