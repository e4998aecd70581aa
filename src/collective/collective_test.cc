// Unit tests of the collective runtime's parts that need no ranks: 16-bit floats, reduction
// kernels, the wire format, the response cache, the coordinator's message table, the fusion plan,
// the stall inspector, settings and the timeline. The runtime itself is tested with ranks as
// threads in runtime_test.cc, and with real processes under mpirun and Gloo in multirank_test.cc.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "collective/config.h"
#include "collective/fusion.h"
#include "collective/half.h"
#include "collective/message_table.h"
#include "collective/reduce.h"
#include "collective/response_cache.h"
#include "collective/stall_inspector.h"
#include "collective/timeline.h"
#include "collective/wire.h"
#include "testing/temp_dir.h"

namespace trainyard::collective {
namespace {

TEST(Half, ExactValuesRoundTrip) {
  for (float f : {0.0f, -0.0f, 1.0f, -2.5f, 0.099975586f, 65504.0f, 6.103515625e-05f,
                  5.9604645e-08f /* smallest subnormal */, 1024.0f, 2047.0f}) {
    EXPECT_EQ(HalfToFloat(FloatToHalf(f)), f) << f;
  }
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
}

TEST(Half, RoundsToNearestEvenAndSaturatesToInfinity) {
  // 2049 lies halfway between 2048 and 2050: ties go to the even mantissa (2048).
  EXPECT_EQ(HalfToFloat(FloatToHalf(2049.0f)), 2048.0f);
  EXPECT_EQ(HalfToFloat(FloatToHalf(2051.0f)), 2052.0f);
  EXPECT_EQ(HalfToFloat(FloatToHalf(2049.5f)), 2050.0f);
  EXPECT_TRUE(std::isinf(HalfToFloat(FloatToHalf(65520.0f))));
  EXPECT_EQ(HalfToFloat(FloatToHalf(65519.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(HalfToFloat(FloatToHalf(std::numeric_limits<float>::infinity()))));
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::nanf("")))));
  EXPECT_EQ(FloatToHalf(1e-9f), 0);  // underflows to zero
}

TEST(Half, EveryHalfSurvivesFloatAndBack) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    uint16_t v = static_cast<uint16_t>(h);
    float f = HalfToFloat(v);
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToHalf(f), v) << std::hex << h;
  }
}

TEST(BFloat16, RoundTripAndRounding) {
  for (float f : {0.0f, 1.0f, -3.0f, 256.0f, 1.5f, 4294967296.0f, -0.0078125f}) {
    EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(f)), f) << f;
  }
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(257.0f)), 256.0f);  // tie to even
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(259.0f)), 260.0f);
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(std::nanf("")))));
}

TEST(ReduceKernel, FloatOps) {
  float a[3] = {1, 5, -2};
  const float b[3] = {4, 2, -3};
  float x[3];
  std::memcpy(x, a, sizeof a);
  ReduceInto(x, b, 3, DataType::kFloat32, ReduceOp::kSum);
  EXPECT_EQ(x[0], 5);
  EXPECT_EQ(x[2], -5);
  std::memcpy(x, a, sizeof a);
  ReduceInto(x, b, 3, DataType::kFloat32, ReduceOp::kMin);
  EXPECT_EQ(x[1], 2);
  EXPECT_EQ(x[2], -3);
  std::memcpy(x, a, sizeof a);
  ReduceInto(x, b, 3, DataType::kFloat32, ReduceOp::kProduct);
  EXPECT_EQ(x[0], 4);
  EXPECT_EQ(x[2], 6);
}

TEST(ReduceKernel, HalfAndBFloat16ComputeInFloat) {
  uint16_t h[2] = {FloatToHalf(1.5f), FloatToHalf(-2.0f)};
  const uint16_t g[2] = {FloatToHalf(2.25f), FloatToHalf(8.0f)};
  ReduceInto(h, g, 2, DataType::kFloat16, ReduceOp::kSum);
  EXPECT_EQ(HalfToFloat(h[0]), 3.75f);
  EXPECT_EQ(HalfToFloat(h[1]), 6.0f);
  uint16_t b[2] = {FloatToBFloat16(3.0f), FloatToBFloat16(-1.0f)};
  const uint16_t c[2] = {FloatToBFloat16(2.0f), FloatToBFloat16(4.0f)};
  ReduceInto(b, c, 2, DataType::kBFloat16, ReduceOp::kMax);
  EXPECT_EQ(BFloat16ToFloat(b[0]), 3.0f);
  EXPECT_EQ(BFloat16ToFloat(b[1]), 4.0f);
}

TEST(ReduceKernel, IntegersWrapAndBoolIsLogical) {
  int8_t a[2] = {100, -100};
  const int8_t b[2] = {100, -100};
  ReduceInto(a, b, 2, DataType::kInt8, ReduceOp::kSum);
  EXPECT_EQ(a[0], static_cast<int8_t>(-56));
  EXPECT_EQ(a[1], static_cast<int8_t>(56));
  uint8_t p[4] = {0, 1, 0, 1};
  const uint8_t q[4] = {0, 0, 1, 1};
  uint8_t x[4];
  std::memcpy(x, p, 4);
  ReduceInto(x, q, 4, DataType::kBool, ReduceOp::kSum);
  EXPECT_EQ(std::vector<uint8_t>(x, x + 4), (std::vector<uint8_t>{0, 1, 1, 1}));
  std::memcpy(x, p, 4);
  ReduceInto(x, q, 4, DataType::kBool, ReduceOp::kProduct);
  EXPECT_EQ(std::vector<uint8_t>(x, x + 4), (std::vector<uint8_t>{0, 0, 0, 1}));
}

TEST(ReduceKernel, Int16WrapsLikeInt16AndScalesTowardZero) {
  int16_t a[4] = {30000, -30000, -7, 300};
  const int16_t b[4] = {30000, -30000, 3, 300};
  int16_t x[4];
  std::memcpy(x, a, sizeof x);
  ReduceInto(x, b, 4, DataType::kInt16, ReduceOp::kSum);
  EXPECT_EQ(x[0], static_cast<int16_t>(-5536));  // 60000 - 65536
  EXPECT_EQ(x[1], static_cast<int16_t>(5536));
  EXPECT_EQ(x[2], static_cast<int16_t>(-4));
  EXPECT_EQ(x[3], static_cast<int16_t>(600));
  std::memcpy(x, a, sizeof x);
  ReduceInto(x, b, 4, DataType::kInt16, ReduceOp::kProduct);
  EXPECT_EQ(x[2], static_cast<int16_t>(-21));
  EXPECT_EQ(x[3], static_cast<int16_t>(24464));  // 90000 - 65536
  std::memcpy(x, a, sizeof x);
  ReduceInto(x, b, 4, DataType::kInt16, ReduceOp::kMin);
  EXPECT_EQ(x[2], static_cast<int16_t>(-7));
  std::memcpy(x, a, sizeof x);
  ReduceInto(x, b, 4, DataType::kInt16, ReduceOp::kMax);
  EXPECT_EQ(x[2], static_cast<int16_t>(3));
  int16_t v[2] = {-5, 7};
  ScaleInPlace(v, 2, DataType::kInt16, 0.5);
  EXPECT_EQ(v[0], -2);
  EXPECT_EQ(v[1], 3);
}

TEST(DataTypes, Int16IsAppendedSoOtherWireValuesKeepTheirMeaning) {
  EXPECT_EQ(static_cast<int>(DataType::kBool), 8);
  EXPECT_EQ(static_cast<int>(DataType::kInt16), 9);
  EXPECT_EQ(kNumDataTypes, 10);
  EXPECT_TRUE(IsValidDataType(9));
  EXPECT_FALSE(IsValidDataType(10));
  EXPECT_EQ(DataTypeSize(DataType::kInt16), 2u);
  EXPECT_STREQ(DataTypeName(DataType::kInt16), "int16");
  EXPECT_FALSE(IsFloatingPoint(DataType::kInt16));
  RequestList list;
  Request q;
  q.name = "s";
  q.shape = {3};
  q.dtype = DataType::kInt16;
  list.requests = {q};
  Result<RequestList> back = DecodeRequestList(EncodeRequestList(list));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->requests.size(), 1u);
  EXPECT_EQ(back->requests[0].dtype, DataType::kInt16);
}

TEST(ReduceKernel, ScaleTruncatesIntegersTowardZero) {
  int32_t v[3] = {5, -5, 6};
  ScaleInPlace(v, 3, DataType::kInt32, 0.5);
  EXPECT_EQ(v[0], 2);
  EXPECT_EQ(v[1], -2);
  EXPECT_EQ(v[2], 3);
  double d[2] = {1, 3};
  double out[2];
  ScaleCopy(out, d, 2, DataType::kFloat64, 0.25);
  EXPECT_EQ(out[1], 0.75);
  ScaleCopy(out, d, 2, DataType::kFloat64, 1.0);
  EXPECT_EQ(out[1], 3);
}

Request MakeRequest(const std::string& name, Shape shape, DataType dtype = DataType::kFloat32) {
  Request r;
  r.name = name;
  r.shape = std::move(shape);
  r.dtype = dtype;
  return r;
}

TEST(CollectiveWire, RequestAndResponseListsRoundTrip) {
  RequestList list;
  list.rank = 3;
  Request q = MakeRequest("grad/w\"x", {4, 3}, DataType::kBFloat16);
  q.type = OpType::kBroadcast;
  q.root = 2;
  q.prescale = 0.5;
  q.ranks = {1, 2};
  q.rank = 3;
  Request refusal = MakeRequest("r", {});
  refusal.error = "refused";
  refusal.error_code = StatusCode::kFailedPrecondition;
  list.requests = {q, MakeRequest("b", {}), refusal};
  list.cached_pending = {"c"};
  list.shutdown = true;
  list.shutdown_reason = "why";
  Result<RequestList> back = DecodeRequestList(EncodeRequestList(list));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->rank, 3);
  ASSERT_EQ(back->requests.size(), 3u);
  EXPECT_TRUE(back->requests[0].error.empty());
  EXPECT_EQ(back->requests[0].error_code, StatusCode::kOk);
  EXPECT_EQ(back->requests[2].error, "refused");
  EXPECT_EQ(back->requests[2].error_code, StatusCode::kFailedPrecondition);
  EXPECT_EQ(back->requests[0].name, "grad/w\"x");
  EXPECT_EQ(back->requests[0].shape, (Shape{4, 3}));
  EXPECT_EQ(back->requests[0].dtype, DataType::kBFloat16);
  EXPECT_EQ(back->requests[0].type, OpType::kBroadcast);
  EXPECT_EQ(back->requests[0].root, 2);
  EXPECT_EQ(back->requests[0].prescale, 0.5);
  EXPECT_EQ(back->requests[0].ranks, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(back->cached_pending, std::vector<std::string>{"c"});
  EXPECT_TRUE(back->shutdown);

  ResponseList rl;
  Response r = ResponseFor(q);
  r.error = "bad";
  r.error_code = StatusCode::kInvalidArgument;
  rl.responses = {r};
  rl.evict = {"old"};
  Result<ResponseList> rb = DecodeResponseList(EncodeResponseList(rl));
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ(rb->responses[0].error, "bad");
  EXPECT_EQ(rb->responses[0].error_code, StatusCode::kInvalidArgument);
  EXPECT_EQ(rb->evict, std::vector<std::string>{"old"});
}

TEST(CollectiveWire, CorruptBytesAreAnErrorNotACrash) {
  std::string bytes = EncodeRequestList(RequestList{0, {MakeRequest("x", {2})}, {}, false, ""});
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodeRequestList(bytes.substr(0, cut)).ok()) << cut;
  }
  std::string bad = bytes;
  bad[4] = '\x7f';  // an absurd count
  EXPECT_FALSE(DecodeRequestList(bad).ok());
}

TEST(ResponseCache, HitMissInvalidAndLruEviction) {
  ResponseCache cache(2);
  Request a = MakeRequest("a", {4});
  Request b = MakeRequest("b", {4});
  Request c = MakeRequest("c", {4});
  EXPECT_EQ(cache.Find(a).state, ResponseCache::State::kMiss);
  int evicted = 0;
  cache.Put(ResponseFor(a), &evicted);
  cache.Put(ResponseFor(b), &evicted);
  EXPECT_EQ(evicted, -1);
  EXPECT_EQ(cache.Find(a).state, ResponseCache::State::kHit);
  EXPECT_EQ(cache.Find(a).bit, 0);
  EXPECT_EQ(cache.Find(MakeRequest("a", {5})).state, ResponseCache::State::kInvalid);
  Request refused = a;  // a refusal is never served from the cache: it is negotiated
  refused.error = "refused";
  EXPECT_EQ(cache.Find(refused).state, ResponseCache::State::kInvalid);
  cache.Touch(0);  // a is now the most recent, b the least
  cache.Put(ResponseFor(c), &evicted);
  EXPECT_EQ(evicted, 1);
  EXPECT_EQ(cache.Find(b).state, ResponseCache::State::kMiss);
  EXPECT_EQ(cache.Find(c).bit, 1);  // reuses b's bit
  EXPECT_EQ(cache.num_bits(), 2);
  EXPECT_EQ(cache.Erase("a"), 0);
  EXPECT_EQ(cache.Get(0), nullptr);
}

TEST(ResponseCache, AllgatherHitsWhenOnlyTheFirstDimensionChanges) {
  ResponseCache cache(4);
  Request g = MakeRequest("g", {3, 5});
  g.type = OpType::kAllgather;
  int evicted;
  cache.Put(ResponseFor(g), &evicted);
  Request h = g;
  h.shape = {7, 5};
  EXPECT_EQ(cache.Find(h).state, ResponseCache::State::kHit);
  h.shape = {7, 6};
  EXPECT_EQ(cache.Find(h).state, ResponseCache::State::kInvalid);
}

TEST(ResponseCache, DisabledAtCapacityZeroAndErrorsAreNotCached) {
  ResponseCache off(0);
  int evicted;
  off.Put(ResponseFor(MakeRequest("a", {1})), &evicted);
  EXPECT_EQ(off.size(), 0u);
  ResponseCache on(4);
  Response err = ResponseFor(MakeRequest("a", {1}));
  err.error = "x";
  on.Put(err, &evicted);
  EXPECT_EQ(on.size(), 0u);
}

TEST(MessageTable, ReadyWhenEveryRankAnnouncedInFirstSeenOrder) {
  MessageTable t({0, 1, 2});
  t.Add(0, MakeRequest("b", {2}), 1);
  t.Add(1, MakeRequest("a", {2}), 2);
  t.Add(0, MakeRequest("a", {2}), 3);
  EXPECT_TRUE(t.PopReady().empty());
  t.Add(2, MakeRequest("a", {2}), 4);
  t.Add(1, MakeRequest("b", {2}), 5);
  t.Add(2, MakeRequest("b", {2}), 6);
  std::vector<Response> ready = t.PopReady();
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_EQ(ready[0].name, "b");
  EXPECT_EQ(ready[1].name, "a");
  EXPECT_FALSE(ready[0].is_error());
  EXPECT_TRUE(t.empty());
}

TEST(MessageTable, EraseForgetsWhatWasAnnouncedAndTheNameStartsAgain) {
  MessageTable t({0, 1});
  t.Add(0, MakeRequest("a", {2}), 1);
  t.Add(0, MakeRequest("b", {3}), 2);
  t.Erase("a");
  t.Erase("never.announced");
  EXPECT_FALSE(t.Contains("a"));
  ASSERT_EQ(t.PendingSince(10).size(), 1u);
  EXPECT_EQ(t.PendingSince(10)[0].name, "b");
  // Rank 1 alone does not complete the erased entry: "a" starts again, with rank 1's shape.
  t.Add(1, MakeRequest("a", {5}), 3);
  EXPECT_TRUE(t.PopReady().empty());
  t.Add(0, MakeRequest("a", {5}), 4);
  std::vector<Response> ready = t.PopReady();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].name, "a");
  EXPECT_FALSE(ready[0].is_error());
  t.Erase("b");
  EXPECT_TRUE(t.empty());
}

TEST(MessageTable, MismatchNamesTheTensorAndEachRank) {
  MessageTable t({0, 1, 2});
  t.Add(0, MakeRequest("grad.w", {4, 3}), 1);
  t.Add(1, MakeRequest("grad.w", {4}), 1);
  t.Add(2, MakeRequest("grad.w", {4, 3}), 1);
  std::vector<Response> ready = t.PopReady();
  ASSERT_EQ(ready.size(), 1u);
  ASSERT_TRUE(ready[0].is_error());
  EXPECT_EQ(ready[0].error_code, StatusCode::kInvalidArgument);
  EXPECT_EQ(ready[0].error,
            "mismatched shapes for allreduce 'grad.w': ranks 0, 2 sent [4, 3]; rank 1 sent [4]");

  Request f16 = MakeRequest("x", {2}, DataType::kFloat16);
  t.Add(0, MakeRequest("x", {2}), 1);
  t.Add(1, f16, 1);
  t.Add(2, MakeRequest("x", {2}), 1);
  EXPECT_EQ(
      t.PopReady()[0].error,
      "mismatched data types for allreduce 'x': ranks 0, 2 sent float32; rank 1 sent float16");

  Request gather = MakeRequest("y", {2});
  gather.type = OpType::kAllgather;
  t.Add(0, MakeRequest("y", {2}), 1);
  t.Add(1, gather, 1);
  t.Add(2, MakeRequest("y", {2}), 1);
  EXPECT_EQ(t.PopReady()[0].error,
            "mismatched operations for tensor 'y': ranks 0, 2 asked for allreduce; rank 1 asked "
            "for allgather");
}

TEST(MessageTable, AllgatherFirstDimensionMayDiffer) {
  MessageTable t({0, 1});
  Request a = MakeRequest("g", {1, 3});
  a.type = OpType::kAllgather;
  Request b = a;
  b.shape = {5, 3};
  t.Add(0, a, 1);
  t.Add(1, b, 1);
  std::vector<Response> ready = t.PopReady();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_FALSE(ready[0].is_error()) << ready[0].error;
}

TEST(MessageTable, JoinedRanksCountAsReadyAndJoinCompletesLast) {
  MessageTable t({0, 1, 2});
  Request join;
  join.type = OpType::kJoin;
  join.name = kJoinName;
  t.Add(1, join, 1);
  t.Add(0, MakeRequest("a", {2}), 1);
  t.Add(2, MakeRequest("a", {2}), 1);
  std::vector<Response> ready = t.PopReady();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].name, "a");
  EXPECT_EQ(t.JoinedRanks(), (std::vector<int>{1}));
  t.Add(2, join, 2);
  t.Add(0, join, 3);
  ready = t.PopReady();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].type, OpType::kJoin);
  EXPECT_EQ(ready[0].last_joined_rank, 0);
  EXPECT_TRUE(t.JoinedRanks().empty());
}

// As Horovod's coordinator: with a joined rank, allgather, broadcast (whatever the root) and
// alltoall fail with Horovod's words; allreduce and reducescatter run.
TEST(MessageTable, AllgatherBroadcastAndAlltoallFailWhileARankHasJoined) {
  MessageTable t({0, 1, 2});
  Request join;
  join.type = OpType::kJoin;
  join.name = kJoinName;
  t.Add(0, join, 1);
  const std::vector<std::pair<OpType, std::string>> failing = {
      {OpType::kAllgather,
       "allgather 'x': Allgather is not supported with Join at this time. Specify "
       "sparse_to_dense=True if using DistributedOptimizer (ranks [0] have joined)"},
      {OpType::kBroadcast,
       "broadcast 'x': Broadcast is not supported with Join at this time. (ranks [0] have "
       "joined)"},
      {OpType::kAlltoall,
       "alltoall 'x': Alltoall is not supported with Join at this time. (ranks [0] have joined)"},
  };
  for (const auto& [type, message] : failing) {
    Request q = MakeRequest("x", {2});
    q.type = type;
    q.root = 1;
    t.Add(1, q, 1);
    t.Add(2, q, 1);
    std::vector<Response> ready = t.PopReady();
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_EQ(ready[0].error_code, StatusCode::kFailedPrecondition);
    EXPECT_EQ(ready[0].error, message);
  }
  for (OpType type : {OpType::kAllreduce, OpType::kReducescatter}) {
    Request q = MakeRequest("y", {2});
    q.type = type;
    t.Add(1, q, 1);
    t.Add(2, q, 1);
    std::vector<Response> ready = t.PopReady();
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_FALSE(ready[0].is_error()) << ready[0].error;
  }
}

// A rank's error request (a refusal at its call) fails the name for every rank, naming the
// refusing ranks, with the refusal's code, whatever the others sent.
TEST(MessageTable, RefusalsFailTheNameOnEveryRank) {
  MessageTable t({0, 1, 2});
  Request refused;
  refused.type = OpType::kAllreduce;
  refused.name = "w";
  refused.error = "allreduce 'w': Adasum needs a floating-point tensor, not int32";
  refused.error_code = StatusCode::kInvalidArgument;
  t.Add(1, MakeRequest("w", {2}), 1);
  EXPECT_TRUE(t.PopReady().empty());  // still waits for the others
  t.Add(0, refused, 1);
  Request other = MakeRequest("w", {7}, DataType::kFloat16);  // would be a mismatch otherwise
  t.Add(2, other, 1);
  std::vector<Response> ready = t.PopReady();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].name, "w");
  EXPECT_EQ(ready[0].error_code, StatusCode::kInvalidArgument);
  EXPECT_EQ(ready[0].error,
            "allreduce 'w': rank 0 refused it: Adasum needs a floating-point tensor, not int32");

  // Several refusing ranks; a joined rank does not hold it up; the first refusal's code wins.
  t.Add(2, Request{.type = OpType::kJoin, .name = kJoinName}, 1);
  Request a = refused;
  a.name = "v";
  a.type = OpType::kAlltoall;
  a.error = "alltoall 'v': splits [3, 0, 0] must have one non-negative entry per rank";
  a.error_code = StatusCode::kFailedPrecondition;
  Request b = a;
  b.error = "the tensor is undefined";
  b.error_code = StatusCode::kInvalidArgument;
  t.Add(0, a, 1);
  t.Add(1, b, 1);
  ready = t.PopReady();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].error_code, StatusCode::kFailedPrecondition);
  EXPECT_EQ(ready[0].error,
            "alltoall 'v': rank 0 refused it: splits [3, 0, 0] must have one non-negative entry "
            "per rank; rank 1 refused it: the tensor is undefined");
}

Response Allreduce(const std::string& name, int64_t elements, DataType dtype = DataType::kFloat32) {
  Response r;
  r.name = name;
  r.shape = {elements};
  r.dtype = dtype;
  return r;
}

std::vector<std::vector<size_t>> Plan(const std::vector<Response>& rs, FusionPolicy p) {
  std::vector<std::vector<size_t>> out;
  for (const WorkItem& w : PlanFusion(rs, p)) out.push_back(w.indices);
  return out;
}

TEST(FusionPlan, SmallTensorsFuseLargeOnesRunAloneInOrder) {
  FusionPolicy p{1 << 20, 64 << 10};  // 1 MiB buffer, fuse below 64 KiB
  std::vector<Response> rs = {Allreduce("s1", 100),   Allreduce("big", 1 << 20),
                              Allreduce("s2", 100),   Allreduce("h", 100, DataType::kFloat16),
                              Allreduce("s3", 16384), Allreduce("h2", 10, DataType::kFloat16)};
  // s3 is exactly 64 KiB: not below the cutoff.
  EXPECT_EQ(Plan(rs, p), (std::vector<std::vector<size_t>>{{0, 2}, {1}, {3, 5}, {4}}));
}

TEST(FusionPlan, BufferSizeBoundsAGroupAndZeroDisables) {
  FusionPolicy p{1000, 1001};
  std::vector<Response> rs = {Allreduce("a", 100), Allreduce("b", 100), Allreduce("c", 100)};
  EXPECT_EQ(Plan(rs, p), (std::vector<std::vector<size_t>>{{0, 1}, {2}}));
  EXPECT_EQ(Plan(rs, FusionPolicy{0, 0}), (std::vector<std::vector<size_t>>{{0}, {1}, {2}}));
  Response other = Allreduce("d", 10);
  other.reduce_op = ReduceOp::kMax;
  Response error = Allreduce("e", 10);
  error.error = "x";
  EXPECT_EQ(Plan({Allreduce("a", 10), other, error, Allreduce("f", 10)}, FusionPolicy{1000, 1001}),
            (std::vector<std::vector<size_t>>{{0, 3}, {1}, {2}}));
}

TEST(FusionPlan, ATensorThatDoesNotFitClosesTheGroupSoGroupsKeepTheAgreedOrder) {
  // c does not fit after a and b: it starts the next group, and d joins c rather than jumping
  // ahead into the first group (which would break a layout that follows the agreed order).
  std::vector<Response> rs = {Allreduce("a", 100), Allreduce("b", 100), Allreduce("c", 200),
                              Allreduce("d", 25)};
  EXPECT_EQ(Plan(rs, FusionPolicy{1000, 1001}), (std::vector<std::vector<size_t>>{{0, 1}, {2, 3}}));
}

TEST(FusionPlan, PolicyCutsOffLargeTensorsOnlyOnSharedMemory) {
  Config c;  // HOROVOD_FUSION_THRESHOLD 64 MiB; the buffer at most 32 MiB on MPI
  FusionPolicy shm = ChooseFusionPolicy(c, "MPI", true);
  EXPECT_EQ(shm.buffer_bytes, 32 << 20);
  EXPECT_EQ(shm.small_tensor_bytes, kSharedMemorySmallTensorBytes);
  EXPECT_EQ(ChooseFusionPolicy(c, "MPI", false).buffer_bytes, 32 << 20);
  EXPECT_EQ(ChooseFusionPolicy(c, "GLOO", true).buffer_bytes, 64 << 20);
  for (auto [transport, one_host] : {std::pair{"MPI", false}, {"GLOO", true}, {"GLOO", false}}) {
    FusionPolicy p = ChooseFusionPolicy(c, transport, one_host);
    EXPECT_GT(p.small_tensor_bytes, p.buffer_bytes) << transport << " " << one_host;
  }
  c.fusion_buffer_max_bytes = 1 << 20;
  EXPECT_EQ(ChooseFusionPolicy(c, "GLOO", true).buffer_bytes, 1 << 20);
  c.fusion_buffer_max_bytes = -1;
  c.fusion_small_tensor_bytes = 1000;
  EXPECT_EQ(ChooseFusionPolicy(c, "GLOO", true).small_tensor_bytes, 1000);
  c.fusion_threshold_bytes = 0;
  EXPECT_EQ(ChooseFusionPolicy(c, "MPI", true).buffer_bytes, 0);
}

TEST(FusionPlan, BufferIsReusedAndAligned) {
  FusionBuffer b;
  void* p = b.Get(100);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  EXPECT_EQ(b.Get(50), p);
  EXPECT_GE(b.capacity(), 100);
}

TEST(StallInspector, ReportsMissingRanksAndAsksForShutdown) {
  StallInspector s(true, 1.0, 3.0);
  s.Observe({"x", "y"}, 0);
  EXPECT_FALSE(s.ReportDue(500'000));
  EXPECT_TRUE(s.ReportDue(1'500'000));
  auto report = s.MakeReport({{"x", {0, 2}}, {"y", {0, 1, 2}}}, {0, 1, 2, 3}, {3}, 1'500'000);
  EXPECT_NE(report.warning.find("'x' waited 1.5 s: submitted by ranks 0, 2; missing ranks 1"),
            std::string::npos)
      << report.warning;
  EXPECT_EQ(report.warning.find("'y'"), std::string::npos);  // everyone but a joined rank has it
  EXPECT_FALSE(report.shutdown);
  EXPECT_FALSE(s.ReportDue(2'000'000));  // reported recently
  s.Observe({"x"}, 3'100'000);
  EXPECT_TRUE(s.ReportDue(3'100'000));
  report = s.MakeReport({{"x", {0}}}, {0, 1}, {}, 3'100'000);
  EXPECT_TRUE(report.shutdown);
  s.Observe({}, 3'200'000);
  EXPECT_FALSE(s.ReportDue(9'000'000));
}

TEST(CollectiveConfig, ReadsHorovodVariablesAndRejectsBadValues) {
  std::map<std::string, std::string> env = {{"HOROVOD_CYCLE_TIME", "2.5"},
                                            {"HOROVOD_FUSION_THRESHOLD", "0"},
                                            {"HOROVOD_CACHE_CAPACITY", "7"},
                                            {"HOROVOD_STALL_CHECK_DISABLE", "1"},
                                            {"HOROVOD_TIMELINE", "/tmp/t.json"}};
  auto lookup = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  Result<Config> c = ConfigFromEnv(lookup);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->cycle_time_ms, 2.5);
  EXPECT_EQ(c->fusion_threshold_bytes, 0);
  EXPECT_EQ(c->cache_capacity, 7);
  EXPECT_FALSE(c->stall_check);
  EXPECT_EQ(c->timeline_path, "/tmp/t.json");
  env["HOROVOD_CACHE_CAPACITY"] = "lots";
  Status st = ConfigFromEnv(lookup).status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("HOROVOD_CACHE_CAPACITY=lots"), std::string::npos);

  Config other;
  ASSERT_TRUE(DecodeSharedConfig(EncodeSharedConfig(*ConfigFromEnv([](const char*) {
                                   return static_cast<const char*>(nullptr);
                                 })),
                                 &other)
                  .ok());
  EXPECT_EQ(other.cache_capacity, 1024);
  EXPECT_FALSE(DecodeSharedConfig("garbage", &other).ok());
}

TEST(CollectiveTimeline, WritesAValidChromeTrace) {
  testing::TempDir dir;
  Timeline t;
  ASSERT_TRUE(t.Start(dir / "t.json", true).ok());
  t.MarkCycle();
  t.Begin("grad \"w\"", "NEGOTIATE_ALLREDUCE");
  t.End("grad \"w\"", "NEGOTIATE_ALLREDUCE");
  t.Begin("grad \"w\"", "ALLREDUCE", "\"dtype\": \"float32\"");
  t.End("grad \"w\"", "ALLREDUCE");
  t.Stop();
  t.Begin("ignored", "X");  // not active any more
  std::ifstream in(dir / "t.json");
  nlohmann::json j = nlohmann::json::parse(in);
  ASSERT_TRUE(j.is_array());
  int begins = 0;
  int ends = 0;
  bool named = false;
  for (const auto& e : j) {
    if (e["ph"] == "B") ++begins;
    if (e["ph"] == "E") ++ends;
    if (e["ph"] == "M" && e["name"] == "process_name") named = e["args"]["name"] == "grad \"w\"";
  }
  EXPECT_EQ(begins, 2);
  EXPECT_EQ(ends, 2);
  EXPECT_TRUE(named);
  EXPECT_FALSE(t.Start("/nonexistent-dir/t.json", false).ok());
}

}  // namespace
}  // namespace trainyard::collective
