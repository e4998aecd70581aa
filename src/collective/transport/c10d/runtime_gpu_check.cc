// GPU check of the runtime's device path: Runtime::Init() as an application calls it (the world
// gets an NCCL device communicator from CreateWorld, transport_registry.cc), then CUDA tensors
// through allreduce (Sum, Average, prescale/postscale, several dtypes, in and out of place),
// grouped allreduce, allgather (output allocated on the device) and broadcast, with CPU tensors in
// the same job on the host path; the timeline and RuntimeStats say which path each took. Built and
// run by scripts/gpu_check.sh (gpu_check/CMakeLists.txt) with one rank: the runtime's host world
// here is the single-rank one (this small project builds neither MPI nor Gloo), so a multi-rank
// run prints SKIP.
//
// Prints one line per check and "runtime_gpu_check: N checks, F failed"; exits 0 when all passed,
// 1 when one failed, 77 when there is no CUDA device or more than one rank (a skip).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAFunctions.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "collective/collective.h"

namespace trainyard::collective {
namespace {

int checks = 0;
int failed = 0;

void Check(bool ok, const std::string& what) {
  ++checks;
  if (!ok) ++failed;
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
  std::fflush(stdout);
}

void CheckOk(const Status& st, const std::string& what) {
  Check(st.ok(), what + (st.ok() ? "" : ": " + st.ToString()));
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

at::ScalarType ScalarOf(DataType d) {
  switch (d) {
    case DataType::kUInt8: return at::kByte;
    case DataType::kInt8: return at::kChar;
    case DataType::kInt32: return at::kInt;
    case DataType::kInt64: return at::kLong;
    case DataType::kFloat16: return at::kHalf;
    case DataType::kBFloat16: return at::kBFloat16;
    case DataType::kFloat64: return at::kDouble;
    default: return at::kFloat;
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
bool AllEqual(const at::Tensor& t, double want) {
  at::Tensor host = t.to(at::kDouble).cpu();
  return host.numel() == 0 ||
         (host.min().item<double>() == want && host.max().item<double>() == want);
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int Main() {
  const char* size_s = std::getenv("WORLD_SIZE");
  if (size_s != nullptr && std::atoi(size_s) > 1) {
    std::printf("runtime_gpu_check: SKIP: this check runs one rank (WORLD_SIZE=%s)\n", size_s);
    return 77;
  }
  if (c10::cuda::device_count() == 0) {
    std::printf("runtime_gpu_check: SKIP: no CUDA device\n");
    return 77;
  }
  Check(Runtime::NcclBuilt(), "Runtime::NcclBuilt()");
  Result<std::unique_ptr<Runtime>> made = Runtime::Init();
  CheckOk(made.status(), "Runtime::Init()");
  if (!made.ok()) return 1;
  Runtime& rt = **made;
  const c10::Device cuda(c10::kCUDA, 0);
  auto on = [&](at::ScalarType t) { return at::TensorOptions().dtype(t).device(cuda); };
  const std::string timeline = "/tmp/runtime_gpu_check_timeline.json";
  CheckOk(rt.StartTimeline(timeline), "start timeline");

  // Allreduce, one rank: Sum is the identity, scale factors multiply, Average divides by 1.
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
  int n = 0;
  for (const Case& c : cases) {
    at::Tensor in = at::full({4099}, c.value, on(ScalarOf(c.dtype)));
    at::Tensor out = c.out_of_place ? at::zeros_like(in) : in;
    AllreduceOptions o;
    o.op = c.op;
    o.prescale_factor = c.pre;
    o.postscale_factor = c.post;
    std::string what = std::string("cuda allreduce ") + DataTypeName(c.dtype) + " " +
                       ReduceOpName(c.op) + " pre " + std::to_string(c.pre) + " post " +
                       std::to_string(c.post) + (c.out_of_place ? " out of place" : " in place");
    Status st = rt.Allreduce("ar." + std::to_string(n++), View(in), View(out), o);
    Check(st.ok() && AllEqual(out, c.want) && (!c.out_of_place || AllEqual(in, c.value)),
          what + (st.ok() ? "" : ": " + st.ToString()));
  }
  const int64_t after_single = rt.stats().device_tensors;
  Check(after_single == static_cast<int64_t>(cases.size()),
        "device_tensors counts them (" + std::to_string(after_single) + ")");

  // Grouped allreduce of small CUDA tensors: on the device, never fused.
  {
    std::vector<at::Tensor> ts;
    std::vector<Tensor> views;
    std::vector<std::string> names;
    for (int i = 0; i < 3; ++i) {
      ts.push_back(at::full({16}, i + 1.0, on(at::kFloat)));
      views.push_back(View(ts.back()));
      names.push_back("group." + std::to_string(i));
    }
    AllreduceOptions o;
    o.op = ReduceOp::kAverage;
    o.postscale_factor = 2;
    Status st = rt.GroupedAllreduceAsync(names, views, views, o).Wait();
    bool ok = st.ok();
    for (int i = 0; i < 3; ++i) ok = ok && AllEqual(ts[static_cast<size_t>(i)], 2.0 * (i + 1));
    Check(ok, "cuda grouped allreduce" + (st.ok() ? "" : ": " + st.ToString()));
    Check(rt.stats().fused_tensors == 0, "cuda tensors are not fused");
  }

  // The host path in the same job: CPU tensors, a fused group.
  {
    std::vector<at::Tensor> ts;
    std::vector<Tensor> views;
    for (int i = 0; i < 3; ++i) {
      ts.push_back(at::full({16}, 5.0, at::kFloat));
      views.push_back(View(ts.back()));
    }
    AllreduceOptions o;
    o.op = ReduceOp::kSum;
    o.prescale_factor = 2;
    Status st = rt.GroupedAllreduceAsync({"cpu.0", "cpu.1", "cpu.2"}, views, views, o).Wait();
    Check(st.ok() && AllEqual(ts[0], 10) && AllEqual(ts[2], 10),
          "cpu grouped allreduce next to cuda ones" + (st.ok() ? "" : ": " + st.ToString()));
    Check(rt.stats().fused_tensors == 3, "cpu tensors fused on the host");
    at::Tensor big = at::full({1 << 16}, 1.0, at::kFloat);
    st = rt.Allreduce("cpu.big", View(big), View(big));
    Check(st.ok() && AllEqual(big, 1), "cpu allreduce");
  }

  // Allgather into a CUDA tensor allocated by the output allocator.
  {
    at::Tensor rows = at::arange(12, on(at::kFloat)).reshape({3, 4});
    std::vector<at::Tensor> keep;
    AllgatherOptions o;
    o.allocator = [&](const Shape& shape) -> Result<Tensor> {
      keep.push_back(at::empty(at::IntArrayRef(shape), on(at::kFloat)));
      return View(keep.back());
    };
    Handle h = rt.AllgatherAsync("gather", View(rows), o);
    Status st = h.Wait();
    bool ok = st.ok() && keep.size() == 1 && h.output().shape == Shape{3, 4} &&
              h.output().device.type == DeviceType::kCuda;
    ok = ok && at::equal(keep[0].cpu(), rows.cpu());
    Check(ok, "cuda allgather" + (st.ok() ? "" : ": " + st.ToString()));
  }

  // Broadcast, in place and out of place.
  {
    at::Tensor t = at::full({1000}, 7.0, on(at::kDouble));
    Status st = rt.Broadcast("bcast.in", View(t), 0);
    Check(st.ok() && AllEqual(t, 7), "cuda broadcast in place" + (st.ok() ? "" : st.ToString()));
    at::Tensor out = at::zeros({1000}, on(at::kDouble));
    st = rt.BroadcastAsync("bcast.out", View(t), View(out), 0).Wait();
    Check(st.ok() && AllEqual(out, 7),
          "cuda broadcast out of place" + (st.ok() ? "" : ": " + st.ToString()));
  }

  // What the device path refuses, at enqueue.
  {
    at::Tensor t = at::ones({4}, on(at::kFloat));
    Check(rt.ReducescatterAsync("rs", View(t)).Wait().code() == StatusCode::kUnimplemented,
          "cuda reducescatter refused");
    Check(rt.AllgatherAsync("noalloc", View(t)).Wait().code() == StatusCode::kInvalidArgument,
          "cuda allgather without an allocator refused");
  }

  // 64 MB float32 Average, and its time (one rank: no bytes cross; the device scaling pass).
  {
    at::Tensor t = at::full({16 << 20}, 2.0, on(at::kFloat));
    auto t0 = std::chrono::steady_clock::now();
    Status st;
    for (int i = 0; i < 5 && st.ok(); ++i) st = rt.Allreduce("big", View(t), View(t));
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    Check(st.ok() && AllEqual(t, 2), "cuda allreduce 64 MB Average x5 (" + std::to_string(ms / 5) +
                                         " ms each)" + (st.ok() ? "" : ": " + st.ToString()));
  }

  CheckOk(rt.StopTimeline(), "stop timeline");
  const std::string trace = Read(timeline);
  Check(trace.find("NCCL_ALLREDUCE") != std::string::npos, "timeline has NCCL_ALLREDUCE");
  Check(trace.find("NCCL_ALLGATHER") != std::string::npos, "timeline has NCCL_ALLGATHER");
  Check(trace.find("NCCL_BROADCAST") != std::string::npos, "timeline has NCCL_BROADCAST");
  Check(trace.find("INPROC_ALLREDUCE") != std::string::npos,
        "timeline has the host path (INPROC_ALLREDUCE)");
  Check(trace.find("MEMCPY_IN_FUSION_BUFFER") != std::string::npos,
        "timeline has host fusion (MEMCPY_IN_FUSION_BUFFER)");
  const RuntimeStats s = rt.stats();
  std::printf("stats: device_tensors %lld, fused_tensors %lld\n",
              static_cast<long long>(s.device_tensors), static_cast<long long>(s.fused_tensors));
  CheckOk(rt.Shutdown(), "shutdown");
  made->reset();
  std::printf("runtime_gpu_check: %d checks, %d failed\n", checks, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace trainyard::collective

int main() { return trainyard::collective::Main(); }
