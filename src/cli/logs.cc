// trainyard logs RUN [--rank R] [--follow] [--tail N] [--timestamps]
#include <cstdio>
#include <deque>
#include <fstream>

#include "cli/cli.h"
#include "common/clock.h"
#include "runner/log_follow.h"
#include "targets/log_capture.h"

namespace trainyard::cli {

namespace {

struct LogsFlags {
  std::string run;
  int rank = -1;
  bool follow = false, timestamps = false;
  int tail = 0;
};

Status Logs(Context& ctx, const LogsFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(f.run));
  std::string dir = ws->RunDir(run.id) + "/logs";
  runner::LogFollower follower(dir, f.rank, f.timestamps, PrintLine);
  if (f.tail > 0) {
    // Print the last N lines of each rank, then continue from the end.
    for (int r = 0;; ++r) {
      if (f.rank >= 0 && r != f.rank) {
        if (r > f.rank) break;
        continue;
      }
      std::ifstream in(dir + "/rank-" + std::to_string(r) + ".log");
      if (!in) break;
      std::deque<std::string> last;
      for (std::string l; std::getline(in, l);) {
        last.push_back(l);
        if (static_cast<int>(last.size()) > f.tail) last.pop_front();
      }
      for (const auto& l : last) {
        auto p = targets::ParseLogLine(l);
        std::printf("%s%s\n", f.timestamps ? (p.time + " ").c_str() : "", p.text.c_str());
      }
    }
    if (!f.follow) return Status::Ok();
    follower.SkipToEnd();  // what was there has been printed
  }
  if (!f.follow) {
    follower.Pump(true);
    return Status::Ok();
  }
  while (true) {
    auto cur = ws->GetRun(run.id);
    bool done = !cur.ok() || store::IsTerminal(cur->status);
    follower.Pump(done);
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
  cmd->add_option("--tail", f->tail, "only the last N lines (per rank)");
  cmd->add_flag("--timestamps", f->timestamps, "prefix each line with its time");
  OnRun(cmd, ctx, [&ctx, f] { return Logs(ctx, *f); });
}

}  // namespace trainyard::cli
