// The collective runtime's device path on a real GPU: Runtime::Init() as an application calls it
// (CreateWorld attaches an NCCL device communicator to the world, transport_registry.cc), then
// CUDA tensors through allreduce (Sum, Average, Max, prescale/postscale, several dtypes, in and
// out of place), grouped allreduce, allgather into allocator memory and broadcast, with CPU tensors
// in the same job on the host path; RuntimeStats and the timeline say which path each took.
//
// One rank (the single-rank world; ctest gpu.RuntimeDevice.*). Every test skips, with the reason,
// when this build has no NCCL (a CPU-only libtorch), when no CUDA device is visible, or when the
// process was started as one of several ranks.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "collective/collective.h"
#include "collective/transport/c10d/c10d_communicator.h"

namespace trainyard::collective {
namespace {

// Why this process cannot run the tests ("" when it can).
std::string SkipReason() {
  if (!Runtime::NcclBuilt()) {
    return "this build has no NCCL communicator (Runtime::NcclBuilt() is false): the libtorch it "
           "was configured with has no CUDA (scripts/gpu_check.sh builds against a CUDA torch on "
           "a GPU machine)";
  }
  if (torch::cuda::device_count() == 0) {
    return "no CUDA device visible (torch::cuda::device_count() is 0)";
  }
  for (const char* var : {"WORLD_SIZE", "OMPI_COMM_WORLD_SIZE"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && std::atoi(v) > 1) {
      return std::string("these tests run one rank, and ") + var + "=" + v;
    }
  }
  return "";
}

DataType TypeOf(at::ScalarType t) {
  switch (t) {
    case at::kByte: return DataType::kUInt8;
    case at::kChar: return DataType::kInt8;
    case at::kInt: return DataType::kInt32;
    case at::kLong: return DataType::kInt64;
    case at::kHalf: return DataType::kFloat16;
    case at::kBFloat16: return DataType::kBFloat16;
    case at::kDouble: return DataType::kFloat64;
    default: return DataType::kFloat32;
  }
}

// The runtime's view of a contiguous torch tensor (CUDA or CPU).
Tensor View(const at::Tensor& t) {
  Tensor v;
  v.data = t.data_ptr();
  v.dtype = TypeOf(t.scalar_type());
  v.shape.assign(t.sizes().begin(), t.sizes().end());
  if (t.is_cuda()) v.device = Device{DeviceType::kCuda, static_cast<int>(t.get_device())};
  return v;
}

// Every element of `t` (any device) equals `want`.
::testing::AssertionResult AllEqual(const at::Tensor& t, double want) {
  at::Tensor host = t.to(at::kDouble).cpu();
  if (host.numel() == 0) return ::testing::AssertionSuccess();
  const double lo = host.min().item<double>();
  const double hi = host.max().item<double>();
  if (lo == want && hi == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "values in [" << lo << ", " << hi << "], want " << want;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class RuntimeDevice : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_ = SkipReason();
    if (!skip_.empty()) return;
    Result<std::unique_ptr<Runtime>> made = Runtime::Init();
    if (!made.ok()) {
      init_error_ = made.status().ToString();
      return;
    }
    rt_ = std::move(*made);
  }
  static void TearDownTestSuite() {
    if (rt_ != nullptr) {
      Status st = rt_->Shutdown();
      if (!st.ok()) std::fprintf(stderr, "Shutdown: %s\n", st.ToString().c_str());
    }
    rt_.reset();
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(init_error_.empty()) << "Runtime::Init(): " << init_error_;
    ASSERT_NE(rt_, nullptr);
  }
  static at::TensorOptions Cuda(at::ScalarType t) {
    return at::TensorOptions().dtype(t).device(c10::Device(c10::kCUDA, 0));
  }

  static inline std::string skip_;
  static inline std::string init_error_;
  static inline std::unique_ptr<Runtime> rt_;
};

TEST_F(RuntimeDevice, AllreduceDtypesOpsAndScaleFactorsInAndOutOfPlace) {
  // One rank: Sum is the identity, scale factors multiply, Average divides by 1.
  struct Case {
    DataType dtype;
    ReduceOp op;
    double pre, post, value, want;
    bool out_of_place;
  };
  const std::vector<Case> cases = {
      {DataType::kFloat32, ReduceOp::kSum, 1, 1, 3, 3, false},
      {DataType::kFloat32, ReduceOp::kSum, 2, 3, 3, 18, false},
      {DataType::kFloat32, ReduceOp::kAverage, 0.5, 1, 3, 1.5, true},
      {DataType::kFloat64, ReduceOp::kAverage, 1, 0.25, 8, 2, true},
      {DataType::kFloat16, ReduceOp::kAverage, 0.5, 2, 3, 3, false},
      {DataType::kBFloat16, ReduceOp::kSum, 4, 1, 1.5, 6, true},
      {DataType::kInt32, ReduceOp::kAverage, 1, 0.5, 5, 2, false},  // 2.5 truncated toward zero
      {DataType::kInt64, ReduceOp::kMax, 1, 1, 7, 7, true},
  };
  const int64_t device_before = rt_->stats().device_tensors;
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(DataTypeName(c.dtype)) + " " + ReduceOpName(c.op) + " pre " +
                 std::to_string(c.pre) + " post " + std::to_string(c.post) +
                 (c.out_of_place ? " out of place" : " in place"));
    at::Tensor in = at::full({4099}, c.value, Cuda(ScalarTypeOf(c.dtype)));
    at::Tensor out = c.out_of_place ? at::zeros_like(in) : in;
    AllreduceOptions o;
    o.op = c.op;
    o.prescale_factor = c.pre;
    o.postscale_factor = c.post;
    Status st = rt_->Allreduce("ar." + std::to_string(n++), View(in), View(out), o);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE(AllEqual(out, c.want));
    if (c.out_of_place) {
      EXPECT_TRUE(AllEqual(in, c.value)) << "the input must stay as it was";
    }
  }
  EXPECT_EQ(rt_->stats().device_tensors - device_before, static_cast<int64_t>(cases.size()))
      << "every CUDA tensor runs on the device communicator";
}

TEST_F(RuntimeDevice, GroupedAllreduceOfCudaTensorsIsNotFused) {
  const RuntimeStats before = rt_->stats();
  std::vector<at::Tensor> ts;
  std::vector<Tensor> views;
  std::vector<std::string> names;
  for (int i = 0; i < 3; ++i) {
    ts.push_back(at::full({16}, i + 1.0, Cuda(at::kFloat)));
    views.push_back(View(ts.back()));
    names.push_back("group." + std::to_string(i));
  }
  AllreduceOptions o;
  o.op = ReduceOp::kAverage;
  o.postscale_factor = 2;
  Status st = rt_->GroupedAllreduceAsync(names, views, views, o).Wait();
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(AllEqual(ts[static_cast<size_t>(i)], 2.0 * (i + 1)));
  const RuntimeStats after = rt_->stats();
  EXPECT_EQ(after.fused_tensors - before.fused_tensors, 0) << "the fusion buffer is host memory";
  EXPECT_EQ(after.device_tensors - before.device_tensors, 3);
}

TEST_F(RuntimeDevice, CpuTensorsInTheSameJobAreFusedOnTheHost) {
  const RuntimeStats before = rt_->stats();
  std::vector<at::Tensor> ts;
  std::vector<Tensor> views;
  for (int i = 0; i < 3; ++i) {
    ts.push_back(at::full({16}, 5.0, at::kFloat));
    views.push_back(View(ts.back()));
  }
  AllreduceOptions o;
  o.op = ReduceOp::kSum;
  o.prescale_factor = 2;
  Status st = rt_->GroupedAllreduceAsync({"cpu.0", "cpu.1", "cpu.2"}, views, views, o).Wait();
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (const at::Tensor& t : ts) EXPECT_TRUE(AllEqual(t, 10));
  at::Tensor big = at::full({1 << 16}, 1.0, at::kFloat);
  st = rt_->Allreduce("cpu.big", View(big), View(big));
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(AllEqual(big, 1));
  const RuntimeStats after = rt_->stats();
  EXPECT_EQ(after.fused_tensors - before.fused_tensors, 3);
  EXPECT_EQ(after.device_tensors - before.device_tensors, 0);
}

TEST_F(RuntimeDevice, AllgatherIntoCudaMemoryFromTheAllocator) {
  at::Tensor rows = at::arange(12, Cuda(at::kFloat)).reshape({3, 4});
  std::vector<at::Tensor> keep;
  AllgatherOptions o;
  o.allocator = [&](const Shape& shape) -> Result<Tensor> {
    keep.push_back(at::empty(at::IntArrayRef(shape), Cuda(at::kFloat)));
    return View(keep.back());
  };
  Handle h = rt_->AllgatherAsync("gather", View(rows), o);
  Status st = h.Wait();
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(keep.size(), 1u);
  EXPECT_EQ(h.output().shape, (Shape{3, 4}));
  EXPECT_EQ(h.output().device.type, DeviceType::kCuda);
  EXPECT_TRUE(at::equal(keep[0].cpu(), rows.cpu()));
}

TEST_F(RuntimeDevice, BroadcastInAndOutOfPlace) {
  at::Tensor t = at::full({1000}, 7.0, Cuda(at::kDouble));
  Status st = rt_->Broadcast("bcast.in", View(t), 0);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(AllEqual(t, 7));
  at::Tensor out = at::zeros({1000}, Cuda(at::kDouble));
  st = rt_->BroadcastAsync("bcast.out", View(t), View(out), 0).Wait();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(AllEqual(out, 7));
}

TEST_F(RuntimeDevice, RefusesWhatTheDevicePathLacks) {
  at::Tensor t = at::ones({4}, Cuda(at::kFloat));
  EXPECT_EQ(rt_->ReducescatterAsync("rs", View(t)).Wait().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(rt_->AllgatherAsync("noalloc", View(t)).Wait().code(), StatusCode::kInvalidArgument)
      << "a handle cannot own device memory";
}

TEST_F(RuntimeDevice, Average64MBFiveTimes) {
  at::Tensor t = at::full({16 << 20}, 2.0, Cuda(at::kFloat));
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    Status st = rt_->Allreduce("big", View(t), View(t));
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(AllEqual(t, 2));
  std::printf("64 MB float32 Average on one rank: %.3f ms each\n", ms / 5);
}

TEST_F(RuntimeDevice, TimelineNamesTheDeviceAndTheHostPath) {
  const std::string timeline =
      "/tmp/runtime_device_test_timeline." + std::to_string(getpid()) + ".json";
  ASSERT_TRUE(rt_->StartTimeline(timeline).ok());
  at::Tensor x = at::ones({64}, Cuda(at::kFloat));
  ASSERT_TRUE(rt_->Allreduce("tl.cuda", View(x), View(x)).ok());
  std::vector<at::Tensor> keep;
  AllgatherOptions o;
  o.allocator = [&](const Shape& shape) -> Result<Tensor> {
    keep.push_back(at::empty(at::IntArrayRef(shape), Cuda(at::kFloat)));
    return View(keep.back());
  };
  ASSERT_TRUE(rt_->AllgatherAsync("tl.gather", View(x), o).Wait().ok());
  ASSERT_TRUE(rt_->Broadcast("tl.bcast", View(x), 0).ok());
  std::vector<at::Tensor> host;
  std::vector<Tensor> views;
  for (int i = 0; i < 2; ++i) {
    host.push_back(at::ones({16}, at::kFloat));
    views.push_back(View(host.back()));
  }
  ASSERT_TRUE(rt_->GroupedAllreduceAsync({"tl.cpu.0", "tl.cpu.1"}, views, views).Wait().ok());
  ASSERT_TRUE(rt_->StopTimeline().ok());
  const std::string trace = Read(timeline);
  std::remove(timeline.c_str());
  for (const char* activity : {"NCCL_ALLREDUCE", "NCCL_ALLGATHER", "NCCL_BROADCAST",
                               "INPROC_ALLREDUCE", "MEMCPY_IN_FUSION_BUFFER"}) {
    EXPECT_NE(trace.find(activity), std::string::npos) << activity << " missing from the timeline";
  }
}

}  // namespace
}  // namespace trainyard::collective
