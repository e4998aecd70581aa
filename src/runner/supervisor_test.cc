// The supervisor's state machine, driven by a fake execution (targets/execution.h) over a real
// workspace: completion, a failing rank, cancel while Preparing and while Running, the time limit
// (counted from Running, not while pending), a failed start, and a crash of the supervisor itself.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/files.h"
#include "runner/runner.h"
#include "snapshot/snapshot.h"
#include "spec/parse.h"
#include "store/tiny_fs_test_util.h"
#include "store/workspace.h"
#include "targets/log_capture.h"
#include "testing/temp_dir.h"
#include "tracking/endpoint.h"
#include "tracking/protocol.h"

namespace trainyard::runner {
namespace {

using store::RunStatus;
using targets::ExecutionState;
using Phase = targets::ExecutionState::Phase;

// What the fake does, and what was done to it (the test reads it after Supervise returns).
struct Script {
  std::vector<ExecutionState> polls;  // one per Poll; the last one repeats until Cancel
  targets::ExecutionOutcome outcome;
  Status start_status = Status::Ok();
  std::function<void(int poll)> on_poll;  // called before each Poll answers
  std::function<void()> on_make;          // called when the supervisor makes the execution
  // Observed:
  bool made = false, staged = false, started = false, canceled = false, collected = false;
  std::map<std::string, std::string> start_env;
  int polls_seen = 0;
};

class FakeExecution : public targets::Execution {
 public:
  explicit FakeExecution(Script* s) : s_(s) {}
  Status Stage() override {
    s_->staged = true;
    return Status::Ok();
  }
  Status Start(const std::map<std::string, std::string>& env) override {
    s_->started = true;
    s_->start_env = env;
    return s_->start_status;
  }
  ExecutionState Poll(int) override {
    int n = s_->polls_seen++;
    if (s_->on_poll) s_->on_poll(n);
    if (s_->canceled) return {Phase::kEnded, ""};
    return s_->polls.at(std::min<size_t>(static_cast<size_t>(n), s_->polls.size() - 1));
  }
  void Cancel() override { s_->canceled = true; }
  Status Collect() override {
    s_->collected = true;
    return Status::Ok();
  }
  targets::ExecutionOutcome Outcome() const override { return s_->outcome; }

 private:
  Script* s_;
};

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(MakeDirs(dir_ / "src").ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ / "src/train.py", "print('hi')\n").ok());
    auto ws = store::Workspace::Open(dir_ / "ws");
    ASSERT_TRUE(ws.ok()) << ws.status().ToString();
    ws_ = std::move(ws).value();
  }

  // Records a Queued run the way submit does (spec, snapshot, plan); returns its id.
  std::string SubmitRun(double max_seconds = 0) {
    std::string yaml = "source_directory: " + (dir_ / "src") + "\nentry_script: train.py\n";
    if (max_seconds > 0) yaml += "max_run_duration_seconds: " + std::to_string(max_seconds) + "\n";
    auto spec = spec::ParseJobText(yaml, "job.yaml", dir_.path());
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    auto snap = snapshot::TakeSnapshot(dir_ / "src", ws_->SnapshotsDir());
    EXPECT_TRUE(snap.ok()) << snap.status().ToString();
    EXPECT_TRUE(ws_->PutSnapshot({snap->id, snap->source_dir, 1, 12, "", false, false}).ok());
    targets::LaunchPlan plan;
    plan.target = "local";
    plan.type = "local";
    store::RunRecord run;
    run.experiment = "supervisor-test";
    run.target = "local";
    run.spec_json = spec::ToJson(*spec);
    run.plan_json = plan.ToJson().dump();
    run.snapshot_id = snap->id;
    EXPECT_TRUE(ws_->CreateRun(&run, {}).ok());
    EXPECT_TRUE(MakeDirs(ws_->RunDir(run.id) + "/logs").ok());
    return run.id;
  }

  int Supervise(const std::string& id, Script* script) {
    SuperviseOptions options;
    options.poll_ms = 1;
    options.status_check_micros = 0;
    options.make_execution =
        [script](const targets::LaunchPlan&,
                 const targets::ExecutionContext&) -> Result<std::unique_ptr<targets::Execution>> {
      script->made = true;
      if (script->on_make) script->on_make();
      return std::unique_ptr<targets::Execution>(new FakeExecution(script));
    };
    return runner::Supervise(ws_->dir(), id, options);
  }

  // Requests a cancel the way `trainyard cancel` does, through a connection of its own.
  void RequestCancel(const std::string& id) {
    auto other = store::Workspace::Open(ws_->dir());
    ASSERT_TRUE(other.ok());
    ASSERT_TRUE((*other)->SetStatus(id, RunStatus::kCancelRequested).ok());
  }

  std::vector<RunStatus> History(const std::string& id) {
    std::vector<RunStatus> out;
    auto h = ws_->StatusHistory(id);
    EXPECT_TRUE(h.ok());
    for (const auto& [status, at] : *h) out.push_back(status);
    return out;
  }

  store::RunRecord Get(const std::string& id) {
    auto r = ws_->GetRun(id);
    EXPECT_TRUE(r.ok());
    return *r;
  }

  testing::TempDir dir_;
  std::unique_ptr<store::Workspace> ws_;
};

TEST_F(SupervisorTest, CompletesThroughEveryStatus) {
  std::string id = SubmitRun();
  Script s;
  s.polls = {{Phase::kRunning, ""}, {Phase::kRunning, ""}, {Phase::kEnded, ""}};
  s.outcome = {.succeeded = true, .exit_code = 0};
  EXPECT_EQ(Supervise(id, &s), 0);
  store::RunRecord run = Get(id);
  EXPECT_EQ(run.status, RunStatus::kCompleted) << run.error;
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_TRUE(run.started_at.has_value());
  EXPECT_TRUE(run.ended_at.has_value());
  EXPECT_TRUE(s.staged && s.started && s.collected);
  EXPECT_FALSE(s.canceled);
  EXPECT_EQ(s.start_env.count("TRAINYARD_TRACKING_URI"), 1u);
  EXPECT_EQ(s.start_env.count("TRAINYARD_TRACKING_TOKEN"), 1u);
  EXPECT_EQ(History(id), (std::vector<RunStatus>{RunStatus::kQueued, RunStatus::kPreparing,
                                                 RunStatus::kStarting, RunStatus::kRunning,
                                                 RunStatus::kFinalizing, RunStatus::kCompleted}));
  // The snapshot was restored into the work folder and the work folder removed at the end.
  EXPECT_FALSE(PathExists(ws_->RunDir(id) + "/work"));
}

TEST_F(SupervisorTest, AFailingRankIsRecordedWithItsReason) {
  std::string id = SubmitRun();
  Script s;
  s.polls = {{Phase::kRunning, ""}, {Phase::kEnded, ""}};
  s.outcome = {.succeeded = false,
               .exit_code = 3,
               .failed_rank = 2,
               .failed_host = "h1",
               .error = "rank 2 on h1 exited with code 3"};
  Supervise(id, &s);
  store::RunRecord run = Get(id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.failed_rank, 2);
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_EQ(run.error, "rank 2 on h1 exited with code 3");
  EXPECT_TRUE(s.collected);  // logs and outputs are kept for failed runs too
}

TEST_F(SupervisorTest, CancelWhileRunningStopsTheExecution) {
  std::string id = SubmitRun();
  Script s;
  s.polls = {{Phase::kRunning, ""}};
  s.on_poll = [&](int n) {
    if (n == 5) RequestCancel(id);
  };
  EXPECT_EQ(Supervise(id, &s), 0);
  EXPECT_TRUE(s.canceled);
  EXPECT_TRUE(s.collected);
  store::RunRecord run = Get(id);
  EXPECT_EQ(run.status, RunStatus::kCanceled);
  EXPECT_EQ(run.error, "canceled by the user");
}

TEST_F(SupervisorTest, CancelWhilePreparingStartsNothing) {
  std::string id = SubmitRun();
  Script s;
  s.polls = {{Phase::kRunning, ""}};
  s.on_make = [&] { RequestCancel(id); };  // while the supervisor prepares the run
  EXPECT_EQ(Supervise(id, &s), 0);
  EXPECT_TRUE(s.made);
  EXPECT_FALSE(s.started);
  EXPECT_EQ(s.polls_seen, 0);
  store::RunRecord run = Get(id);
  EXPECT_EQ(run.status, RunStatus::kCanceled);
  EXPECT_FALSE(run.started_at.has_value());
}

TEST_F(SupervisorTest, CancelWhileQueuedNeverPrepares) {
  std::string id = SubmitRun();
  auto canceled = Cancel(ws_.get(), id, 0);
  ASSERT_TRUE(canceled.ok());
  Script s;
  s.polls = {{Phase::kRunning, ""}};
  EXPECT_EQ(Supervise(id, &s), 0);
  EXPECT_FALSE(s.made);
  EXPECT_EQ(Get(id).status, RunStatus::kCanceled);
}

TEST_F(SupervisorTest, TimeLimitCountsFromRunningAndStopsTheRun) {
  std::string id = SubmitRun(/*max_seconds=*/0.3);
  Script s;
  // Pending for longer than the limit (a job waiting for nodes) does not count.
  s.polls = {{Phase::kPending, "Slurm job 7 PENDING (Resources)"}};
  s.on_poll = [&](int n) {
    if (n == 0) usleep(400'000);
    if (n == 1) {
      EXPECT_EQ(Get(id).status_detail, "Slurm job 7 PENDING (Resources)");
      EXPECT_FALSE(Get(id).started_at.has_value());
      s.polls = {{Phase::kRunning, ""}};
    }
    if (n > 1) usleep(10'000);
  };
  int64_t t0 = MonotonicMicros();
  Supervise(id, &s);
  EXPECT_TRUE(s.canceled);
  store::RunRecord run = Get(id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_NE(run.error.find("exceeded max_run_duration_seconds"), std::string::npos) << run.error;
  ASSERT_TRUE(run.started_at.has_value());
  EXPECT_GE(*run.ended_at - *run.started_at, 300'000);
  EXPECT_LT(MonotonicMicros() - t0, 10'000'000);
}

TEST_F(SupervisorTest, AFailedStartFailsTheRunWithItsReason) {
  std::string id = SubmitRun();
  Script s;
  s.polls = {{Phase::kRunning, ""}};
  s.start_status = Unavailable("sbatch failed: invalid partition");
  EXPECT_EQ(Supervise(id, &s), 0);  // the failure is the run's, and it was recorded
  EXPECT_EQ(s.polls_seen, 0);
  EXPECT_TRUE(s.collected);
  store::RunRecord run = Get(id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_NE(run.error.find("sbatch failed: invalid partition"), std::string::npos) << run.error;
}

TEST_F(SupervisorTest, ACrashedSupervisorsRunIsReapedNotStuck) {
  std::string id = SubmitRun();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Script s;
    s.polls = {{Phase::kRunning, ""}};
    s.on_poll = [](int n) {
      if (n == 3) raise(SIGKILL);  // the supervisor dies mid-run
    };
    Supervise(id, &s);
    _exit(0);  // not reached
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(Get(id).status, RunStatus::kRunning);  // as the supervisor left it
  // The space it held for the run's end is given back by the reaper.
  EXPECT_TRUE(PathExists(ws_->RunDir(id) + "/" + store::kDiskReserveName));
  auto reaped = ws_->ReapOrphans();
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 1);
  store::RunRecord run = Get(id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_NE(run.error.find("supervisor (pid " + std::to_string(child) + ") died"),
            std::string::npos)
      << run.error;
  EXPECT_FALSE(PathExists(ws_->RunDir(id) + "/" + store::kDiskReserveName));
}

TEST_F(SupervisorTest, OutputThatCannotBeStoredFailsTheRun) {
  std::string id = SubmitRun();
  Script s;
  s.polls = {{Phase::kRunning, ""}, {Phase::kRunning, ""}, {Phase::kEnded, ""}};
  s.outcome = {.succeeded = true, .exit_code = 0};
  targets::RankLog log;  // a rank's log on a device that is always full
  ASSERT_TRUE(log.Open("/dev/full").ok());
  s.on_poll = [&](int n) {
    if (n == 1) log.Feed(0, "step 1 loss 0.5\n");
  };
  Supervise(id, &s);
  store::RunRecord run = Get(id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.exit_code, 0);
  const int64_t line = 24 + 5 + 15 + 1;  // "<time> out step 1 loss 0.5\n"
  EXPECT_EQ(run.lost_log_bytes, line);
  EXPECT_NE(run.error.find("no space left on device in /dev: 0 metric points and " +
                           std::to_string(line) + " log bytes not stored"),
            std::string::npos)
      << run.error;
}

// The workspace's disk fills up while the run runs: what the ranks send is refused (507, so the
// client keeps it), counted, and the run ends Failed with the counts; the space the supervisor
// held back lets it store that ending on the full disk.
TEST_F(SupervisorTest, MetricsThatCannotBeStoredFailTheRunOnAFullDisk) {
  store::testing::TinyFs fs(4 << 20);
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << fs.error();
  auto ws = store::Workspace::Open(fs.path() + "/ws");
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  ws_ = std::move(ws).value();
  std::string id = SubmitRun();
  Script s;
  s.polls = {
      {Phase::kRunning, ""}, {Phase::kRunning, ""}, {Phase::kRunning, ""}, {Phase::kEnded, ""}};
  s.outcome = {.succeeded = true, .exit_code = 0};
  Result<int64_t> stored = 0, refused = 0;
  s.on_poll = [&](int n) {
    if (n != 1) return;
    auto endpoint = tracking::Endpoint::Create(s.start_env["TRAINYARD_TRACKING_URI"], id,
                                               s.start_env["TRAINYARD_TRACKING_TOKEN"], 10);
    ASSERT_TRUE(endpoint.ok()) << endpoint.status().ToString();
    tracking::Batch batch;
    batch.client = "rank0";
    batch.seq = 1;
    for (int i = 0; i < 3; ++i) batch.points.push_back({"loss", i, i, 0.5});
    stored = (*endpoint)->PostBatch(tracking::EncodeBatch(batch));
    fs.Fill();
    batch.seq = 2;
    refused = (*endpoint)->PostBatch(tracking::EncodeBatch(batch), /*pending=*/7);
  };
  Supervise(id, &s);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);  // the client retries
  EXPECT_NE(refused.status().message().find("HTTP 507"), std::string::npos)
      << refused.status().message();
  store::RunRecord run = Get(id);
  EXPECT_EQ(run.status, RunStatus::kFailed) << run.error;
  EXPECT_EQ(run.lost_metric_points, 3 + 7);
  EXPECT_NE(run.error.find("no space left on device in " + ws_->dir() +
                           ": 10 metric points and 0 log bytes not stored"),
            std::string::npos)
      << run.error;
  EXPECT_FALSE(PathExists(ws_->RunDir(id) + "/.disk-reserve"));
  ws_.reset();  // before the file system goes
}

}  // namespace
}  // namespace trainyard::runner
