// Stall failures (TRAINYARD_STALL_FAIL_SECONDS, controller.h): an operation that some ranks of its
// process set submitted and others did not fails on the ranks that submitted it, with the ranks
// named, and the runtime goes on. Ranks are threads of this process over the in-process transport
// (as in runtime_test.cc); the inspector and the setting are also checked alone.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "collective/collective.h"
#include "collective/config.h"
#include "collective/stall_inspector.h"
#include "collective/test_util.h"
#include "collective/transport/inproc/inproc_world.h"
#include "common/clock.h"

namespace trainyard::collective {
namespace {

using testing::Buffer;

constexpr double kFailSeconds = 1.0;
// A stalled operation must fail within the fail time plus this (cycles, a loaded machine).
constexpr double kSlackSeconds = 4.0;

Config StallConfig() {
  Config c;
  c.cycle_time_ms = 1;
  c.stall_check = false;  // no warnings: the failure alone
  c.stall_fail_seconds = kFailSeconds;
  return c;
}

// Runs fn(rank, runtime) on `n` threads, each rank with its own Runtime over one InProcWorld.
void RunRanks(int n, const std::function<void(int, Runtime&)>& fn, const Config& config,
              const std::vector<std::vector<int>>& process_sets = {}) {
  InProcWorld world(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      InitOptions options;
      options.world = world.Connect(r);
      options.config = config;
      options.process_sets = process_sets;
      Result<std::unique_ptr<Runtime>> rt = Runtime::Init(std::move(options));
      ASSERT_TRUE(rt.ok()) << rt.status().ToString();
      fn(r, **rt);
      EXPECT_TRUE((*rt)->Barrier().ok());
      EXPECT_TRUE((*rt)->Shutdown().ok());
    });
  }
  for (auto& t : threads) t.join();
}

// Waits for `h` (bounded) and returns its status and how long the wait took, in seconds.
Status WaitTimed(const Handle& h, double* seconds) {
  const int64_t start = MonotonicMicros();
  Status st = h.WaitFor(30);
  *seconds = static_cast<double>(MonotonicMicros() - start) / 1e6;
  return st;
}

// An allreduce (Sum) of [rank + 1, rank + 1] named `name` on every rank must give the sum.
void ExpectAllreduceWorks(Runtime& rt, int rank, int n, const std::string& name,
                          ProcessSetId set = kGlobalProcessSet) {
  Buffer t(DataType::kFloat32, Shape{2});
  t.Set(0, rank + 1);
  t.Set(1, rank + 1);
  AllreduceOptions sum;
  sum.op = ReduceOp::kSum;
  sum.process_set = set;
  Status st = rt.Allreduce(name, t.tensor(), t.tensor(), sum);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(t.Get(0), n * (n + 1) / 2);
  EXPECT_EQ(t.Get(1), n * (n + 1) / 2);
}

void ExpectContains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in: " << text;
}

TEST(StallFailure, NameMismatchFailsOnBothRanksAndTheRuntimeGoesOn) {
  RunRanks(
      2,
      [&](int rank, Runtime& rt) {
        Buffer t(DataType::kFloat32, Shape{2});
        const std::string name = rank == 0 ? "a" : "b";
        double waited = 0;
        Status st = WaitTimed(rt.AllreduceAsync(name, t.tensor(), t.tensor()), &waited);
        EXPECT_EQ(st.code(), StatusCode::kTimeout) << st.ToString();
        ExpectContains(st.message(), "allreduce '" + name + "': stalled ");
        ExpectContains(st.message(), rank == 0 ? "ranks [0] submitted it, ranks [1] did not"
                                               : "ranks [1] submitted it, ranks [0] did not");
        EXPECT_GE(waited, kFailSeconds * 0.9);
        EXPECT_LT(waited, kFailSeconds + kSlackSeconds);
        ExpectAllreduceWorks(rt, rank, 2, "after");
        // The failed names are free again: both ranks use them now and they complete.
        ExpectAllreduceWorks(rt, rank, 2, "a");
        ExpectAllreduceWorks(rt, rank, 2, "b");
      },
      StallConfig());
}

TEST(StallFailure, ACachedOperationOneRankDoesNotRepeatFails) {
  // "grad" is negotiated once (it enters the response cache); then only rank 0 submits it again
  // while rank 1 submits "other": each fails on the rank that submitted it.
  RunRanks(
      2,
      [&](int rank, Runtime& rt) {
        ExpectAllreduceWorks(rt, rank, 2, "grad");
        ExpectAllreduceWorks(rt, rank, 2, "grad");
        Buffer t(DataType::kFloat32, Shape{2});
        const std::string name = rank == 0 ? "grad" : "other";
        double waited = 0;
        Status st = WaitTimed(rt.AllreduceAsync(name, t.tensor(), t.tensor()), &waited);
        EXPECT_EQ(st.code(), StatusCode::kTimeout) << st.ToString();
        ExpectContains(st.message(), "allreduce '" + name + "': stalled ");
        EXPECT_LT(waited, kFailSeconds + kSlackSeconds);
        // A name neither failed operation had first: the rank whose failure came first waits
        // here for the other. Reusing "grad" at once could meet rank 0's failing "grad" still
        // pending (an Average against this Sum: a mismatch, seen on a loaded machine).
        ExpectAllreduceWorks(rt, rank, 2, "after");
        ExpectAllreduceWorks(rt, rank, 2, "grad");
        ExpectAllreduceWorks(rt, rank, 2, "other");
      },
      StallConfig());
}

TEST(StallFailure, ProcessSetMismatchFailsOnBothSets) {
  // Rank 0 reduces "p" over the registered set {0, 1}, rank 1 over the global set: each set's
  // coordinator sees one rank only.
  RunRanks(2,
           [&](int rank, Runtime& rt) {
             Buffer t(DataType::kFloat32, Shape{2});
             AllreduceOptions options;
             options.process_set = rank == 0 ? 1 : kGlobalProcessSet;
             double waited = 0;
             Status st =
                 WaitTimed(rt.AllreduceAsync("p", t.tensor(), t.tensor(), options), &waited);
             EXPECT_EQ(st.code(), StatusCode::kTimeout) << st.ToString();
             ExpectContains(st.message(), "allreduce 'p': stalled ");
             EXPECT_LT(waited, kFailSeconds + kSlackSeconds);
             // Each set's coordinator fails its own 'p', a few cycles apart: a rank that submitted
             // 'p' to the other set before that set failed it would be its missing submission.
             ASSERT_TRUE(rt.Barrier().ok());
             ExpectAllreduceWorks(rt, rank, 2, "p", 1);
             ExpectAllreduceWorks(rt, rank, 2, "p");
           },
           StallConfig(), {{0, 1}});
}

TEST(StallFailure, JoinedRanksCountAsHavingSubmitted) {
  // Rank 2 joins; rank 0 submits "k" and rank 1 does not: only rank 1 is named as missing.
  RunRanks(
      3,
      [&](int rank, Runtime& rt) {
        if (rank == 2) {
          Result<int> last = rt.Join();
          EXPECT_TRUE(last.ok()) << last.status().ToString();
          return;
        }
        if (rank == 0) {
          Buffer t(DataType::kFloat32, Shape{2});
          double waited = 0;
          Status st = WaitTimed(rt.AllreduceAsync("k", t.tensor(), t.tensor()), &waited);
          EXPECT_EQ(st.code(), StatusCode::kTimeout) << st.ToString();
          ExpectContains(st.message(), "ranks [0] submitted it, ranks [1] did not");
        } else {
          SleepMicros(static_cast<int64_t>((kFailSeconds + 0.5) * 1e6));
        }
        // Rank 2 is still joined: the others' allreduce runs with its zeros.
        Buffer t(DataType::kFloat32, Shape{1});
        t.Set(0, rank + 1);
        AllreduceOptions sum;
        sum.op = ReduceOp::kSum;
        Status st = rt.Allreduce("k2", t.tensor(), t.tensor(), sum);
        ASSERT_TRUE(st.ok()) << st.ToString();
        EXPECT_EQ(t.Get(0), 3);
        Result<int> last = rt.Join();
        EXPECT_TRUE(last.ok()) << last.status().ToString();
      },
      StallConfig());
}

TEST(StallFailure, FailsBeforeTheShutdownTimeAndTheRuntimeStaysUp) {
  // With a warning, a failure and a (later) shutdown time all set, the stalled operation fails at
  // the failure time and nothing shuts down, even well past the shutdown time.
  Config config = StallConfig();
  config.stall_check = true;
  config.stall_warning_seconds = 0.3;
  config.stall_fail_seconds = 0.6;
  config.stall_shutdown_seconds = 1.2;
  const int64_t start = MonotonicMicros();
  RunRanks(
      2,
      [&](int rank, Runtime& rt) {
        if (rank == 0) {
          Buffer t(DataType::kFloat32, Shape{2});
          double waited = 0;
          Status st = WaitTimed(rt.AllreduceAsync("lonely", t.tensor(), t.tensor()), &waited);
          EXPECT_EQ(st.code(), StatusCode::kTimeout) << st.ToString();
          ExpectContains(st.message(), "ranks [0] submitted it, ranks [1] did not");
          EXPECT_LT(waited, 0.6 + kSlackSeconds);
        }
        while (MonotonicMicros() - start < 2'500'000) SleepMicros(10'000);
        EXPECT_TRUE(rt.is_initialized());
        ExpectAllreduceWorks(rt, rank, 2, "later");
      },
      config);
}

TEST(StallFailure, OffByDefaultAndReadFromTheEnvironment) {
  Result<Config> plain = ConfigFromEnv([](const char*) -> const char* { return nullptr; });
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->stall_fail_seconds, 0);
  Result<Config> set = ConfigFromEnv([](const char* name) -> const char* {
    return std::string(name) == "TRAINYARD_STALL_FAIL_SECONDS" ? "2.5" : nullptr;
  });
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->stall_fail_seconds, 2.5);
  Status bad = ConfigFromEnv([](const char* name) -> const char* {
                 return std::string(name) == "TRAINYARD_STALL_FAIL_SECONDS" ? "soon" : nullptr;
               }).status();
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  ExpectContains(bad.message(), "TRAINYARD_STALL_FAIL_SECONDS");
  // Rank 0's value is everyone's.
  Config other;
  ASSERT_TRUE(DecodeSharedConfig(EncodeSharedConfig(*set), &other).ok());
  EXPECT_EQ(other.stall_fail_seconds, 2.5);
}

TEST(StallFailure, InspectorFailsInsteadOfWarningOrShuttingDown) {
  // Warning at 1 s, shutdown at 3 s, failure at 2 s: the failure comes first and the name is
  // neither warned about again nor counted towards the shutdown.
  StallInspector s(true, 1.0, 3.0, 2.0);
  s.Observe({"x"}, 0);
  EXPECT_FALSE(s.ReportDue(500'000));
  ASSERT_TRUE(s.ReportDue(1'000'000));
  StallInspector::Report warn = s.MakeReport({{"x", {0}}}, {0, 1}, {}, 1'000'000);
  ExpectContains(warn.warning, "'x' waited 1.0 s");
  EXPECT_TRUE(warn.failed.empty());
  s.Observe({"x"}, 1'000'000);
  ASSERT_TRUE(s.ReportDue(2'000'000));
  StallInspector::Report fail = s.MakeReport({{"x", {0}}}, {0, 1}, {}, 2'000'000);
  EXPECT_TRUE(fail.warning.empty()) << fail.warning;
  EXPECT_FALSE(fail.shutdown);
  ASSERT_EQ(fail.failed.size(), 1u);
  EXPECT_EQ(fail.failed[0].name, "x");
  EXPECT_EQ(fail.failed[0].submitted, std::vector<int>{0});
  EXPECT_EQ(fail.failed[0].missing, std::vector<int>{1});
  EXPECT_EQ(s.FailMessage("allgather", fail.failed[0]),
            "allgather 'x': stalled 2.0 s: ranks [0] submitted it, ranks [1] did not "
            "(TRAINYARD_STALL_FAIL_SECONDS=2)");
  // Failed names are forgotten: nothing is due until a name stalls again.
  s.Observe({}, 2'000'000);
  EXPECT_FALSE(s.ReportDue(5'000'000));
}

TEST(StallFailure, InspectorFailsWithTheStallCheckDisabled) {
  StallInspector s(false, 1.0, 3.0, 2.0);
  s.Observe({"x"}, 0);
  EXPECT_FALSE(s.ReportDue(1'500'000));  // no warning
  ASSERT_TRUE(s.ReportDue(2'000'000));
  StallInspector::Report r = s.MakeReport({{"x", {1}}}, {0, 1, 2}, {2}, 2'000'000);
  EXPECT_TRUE(r.warning.empty());
  ASSERT_EQ(r.failed.size(), 1u);
  EXPECT_EQ(r.failed[0].missing, std::vector<int>{0});  // rank 2 joined: not missing
}

}  // namespace
}  // namespace trainyard::collective
