// The runtime with real processes, one per rank, on a real transport. Compiled twice:
// collective_mpi_test runs under mpirun with 2, 3 or 4 ranks (ctest collective.mpi.*), and, with
// TRAINYARD_TEST_GLOO=1, collective_gloo_test runs the same tests over the Gloo transport in
// processes started with torch.distributed's RANK/WORLD_SIZE/MASTER_* by tests/launch_ranks.py (no
// mpirun; ctest collective.gloo.*). The few expectations that depend on the transport are marked.
//
// Every rank runs every test in the same order, and tests use non-fatal EXPECTs around the
// collectives, so that one rank's failure does not leave the others waiting. Only rank 0 prints
// the normal gtest output; other ranks print their failures prefixed with their rank.
//
// `collective_mpi_test --die` is the dead-rank scenario driven by dead_rank_test.cmake: rank 1
// exits in the middle of the job and the others must fail promptly instead of hanging.
#ifndef TRAINYARD_TEST_GLOO
#define TRAINYARD_TEST_GLOO 0
#endif

#include <gtest/gtest.h>
#if !TRAINYARD_TEST_GLOO
#include <mpi.h>
#endif
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "collective/collective.h"
#include "collective/test_util.h"
#include "common/clock.h"

// The test suite's name: Mpi.* or Gloo.*.
#if TRAINYARD_TEST_GLOO
#define TY_MULTIRANK Gloo
#else
#define TY_MULTIRANK Mpi
#endif

namespace trainyard::collective {
namespace {

using testing::Buffer;

Runtime* rt = nullptr;  // the runtime under test, created in main()

constexpr double kWaitSeconds = 60;

Status WaitOk(const Handle& h) { return h.WaitFor(kWaitSeconds); }

TEST(TY_MULTIRANK, TopologyAndBackends) {
  int size = 0;
#if TRAINYARD_TEST_GLOO
  size = std::atoi(std::getenv("WORLD_SIZE"));
  EXPECT_EQ(rt->rank(), std::atoi(std::getenv("RANK")));
  EXPECT_TRUE(Runtime::GlooBuilt());
#else
  MPI_Comm_size(MPI_COMM_WORLD, &size);
#endif
  EXPECT_EQ(rt->size(), size);
  EXPECT_EQ(rt->local_size(), size);  // one host
  EXPECT_EQ(rt->local_rank(), rt->rank());
  EXPECT_EQ(rt->cross_size(), 1);
  EXPECT_TRUE(Runtime::MpiBuilt());
  EXPECT_FALSE(Runtime::NcclBuilt());
}

TEST(TY_MULTIRANK, AllreduceEveryDtypeOpAndSize) {
  const int n = rt->size();
  for (DataType dtype : testing::AllDataTypes()) {
    std::vector<std::unique_ptr<Buffer>> bufs;
    std::vector<std::unique_ptr<Buffer>> outs;
    std::vector<Handle> handles;
    std::vector<ReduceOp> ops;
    for (ReduceOp op : testing::OpsFor(dtype)) {
      for (int64_t size : {0, 1, 17, 1000, 70000}) {
        auto in = std::make_unique<Buffer>(dtype, Shape{size});
        for (int64_t i = 0; i < size; ++i) in->Set(i, testing::TestValue(dtype, rt->rank(), i));
        // Every other tensor out of place.
        auto out = std::make_unique<Buffer>(dtype, Shape{size});
        bool in_place = size % 2 == 1;
        AllreduceOptions opts;
        opts.op = op;
        std::string name =
            std::string(DataTypeName(dtype)) + "." + ReduceOpName(op) + "." + std::to_string(size);
        handles.push_back(
            rt->AllreduceAsync(name, in->tensor(), in_place ? in->tensor() : out->tensor(), opts));
        ops.push_back(op);
        bufs.push_back(std::move(in));
        outs.push_back(in_place ? nullptr : std::move(out));
      }
    }
    for (size_t k = 0; k < handles.size(); ++k) {
      Status st = WaitOk(handles[k]);
      EXPECT_TRUE(st.ok()) << st.ToString();
      const Buffer& b = outs[k] ? *outs[k] : *bufs[k];
      for (int64_t i = 0; i < b.size(); ++i) {
        double want = testing::ExpectedAllreduce(dtype, ops[k], n, i);
        double got = b.Get(i);
        if (std::abs(got - want) > testing::Tolerance(dtype) * std::max(1.0, want)) {
          ADD_FAILURE() << DataTypeName(dtype) << " " << ReduceOpName(ops[k]) << " size "
                        << b.size() << " i=" << i << ": got " << got << ", want " << want;
          break;
        }
      }
    }
  }
}

TEST(TY_MULTIRANK, LargeTensors) {
  const int n = rt->size();
  // 16 MB of float32 (chunked by the transport), and 4 MB of float16 through the custom op.
  Buffer f(DataType::kFloat32, Shape{4 << 20});
  Buffer h(DataType::kFloat16, Shape{2 << 20});
  for (int64_t i = 0; i < f.size(); ++i) f.Set(i, (i % 7) + rt->rank());
  for (int64_t i = 0; i < h.size(); ++i) h.Set(i, (i % 3) + 1);
  AllreduceOptions sum;
  sum.op = ReduceOp::kSum;
  Handle hf = rt->AllreduceAsync("large.f32", f.tensor(), f.tensor(), sum);
  Handle hh = rt->AllreduceAsync("large.f16", h.tensor(), h.tensor(), sum);
  ASSERT_TRUE(WaitOk(hf).ok());
  ASSERT_TRUE(WaitOk(hh).ok());
  for (int64_t i : {int64_t{0}, int64_t{12345}, f.size() - 1}) {
    EXPECT_EQ(f.Get(i), n * (i % 7) + n * (n - 1) / 2) << i;
  }
  for (int64_t i : {int64_t{0}, int64_t{777}, h.size() - 1}) EXPECT_EQ(h.Get(i), n * ((i % 3) + 1));
}

TEST(TY_MULTIRANK, ScaleFactors) {
  const int n = rt->size();
  Buffer t(DataType::kFloat64, Shape{5});
  for (int64_t i = 0; i < 5; ++i) t.Set(i, i);
  AllreduceOptions opts;
  opts.op = ReduceOp::kAverage;
  opts.prescale_factor = 3;
  opts.postscale_factor = 0.5;
  ASSERT_TRUE(rt->Allreduce("scaled", t.tensor(), t.tensor(), opts).ok());
  for (int64_t i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(t.Get(i), 1.5 * i);
  (void)n;
}

TEST(TY_MULTIRANK, DifferentSubmissionOrders) {
  const int n = rt->size();
  const int rank = rt->rank();
  constexpr int kTensors = 40;
  std::vector<Buffer> bufs;
  for (int t = 0; t < kTensors; ++t) {
    bufs.emplace_back(DataType::kFloat32, Shape{(t % 4 == 0) ? 100000 : t + 1});
    for (int64_t i = 0; i < bufs.back().size(); ++i) bufs.back().Set(i, rank + t);
  }
  std::vector<int> order(kTensors);
  for (int t = 0; t < kTensors; ++t) order[static_cast<size_t>(t)] = t;
  std::rotate(order.begin(), order.begin() + (rank * 13) % kTensors, order.end());
  if (rank % 2 == 1) std::reverse(order.begin(), order.end());
  std::vector<Handle> handles(kTensors);
  AllreduceOptions sum;
  sum.op = ReduceOp::kSum;
  for (int t : order) {
    auto& b = bufs[static_cast<size_t>(t)];
    handles[static_cast<size_t>(t)] =
        rt->AllreduceAsync("order." + std::to_string(t), b.tensor(), b.tensor(), sum);
    if (t % 7 == rank) SleepMicros(500);
  }
  for (int t = 0; t < kTensors; ++t) {
    ASSERT_TRUE(WaitOk(handles[static_cast<size_t>(t)]).ok());
    EXPECT_EQ(bufs[static_cast<size_t>(t)].Get(0), n * (n - 1) / 2 + n * t);
  }
}

TEST(TY_MULTIRANK, MismatchFailsOnEveryRank) {
  const int rank = rt->rank();
  Buffer t(DataType::kFloat32, Shape{rank == 1 ? 6 : 4});
  Status st = rt->Allreduce("mismatch", t.tensor(), t.tensor());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("'mismatch'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("rank 1 sent [6]"), std::string::npos) << st.message();
  Buffer ok(DataType::kFloat32, Shape{4});
  EXPECT_TRUE(rt->Allreduce("mismatch", ok.tensor(), ok.tensor()).ok());
}

// A refusal at the call on one rank only (Adasum of an integer tensor on rank 1) fails the
// others' operation of that name too, naming rank 1, and every rank goes on (no hang).
TEST(TY_MULTIRANK, OneSidedRefusalFailsEveryRank) {
  const int rank = rt->rank();
  AllreduceOptions adasum;
  adasum.op = ReduceOp::kAdasum;
  Buffer f(DataType::kFloat32, Shape{4});
  Buffer ints(DataType::kInt32, Shape{4});
  Tensor t = rank == 1 ? ints.tensor() : f.tensor();
  Handle h = rt->AllreduceAsync("refused.adasum", t, t, adasum);
  EXPECT_EQ(h.refused(), rank == 1);
  Status st = WaitOk(h);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  if (rank != 1) {
    EXPECT_NE(st.message().find("allreduce 'refused.adasum': rank 1 refused it: Adasum needs a "
                                "floating-point tensor"),
              std::string::npos)
        << st.message();
  }
  // Unnamed operations after a refused unnamed one stay in step.
  Tensor u = rank == 1 ? ints.tensor() : f.tensor();
  EXPECT_EQ(WaitOk(rt->AllreduceAsync("", u, u, adasum)).code(), StatusCode::kInvalidArgument);
  AllreduceOptions sum;
  sum.op = ReduceOp::kSum;
  for (int64_t i = 0; i < 4; ++i) f.Set(i, 1);
  EXPECT_TRUE(rt->Allreduce("", f.tensor(), f.tensor(), sum).ok());
  EXPECT_EQ(f.Get(3), rt->size());
}

TEST(TY_MULTIRANK, AllgatherBroadcastAlltoallReducescatterBarrier) {
  const int n = rt->size();
  const int rank = rt->rank();
  // Allgather, first dimension rank + 1.
  Buffer g(DataType::kInt32, Shape{rank + 1, 2});
  for (int64_t i = 0; i < g.size(); ++i) g.Set(i, rank);
  Handle hg = rt->AllgatherAsync("gather", g.tensor());
  ASSERT_TRUE(WaitOk(hg).ok()) << hg.Wait().ToString();
  ASSERT_EQ(hg.output().shape, (Shape{n * (n + 1) / 2, 2}));
  const auto* gv = static_cast<const int32_t*>(hg.output().data);
  EXPECT_EQ(gv[0], 0);
  EXPECT_EQ(gv[hg.output().num_elements() - 1], n - 1);
  // Broadcast from each root.
  for (int root = 0; root < n; ++root) {
    Buffer b(DataType::kBFloat16, Shape{3});
    for (int64_t i = 0; i < 3; ++i) b.Set(i, rank * 4 + i);
    ASSERT_TRUE(rt->Broadcast("bcast", b.tensor(), root).ok());
    EXPECT_EQ(b.Get(2), root * 4 + 2);
  }
  // Alltoall: rank r sends j + 1 rows to rank j.
  std::vector<int64_t> splits;
  int64_t rows = 0;
  for (int j = 0; j < n; ++j) {
    splits.push_back(j + 1);
    rows += j + 1;
  }
  Buffer a(DataType::kFloat32, Shape{rows});
  int64_t row = 0;
  for (int j = 0; j < n; ++j) {
    for (int k = 0; k <= j; ++k) a.Set(row++, rank * 100 + j);
  }
  AlltoallOptions aopts;
  aopts.splits = splits;
  Handle ha = rt->AlltoallAsync("a2a", a.tensor(), aopts);
  ASSERT_TRUE(WaitOk(ha).ok()) << ha.Wait().ToString();
  EXPECT_EQ(ha.received_splits(), std::vector<int64_t>(static_cast<size_t>(n), rank + 1));
  const auto* av = static_cast<const float*>(ha.output().data);
  for (int src = 0; src < n; ++src) EXPECT_EQ(av[src * (rank + 1)], src * 100 + rank);
  // Reducescatter of 2n + 1 rows.
  const int64_t d = 2 * n + 1;
  Buffer r(DataType::kFloat32, Shape{d});
  for (int64_t i = 0; i < d; ++i) r.Set(i, i);
  ReducescatterOptions ropts;
  ropts.op = ReduceOp::kSum;
  Handle hr = rt->ReducescatterAsync("rs", r.tensor(), ropts);
  ASSERT_TRUE(WaitOk(hr).ok()) << hr.Wait().ToString();
  int64_t first = rank * 2 + std::min<int64_t>(rank, 1);
  EXPECT_EQ(hr.output().shape, (Shape{rank == 0 ? 3 : 2}));
  EXPECT_EQ(static_cast<const float*>(hr.output().data)[0], n * first);
  EXPECT_TRUE(rt->Barrier().ok());
}

// MPI on one host (shared memory) fuses only the small tensors; Gloo (TCP) fuses all that fit.
TEST(TY_MULTIRANK, GroupedTensorsAreFusedByTheTransportsRule) {
  const int n = rt->size();
  int64_t fused_before = rt->stats().fused_tensors;
  std::vector<Buffer> bufs;
  std::vector<std::string> names;
  std::vector<Tensor> ts;
  for (int t = 0; t < 8; ++t) {
    bufs.emplace_back(DataType::kFloat32,
                      Shape{t == 7 ? 1 << 18 : 256});  // 1 MB: fused on Gloo only
    names.push_back("grouped." + std::to_string(t));
  }
  for (auto& b : bufs) {
    for (int64_t i = 0; i < b.size(); ++i) b.Set(i, 1);
    ts.push_back(b.tensor());
  }
  AllreduceOptions sum;
  sum.op = ReduceOp::kSum;
  ASSERT_TRUE(WaitOk(rt->GroupedAllreduceAsync(names, ts, ts, sum)).ok());
  for (auto& b : bufs) EXPECT_EQ(b.Get(b.size() - 1), n);
  int64_t fused = rt->stats().fused_tensors - fused_before;
  // The group is announced at once on every rank, so it is decided in one cycle and planned as
  // one list.
  EXPECT_EQ(fused, TRAINYARD_TEST_GLOO ? 8 : 7);
}

TEST(TY_MULTIRANK, SteadyStateUsesTheCache) {
  RuntimeStats before = rt->stats();
  Buffer t(DataType::kFloat32, Shape{1024});
  for (int step = 0; step < 50; ++step) {
    ASSERT_TRUE(rt->Allreduce("steady", t.tensor(), t.tensor()).ok());
  }
  RuntimeStats after = rt->stats();
  EXPECT_EQ(after.negotiated_responses - before.negotiated_responses, 1);
  EXPECT_EQ(after.cached_responses - before.cached_responses, 49);
}

TEST(TY_MULTIRANK, Join) {
  const int n = rt->size();
  const int rank = rt->rank();
  AllreduceOptions sum;
  sum.op = ReduceOp::kSum;
  Buffer t(DataType::kFloat32, Shape{3});
  int steps = rank == 0 ? 1 : 3;
  for (int s = 0; s < steps; ++s) {
    for (int64_t i = 0; i < 3; ++i) t.Set(i, 1);
    ASSERT_TRUE(rt->Allreduce("join.step", t.tensor(), t.tensor(), sum).ok());
    EXPECT_EQ(t.Get(0), s == 0 ? n : n - 1);
  }
  if (rank != 0) {
    // As Horovod: allgather and broadcast fail while a rank has joined.
    Buffer g(DataType::kFloat32, Shape{2});
    Status st = WaitOk(rt->AllgatherAsync("join.gather", g.tensor()));
    EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
    EXPECT_NE(st.message().find("Allgather is not supported with Join"), std::string::npos)
        << st.message();
    st = rt->Broadcast("join.bcast", g.tensor(), 1);
    EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
    EXPECT_NE(st.message().find("Broadcast is not supported with Join"), std::string::npos)
        << st.message();
  }
  if (rank == n - 1) SleepMicros(100'000);
  Result<int> last = rt->Join();
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(*last, n - 1);
}

TEST(TY_MULTIRANK, ProcessSets) {
  const int n = rt->size();
  const int rank = rt->rank();
  std::vector<int> even;
  std::vector<int> odd;
  for (int r = 0; r < n; ++r) (r % 2 == 0 ? even : odd).push_back(r);
  Result<ProcessSetId> e = rt->AddProcessSet(even);
  Result<ProcessSetId> o = rt->AddProcessSet(odd);
  ASSERT_TRUE(e.ok() && o.ok()) << e.status().ToString() << o.status().ToString();
  const std::vector<int>& mine = rank % 2 == 0 ? even : odd;
  AllreduceOptions sum;
  sum.op = ReduceOp::kSum;
  sum.process_set = rank % 2 == 0 ? *e : *o;
  Buffer t(DataType::kInt32, Shape{2});
  for (int step = 0; step < 3; ++step) {
    t.Set(0, rank);
    t.Set(1, 1);
    ASSERT_TRUE(rt->Allreduce("ps.sum", t.tensor(), t.tensor(), sum).ok());
    int64_t want = 0;
    for (int r : mine) want += r;
    EXPECT_EQ(t.Get(0), want);
    EXPECT_EQ(t.Get(1), static_cast<double>(mine.size()));
  }
  EXPECT_TRUE(rt->RemoveProcessSet(*o).ok());
  EXPECT_TRUE(rt->RemoveProcessSet(*e).ok());
  EXPECT_EQ(rt->ProcessSetIds(), std::vector<ProcessSetId>{kGlobalProcessSet});
}

TEST(TY_MULTIRANK, TimelineContent) {
  const std::string path = "/tmp/trainyard-" + std::string(TRAINYARD_TEST_GLOO ? "gloo" : "mpi") +
                           "-timeline-" + std::to_string(getppid()) + "-{rank}.json";
  ASSERT_TRUE(rt->StartTimeline(path).ok());
  Buffer small(DataType::kFloat32, Shape{64});
  Buffer small2(DataType::kFloat32, Shape{64});
  Buffer big(DataType::kFloat32, Shape{1 << 18});
  ASSERT_TRUE(
      WaitOk(rt->GroupedAllreduceAsync({"tl.small", "tl.small2"}, {small.tensor(), small2.tensor()},
                                       {small.tensor(), small2.tensor()}))
          .ok());
  ASSERT_TRUE(rt->Allreduce("tl.big", big.tensor(), big.tensor()).ok());
  ASSERT_TRUE(rt->StopTimeline().ok());
  std::string mine = path;
  mine.replace(mine.find("{rank}"), 6, std::to_string(rt->rank()));
  std::ifstream in(mine);
  nlohmann::json trace = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(trace.is_array()) << mine;
  std::map<int, std::string> tensor_of;
  std::map<std::string, std::set<std::string>> seen;
  for (const auto& ev : trace) {
    if (ev["ph"] == "M" && ev["name"] == "process_name") tensor_of[ev["pid"]] = ev["args"]["name"];
    if (ev["ph"] == "B") seen[tensor_of[ev["pid"]]].insert(ev["name"].get<std::string>());
  }
  for (const char* t : {"tl.small", "tl.small2", "tl.big"}) {
    EXPECT_TRUE(seen[t].count("NEGOTIATE_ALLREDUCE")) << t;
    EXPECT_TRUE(seen[t].count("QUEUE")) << t;
#if TRAINYARD_TEST_GLOO
    EXPECT_TRUE(seen[t].count("GLOO_ALLREDUCE")) << t;
#else
    EXPECT_TRUE(seen[t].count("MPI_ALLREDUCE")) << t;
#endif
  }
  EXPECT_TRUE(seen["tl.small"].count("MEMCPY_IN_FUSION_BUFFER"));
  EXPECT_TRUE(seen["tl.small2"].count("MEMCPY_OUT_FUSION_BUFFER"));
  EXPECT_FALSE(seen["tl.big"].count("MEMCPY_IN_FUSION_BUFFER"));
  std::remove(mine.c_str());
}

// Prints other ranks' failures, prefixed with the rank; rank 0 keeps gtest's usual output.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed()) {
      std::fprintf(stderr, "[rank %d] %s:%d: %s\n", rank_, r.file_name() ? r.file_name() : "?",
                   r.line_number(), r.summary());
    }
  }

 private:
  int rank_;
};

// Rank 1 exits abruptly; the others must see an error quickly (or be killed by mpirun).
int DeadRankScenario() {
  auto created = Runtime::Init();
  if (!created.ok()) {
    std::fprintf(stderr, "init failed: %s\n", created.status().ToString().c_str());
    return 2;
  }
  Runtime& r = **created;
  Buffer t(DataType::kFloat32, Shape{4});
  if (!r.Allreduce("before", t.tensor(), t.tensor()).ok()) return 2;
  if (r.rank() == 1) {
    SleepMicros(100'000);
    std::fprintf(stderr, "rank 1: exiting abruptly\n");
    _exit(17);
  }
  int64_t start = MonotonicMicros();
  Status st = r.AllreduceAsync("after", t.tensor(), t.tensor()).WaitFor(60);
  std::fprintf(stderr, "rank %d: pending allreduce finished after %.2f s with: %s\n", r.rank(),
               static_cast<double>(MonotonicMicros() - start) / 1e6, st.ToString().c_str());
#if TRAINYARD_TEST_GLOO
  // Gloo: tearing the runtime down after the failure must not hang (the launcher's time limit
  // catches it if it does).
  (void)r.Shutdown();
  created->reset();
#endif
  _exit(st.ok() ? 0 : 3);  // the job is broken: no MPI_Finalize
}

// Shutdown and Init again, back to back, several times: a fast rank must not meet the previous
// runtime's rendezvous (Gloo) or communicators (MPI). Returns the number of failures.
int ReinitRounds(int rank) {
  int failures = 0;
  for (int round = 0; round < 4; ++round) {
    auto again = Runtime::Init();
    if (!again.ok()) {
      std::fprintf(stderr, "rank %d: re-init %d failed: %s\n", rank, round,
                   again.status().ToString().c_str());
      return failures + 1;
    }
    Buffer t(DataType::kFloat32, Shape{8});
    for (int64_t i = 0; i < t.size(); ++i) t.Set(i, (*again)->rank() + 1);
    AllreduceOptions sum;
    sum.op = ReduceOp::kSum;
    Status st = (*again)->Allreduce("reinit." + std::to_string(round), t.tensor(), t.tensor(), sum);
    const int n = (*again)->size();
    if (!st.ok() || t.Get(7) != n * (n + 1) / 2) {
      std::fprintf(stderr, "rank %d: allreduce after re-init %d: %s, got %g\n", rank, round,
                   st.ToString().c_str(), t.Get(7));
      ++failures;
    }
    if (!(*again)->Shutdown().ok()) ++failures;
  }
  return failures;
}

}  // namespace
}  // namespace trainyard::collective

int main(int argc, char** argv) {
  using trainyard::collective::Runtime;
  if (argc > 1 && std::strcmp(argv[1], "--die") == 0) {
    return trainyard::collective::DeadRankScenario();
  }
  ::testing::InitGoogleTest(&argc, argv);
  auto created = Runtime::Init();
  if (!created.ok()) {
    std::fprintf(stderr, "Runtime::Init failed: %s\n", created.status().ToString().c_str());
    return 2;
  }
  trainyard::collective::rt = created->get();
  int rank = (*created)->rank();
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (rank != 0) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new trainyard::collective::RankFailurePrinter(rank));
  }
  int result = RUN_ALL_TESTS();
  trainyard::Status st = (*created)->Shutdown();
  if (!st.ok()) result = 1;
  created->reset();
  if (trainyard::collective::ReinitRounds(rank) > 0) result = 1;
  return result;
}
