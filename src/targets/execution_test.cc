#include "targets/execution.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "targets/log_capture.h"
#include "targets/process_execution.h"
#include "targets/process_group.h"
#include "targets/slurm_job.h"
#include "testing/temp_dir.h"

namespace trainyard::targets {
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

LaunchPlan ShellPlan(const std::vector<std::string>& scripts, const std::string& cwd) {
  LaunchPlan plan;
  plan.target = "local";
  plan.type = "local";
  plan.world_size = static_cast<int>(scripts.size());
  for (size_t i = 0; i < scripts.size(); ++i) {
    ProcessSpec p;
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

TEST(StopProcessesWithEnvironment, StopsWhatCarriesTheMarkerAndNothingElse) {
  // What a killed supervisor leaves: processes that are not our children (detached), one of
  // them ignoring SIGTERM, found only by the run id in their environment.
  testing::TempDir dir;
  std::string id = "test_" + std::to_string(getpid()) + "_" + std::to_string(MonotonicMicros());
  auto env_with = [](const std::string& value) {
    auto env = CurrentEnvironment();
    env["TRAINYARD_RUN_ID"] = value;
    return env;
  };
  struct Cleanup {  // nothing is left behind when an assertion fails
    std::string id;
    ~Cleanup() {
      StopProcessesWithEnvironment("TRAINYARD_RUN_ID=" + id, 0);
      StopProcessesWithEnvironment("TRAINYARD_RUN_ID=" + id + "0", 0);
    }
  } cleanup{id};
  SpawnOptions detached;
  detached.detach = true;
  ASSERT_TRUE(Spawn({"sh", "-c", "trap '' TERM; sleep 1000 & wait"}, env_with(id), detached).ok());
  ASSERT_TRUE(Spawn({"sleep", "1000"}, env_with(id), detached).ok());
  // Another run whose id starts with this one's is not this run.
  ASSERT_TRUE(Spawn({"sleep", "1000"}, env_with(id + "0"), detached).ok());
  int64_t deadline = MonotonicMicros() + 5'000'000;
  while (ProcessesWithEnvironment("TRAINYARD_RUN_ID=" + id).size() < 3 &&
         MonotonicMicros() < deadline) {
    SleepMicros(20'000);
  }
  ASSERT_EQ(ProcessesWithEnvironment("TRAINYARD_RUN_ID=" + id).size(), 3u);
  ASSERT_EQ(ProcessesWithEnvironment("TRAINYARD_RUN_ID=" + id + "0").size(), 1u);

  StopReport report = StopProcessesWithEnvironment("TRAINYARD_RUN_ID=" + id, 200);
  EXPECT_EQ(report.stopped.size(), 3u);
  EXPECT_TRUE(report.failed.empty());
  int sleeps = 0;
  for (const auto& [pid, name] : report.stopped) sleeps += name == "sleep";
  EXPECT_EQ(sleeps, 2);
  EXPECT_TRUE(ProcessesWithEnvironment("TRAINYARD_RUN_ID=" + id).empty());

  auto other = ProcessesWithEnvironment("TRAINYARD_RUN_ID=" + id + "0");
  ASSERT_EQ(other.size(), 1u);
  StopProcessesWithEnvironment("TRAINYARD_RUN_ID=" + id + "0", 0);
  // SIGKILLed; gone once its parent (init, or a subreaper) has reaped it.
  int64_t reaped_by = MonotonicMicros() + 5'000'000;
  while (ProcessAlive(other[0]) && MonotonicMicros() < reaped_by) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    SleepMicros(10'000);
  }
  EXPECT_FALSE(ProcessAlive(other[0]));
  while (waitpid(-1, nullptr, WNOHANG) > 0) {  // adopted when this process is a subreaper
  }
}

TEST(ProcessGroup, MissingProgramIsAnError) {
  testing::TempDir dir;
  ProcessGroup g;
  auto plan = ShellPlan({"true"}, dir.path());
  plan.processes[0].argv = {"/no/such/program"};
  Status s = g.Start(plan, dir / "logs");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
}

// Drives an execution to its end the way the supervisor does.
ExecutionState RunToEnd(Execution* e, int64_t timeout_micros = 20'000'000) {
  int64_t deadline = MonotonicMicros() + timeout_micros;
  ExecutionState st;
  do {
    st = e->Poll(50);
  } while (st.phase != ExecutionState::Phase::kEnded && MonotonicMicros() < deadline);
  return st;
}

TEST(ProcessExecution, SucceedsWhenEveryRankExitsZero) {
  testing::TempDir dir;
  auto plan = ShellPlan({"echo r0: $EXTRA", "echo r1"}, dir.path());
  auto e = MakeProcessExecution(plan, {dir.path(), dir.path(), {}});
  ASSERT_TRUE(e->Start({{"EXTRA", "from-start"}}).ok());
  EXPECT_EQ(RunToEnd(e.get()).phase, ExecutionState::Phase::kEnded);
  ASSERT_TRUE(e->Collect().ok());
  ExecutionOutcome out = e->Outcome();
  EXPECT_TRUE(out.succeeded);
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_FALSE(out.failed_rank.has_value());
  EXPECT_TRUE(out.error.empty());
  auto r0 = ReadLines(dir / "logs/rank-0.log");
  ASSERT_EQ(r0.size(), 1u);
  EXPECT_EQ(ParseLogLine(r0[0]).text, "r0: from-start");  // Start's environment reached the rank
}

TEST(ProcessExecution, AFailingRankEndsTheGangAndIsNamed) {
  testing::TempDir dir;
  auto plan = ShellPlan({"sleep 1000", "echo broken >&2; exit 3", "sleep 1000"}, dir.path());
  auto e = MakeProcessExecution(plan, {dir.path(), dir.path(), {}});
  ASSERT_TRUE(e->Start({}).ok());
  int64_t t0 = MonotonicMicros();
  EXPECT_EQ(RunToEnd(e.get()).phase, ExecutionState::Phase::kEnded);
  EXPECT_LT(MonotonicMicros() - t0, 10'000'000);  // the sleepers were stopped, not waited for
  ASSERT_TRUE(e->Collect().ok());
  ExecutionOutcome out = e->Outcome();
  EXPECT_FALSE(out.succeeded);
  EXPECT_EQ(out.failed_rank, 1);
  EXPECT_EQ(out.exit_code, 3);
  EXPECT_NE(out.error.find("rank 1 on " + HostName() + " exited with code 3"), std::string::npos)
      << out.error;
  EXPECT_NE(out.error.find("broken"), std::string::npos) << out.error;
  EXPECT_TRUE(Descendants(getpid()).empty());
}

TEST(ProcessExecution, CancelStopsEveryRank) {
  testing::TempDir dir;
  auto e = MakeProcessExecution(ShellPlan({"sleep 1000", "sleep 1000"}, dir.path()),
                                {dir.path(), dir.path(), {}});
  ASSERT_TRUE(e->Start({}).ok());
  EXPECT_EQ(e->Poll(50).phase, ExecutionState::Phase::kRunning);
  EXPECT_GE(Descendants(getpid()).size(), 2u);
  e->Cancel();
  EXPECT_EQ(e->Poll(0).phase, ExecutionState::Phase::kEnded);
  EXPECT_TRUE(Descendants(getpid()).empty());
}

TEST(ProcessExecution, AFailedStartLeavesNothingRunning) {
  testing::TempDir dir;
  auto plan = ShellPlan({"sleep 1000", "true"}, dir.path());
  plan.processes[1].argv = {"/no/such/program"};
  auto e = MakeProcessExecution(plan, {dir.path(), dir.path(), {}});
  EXPECT_EQ(e->Start({}).code(), StatusCode::kNotFound);
  EXPECT_EQ(e->Poll(0).phase, ExecutionState::Phase::kEnded);
  EXPECT_TRUE(Descendants(getpid()).empty());
}

TEST(ProcessExecution, ReadsTheCulpritFromMpirunsReport) {
  RankExit culprit;
  std::string host;
  std::deque<std::string> report = {
      "Primary job  terminated normally, but 1 process returned",
      "mpirun detected that one or more processes exited with non-zero status, thus causing",
      "  Process name: [[47733,1],3]", "  Exit code:    7"};
  ASSERT_TRUE(ParseMpirunCulprit(report, &culprit, &host));
  EXPECT_EQ(culprit.rank, 3);
  EXPECT_EQ(culprit.exit_code, 7);
  EXPECT_FALSE(culprit.signaled);
  RankExit killed;
  ASSERT_TRUE(ParseMpirunCulprit(
      {"mpirun noticed that process rank 1 with PID 0 on node h2 exited on signal 9 (Killed)."},
      &killed, &host));
  EXPECT_EQ(killed.rank, 1);
  EXPECT_EQ(killed.exit_code, 128 + 9);
  EXPECT_TRUE(killed.signaled);
  EXPECT_EQ(host, "h2");
  EXPECT_FALSE(ParseMpirunCulprit({"ORTE was unable to reliably start one or more daemons."},
                                  &killed, &host));
}

TEST(SlurmJob, ParsesSchedulerStateAndSrunsCulprit) {
  SlurmState st =
      ParseScontrol("JobId=12 JobName=x JobState=PENDING Reason=Resources ExitCode=0:0");
  EXPECT_EQ(st.state, "PENDING");
  EXPECT_EQ(st.reason, "Resources");
  EXPECT_FALSE(st.terminal);
  st = ParseScontrol("JobId=12 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0");
  EXPECT_TRUE(st.terminal);
  EXPECT_EQ(st.exit_code, 3);
  int task = -1, code = 0;
  std::string host;
  ASSERT_TRUE(
      ParseSrunCulprit({"srun: error: n2: task 3: Exited with exit code 4"}, &task, &code, &host));
  EXPECT_EQ(task, 3);
  EXPECT_EQ(code, 4);
  EXPECT_EQ(host, "n2");
  EXPECT_FALSE(ParseSrunCulprit({"srun: job 12 queued"}, &task, &code, &host));
}

TEST(MakeExecution, RefusesAnUnknownPlanType) {
  LaunchPlan plan;
  plan.type = "kubernetes";
  auto e = MakeExecution(plan, {});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("kubernetes"), std::string::npos);
}

}  // namespace
}  // namespace trainyard::targets
