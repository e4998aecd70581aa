// The runtime end to end with N ranks as threads of this process (the in-process transport):
// operations x dtypes x sizes, different submission orders, mismatches, duplicate names, the
// response cache, fusion, join, process sets, stalls, a dead rank, shutdown and the timeline; and
// the routing of device (CUDA) tensors to a device communicator (a counting stand-in for NCCL).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "collective/collective.h"
#include "collective/tensor_queue.h"
#include "collective/test_util.h"
#include "collective/transport/inproc/inproc_world.h"
#include "common/clock.h"
#include "testing/temp_dir.h"

namespace trainyard::collective {
namespace {

using testing::Buffer;

constexpr double kWaitSeconds = 30;

Config TestConfig() {
  Config c;
  c.cycle_time_ms = 1;
  c.stall_check = false;
  return c;
}

struct RankSetup {
  Config config = TestConfig();
  std::vector<int> hosts;
  std::vector<std::vector<int>> process_sets;
  bool barrier_at_end = true;
};

// Runs fn(rank, runtime) on `n` threads, each rank with its own Runtime over one InProcWorld.
void RunRanks(int n, const std::function<void(int, Runtime&)>& fn, RankSetup setup = {},
              InProcWorld* world_out = nullptr) {
  InProcWorld local(n, setup.hosts);
  InProcWorld& world = world_out != nullptr ? *world_out : local;
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      InitOptions options;
      options.world = world.Connect(r);
      options.config = setup.config;
      options.process_sets = setup.process_sets;
      Result<std::unique_ptr<Runtime>> rt = Runtime::Init(std::move(options));
      ASSERT_TRUE(rt.ok()) << rt.status().ToString();
      fn(r, **rt);
      if (setup.barrier_at_end && (*rt)->is_initialized()) {
        EXPECT_TRUE((*rt)->Barrier().ok());
      }
      EXPECT_TRUE((*rt)->Shutdown().ok());
    });
  }
  for (auto& t : threads) t.join();
}

Status WaitOk(const Handle& h) { return h.WaitFor(kWaitSeconds); }

TEST(CollectiveRuntime, TopologyFromHosts) {
  RankSetup setup;
  setup.hosts = {0, 0, 1, 1, 1};
  std::vector<std::array<int, 6>> seen(5);
  RunRanks(
      5,
      [&](int r, Runtime& rt) {
        seen[static_cast<size_t>(r)] = {rt.rank(),       rt.size(),       rt.local_rank(),
                                        rt.local_size(), rt.cross_rank(), rt.cross_size()};
        EXPECT_TRUE(rt.is_initialized());
      },
      setup);
  EXPECT_EQ(seen[0], (std::array<int, 6>{0, 5, 0, 2, 0, 2}));
  EXPECT_EQ(seen[1], (std::array<int, 6>{1, 5, 1, 2, 0, 2}));
  EXPECT_EQ(seen[3], (std::array<int, 6>{3, 5, 1, 3, 1, 2}));
  EXPECT_EQ(seen[4], (std::array<int, 6>{4, 5, 2, 3, 0, 1}));
}

class CollectiveRanks : public ::testing::TestWithParam<int> {};

TEST_P(CollectiveRanks, AllreduceEveryDtypeOpAndSize) {
  const int n = GetParam();
  RunRanks(n, [&](int rank, Runtime& rt) {
    for (DataType dtype : testing::AllDataTypes()) {
      std::vector<std::unique_ptr<Buffer>> bufs;
      std::vector<Handle> handles;
      std::vector<std::pair<ReduceOp, size_t>> what;
      for (ReduceOp op : testing::OpsFor(dtype)) {
        for (int64_t size : {0, 1, 17, 1000, 70000}) {
          auto in = std::make_unique<Buffer>(dtype, Shape{size});
          for (int64_t i = 0; i < size; ++i) in->Set(i, testing::TestValue(dtype, rank, i));
          std::string name = std::string(DataTypeName(dtype)) + "." + ReduceOpName(op) + "." +
                             std::to_string(size);
          AllreduceOptions opts;
          opts.op = op;
          handles.push_back(rt.AllreduceAsync(name, in->tensor(), in->tensor(), opts));
          what.push_back({op, bufs.size()});
          bufs.push_back(std::move(in));
        }
      }
      for (size_t k = 0; k < handles.size(); ++k) {
        ASSERT_TRUE(WaitOk(handles[k]).ok()) << handles[k].Wait().ToString();
        const Buffer& b = *bufs[what[k].second];
        for (int64_t i = 0; i < b.size(); ++i) {
          double want = testing::ExpectedAllreduce(dtype, what[k].first, n, i);
          ASSERT_NEAR(b.Get(i), want, testing::Tolerance(dtype) * std::max(1.0, want))
              << DataTypeName(dtype) << " " << ReduceOpName(what[k].first) << " n=" << n
              << " i=" << i;
        }
      }
    }
  });
}

TEST_P(CollectiveRanks, DifferentSubmissionOrdersDoNotDeadlock) {
  const int n = GetParam();
  RunRanks(n, [&](int rank, Runtime& rt) {
    constexpr int kTensors = 24;
    std::vector<Buffer> bufs;
    for (int t = 0; t < kTensors; ++t) {
      bufs.emplace_back(DataType::kFloat32, Shape{t * 10 + 1});
      for (int64_t i = 0; i < bufs.back().size(); ++i) bufs.back().Set(i, rank + t);
    }
    std::vector<int> order(kTensors);
    for (int t = 0; t < kTensors; ++t) order[static_cast<size_t>(t)] = t;
    std::rotate(order.begin(), order.begin() + (rank * 7) % kTensors, order.end());
    if (rank % 2 == 1) std::reverse(order.begin(), order.end());
    std::vector<Handle> handles(kTensors);
    AllreduceOptions sum;
    sum.op = ReduceOp::kSum;
    for (int t : order) {
      auto& b = bufs[static_cast<size_t>(t)];
      handles[static_cast<size_t>(t)] =
          rt.AllreduceAsync("t" + std::to_string(t), b.tensor(), b.tensor(), sum);
      if (t % 5 == rank % 5) SleepMicros(300);
    }
    for (int t = 0; t < kTensors; ++t) {
      ASSERT_TRUE(WaitOk(handles[static_cast<size_t>(t)]).ok());
      EXPECT_EQ(bufs[static_cast<size_t>(t)].Get(0), n * (n - 1) / 2 + n * t);
    }
  });
}

TEST_P(CollectiveRanks, AllgatherWithDifferentFirstDimensions) {
  const int n = GetParam();
  RunRanks(n, [&](int rank, Runtime& rt) {
    for (DataType dtype :
         {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kBool}) {
      Buffer in(dtype, Shape{rank + 1, 3});
      for (int64_t i = 0; i < in.size(); ++i) in.Set(i, dtype == DataType::kBool ? 1 : rank);
      Handle h = rt.AllgatherAsync(std::string("g.") + DataTypeName(dtype), in.tensor());
      ASSERT_TRUE(WaitOk(h).ok()) << h.Wait().ToString();
      const Tensor& out = h.output();
      EXPECT_EQ(out.shape, (Shape{n * (n + 1) / 2, 3}));
      EXPECT_EQ(out.dtype, dtype);
      if (dtype != DataType::kFloat32) continue;
      const auto* v = static_cast<const float*>(out.data);
      int64_t row = 0;
      for (int r = 0; r < n; ++r) {
        for (int k = 0; k <= r; ++k, ++row) EXPECT_EQ(v[row * 3 + 2], r);
      }
    }
    // A caller-provided allocator, and a rank contributing zero rows.
    std::vector<float> storage;
    AllgatherOptions opts;
    opts.allocator = [&](const Shape& shape) -> Result<Tensor> {
      storage.resize(static_cast<size_t>(NumElements(shape)));
      return Tensor{storage.data(), DataType::kFloat32, shape, {}};
    };
    Buffer in(DataType::kFloat32, Shape{rank == 0 ? 0 : 2});
    for (int64_t i = 0; i < in.size(); ++i) in.Set(i, 7);
    Handle h = rt.AllgatherAsync("alloc", in.tensor(), opts);
    ASSERT_TRUE(WaitOk(h).ok());
    EXPECT_EQ(storage.size(), static_cast<size_t>(2 * (n - 1)));
    EXPECT_EQ(h.output().data, storage.data());
  });
}

TEST_P(CollectiveRanks, BroadcastFromEveryRoot) {
  const int n = GetParam();
  RunRanks(n, [&](int rank, Runtime& rt) {
    for (int root = 0; root < n; ++root) {
      Buffer t(DataType::kFloat64, Shape{5, 2});
      for (int64_t i = 0; i < t.size(); ++i) t.Set(i, rank * 100 + i);
      ASSERT_TRUE(rt.Broadcast("b" + std::to_string(root), t.tensor(), root).ok());
      for (int64_t i = 0; i < t.size(); ++i) EXPECT_EQ(t.Get(i), root * 100 + i);
      // Out of place: the input stays as it was.
      Buffer in(DataType::kInt32, Shape{3});
      Buffer out(DataType::kInt32, Shape{3});
      for (int64_t i = 0; i < 3; ++i) in.Set(i, rank + 10);
      Handle h = rt.BroadcastAsync("c", in.tensor(), out.tensor(), root);
      ASSERT_TRUE(WaitOk(h).ok());
      EXPECT_EQ(out.Get(2), root + 10);
      EXPECT_EQ(in.Get(2), rank + 10);
    }
  });
}

TEST_P(CollectiveRanks, Int16SumsWrapAndBroadcastsKeepEveryBit) {
  const int n = GetParam();
  RunRanks(n, [&](int rank, Runtime& rt) {
    // Every rank adds 20000: the int16 sum wraps modulo 2^16, as int16 arithmetic does.
    Buffer sum(DataType::kInt16, Shape{3});
    for (int64_t i = 0; i < 3; ++i) sum.Set(i, 20000 - i);
    AllreduceOptions opts;
    opts.op = ReduceOp::kSum;
    ASSERT_TRUE(WaitOk(rt.AllreduceAsync("i16.sum", sum.tensor(), sum.tensor(), opts)).ok());
    for (int64_t i = 0; i < 3; ++i) {
      auto want = static_cast<int16_t>(static_cast<uint16_t>(n * (20000 - i)));
      EXPECT_EQ(sum.Get(i), want) << "n=" << n << " i=" << i;
    }
    opts.op = ReduceOp::kMin;
    Buffer mn(DataType::kInt16, Shape{1});
    mn.Set(0, -32768 + rank);
    ASSERT_TRUE(WaitOk(rt.AllreduceAsync("i16.min", mn.tensor(), mn.tensor(), opts)).ok());
    EXPECT_EQ(mn.Get(0), -32768);
    Buffer b(DataType::kInt16, Shape{2});
    b.Set(0, rank == n - 1 ? -12345 : 0);
    b.Set(1, rank == n - 1 ? 32767 : 0);
    ASSERT_TRUE(rt.Broadcast("i16.bcast", b.tensor(), n - 1).ok());
    EXPECT_EQ(b.Get(0), -12345);
    EXPECT_EQ(b.Get(1), 32767);
  });
}

TEST_P(CollectiveRanks, AlltoallWithSplits) {
  const int n = GetParam();
  RunRanks(n, [&](int rank, Runtime& rt) {
    // Rank r sends j + 1 rows to rank j; each row holds (sender * 100 + receiver).
    std::vector<int64_t> splits;
    int64_t rows = 0;
    for (int j = 0; j < n; ++j) {
      splits.push_back(j + 1);
      rows += j + 1;
    }
    Buffer in(DataType::kFloat32, Shape{rows, 2});
    int64_t row = 0;
    for (int j = 0; j < n; ++j) {
      for (int k = 0; k <= j; ++k, ++row) {
        in.Set(row * 2, rank * 100 + j);
        in.Set(row * 2 + 1, k);
      }
    }
    AlltoallOptions opts;
    opts.splits = splits;
    Handle h = rt.AlltoallAsync("a2a", in.tensor(), opts);
    ASSERT_TRUE(WaitOk(h).ok()) << h.Wait().ToString();
    EXPECT_EQ(h.received_splits(), std::vector<int64_t>(static_cast<size_t>(n), rank + 1));
    ASSERT_EQ(h.output().shape, (Shape{n * (rank + 1), 2}));
    const auto* v = static_cast<const float*>(h.output().data);
    for (int src = 0; src < n; ++src) {
      for (int k = 0; k <= rank; ++k) {
        EXPECT_EQ(v[(src * (rank + 1) + k) * 2], src * 100 + rank);
      }
    }
    // Even split without explicit splits; a wrong split is refused at once.
    Buffer even(DataType::kInt8, Shape{2 * n});
    Handle e = rt.AlltoallAsync("even", even.tensor());
    EXPECT_TRUE(WaitOk(e).ok());
    AlltoallOptions bad;
    bad.splits = std::vector<int64_t>(static_cast<size_t>(n), 100);
    // Splits that do not fit are Horovod's RuntimeError (FailedPrecondition), refused at the call.
    Handle refused = rt.AlltoallAsync("bad", even.tensor(), bad);
    EXPECT_TRUE(refused.refused());
    EXPECT_EQ(refused.Wait().code(), StatusCode::kFailedPrecondition) << refused.Wait().ToString();
    bad.splits = std::vector<int64_t>(static_cast<size_t>(n) + 1, 0);  // one entry too many
    EXPECT_EQ(rt.AlltoallAsync("bad", even.tensor(), bad).Wait().code(),
              StatusCode::kFailedPrecondition);
  });
}

TEST_P(CollectiveRanks, ReducescatterSplitsRowsLikeHorovod) {
  const int n = GetParam();
  RunRanks(n, [&](int rank, Runtime& rt) {
    const int64_t d = 7;
    Buffer in(DataType::kFloat32, Shape{d, 2});
    for (int64_t i = 0; i < in.size(); ++i) in.Set(i, i + rank);
    ReducescatterOptions opts;
    opts.op = ReduceOp::kSum;
    Handle h = rt.ReducescatterAsync("rs", in.tensor(), opts);
    ASSERT_TRUE(WaitOk(h).ok()) << h.Wait().ToString();
    int64_t my_rows = d / n + (rank < d % n ? 1 : 0);
    int64_t first = 0;
    for (int r = 0; r < rank; ++r) first += d / n + (r < d % n ? 1 : 0);
    ASSERT_EQ(h.output().shape, (Shape{my_rows, 2}));
    const auto* v = static_cast<const float*>(h.output().data);
    for (int64_t i = 0; i < my_rows * 2; ++i) {
      EXPECT_EQ(v[i], n * (first * 2 + i) + n * (n - 1) / 2);
    }
    opts.op = ReduceOp::kAverage;
    opts.postscale_factor = 2;
    Handle avg = rt.ReducescatterAsync("rs.avg", in.tensor(), opts);
    ASSERT_TRUE(WaitOk(avg).ok());
    if (my_rows > 0) {
      EXPECT_FLOAT_EQ(static_cast<const float*>(avg.output().data)[0],
                      2.0f * (n * first * 2 + n * (n - 1) / 2.0f) / n);
    }
  });
}

TEST_P(CollectiveRanks, MismatchFailsOnEveryRankNamingTheRanks) {
  const int n = GetParam();
  if (n < 2) GTEST_SKIP();
  RunRanks(n, [&](int rank, Runtime& rt) {
    Buffer t(DataType::kFloat32, Shape{rank == 1 ? 5 : 4});
    Status st = rt.Allreduce("grad.w", t.tensor(), t.tensor());
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("'grad.w'"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("rank 1 sent [5]"), std::string::npos) << st.message();
    // Data type mismatch after the name was cached with float32 [4] on some ranks.
    Buffer ok(DataType::kFloat32, Shape{4});
    EXPECT_TRUE(rt.Allreduce("x", ok.tensor(), ok.tensor()).ok());
    Buffer other(rank == 0 ? DataType::kFloat64 : DataType::kFloat32, Shape{4});
    st = rt.Allreduce("x", other.tensor(), other.tensor());
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find("rank 0 sent float64"), std::string::npos) << st.message();
    // The runtime keeps working afterwards, and "x" can be used again.
    EXPECT_TRUE(rt.Allreduce("x", ok.tensor(), ok.tensor()).ok());
  });
}

TEST_P(CollectiveRanks, SteadyStateIsServedByTheResponseCache) {
  const int n = GetParam();
  std::vector<RuntimeStats> stats(static_cast<size_t>(n));
  RunRanks(n, [&](int rank, Runtime& rt) {
    Buffer t(DataType::kFloat32, Shape{8});
    RuntimeStats before = rt.stats();
    for (int step = 0; step < 30; ++step) {
      for (int64_t i = 0; i < 8; ++i) t.Set(i, 1);
      ASSERT_TRUE(rt.Allreduce("w", t.tensor(), t.tensor()).ok());
      EXPECT_EQ(t.Get(3), 1);  // Average of ones
    }
    RuntimeStats after = rt.stats();
    after.negotiated_responses -= before.negotiated_responses;
    after.cached_responses -= before.cached_responses;
    stats[static_cast<size_t>(rank)] = after;
  });
  for (const RuntimeStats& s : stats) {
    EXPECT_EQ(s.negotiated_responses, 1);
    EXPECT_EQ(s.cached_responses, 29);
  }
}

TEST_P(CollectiveRanks, ShapeChangeOfACachedTensorIsRenegotiated) {
  const int n = GetParam();
  RunRanks(n, [&](int rank, Runtime& rt) {
    (void)rank;
    for (int64_t size : {4, 4, 6, 6, 4}) {
      Buffer t(DataType::kInt32, Shape{size});
      for (int64_t i = 0; i < size; ++i) t.Set(i, 2);
      AllreduceOptions sum;
      sum.op = ReduceOp::kSum;
      ASSERT_TRUE(rt.Allreduce("resized", t.tensor(), t.tensor(), sum).ok());
      EXPECT_EQ(t.Get(size - 1), 2 * n);
    }
  });
}

TEST_P(CollectiveRanks, GroupedAllreduceAndFusion) {
  const int n = GetParam();
  std::atomic<int64_t> fused{0};
  RunRanks(n, [&](int rank, Runtime& rt) {
    std::vector<Buffer> bufs;
    std::vector<std::string> names;
    std::vector<Tensor> tensors;
    for (int t = 0; t < 10; ++t) {
      bufs.emplace_back(DataType::kFloat32, Shape{100 + t});
      names.push_back("grp" + std::to_string(t));
    }
    for (auto& b : bufs) {
      for (int64_t i = 0; i < b.size(); ++i) b.Set(i, rank + 1);
      tensors.push_back(b.tensor());
    }
    AllreduceOptions opts;
    opts.op = ReduceOp::kSum;
    opts.prescale_factor = 2;
    opts.postscale_factor = 0.5;
    Handle h = rt.GroupedAllreduceAsync(names, tensors, tensors, opts);
    ASSERT_TRUE(WaitOk(h).ok()) << h.Wait().ToString();
    for (auto& b : bufs) EXPECT_EQ(b.Get(b.size() - 1), n * (n + 1) / 2);
    if (rank == 0) fused = rt.stats().fused_tensors;
  });
  if (n > 1) {
    EXPECT_GE(fused.load(), 2);
  }
}

TEST_P(CollectiveRanks, JoinedRanksContributeZeros) {
  const int n = GetParam();
  if (n < 2) GTEST_SKIP();
  RunRanks(n, [&](int rank, Runtime& rt) {
    AllreduceOptions sum;
    sum.op = ReduceOp::kSum;
    Buffer t(DataType::kFloat32, Shape{3});
    // Rank 0 runs out of data after one step; the others take three more.
    int steps = rank == 0 ? 1 : 4;
    for (int s = 0; s < steps; ++s) {
      for (int64_t i = 0; i < 3; ++i) t.Set(i, 1);
      ASSERT_TRUE(rt.Allreduce("step", t.tensor(), t.tensor(), sum).ok());
      EXPECT_EQ(t.Get(0), s == 0 ? n : n - 1) << "step " << s;
    }
    if (rank != 0) {
      // As Horovod's coordinator: allgather, broadcast (from any root) and alltoall fail on every
      // rank that called them while a rank has joined; reducescatter runs, with zeros.
      Buffer g(DataType::kFloat32, Shape{2});
      Status st = WaitOk(rt.AllgatherAsync("late.gather", g.tensor()));
      EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
      EXPECT_NE(st.message().find("Allgather is not supported with Join at this time. Specify "
                                  "sparse_to_dense=True if using DistributedOptimizer"),
                std::string::npos)
          << st.ToString();
      Buffer b(DataType::kFloat32, Shape{2});
      for (int root : {0, 1}) {
        st = rt.Broadcast("late.bcast." + std::to_string(root), b.tensor(), root);
        EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
        EXPECT_NE(st.message().find("Broadcast is not supported with Join at this time."),
                  std::string::npos)
            << st.ToString();
      }
      Buffer a(DataType::kFloat32, Shape{n});
      st = WaitOk(rt.AlltoallAsync("late.a2a", a.tensor()));
      EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
      EXPECT_NE(st.message().find("Alltoall is not supported with Join at this time."),
                std::string::npos)
          << st.ToString();
      Buffer r(DataType::kFloat32, Shape{n, 2});
      for (int64_t i = 0; i < r.size(); ++i) r.Set(i, 1);
      ReducescatterOptions rs;
      rs.op = ReduceOp::kSum;
      Handle h = rt.ReducescatterAsync("late.rs", r.tensor(), rs);
      ASSERT_TRUE(WaitOk(h).ok()) << h.Wait().ToString();
      ASSERT_GT(h.output().num_elements(), 0);
      EXPECT_EQ(static_cast<const float*>(h.output().data)[0], n - 1);  // the joined rank: zeros
    }
    if (rank == n - 1) SleepMicros(50'000);  // join last, deterministically
    Result<int> last = rt.Join();
    ASSERT_TRUE(last.ok()) << last.status().ToString();
    EXPECT_EQ(*last, n - 1);
    // After the join everyone is active again.
    for (int64_t i = 0; i < 3; ++i) t.Set(i, 1);
    ASSERT_TRUE(rt.Allreduce("step", t.tensor(), t.tensor(), sum).ok());
    EXPECT_EQ(t.Get(0), n);
  });
}

INSTANTIATE_TEST_SUITE_P(Ranks, CollectiveRanks, ::testing::Values(1, 2, 3, 4));

TEST(CollectiveRuntime, DuplicateNameInFlightIsRefused) {
  RunRanks(2, [&](int rank, Runtime& rt) {
    Buffer a(DataType::kFloat32, Shape{2});
    Buffer b(DataType::kFloat32, Shape{2});
    if (rank == 0) {
      Handle first = rt.AllreduceAsync("dup", a.tensor(), a.tensor());
      Handle second = rt.AllreduceAsync("dup", b.tensor(), b.tensor());
      Status st = second.Wait();
      EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
      EXPECT_NE(st.message().find("'dup'"), std::string::npos);
      EXPECT_TRUE(second.refused());
      EXPECT_FALSE(first.refused());
      EXPECT_TRUE(WaitOk(first).ok());
    } else {
      SleepMicros(20'000);
      EXPECT_TRUE(rt.Allreduce("dup", a.tensor(), a.tensor()).ok());
    }
  });
}

// Every kind of operation refuses a second in-flight operation with the same name on this rank,
// as Horovod does (its DUPLICATE_NAME_ERROR is an InvalidArgument); the first one still
// completes with the other rank's, and the name is free again once it completed.
TEST(CollectiveRuntime, DuplicateNameRefusedForEveryOperationAndReusableAfter) {
  RunRanks(2, [&](int rank, Runtime& rt) {
    Buffer a(DataType::kFloat32, Shape{2, 3});
    Buffer b(DataType::kFloat32, Shape{2, 3});
    Buffer c(DataType::kFloat32, Shape{2, 3});
    using Start = std::function<Handle(Buffer&)>;
    const std::vector<std::pair<std::string, Start>> ops = {
        {"ar", [&](Buffer& t) { return rt.AllreduceAsync("dup.ar", t.tensor(), t.tensor()); }},
        {"ag", [&](Buffer& t) { return rt.AllgatherAsync("dup.ag", t.tensor()); }},
        {"bc", [&](Buffer& t) { return rt.BroadcastAsync("dup.bc", t.tensor(), t.tensor(), 0); }},
        {"a2a", [&](Buffer& t) { return rt.AlltoallAsync("dup.a2a", t.tensor()); }},
        {"rs", [&](Buffer& t) { return rt.ReducescatterAsync("dup.rs", t.tensor()); }},
        {"grouped",
         [&](Buffer& t) {
           return rt.GroupedAllreduceAsync({"dup.g0", "dup.g1"}, {t.tensor(), c.tensor()},
                                           {t.tensor(), c.tensor()});
         }},
    };
    for (const auto& [what, start] : ops) {
      if (rank == 0) {
        Handle first = start(a);
        Handle second = start(b);
        EXPECT_TRUE(second.refused()) << what;
        Status st = second.Wait();
        EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << what << ": " << st.ToString();
        EXPECT_NE(st.message().find("same name"), std::string::npos) << st.ToString();
        EXPECT_TRUE(WaitOk(first).ok()) << what << ": " << first.Wait().ToString();
      } else {
        SleepMicros(20'000);
        Handle only = start(a);
        EXPECT_TRUE(WaitOk(only).ok()) << what << ": " << only.Wait().ToString();
      }
      // Completed: the name is free again, on both ranks.
      Handle again = start(a);
      EXPECT_FALSE(again.refused()) << what;
      EXPECT_TRUE(WaitOk(again).ok()) << what << ": " << again.Wait().ToString();
    }
    // A grouped operation naming one tensor twice is refused as a whole, on both ranks alike.
    Handle twice = rt.GroupedAllreduceAsync({"dup.x", "dup.x"}, {a.tensor(), b.tensor()},
                                            {a.tensor(), b.tensor()});
    EXPECT_TRUE(twice.refused());
    EXPECT_EQ(twice.Wait().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(rt.Allreduce("dup.x", a.tensor(), a.tensor()).ok());
  });
}

// Refusals at the call take part in the negotiation (issue 12, "Symmetry"): when only rank 0
// refuses an operation, the other ranks' matching operation fails too, naming rank 0 and keeping
// the refusal's status code, and the next operations run on every rank (no hang).
TEST_P(CollectiveRanks, OneSidedRefusalFailsEveryRankAndTheNextOperationsRun) {
  const int n = GetParam();
  if (n < 2) GTEST_SKIP();
  RunRanks(n, [&](int rank, Runtime& rt) {
    const bool bad = rank == 0;
    Buffer f(DataType::kFloat32, Shape{n, 2});
    Buffer ints(DataType::kInt32, Shape{n, 2});
    Buffer other(DataType::kFloat32, Shape{n, 2});
    Tensor scalar{f.tensor().data, DataType::kFloat32, {}, {}};
    AllreduceOptions adasum;
    adasum.op = ReduceOp::kAdasum;
    AlltoallOptions bad_splits;
    bad_splits.splits = std::vector<int64_t>(static_cast<size_t>(n), 0);
    bad_splits.splits[0] = n + 1;  // more rows than the tensor has
    struct Case {
      std::string name;
      StatusCode code;
      std::string reason;  // a part of rank 0's message
      std::function<Handle()> start;
    };
    const std::vector<Case> cases = {
        {"adasum.int", StatusCode::kInvalidArgument, "Adasum needs a floating-point tensor",
         [&] {
           return bad ? rt.AllreduceAsync("adasum.int", ints.tensor(), ints.tensor(), adasum)
                      : rt.AllreduceAsync("adasum.int", f.tensor(), f.tensor(), adasum);
         }},
        {"gather.scalar", StatusCode::kInvalidArgument, "at least one dimension",
         [&] { return rt.AllgatherAsync("gather.scalar", bad ? scalar : f.tensor()); }},
        {"bcast.root", StatusCode::kInvalidArgument, "root rank 99",
         [&] { return rt.BroadcastAsync("bcast.root", f.tensor(), f.tensor(), bad ? 99 : 0); }},
        {"a2a.splits", StatusCode::kFailedPrecondition, "splits",
         [&] {
           return rt.AlltoallAsync("a2a.splits", f.tensor(), bad ? bad_splits : AlltoallOptions{});
         }},
        {"rs.scalar", StatusCode::kInvalidArgument, "at least one dimension",
         [&] { return rt.ReducescatterAsync("rs.scalar", bad ? scalar : f.tensor()); }},
        {"grouped.1", StatusCode::kInvalidArgument, "differs from input",
         [&] {
           // Tensor 1 of the group is refused on rank 0: both tensors fail everywhere.
           Buffer small(DataType::kFloat32, Shape{1});
           return rt.GroupedAllreduceAsync({"grouped.0", "grouped.1"}, {f.tensor(), other.tensor()},
                                           {f.tensor(), bad ? small.tensor() : other.tensor()});
         }},
    };
    AllreduceOptions sum;
    sum.op = ReduceOp::kSum;
    for (const Case& c : cases) {
      Handle h = c.start();
      EXPECT_EQ(h.refused(), bad) << c.name;
      Status st = WaitOk(h);
      EXPECT_EQ(st.code(), c.code) << c.name << ": " << st.ToString();
      EXPECT_NE(st.message().find(c.reason), std::string::npos) << st.ToString();
      if (!bad) {
        EXPECT_NE(st.message().find("rank 0 refused it: "), std::string::npos) << st.ToString();
        EXPECT_NE(st.message().find(c.name), std::string::npos) << st.ToString();
      }
      // The next operation runs on every rank.
      Buffer t(DataType::kFloat32, Shape{3});
      for (int64_t i = 0; i < 3; ++i) t.Set(i, 1);
      ASSERT_TRUE(rt.Allreduce("after." + c.name, t.tensor(), t.tensor(), sum).ok()) << c.name;
      EXPECT_EQ(t.Get(2), n) << c.name;
    }
    // Automatic names stay in step: a refused unnamed operation uses up its number too.
    Handle h = bad ? rt.AllreduceAsync("", ints.tensor(), ints.tensor(), adasum)
                   : rt.AllreduceAsync("", f.tensor(), f.tensor());
    Status st = WaitOk(h);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find("allreduce.noname.0"), std::string::npos) << st.ToString();
    Buffer t(DataType::kFloat32, Shape{2});
    for (int64_t i = 0; i < 2; ++i) t.Set(i, 1);
    ASSERT_TRUE(rt.Allreduce("", t.tensor(), t.tensor(), sum).ok());
    EXPECT_EQ(t.Get(0), n);
  });
}

// A refusal of a name the response cache holds: the refusing rank negotiates it (never a cache
// hit), the coordinator evicts the entry everywhere, the others re-announce and fail with it, and
// the name is negotiated and cached again afterwards.
TEST_P(CollectiveRanks, OneSidedRefusalOfACachedName) {
  const int n = GetParam();
  if (n < 2) GTEST_SKIP();
  RunRanks(n, [&](int rank, Runtime& rt) {
    AllreduceOptions sum;
    sum.op = ReduceOp::kSum;
    Buffer t(DataType::kFloat32, Shape{2});
    Buffer ints(DataType::kInt32, Shape{2});
    for (int round = 0; round < 3; ++round) {
      ASSERT_TRUE(rt.Allreduce("cached", t.tensor(), t.tensor(), sum).ok());
    }
    const int64_t hits = rt.stats().cached_responses;
    EXPECT_GE(hits, 1);
    AllreduceOptions adasum;
    adasum.op = ReduceOp::kAdasum;
    Status st = rank == 0
                    ? WaitOk(rt.AllreduceAsync("cached", ints.tensor(), ints.tensor(), adasum))
                    : WaitOk(rt.AllreduceAsync("cached", t.tensor(), t.tensor(), sum));
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    if (rank != 0) {
      EXPECT_NE(st.message().find("rank 0 refused it"), std::string::npos) << st.ToString();
    }
    for (int round = 0; round < 3; ++round) {
      for (int64_t i = 0; i < 2; ++i) t.Set(i, 1);
      ASSERT_TRUE(rt.Allreduce("cached", t.tensor(), t.tensor(), sum).ok());
      EXPECT_EQ(t.Get(1), n);
    }
    EXPECT_GT(rt.stats().cached_responses, hits);  // cached again
  });
}

// The same refusal on every rank: each rank fails at the call; the coordinator's answer to the
// refusals is ignored, and the name, held until then, can be used again at once (the new
// operation waits behind the refusal instead of being a duplicate).
TEST_P(CollectiveRanks, SymmetricRefusalFailsAtTheCallAndTheNameIsReusable) {
  const int n = GetParam();
  if (n < 2) GTEST_SKIP();
  RunRanks(n, [&](int, Runtime& rt) {
    Buffer t(DataType::kFloat32, Shape{n + 1});
    for (int round = 0; round < 3; ++round) {
      Handle h = rt.AlltoallAsync("uneven", t.tensor());  // n + 1 rows do not divide
      EXPECT_TRUE(h.refused());
      EXPECT_EQ(h.Wait().code(), StatusCode::kFailedPrecondition) << h.Wait().ToString();
      Buffer even(DataType::kFloat32, Shape{n});
      for (int64_t i = 0; i < n; ++i) even.Set(i, 7);
      Handle ok = rt.AlltoallAsync("uneven", even.tensor());
      EXPECT_FALSE(ok.refused()) << ok.Wait().ToString();
      ASSERT_TRUE(WaitOk(ok).ok()) << ok.Wait().ToString();
      EXPECT_EQ(ok.output().shape, (Shape{n}));
    }
  });
}

// An adapter's own refusal (RefuseAsync, e.g. a torch dtype the runtime lacks) is negotiated the
// same way, with its status code.
TEST(CollectiveRuntime, AdapterRefusalIsNegotiated) {
  RunRanks(2, [&](int rank, Runtime& rt) {
    Buffer t(DataType::kFloat32, Shape{2});
    Handle h = rank == 0 ? rt.RefuseAsync(OpType::kAllgather, {"complex"},
                                          InvalidArgument("dtype complex64 is not supported"))
                         : rt.AllgatherAsync("complex", t.tensor());
    EXPECT_EQ(h.refused(), rank == 0);
    Status st = WaitOk(h);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find("complex64"), std::string::npos) << st.ToString();
    if (rank == 1) {
      EXPECT_EQ(st.message(),
                "allgather 'complex': rank 0 refused it: dtype complex64 is not supported");
    }
    Handle g = rt.AllgatherAsync("complex", t.tensor());
    ASSERT_TRUE(WaitOk(g).ok()) << g.Wait().ToString();
    EXPECT_EQ(g.output().shape, (Shape{4}));
  });
}

// The queue itself: a name is in flight once per process set; a batch is added all or nothing.
TEST(TensorQueue, DuplicateNameIsAnInvalidArgumentPerProcessSetAndFreeAfterTake) {
  auto entry = [](int32_t set, const std::string& name) {
    TensorEntry e;
    e.process_set = set;
    e.request.type = OpType::kAllgather;
    e.request.name = name;
    return e;
  };
  auto one = [&](int32_t set, const std::string& name) {
    std::vector<TensorEntry> v;
    v.push_back(entry(set, name));
    return v;
  };
  TensorQueue q;
  ASSERT_TRUE(q.Add(one(0, "t")).ok());
  Status dup = q.Add(one(0, "t"));
  EXPECT_EQ(dup.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dup.message().find("Requested to allgather a tensor with the same name"),
            std::string::npos)
      << dup.ToString();
  EXPECT_NE(dup.message().find("'t'"), std::string::npos);
  EXPECT_TRUE(q.Add(one(1, "t")).ok());  // another process set
  // A batch repeating a name, or naming one in flight, adds nothing.
  std::vector<TensorEntry> batch;
  batch.push_back(entry(0, "u"));
  batch.push_back(entry(0, "u"));
  EXPECT_EQ(q.Add(std::move(batch)).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(q.InFlight(0, "u"));
  batch.clear();
  batch.push_back(entry(0, "v"));
  batch.push_back(entry(0, "t"));
  EXPECT_EQ(q.Add(std::move(batch)).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(q.InFlight(0, "v"));
  EXPECT_EQ(q.PopNew(0).size(), 1u);  // only the first "t" was queued
  // Once taken out (executed), the name may be used again.
  ASSERT_TRUE(q.Take(0, "t").has_value());
  EXPECT_TRUE(q.Add(one(0, "t")).ok());
  EXPECT_TRUE(q.InFlight(0, "t"));
}

// A refusal's stand-in holds its name: an entry of that name added meanwhile is no duplicate; it
// waits, unannounced, and is announced when the refusal is taken out. A real entry still makes a
// later one of its name a duplicate.
TEST(TensorQueue, ANameHeldByARefusalMakesTheNextEntryWait) {
  auto entry = [](const std::string& name, bool refusal) {
    std::vector<TensorEntry> v(1);
    v[0].request.name = name;
    v[0].refusal = refusal;
    if (refusal) v[0].request.error = "refused";
    return v;
  };
  TensorQueue q;
  ASSERT_TRUE(q.Add(entry("r", true)).ok());
  EXPECT_TRUE(q.CheckName(0, OpType::kAllreduce, "r").ok());
  ASSERT_TRUE(q.Add(entry("r", false)).ok());
  ASSERT_TRUE(q.Add(entry("r", true)).ok());  // a second refusal waits too
  std::vector<Request> fresh = q.PopNew(0);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].error, "refused");
  std::optional<TensorEntry> first = q.Take(0, "r");
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->refusal);
  fresh = q.PopNew(0);
  ASSERT_EQ(fresh.size(), 1u);  // the real one is announced now
  EXPECT_TRUE(fresh[0].error.empty());
  EXPECT_EQ(q.CheckName(0, OpType::kAllreduce, "r").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(q.Add(entry("r", false)).code(), StatusCode::kInvalidArgument);
  std::optional<TensorEntry> second = q.Take(0, "r");
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(second->refusal);
  EXPECT_EQ(q.PopNew(0).size(), 1u);  // then the second refusal
  EXPECT_TRUE(q.Take(0, "r")->refusal);
  EXPECT_FALSE(q.InFlight(0, "r"));
  // Whatever waits is handed back by Close.
  ASSERT_TRUE(q.Add(entry("z", true)).ok());
  ASSERT_TRUE(q.Add(entry("z", false)).ok());
  EXPECT_EQ(q.Close(Status(StatusCode::kCanceled, "closed")).size(), 2u);
}

// Adasum against the formula evaluated here, independently, on Horovod's tree: rank pairs at
// distance 1, then 2, ...; each tensor of a fused group on its own; a joined-like zero vector.
std::vector<double> AdasumPair(const std::vector<double>& a, const std::vector<double>& b) {
  double dot = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  std::vector<double> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    out[i] = (aa > 0 ? 1 - dot / (2 * aa) : 1) * a[i] + (bb > 0 ? 1 - dot / (2 * bb) : 1) * b[i];
  }
  return out;
}

double AdasumInput(int rank, int tensor, int i) {
  return std::sin(1.7 * rank + 0.3 * tensor + 0.9 * i) + 0.25 * (rank % 2);
}

TEST(CollectiveRuntime, AdasumMatchesTheFormulaOnHorovodsTree) {
  for (int n : {2, 3, 4}) {
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16}) {
      const int kTensors = 3;
      const int kCount = 7;
      // Expected: evaluate the tree per tensor.
      std::vector<std::vector<double>> expected(kTensors);
      for (int t = 0; t < kTensors; ++t) {
        std::vector<std::vector<double>> v(static_cast<size_t>(n));
        for (int r = 0; r < n; ++r) {
          for (int i = 0; i < kCount; ++i) {
            Buffer q(dtype, Shape{1});  // the input as the dtype stores it
            q.Set(0, AdasumInput(r, t, i) * 0.5);
            v[static_cast<size_t>(r)].push_back(q.Get(0));
          }
        }
        for (int d = 1; d < n; d *= 2) {
          for (int i = 0; i + d < n; i += 2 * d) {
            v[static_cast<size_t>(i)] =
                AdasumPair(v[static_cast<size_t>(i)], v[static_cast<size_t>(i + d)]);
          }
        }
        expected[static_cast<size_t>(t)] = v[0];
      }
      std::vector<std::vector<std::vector<double>>> got(static_cast<size_t>(n));
      RunRanks(n, [&](int rank, Runtime& rt) {
        std::vector<Buffer> bufs;
        for (int t = 0; t < kTensors; ++t) {
          bufs.emplace_back(dtype, Shape{kCount});
          // prescale 0.5 is applied before, postscale 2 after the combination
          for (int i = 0; i < kCount; ++i) bufs.back().Set(i, AdasumInput(rank, t, i));
        }
        AllreduceOptions o;
        o.op = ReduceOp::kAdasum;
        o.prescale_factor = 0.5;
        o.postscale_factor = 2.0;
        std::vector<Handle> hs;
        for (int t = 0; t < kTensors; ++t) {
          Tensor x = bufs[static_cast<size_t>(t)].tensor();
          hs.push_back(rt.AllreduceAsync("adasum." + std::to_string(t), x, x, o));
        }
        for (Handle& h : hs) ASSERT_TRUE(h.Wait().ok()) << h.Wait().ToString();
        for (const Buffer& b : bufs) {
          std::vector<double> vals;
          for (int i = 0; i < kCount; ++i) vals.push_back(b.Get(i));
          got[static_cast<size_t>(rank)].push_back(vals);
        }
      });
      const double tol = dtype == DataType::kFloat16 ? 2e-2 : 1e-5;
      for (int r = 0; r < n; ++r) {
        for (int t = 0; t < kTensors; ++t) {
          for (int i = 0; i < kCount; ++i) {
            EXPECT_NEAR(got[static_cast<size_t>(r)][static_cast<size_t>(t)][static_cast<size_t>(i)],
                        2.0 * expected[static_cast<size_t>(t)][static_cast<size_t>(i)], tol)
                << "n=" << n << " dtype=" << DataTypeName(dtype) << " rank " << r << " tensor " << t
                << " element " << i;
          }
        }
        // every rank holds the same values
        EXPECT_EQ(got[static_cast<size_t>(r)], got[0]);
      }
    }
  }
}

TEST(CollectiveRuntime, AdasumOfParallelGradientsIsTheirAverageAndOfOrthogonalOnesTheSum) {
  RunRanks(2, [&](int rank, Runtime& rt) {
    Buffer same(DataType::kFloat32, Shape{3});
    Buffer ortho(DataType::kFloat32, Shape{2});
    for (int i = 0; i < 3; ++i) same.Set(i, 1.0 + i);
    ortho.Set(0, rank == 0 ? 3.0 : 0.0);
    ortho.Set(1, rank == 0 ? 0.0 : 4.0);
    AllreduceOptions o;
    o.op = ReduceOp::kAdasum;
    ASSERT_TRUE(rt.Allreduce("same", same.tensor(), same.tensor(), o).ok());
    ASSERT_TRUE(rt.Allreduce("ortho", ortho.tensor(), ortho.tensor(), o).ok());
    for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(same.Get(i), 1.0 + i);
    EXPECT_FLOAT_EQ(ortho.Get(0), 3.0);
    EXPECT_FLOAT_EQ(ortho.Get(1), 4.0);
  });
}

TEST(CollectiveRuntime, InvalidRequestsFailAtOnce) {
  RunRanks(1, [&](int, Runtime& rt) {
    Buffer t(DataType::kFloat32, Shape{2});
    AllreduceOptions adasum;
    adasum.op = ReduceOp::kAdasum;
    Buffer ints(DataType::kInt32, Shape{2});
    Status st = rt.Allreduce("a", ints.tensor(), ints.tensor(), adasum);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("floating-point"), std::string::npos) << st.ToString();
    Tensor gpu = t.tensor();
    gpu.device = Device{DeviceType::kCuda, 0};
    EXPECT_EQ(rt.Allreduce("g", gpu, gpu).code(), StatusCode::kUnimplemented);
    Buffer flag(DataType::kBool, Shape{2});
    EXPECT_EQ(rt.Allreduce("b", flag.tensor(), flag.tensor()).code(),
              StatusCode::kInvalidArgument);  // Average of bool
    Buffer other(DataType::kFloat32, Shape{3});
    EXPECT_EQ(rt.Allreduce("s", t.tensor(), other.tensor()).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(rt.Broadcast("r", t.tensor(), 5).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(
        rt.AllreduceAsync("p", t.tensor(), t.tensor(), {ReduceOp::kSum, 1, 1, 42}).Wait().code(),
        StatusCode::kNotFound);
    Tensor scalar{t.tensor().data, DataType::kFloat32, {}, {}};
    EXPECT_EQ(rt.AllgatherAsync("sc", scalar).Wait().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(Handle().Wait().code(), StatusCode::kFailedPrecondition);
  });
}

TEST(CollectiveRuntime, ProcessSetsAddRemoveAndRunTheirOwnCoordination) {
  RankSetup setup;
  setup.process_sets = {{1, 2, 3}};
  RunRanks(
      4,
      [&](int rank, Runtime& rt) {
        EXPECT_EQ(rt.ProcessSetIds(), (std::vector<ProcessSetId>{0, 1}));
        Result<ProcessSetId> even = rt.AddProcessSet({2, 0});
        Result<ProcessSetId> odd = rt.AddProcessSet({1, 3});
        ASSERT_TRUE(even.ok() && odd.ok()) << even.status().ToString();
        EXPECT_EQ(*even, 2);
        EXPECT_EQ(*odd, 3);
        EXPECT_EQ(rt.AddProcessSet({0, 2}).status().code(), StatusCode::kAlreadyExists);
        ProcessSetId mine = rank % 2 == 0 ? *even : *odd;
        Result<ProcessSetInfo> info = rt.GetProcessSet(mine);
        ASSERT_TRUE(info.ok());
        EXPECT_EQ(info->rank, rank / 2);
        EXPECT_EQ(info->size(), 2);

        // Both sets reduce tensors of the same name at the same time, independently.
        Buffer t(DataType::kInt64, Shape{4});
        for (int64_t i = 0; i < 4; ++i) t.Set(i, rank);
        AllreduceOptions sum;
        sum.op = ReduceOp::kSum;
        sum.process_set = mine;
        ASSERT_TRUE(rt.Allreduce("same.name", t.tensor(), t.tensor(), sum).ok());
        EXPECT_EQ(t.Get(0), rank % 2 == 0 ? 0 + 2 : 1 + 3);
        // Broadcast roots are global ranks; allgather follows set order.
        Buffer b(DataType::kFloat32, Shape{1});
        b.Set(0, rank);
        ASSERT_TRUE(rt.Broadcast("bc", b.tensor(), rank % 2 == 0 ? 2 : 3, mine).ok());
        EXPECT_EQ(b.Get(0), rank % 2 == 0 ? 2 : 3);
        // The set registered at init.
        sum.process_set = 1;
        Buffer u(DataType::kFloat32, Shape{1});
        u.Set(0, 1);
        Status st = rt.Allreduce("u", u.tensor(), u.tensor(), sum);
        if (rank == 0) {
          EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);  // not a member
        } else {
          EXPECT_TRUE(st.ok());
          EXPECT_EQ(u.Get(0), 3);
        }
        EXPECT_TRUE(rt.RemoveProcessSet(*odd).ok());
        EXPECT_EQ(rt.GetProcessSet(*odd).status().code(), StatusCode::kNotFound);
        sum.process_set = *odd;
        EXPECT_EQ(rt.Allreduce("gone", t.tensor(), t.tensor(), sum).code(), StatusCode::kNotFound);
        EXPECT_EQ(rt.RemoveProcessSet(kGlobalProcessSet).code(), StatusCode::kInvalidArgument);
        EXPECT_EQ(rt.ProcessSetIds(), (std::vector<ProcessSetId>{0, 1, 2}));
      },
      setup);
}

TEST(CollectiveRuntime, StallIsReportedAndCanShutTheJobDown) {
  RankSetup setup;
  setup.config.stall_check = true;
  setup.config.stall_warning_seconds = 0.2;
  setup.config.stall_shutdown_seconds = 0.6;
  setup.barrier_at_end = false;
  ::testing::internal::CaptureStderr();
  int64_t start = MonotonicMicros();
  RunRanks(
      3,
      [&](int rank, Runtime& rt) {
        Buffer t(DataType::kFloat32, Shape{2});
        if (rank != 1) {
          Status st = WaitOk(rt.AllreduceAsync("lonely", t.tensor(), t.tensor()));
          EXPECT_EQ(st.code(), StatusCode::kTimeout) << st.ToString();
          EXPECT_NE(st.message().find("'lonely'"), std::string::npos) << st.message();
          EXPECT_NE(st.message().find("missing ranks 1"), std::string::npos) << st.message();
        } else {
          while (rt.is_initialized() && MonotonicMicros() - start < 20'000'000) SleepMicros(10'000);
          EXPECT_FALSE(rt.is_initialized());
          EXPECT_EQ(rt.stop_status().code(), StatusCode::kTimeout);
          EXPECT_EQ(rt.Allreduce("after", t.tensor(), t.tensor()).code(),
                    StatusCode::kFailedPrecondition);
        }
      },
      setup);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("stall"), std::string::npos) << err;
  EXPECT_NE(err.find("'lonely' waited"), std::string::npos) << err;
  EXPECT_LT(MonotonicMicros() - start, 10'000'000);
}

TEST(CollectiveRuntime, ADeadRankMakesTheOthersFailPromptly) {
  InProcWorld world(3);
  RankSetup setup;
  setup.barrier_at_end = false;
  RunRanks(
      3,
      [&](int rank, Runtime& rt) {
        Buffer t(DataType::kFloat32, Shape{2});
        ASSERT_TRUE(rt.Allreduce("before", t.tensor(), t.tensor()).ok());
        if (rank == 2) {
          world.Kill(2);
          return;
        }
        int64_t start = MonotonicMicros();
        Status st = WaitOk(rt.AllreduceAsync("after", t.tensor(), t.tensor()));
        // Unavailable if the failure hit the pending allreduce; FailedPrecondition if the runtime
        // had already stopped (an idle cycle noticed first).
        EXPECT_TRUE(st.code() == StatusCode::kUnavailable ||
                    st.code() == StatusCode::kFailedPrecondition)
            << st.ToString();
        EXPECT_NE(st.message().find("rank 2 died"), std::string::npos) << st.message();
        EXPECT_EQ(rt.stop_status().code(), StatusCode::kUnavailable);
        EXPECT_LT(MonotonicMicros() - start, 5'000'000);
        EXPECT_FALSE(rt.is_initialized());
      },
      setup, &world);
}

TEST(CollectiveRuntime, ShutdownOnOneRankFailsTheOthersPendingWork) {
  RankSetup setup;
  setup.barrier_at_end = false;
  RunRanks(
      2,
      [&](int rank, Runtime& rt) {
        Buffer t(DataType::kFloat32, Shape{2});
        if (rank == 0) {
          EXPECT_TRUE(rt.Shutdown().ok());
          EXPECT_FALSE(rt.is_initialized());
          EXPECT_EQ(rt.Allreduce("x", t.tensor(), t.tensor()).code(),
                    StatusCode::kFailedPrecondition);
        } else {
          Status st = WaitOk(rt.AllreduceAsync("never", t.tensor(), t.tensor()));
          EXPECT_EQ(st.code(), StatusCode::kCanceled) << st.ToString();
        }
      },
      setup);
}

TEST(CollectiveRuntime, TimelineRecordsNegotiationFusionAndTheTransportOp) {
  ::trainyard::testing::TempDir dir;
  const std::string path = dir / "timeline.json";
  RunRanks(2, [&](int rank, Runtime& rt) {
    ASSERT_TRUE(rt.StartTimeline(path, /*mark_cycles=*/true).ok());
    std::vector<Buffer> bufs;
    for (int t = 0; t < 3; ++t) bufs.emplace_back(DataType::kFloat32, Shape{16});
    std::vector<Tensor> ts;
    for (auto& b : bufs) ts.push_back(b.tensor());
    AllreduceOptions opts;
    ASSERT_TRUE(
        WaitOk(rt.GroupedAllreduceAsync({"small.a", "small.b", "small.c"}, ts, ts, opts)).ok());
    Buffer big(DataType::kFloat32, Shape{1 << 16});
    ASSERT_TRUE(rt.Allreduce("big", big.tensor(), big.tensor()).ok());
    ASSERT_TRUE(rt.Barrier().ok());
    ASSERT_TRUE(rt.StopTimeline().ok());
    (void)rank;
  });
  std::ifstream in(path);
  nlohmann::json trace = nlohmann::json::parse(in);
  std::map<int, std::string> tensor_of;
  std::map<std::string, std::multiset<std::string>> begun;
  int depth = 0;
  for (const auto& e : trace) {
    if (e["ph"] == "M" && e["name"] == "process_name") tensor_of[e["pid"]] = e["args"]["name"];
    if (e["ph"] == "B") {
      begun[tensor_of[e["pid"]]].insert(e["name"].get<std::string>());
      ++depth;
    }
    if (e["ph"] == "E") --depth;
  }
  EXPECT_EQ(depth, 0);
  for (const char* t : {"small.a", "small.b", "big"}) {
    EXPECT_TRUE(begun[t].count("NEGOTIATE_ALLREDUCE")) << t;
    EXPECT_TRUE(begun[t].count("ALLREDUCE")) << t;
    EXPECT_TRUE(begun[t].count("QUEUE")) << t;
    EXPECT_TRUE(begun[t].count("INPROC_ALLREDUCE")) << t;
  }
  EXPECT_TRUE(begun["small.a"].count("MEMCPY_IN_FUSION_BUFFER"));
  EXPECT_TRUE(begun["small.a"].count("MEMCPY_OUT_FUSION_BUFFER"));
  EXPECT_FALSE(begun["big"].count("MEMCPY_IN_FUSION_BUFFER"));  // large tensors are not copied
}

TEST(CollectiveRuntime, FusedTensorsLaidOutBackToBackAreReducedInPlace) {
  // Rank 0 keeps its tensors back to back in one allocation, in submission order (the
  // DistributedOptimizers' gradient layout); rank 1 has them apart (the fusion buffer path). The
  // transport call is the same on both, the values must be too, and rank 0 copies nothing.
  ::trainyard::testing::TempDir dir;
  const std::string path = dir / "timeline.json";
  const std::vector<int64_t> sizes = {7, 100, 1, 33};
  const std::vector<std::string> names = {"flat.a", "flat.b", "flat.c", "flat.d"};
  RunRanks(2, [&](int rank, Runtime& rt) {
    ASSERT_TRUE(rt.StartTimeline(path, /*mark_cycles=*/false).ok());
    Buffer all(DataType::kFloat32, Shape{141});
    std::vector<Buffer> apart;
    std::vector<Tensor> ts;
    int64_t offset = 0;
    for (int64_t n : sizes) {
      apart.emplace_back(DataType::kFloat32, Shape{n});
      Tensor t = rank == 0 ? Tensor{static_cast<float*>(all.tensor().data) + offset,
                                    DataType::kFloat32,
                                    Shape{n},
                                    {}}
                           : apart.back().tensor();
      for (int64_t i = 0; i < n; ++i) {
        static_cast<float*>(t.data)[i] = static_cast<float>((rank + 1) * (offset + i));
      }
      ts.push_back(t);
      offset += n;
    }
    AllreduceOptions opts;  // Average
    opts.prescale_factor = 2;
    opts.postscale_factor = 0.25;
    for (int step = 0; step < 2; ++step) {  // negotiated, then from the response cache
      ASSERT_TRUE(WaitOk(rt.GroupedAllreduceAsync(names, ts, ts, opts)).ok());
    }
    // Step 1: (x + 2x) * 2 / 2 * 0.25 = 0.75 x on both ranks; step 2: 0.75 x * 2 * 2 / 2 * 0.25.
    offset = 0;
    for (const Tensor& t : ts) {
      for (int64_t i = 0; i < t.num_elements(); ++i) {
        EXPECT_FLOAT_EQ(static_cast<float*>(t.data)[i],
                        static_cast<float>(0.375 * static_cast<double>(offset + i)))
            << "rank " << rank << " element " << offset + i;
      }
      offset += t.num_elements();
    }
    if (rank == 0) {
      EXPECT_EQ(rt.stats().fused_tensors, 8);
    }
    ASSERT_TRUE(rt.StopTimeline().ok());
  });
  std::ifstream in(path);
  nlohmann::json trace = nlohmann::json::parse(in);
  std::multiset<std::string> begun;
  for (const auto& e : trace) {
    if (e["ph"] == "B") begun.insert(e["name"].get<std::string>());
  }
  EXPECT_EQ(begun.count("INPROC_ALLREDUCE"), 8u);  // the timeline is rank 0's
  EXPECT_EQ(begun.count("MEMCPY_IN_FUSION_BUFFER"), 0u);
  EXPECT_EQ(begun.count("MEMCPY_OUT_FUSION_BUFFER"), 0u);
}

TEST(CollectiveRuntime, UnknownTransportIsUnavailable) {
  InitOptions options;
  options.transport = "carrier-pigeon";
  EXPECT_EQ(Runtime::Init(std::move(options)).status().code(), StatusCode::kUnavailable);
}

// --- device tensors: the routing to a process set's device communicator ---

// What a TestDeviceComm did; shared by a rank's device communicator and its splits.
struct DeviceCounters {
  std::atomic<int> coordination{0};  // AllreduceBitsAnd, GatherBytes, BroadcastBytes
  std::atomic<int> allreduces{0};
  std::atomic<int> allgathers{0};
  std::atomic<int> broadcasts{0};
  std::atomic<int> copies{0};
  std::atomic<int> scales{0};  // Scale and ScaleCopy
  std::atomic<int> scratches{0};
};

// A stand-in for the NCCL communicator: an in-process communicator whose buffers count as being on
// cuda:0 (they are host memory, so the runtime's routing, fusion planning and scaling can be
// checked without a GPU). Counts the calls it gets and forwards them.
class TestDeviceComm : public Communicator {
 public:
  TestDeviceComm(std::unique_ptr<Communicator> inner, std::shared_ptr<DeviceCounters> counters)
      : inner_(std::move(inner)), counters_(std::move(counters)) {}

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  const char* transport_name() const override { return "TESTDEV"; }
  bool all_on_one_host() const override { return inner_->all_on_one_host(); }
  Device device() const override { return Device{DeviceType::kCuda, 0}; }

  Status AllreduceBitsAnd(uint64_t* words, size_t count) override {
    ++counters_->coordination;
    return inner_->AllreduceBitsAnd(words, count);
  }
  Status GatherBytes(const std::string& mine, std::vector<std::string>* all) override {
    ++counters_->coordination;
    return inner_->GatherBytes(mine, all);
  }
  Status BroadcastBytes(std::string* bytes) override {
    ++counters_->coordination;
    return inner_->BroadcastBytes(bytes);
  }
  Status AllgatherInt64(int64_t mine, std::vector<int64_t>* all) override {
    return inner_->AllgatherInt64(mine, all);
  }
  Status AlltoallInt64(const std::vector<int64_t>& send, std::vector<int64_t>* recv) override {
    return inner_->AlltoallInt64(send, recv);
  }
  Status Allreduce(const void* in, void* out, int64_t count, DataType dtype, ReduceOp op) override {
    ++counters_->allreduces;
    return inner_->Allreduce(in, out, count, dtype, op);
  }
  Status Allgatherv(const void* in, void* out, const std::vector<int64_t>& counts,
                    DataType dtype) override {
    ++counters_->allgathers;
    return inner_->Allgatherv(in, out, counts, dtype);
  }
  Status Broadcast(void* data, int64_t count, DataType dtype, int root) override {
    ++counters_->broadcasts;
    return inner_->Broadcast(data, count, dtype, root);
  }
  Status Alltoallv(const void* in, const std::vector<int64_t>& send_counts, void* out,
                   const std::vector<int64_t>& recv_counts, DataType dtype) override {
    return inner_->Alltoallv(in, send_counts, out, recv_counts, dtype);
  }
  Status ReduceScatter(const void* in, void* out, const std::vector<int64_t>& counts,
                       DataType dtype, ReduceOp op) override {
    return inner_->ReduceScatter(in, out, counts, dtype, op);
  }
  Status Barrier() override { return inner_->Barrier(); }

  Status Copy(void* dst, const void* src, int64_t bytes) override {
    ++counters_->copies;
    return Communicator::Copy(dst, src, bytes);
  }
  Status ScaleCopy(void* dst, const void* src, int64_t count, DataType dtype,
                   double factor) override {
    ++counters_->scales;
    return Communicator::ScaleCopy(dst, src, count, dtype, factor);
  }
  Status Scale(void* data, int64_t count, DataType dtype, double factor) override {
    ++counters_->scales;
    return Communicator::Scale(data, count, dtype, factor);
  }
  Result<void*> DeviceScratch(int64_t bytes, bool zero) override {
    ++counters_->scratches;
    if (scratch_.size() < static_cast<size_t>(bytes)) scratch_.resize(static_cast<size_t>(bytes));
    if (zero) std::fill(scratch_.begin(), scratch_.end(), std::byte{0});
    return static_cast<void*>(scratch_.data());
  }

  Result<std::unique_ptr<Communicator>> Split(const std::vector<int>& members) override {
    ASSIGN_OR_RETURN(std::unique_ptr<Communicator> sub, inner_->Split(members));
    if (sub == nullptr) return sub;
    return std::unique_ptr<Communicator>(new TestDeviceComm(std::move(sub), counters_));
  }

 private:
  std::unique_ptr<Communicator> inner_;
  std::shared_ptr<DeviceCounters> counters_;
  std::vector<std::byte> scratch_;
};

// Like RunRanks, with a TestDeviceComm as every rank's device communicator (only on the ranks
// for which `with_device` says so, when given).
void RunDeviceRanks(int n, const std::function<void(int, Runtime&, DeviceCounters&)>& fn,
                    RankSetup setup = {}) {
  InProcWorld host(n);
  InProcWorld device(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      auto counters = std::make_shared<DeviceCounters>();
      InitOptions options;
      options.world = host.Connect(r);
      options.world.device =
          std::make_unique<TestDeviceComm>(std::move(device.Connect(r).comm), counters);
      options.config = setup.config;
      options.process_sets = setup.process_sets;
      Result<std::unique_ptr<Runtime>> rt = Runtime::Init(std::move(options));
      ASSERT_TRUE(rt.ok()) << rt.status().ToString();
      fn(r, **rt, *counters);
      if (setup.barrier_at_end && (*rt)->is_initialized()) {
        EXPECT_TRUE((*rt)->Barrier().ok());
      }
      EXPECT_TRUE((*rt)->Shutdown().ok());
      EXPECT_EQ(counters->coordination.load(), 0) << "coordination stays on the host";
    });
  }
  for (auto& t : threads) t.join();
}

Tensor OnCuda(Buffer& b) {
  Tensor t = b.tensor();
  t.device = Device{DeviceType::kCuda, 0};
  return t;
}

class DeviceRanks : public ::testing::TestWithParam<int> {};

TEST_P(DeviceRanks, CudaTensorsRunOnTheDeviceCommunicatorUnfusedAndScaledThere) {
  const int n = GetParam();
  ::trainyard::testing::TempDir dir;
  const std::string path = dir / "timeline.json";
  RunDeviceRanks(n, [&](int rank, Runtime& rt, DeviceCounters& c) {
    ASSERT_TRUE(rt.StartTimeline(path).ok());
    // Average with prescale 3 and postscale 0.5: (sum of 3 v) / n * 0.5.
    Buffer in(DataType::kFloat32, Shape{1000});
    Buffer out(DataType::kFloat32, Shape{1000});
    for (int64_t i = 0; i < in.size(); ++i)
      in.Set(i, testing::TestValue(DataType::kFloat32, rank, i));
    AllreduceOptions avg;
    avg.prescale_factor = 3;
    avg.postscale_factor = 0.5;
    ASSERT_TRUE(WaitOk(rt.AllreduceAsync("dev.avg", OnCuda(in), OnCuda(out), avg)).ok());
    for (int64_t i : {int64_t{0}, int64_t{1}, int64_t{999}}) {
      double sum = 0;
      for (int r = 0; r < n; ++r) sum += testing::TestValue(DataType::kFloat32, r, i);
      EXPECT_DOUBLE_EQ(out.Get(i), 3 * sum / n * 0.5) << i;
      EXPECT_EQ(in.Get(i), testing::TestValue(DataType::kFloat32, rank, i)) << "input untouched";
    }
    EXPECT_EQ(c.allreduces.load(), 1);
    EXPECT_EQ(c.scales.load(), 2);  // the prescale copy and the postscale, on the device

    // Small tensors that would be fused on the host: on the device, one call each, no fusion.
    std::vector<Buffer> bufs;
    for (int t = 0; t < 4; ++t) bufs.emplace_back(DataType::kInt32, Shape{8});
    std::vector<Tensor> dev;
    for (auto& b : bufs) {
      for (int64_t i = 0; i < 8; ++i) b.Set(i, rank + 1);
      dev.push_back(OnCuda(b));
    }
    AllreduceOptions sum;
    sum.op = ReduceOp::kSum;
    ASSERT_TRUE(WaitOk(rt.GroupedAllreduceAsync({"d.a", "d.b", "d.c", "d.d"}, dev, dev, sum)).ok());
    for (auto& b : bufs) EXPECT_EQ(b.Get(7), n * (n + 1) / 2);
    EXPECT_EQ(c.allreduces.load(), 5);
    EXPECT_EQ(rt.stats().fused_tensors, 0);
    // The same group in host memory is fused (on the host communicator).
    std::vector<Buffer> host;
    for (int t = 0; t < 4; ++t) host.emplace_back(DataType::kInt32, Shape{8});
    std::vector<Tensor> ht;
    for (auto& b : host) ht.push_back(b.tensor());
    ASSERT_TRUE(WaitOk(rt.GroupedAllreduceAsync({"h.a", "h.b", "h.c", "h.d"}, ht, ht, sum)).ok());
    EXPECT_EQ(rt.stats().fused_tensors, 4);
    EXPECT_EQ(c.allreduces.load(), 5) << "host tensors stay on the host communicator";

    // Allgather (rank r gives r + 1 rows) into memory its allocator says is on the device.
    Buffer rows(DataType::kFloat64, Shape{rank + 1, 2});
    for (int64_t i = 0; i < rows.size(); ++i) rows.Set(i, rank);
    std::vector<std::unique_ptr<Buffer>> gathered;
    AllgatherOptions gather;
    gather.allocator = [&](const Shape& shape) -> Result<Tensor> {
      gathered.push_back(std::make_unique<Buffer>(DataType::kFloat64, shape));
      return OnCuda(*gathered.back());
    };
    Handle g = rt.AllgatherAsync("dev.gather", OnCuda(rows), gather);
    ASSERT_TRUE(WaitOk(g).ok()) << g.Wait().ToString();
    ASSERT_EQ(gathered.size(), 1U);
    EXPECT_EQ(g.output().shape, (Shape{n * (n + 1) / 2, 2}));
    EXPECT_EQ(gathered[0]->Get(gathered[0]->size() - 1), n - 1);
    EXPECT_EQ(c.allgathers.load(), 1);

    // Broadcast out of place from the last rank: the root's copy goes through the device too.
    Buffer src(DataType::kFloat32, Shape{16});
    Buffer dst(DataType::kFloat32, Shape{16});
    for (int64_t i = 0; i < 16; ++i) src.Set(i, 10.0 * rank + static_cast<double>(i));
    ASSERT_TRUE(WaitOk(rt.BroadcastAsync("dev.bcast", OnCuda(src), OnCuda(dst), n - 1)).ok());
    EXPECT_EQ(dst.Get(15), (n - 1) * 10 + 15);
    EXPECT_EQ(c.broadcasts.load(), 1);
    EXPECT_EQ(c.copies.load(), rank == n - 1 ? 1 : 0);

    // Steady state: cached responses keep their device.
    for (int step = 0; step < 3; ++step) {
      ASSERT_TRUE(WaitOk(rt.AllreduceAsync("dev.avg", OnCuda(in), OnCuda(out), avg)).ok());
    }
    EXPECT_EQ(c.allreduces.load(), 8);
    EXPECT_EQ(rt.stats().device_tensors, 1 + 4 + 1 + 1 + 3);
    ASSERT_TRUE(rt.Barrier().ok());
    ASSERT_TRUE(rt.StopTimeline().ok());
  });
  std::ifstream file(path);
  nlohmann::json trace = nlohmann::json::parse(file);
  std::map<int, std::string> tensor_of;
  std::map<std::string, std::multiset<std::string>> begun;
  for (const auto& e : trace) {
    if (e["ph"] == "M" && e["name"] == "process_name") tensor_of[e["pid"]] = e["args"]["name"];
    if (e["ph"] == "B") begun[tensor_of[e["pid"]]].insert(e["name"].get<std::string>());
  }
  EXPECT_TRUE(begun["dev.avg"].count("TESTDEV_ALLREDUCE"));
  EXPECT_FALSE(begun["dev.avg"].count("INPROC_ALLREDUCE"));
  EXPECT_TRUE(begun["d.a"].count("TESTDEV_ALLREDUCE"));
  EXPECT_FALSE(begun["d.a"].count("MEMCPY_IN_FUSION_BUFFER"));
  EXPECT_TRUE(begun["h.a"].count("MEMCPY_IN_FUSION_BUFFER"));
  EXPECT_TRUE(begun["dev.gather"].count("TESTDEV_ALLGATHER"));
  EXPECT_TRUE(begun["dev.bcast"].count("TESTDEV_BROADCAST"));
}

INSTANTIATE_TEST_SUITE_P(Ranks, DeviceRanks, ::testing::Values(1, 2, 3));

TEST(CollectiveDevices, MixedDevicesForOneNameAreAMismatchOnEveryRank) {
  RunDeviceRanks(3, [&](int rank, Runtime& rt, DeviceCounters& c) {
    Buffer t(DataType::kFloat32, Shape{4});
    Tensor x = rank == 1 ? t.tensor() : OnCuda(t);
    Status st = rt.Allreduce("mixed", x, x);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find("mismatched devices"), std::string::npos) << st.ToString();
    EXPECT_NE(st.message().find("rank 1 sent a tensor on cpu"), std::string::npos) << st.ToString();
    EXPECT_EQ(c.allreduces.load(), 0);
  });
}

TEST(CollectiveDevices, WhatTheDevicePathRefusesFailsAtEnqueue) {
  RunDeviceRanks(1, [&](int, Runtime& rt, DeviceCounters&) {
    Buffer t(DataType::kFloat32, Shape{4, 2});
    Tensor cuda = OnCuda(t);
    Tensor other = cuda;
    other.device.index = 1;
    Status st = rt.Allreduce("other.gpu", other, other);
    EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
    EXPECT_NE(st.message().find("cuda:1"), std::string::npos) << st.ToString();
    EXPECT_EQ(rt.Allreduce("split", cuda, t.tensor()).code(), StatusCode::kInvalidArgument);
    AllreduceOptions adasum;
    adasum.op = ReduceOp::kAdasum;
    EXPECT_EQ(rt.Allreduce("adasum", cuda, cuda, adasum).code(), StatusCode::kUnimplemented);
    EXPECT_EQ(rt.ReducescatterAsync("rs", cuda).Wait().code(), StatusCode::kUnimplemented);
    st = rt.AllgatherAsync("noalloc", cuda).Wait();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find("OutputAllocator"), std::string::npos) << st.ToString();
    EXPECT_EQ(rt.AlltoallAsync("noalloc.a2a", cuda).Wait().code(), StatusCode::kInvalidArgument);
    // The runtime still works.
    EXPECT_TRUE(rt.Allreduce("fine", cuda, cuda).ok());
  });
}

TEST(CollectiveDevices, JoinedRankContributesDeviceZerosAndSetsSplitTheDeviceCommunicator) {
  RankSetup setup;
  setup.process_sets = {{0, 2}};
  RunDeviceRanks(
      3,
      [&](int rank, Runtime& rt, DeviceCounters& c) {
        // Process set {0, 2}: a split device communicator.
        if (rank != 1) {
          Buffer t(DataType::kFloat32, Shape{5});
          for (int64_t i = 0; i < 5; ++i) t.Set(i, rank + 1);
          AllreduceOptions sum;
          sum.op = ReduceOp::kSum;
          sum.process_set = 1;
          ASSERT_TRUE(rt.Allreduce("set.sum", OnCuda(t), OnCuda(t), sum).ok());
          EXPECT_EQ(t.Get(4), 1 + 3);
          EXPECT_EQ(c.allreduces.load(), 1);
        }
        // Rank 2 joins; the others reduce a CUDA tensor: rank 2 adds zeros from device scratch.
        AllreduceOptions sum;
        sum.op = ReduceOp::kSum;
        if (rank != 2) {
          Buffer t(DataType::kFloat32, Shape{6});
          for (int64_t i = 0; i < 6; ++i) t.Set(i, 1);
          ASSERT_TRUE(rt.Allreduce("joined.sum", OnCuda(t), OnCuda(t), sum).ok());
          EXPECT_EQ(t.Get(5), 2);
        }
        Result<int> last = rt.Join();
        ASSERT_TRUE(last.ok()) << last.status().ToString();
        if (rank == 2) {
          EXPECT_GE(c.scratches.load(), 1);
        }
      },
      setup);
}

TEST(CollectiveDevices, SomeRanksWithADeviceCommunicatorAndSomeWithoutFailInit) {
  InProcWorld host(2);
  InProcWorld device(2);
  std::vector<Status> got(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      InitOptions options;
      options.world = host.Connect(r);
      World d = device.Connect(r);
      if (r == 0) options.world.device = std::move(d.comm);
      options.config = TestConfig();
      got[static_cast<size_t>(r)] = Runtime::Init(std::move(options)).status();
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& st : got) {
    EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  }
}

}  // namespace
}  // namespace trainyard::collective
