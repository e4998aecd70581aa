#include "store/workspace.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "common/process.h"
#include "testing/temp_dir.h"

namespace trainyard::store {
namespace {

RunRecord NewRun(const std::string& experiment, const std::string& target = "local") {
  RunRecord r;
  r.experiment = experiment;
  r.target = target;
  r.spec_json = "{}";
  return r;
}

TEST(Workspace, CreatesSchemaAndReopens) {
  testing::TempDir dir;
  {
    auto ws = Workspace::Open(dir.path());
    ASSERT_TRUE(ws.ok()) << ws.status().ToString();
    EXPECT_EQ((*ws)->schema_version(), kSchemaVersion);
  }
  auto again = Workspace::Open(dir.path());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->schema_version(), kSchemaVersion);
}

TEST(Workspace, RefusesNewerSchema) {
  testing::TempDir dir;
  {
    auto ws = Workspace::Open(dir.path());
    ASSERT_TRUE(ws.ok());
    ASSERT_TRUE((*ws)->db()->Exec("PRAGMA user_version=99").ok());
  }
  auto again = Workspace::Open(dir.path());
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("schema version 99"), std::string::npos);
}

TEST(Workspace, RunLifecycleAndHistory) {
  testing::TempDir dir;
  auto ws = std::move(Workspace::Open(dir.path()).value());
  RunRecord r = NewRun("exp");
  ASSERT_TRUE(ws->CreateRun(&r, {{"team", "vision"}}).ok());
  EXPECT_TRUE(r.id.rfind("exp_", 0) == 0) << r.id;
  ASSERT_TRUE(ws->SetStatus(r.id, RunStatus::kRunning, {.started_at = 5}).ok());
  StatusUpdate done;
  done.exit_code = 0;
  done.ended_at = 9;
  ASSERT_TRUE(ws->SetStatus(r.id, RunStatus::kCompleted, done).ok());
  // A terminal status never changes again.
  EXPECT_FALSE(ws->SetStatus(r.id, RunStatus::kFailed).ok());
  auto got = ws->GetRun(r.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, RunStatus::kCompleted);
  EXPECT_EQ(got->started_at, 5);
  EXPECT_EQ(got->exit_code, 0);
  auto hist = ws->StatusHistory(r.id);
  ASSERT_TRUE(hist.ok());
  ASSERT_EQ(hist->size(), 3u);
  EXPECT_EQ((*hist)[0].first, RunStatus::kQueued);
  EXPECT_EQ((*hist)[2].first, RunStatus::kCompleted);
  auto tags = ws->Tags(r.id);
  ASSERT_TRUE(tags.ok());
  ASSERT_EQ(tags->size(), 1u);
  EXPECT_EQ((*tags)[0].second, "vision");
}

TEST(Workspace, PrefixLookupAndAmbiguity) {
  testing::TempDir dir;
  auto ws = std::move(Workspace::Open(dir.path()).value());
  RunRecord a = NewRun("e"), b = NewRun("e");
  a.id = "e_1_aaaa1111";
  b.id = "e_1_aaaa2222";
  ASSERT_TRUE(ws->CreateRun(&a, {}).ok());
  ASSERT_TRUE(ws->CreateRun(&b, {}).ok());
  EXPECT_EQ(ws->GetRun("e_1_aaaa1").value().id, a.id);
  auto amb = ws->GetRun("e_1_aaaa");
  EXPECT_EQ(amb.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ws->GetRun("zzz").status().code(), StatusCode::kNotFound);
}

TEST(Workspace, QueueClaimsInSubmissionOrderWithinCapacity) {
  testing::TempDir dir;
  auto ws = std::move(Workspace::Open(dir.path()).value());
  RunRecord r1 = NewRun("q"), r2 = NewRun("q"), r3 = NewRun("q");
  for (auto* r : {&r1, &r2, &r3}) ASSERT_TRUE(ws->CreateRun(r, {}).ok());
  // r2 cannot jump the queue.
  EXPECT_FALSE(ws->TryClaimSlot(r2.id, "local", 1).value());
  EXPECT_TRUE(ws->TryClaimSlot(r1.id, "local", 1).value());
  // Capacity 1 is now used.
  EXPECT_FALSE(ws->TryClaimSlot(r2.id, "local", 1).value());
  ASSERT_TRUE(ws->SetStatus(r1.id, RunStatus::kCompleted).ok());
  EXPECT_TRUE(ws->TryClaimSlot(r2.id, "local", 1).value());
  EXPECT_TRUE(ws->TryClaimSlot(r3.id, "local", 2).value());
}

TEST(Workspace, ConcurrentWritersAllRecorded) {
  testing::TempDir dir;
  { ASSERT_TRUE(Workspace::Open(dir.path()).ok()); }
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto ws = Workspace::Open(dir.path());
      if (!ws.ok()) {
        ++failures;
        return;
      }
      for (int i = 0; i < 10; ++i) {
        RunRecord r = NewRun("many");
        if (!(*ws)->CreateRun(&r, {}).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto ws = std::move(Workspace::Open(dir.path()).value());
  EXPECT_EQ(ws->ListRuns({}).value().size(), 80u);
  auto exps = ws->ListExperiments().value();
  ASSERT_EQ(exps.size(), 1u);
  EXPECT_EQ(exps[0].runs, 80);
}

TEST(Workspace, ManyProcessesCreatingAFreshWorkspaceAtOnce) {
  // Regression: a schema read left open kept a stale snapshot, so a concurrent migration made
  // the others fail with "database is locked".
  testing::TempDir dir;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto ws = Workspace::Open(dir.path());
      RunRecord r = NewRun("fresh");
      if (!ws.ok() || !(*ws)->CreateRun(&r, {}).ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto ws = std::move(Workspace::Open(dir.path()).value());
  EXPECT_EQ(ws->ListRuns({}).value().size(), 8u);
}

TEST(Workspace, ReapsRunWhoseSupervisorDied) {
  testing::TempDir dir;
  auto ws = std::move(Workspace::Open(dir.path()).value());
  RunRecord r = NewRun("reap");
  ASSERT_TRUE(ws->CreateRun(&r, {}).ok());
  ASSERT_TRUE(ws->SetStatus(r.id, RunStatus::kRunning).ok());
  // A pid that cannot exist (beyond pid_max) stands for a dead supervisor.
  ASSERT_TRUE(ws->SetSupervisor(r.id, 99999999, 1).ok());
  EXPECT_EQ(ws->ReapOrphans().value(), 1);
  auto got = ws->GetRun(r.id).value();
  EXPECT_EQ(got.status, RunStatus::kFailed);
  EXPECT_NE(got.error.find("supervisor"), std::string::npos);
  EXPECT_EQ(ws->ReapOrphans().value(), 0);
}

TEST(Workspace, HeartbeatSilenceCountsLessForALiveSupervisor) {
  testing::TempDir dir;
  auto ws = std::move(Workspace::Open(dir.path()).value());
  RunRecord never = NewRun("hb"), busy = NewRun("hb");
  ASSERT_TRUE(ws->CreateRun(&never, {}).ok());
  ASSERT_TRUE(ws->CreateRun(&busy, {}).ok());
  // `busy` has a live supervisor (this process) that has been silent for a minute; `never`
  // never got a supervisor and was created a minute ago.
  ASSERT_TRUE(ws->SetSupervisor(busy.id, getpid(), ProcessStartTicks(getpid())).ok());
  ASSERT_TRUE(ws->db()
                  ->Exec("UPDATE runs SET heartbeat_at = heartbeat_at - 60000000, "
                         "created_at = created_at - 60000000")
                  .ok());
  EXPECT_EQ(ws->ReapOrphans().value(), 1);
  EXPECT_EQ(ws->GetRun(never.id).value().status, RunStatus::kFailed);
  EXPECT_NE(ws->GetRun(never.id).value().error.find("no heartbeat"), std::string::npos);
  EXPECT_EQ(ws->GetRun(busy.id).value().status, RunStatus::kQueued);
}

TEST(Workspace, SweepsAndTheirTrials) {
  testing::TempDir dir;
  auto ws = std::move(Workspace::Open(dir.path()).value());
  RunRecord sweep = NewRun("exp");
  sweep.kind = "sweep";
  ASSERT_TRUE(ws->CreateRun(&sweep, {}).ok());
  RunRecord plain = NewRun("exp");
  ASSERT_TRUE(ws->CreateRun(&plain, {}).ok());
  for (int64_t i = 0; i < 3; ++i) {
    RunRecord t = NewRun("exp");
    t.parent_id = sweep.id;
    t.trial_index = i;
    ASSERT_TRUE(ws->CreateRun(&t, {}).ok());
  }
  // An index is unique per sweep: a second trial 1 is refused.
  RunRecord dup = NewRun("exp");
  dup.parent_id = sweep.id;
  dup.trial_index = 1;
  EXPECT_FALSE(ws->CreateRun(&dup, {}).ok());

  auto got = ws->GetRun(sweep.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->kind, "sweep");
  EXPECT_TRUE(got->parent_id.empty());
  RunFilter children;
  children.parent = sweep.id;
  auto trials = ws->ListRuns(children);
  ASSERT_TRUE(trials.ok());
  ASSERT_EQ(trials->size(), 3u);
  for (const auto& t : *trials) {
    EXPECT_EQ(t.parent_id, sweep.id);
    EXPECT_EQ(t.kind, "run");
    ASSERT_TRUE(t.trial_index.has_value());
  }
  RunFilter top;
  top.parent = "";
  auto roots = ws->ListRuns(top);
  ASSERT_TRUE(roots.ok());
  EXPECT_EQ(roots->size(), 2u);  // the sweep and the plain run
  EXPECT_EQ(ws->ListRuns({}).value().size(), 5u);
}

TEST(Workspace, OrphanedSweepsAreClaimedOnceNotReaped) {
  testing::TempDir dir;
  auto ws = std::move(Workspace::Open(dir.path()).value());
  RunRecord sweep = NewRun("exp");
  sweep.kind = "sweep";
  ASSERT_TRUE(ws->CreateRun(&sweep, {}).ok());
  RunRecord run = NewRun("exp");
  ASSERT_TRUE(ws->CreateRun(&run, {}).ok());
  // Both "supervised" by a process that has exited.
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  unsigned long long ticks = ProcessStartTicks(child);
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(ws->SetSupervisor(sweep.id, child, ticks).ok());
  ASSERT_TRUE(ws->SetSupervisor(run.id, child, ticks).ok());
  // The run is reaped, the sweep is not ...
  EXPECT_EQ(ws->ReapOrphans().value(), 1);
  EXPECT_EQ(ws->GetRun(run.id)->status, RunStatus::kFailed);
  EXPECT_EQ(ws->GetRun(sweep.id)->status, RunStatus::kQueued);
  // ... it is claimed for a restart, once.
  auto claimed = ws->ClaimOrphanedSweeps();
  ASSERT_TRUE(claimed.ok());
  EXPECT_EQ(*claimed, std::vector<std::string>{sweep.id});
  EXPECT_TRUE(ws->ClaimOrphanedSweeps().value().empty());
  EXPECT_EQ(ws->GetRun(sweep.id)->supervisor_pid, 0);
  // A claimed sweep whose new controller never shows up is claimed again after the silence.
  EXPECT_EQ(ws->ClaimOrphanedSweeps(0).value(), std::vector<std::string>{sweep.id});
  // A live controller keeps it.
  ASSERT_TRUE(ws->SetSupervisor(sweep.id, getpid(), ProcessStartTicks(getpid())).ok());
  EXPECT_TRUE(ws->ClaimOrphanedSweeps(0).value().empty());
}

TEST(Workspace, TargetsRoundTrip) {
  testing::TempDir dir;
  auto ws = std::move(Workspace::Open(dir.path()).value());
  ASSERT_TRUE(ws->PutTarget({"laptop", "local", R"({"max_concurrent_runs":2})"}).ok());
  auto t = ws->GetTarget("laptop").value();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->type, "local");
  EXPECT_EQ(ws->ListTargets().value().size(), 1u);
  ASSERT_TRUE(ws->RemoveTarget("laptop").ok());
  EXPECT_EQ(ws->RemoveTarget("laptop").code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace trainyard::store
