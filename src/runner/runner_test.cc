#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "runner/log_capture.h"
#include "runner/process_group.h"
#include "testing/temp_dir.h"

namespace trainyard::runner {
namespace {

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(RankLog, SplitsLinesAndKeepsStderrTail) {
  testing::TempDir dir;
  RankLog log;
  ASSERT_TRUE(log.Open(dir / "r.log").ok());
  log.Feed(0, "hel");
  log.Feed(0, "lo\nwor");
  log.Feed(1, "oops\n");
  log.Feed(0, "ld");
  log.Close();
  auto lines = ReadLines(dir / "r.log");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(ParseLogLine(lines[0]).text, "hello");
  EXPECT_EQ(ParseLogLine(lines[0]).stream, "out");
  EXPECT_EQ(ParseLogLine(lines[1]).stream, "err");
  EXPECT_EQ(ParseLogLine(lines[2]).text, "world");
  ASSERT_EQ(log.stderr_tail().size(), 1u);
  EXPECT_EQ(log.stderr_tail()[0], "oops");
}

targets::LaunchPlan ShellPlan(const std::vector<std::string>& scripts, const std::string& cwd) {
  targets::LaunchPlan plan;
  plan.target = "local";
  plan.type = "local";
  plan.world_size = static_cast<int>(scripts.size());
  for (size_t i = 0; i < scripts.size(); ++i) {
    targets::ProcessSpec p;
    p.rank = static_cast<int>(i);
    p.argv = {"/bin/sh", "-c", scripts[i]};
    p.cwd = cwd;
    plan.processes.push_back(p);
  }
  return plan;
}

TEST(ProcessGroup, CapturesOutputAndExitCodes) {
  testing::TempDir dir;
  ProcessGroup g;
  ASSERT_TRUE(
      g.Start(ShellPlan({"echo a; echo b >&2; exit 0", "echo c; exit 7"}, dir.path()), dir / "logs")
          .ok());
  std::vector<RankExit> exits;
  int64_t deadline = MonotonicMicros() + 10'000'000;
  while (!g.AllExited() && MonotonicMicros() < deadline) {
    for (auto& e : g.Poll(100)) exits.push_back(e);
  }
  g.CloseLogs();
  ASSERT_EQ(exits.size(), 2u);
  for (const auto& e : exits) EXPECT_EQ(e.exit_code, e.rank == 0 ? 0 : 7);
  auto r0 = ReadLines(dir / "logs/rank-0.log");
  ASSERT_EQ(r0.size(), 2u);
  auto r1 = ReadLines(dir / "logs/rank-1.log");
  ASSERT_EQ(r1.size(), 1u);
  EXPECT_EQ(ParseLogLine(r1[0]).text, "c");
}

TEST(ProcessGroup, StopKillsTheWholeTreeIncludingEscapedGrandchildren) {
  ASSERT_TRUE(ProcessGroup::BecomeSubreaper().ok());
  testing::TempDir dir;
  ProcessGroup g;
  // The rank starts a grandchild in its own session (setsid) that ignores SIGTERM, then waits.
  std::string script =
      "setsid sh -c 'trap \"\" TERM; echo $$ > " + (dir / "gc.pid") + "; sleep 1000' & sleep 1000";
  ASSERT_TRUE(g.Start(ShellPlan({script}, dir.path()), dir / "logs").ok());
  int64_t deadline = MonotonicMicros() + 5'000'000;
  while (!PathExists(dir / "gc.pid") && MonotonicMicros() < deadline) g.Poll(50);
  auto pid_text = ReadFile(dir / "gc.pid");
  ASSERT_TRUE(pid_text.ok());
  pid_t gc = static_cast<pid_t>(std::stoi(*pid_text));
  EXPECT_TRUE(ProcessAlive(gc));
  g.Stop(300);
  EXPECT_FALSE(ProcessAlive(gc));
  EXPECT_TRUE(Descendants(getpid()).empty());
}

TEST(ProcessGroup, MissingProgramIsAnError) {
  testing::TempDir dir;
  ProcessGroup g;
  auto plan = ShellPlan({"true"}, dir.path());
  plan.processes[0].argv = {"/no/such/program"};
  Status s = g.Start(plan, dir / "logs");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace trainyard::runner
