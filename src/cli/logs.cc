// trainyard logs RUN [--rank R] [--follow] [--tail N] [--timestamps]
#include <cstdio>

#include "cli/cli.h"
#include "common/clock.h"
#include "runner/log_follow.h"

namespace trainyard::cli {

namespace {

struct LogsFlags {
  std::string run;
  int rank = -1;
  bool follow = false, timestamps = false;
  int tail = 0;
};

// Writes one line to stdout; the caller flushes after each pump (not per line: a run's logs may
// be hundreds of MB).
void WriteLine(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
}

Status Logs(Context& ctx, const LogsFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(f.run));
  if (f.tail < 0)
    return InvalidArgument("--tail: must be 0 or more lines, got " + std::to_string(f.tail));
  std::string dir = ws->RunDir(run.id) + "/logs";
  // Streams in bounded memory (runner/log_follow.h): files are read block by block and merged
  // line by line, whatever their size.
  runner::LogFollower follower(dir, f.rank, f.timestamps, WriteLine);
  if (f.tail > 0) follower.SkipToLastLines(f.tail);  // the last N lines of each rank, merged
  if (!f.follow) {
    follower.Pump(true);
    std::fflush(stdout);
    return Status::Ok();
  }
  while (true) {
    auto cur = ws->GetRun(run.id);
    bool done = !cur.ok() || store::IsTerminal(cur->status);
    follower.Pump(done);
    std::fflush(stdout);
    if (done) return Status::Ok();
    SleepMicros(100'000);
  }
}

}  // namespace

void RegisterLogs(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<LogsFlags>();
  CLI::App* cmd = app.add_subcommand(
      "logs", "show a run's output (all ranks merged with [rank N] prefixes, or one rank)");
  cmd->add_option("run", f->run, "run id (or a unique prefix)")->required();
  cmd->add_option("--rank", f->rank, "only this rank");
  cmd->add_flag("--follow,-f", f->follow, "keep printing new output until the run ends");
  cmd->add_option("--tail", f->tail, "only the last N lines of each rank (merged)");
  cmd->add_flag("--timestamps", f->timestamps, "prefix each line with its time");
  OnRun(cmd, ctx, [&ctx, f] { return Logs(ctx, *f); });
}

}  // namespace trainyard::cli
