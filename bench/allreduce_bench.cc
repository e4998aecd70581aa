// Allreduce benchmark: trainyard's collective runtime (MPI transport) against raw MPI, side by
// side in one run. Run with 2 ranks:
//
//   mpirun -np 2 --bind-to none build/bench/allreduce_bench [rounds=5] [latency|resnet]
//
// Table 1: one float32 allreduce (Sum, in place), 4 KB .. 64 MB: time per operation (median over
// all iterations of all rounds, and min), bus bandwidth (bytes * 2(n-1)/n / time), trainyard's
// added latency and bandwidth ratio. trainyard calls are synchronous (enqueue, wait), so the
// figures include the hand-off to the background thread and the coordination step.
//
// Table 2: ResNet-18's 62 gradient tensors (torchvision shapes, 46.8 MB), ms per step, and the 43
// of them under 64 KB alone (us per step):
//   trainyard: submit all 62 asynchronously (in backward order), then wait for all; with the
//              automatic fusion rule, with fusion off, and fusing everything;
//   raw MPI:   one MPI_Allreduce per tensor; one MPI_Allreduce of a flat buffer of all bytes.
//
// The reference and trainyard alternate in short blocks (per size and round); the runtime is shut
// down while raw MPI is measured so its background thread does not disturb the reference. Only
// rank 0 prints.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "collective/collective.h"
#include "collective_bench.h"

namespace {

using trainyard::bench::Now;
using trainyard::bench::PrintLatencyTable;
using trainyard::bench::PrintRow;
using trainyard::bench::ResNet18Shapes;
using trainyard::bench::Samples;
using trainyard::collective::AllreduceOptions;
using trainyard::collective::Config;
using trainyard::collective::ConfigFromEnv;
using trainyard::collective::DataType;
using trainyard::collective::Handle;
using trainyard::collective::InitOptions;
using trainyard::collective::NumElements;
using trainyard::collective::ReduceOp;
using trainyard::collective::Runtime;
using trainyard::collective::Shape;
using trainyard::collective::Tensor;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "allreduce_bench: %s\n", what.c_str());
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::exit(1);
}

std::unique_ptr<Runtime> StartRuntime(const Config& config) {
  InitOptions options;
  options.config = config;
  auto rt = Runtime::Init(std::move(options));
  if (!rt.ok()) Die("Runtime::Init: " + rt.status().ToString());
  return std::move(*rt);
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  // Optional second argument: "latency" or "resnet" runs only that part.
  const std::string only = argc > 2 ? argv[2] : "";
  auto env = ConfigFromEnv();
  if (!env.ok()) Die(env.status().ToString());
  const Config base = *env;
  const double bus = 2.0 * (size - 1) / size;

  // ---- Table 1: one allreduce, 4 KB .. 64 MB ----
  const std::vector<int64_t> sizes = {4 << 10, 16 << 10, 64 << 10, 256 << 10,
                                      1 << 20, 4 << 20,  16 << 20, 64 << 20};
  std::vector<Samples> raw(sizes.size()), ours(sizes.size());
  const bool run_latency = only.empty() || only == "latency";
  const bool run_resnet = only.empty() || only == "resnet";
  std::vector<std::vector<float>> bufs;
  for (int64_t bytes : sizes) bufs.emplace_back(static_cast<size_t>(bytes / 4), 1.0f);
  AllreduceOptions sum;
  sum.op = ReduceOp::kSum;
  // Raw and trainyard blocks alternate per size and round, so that load changes on a shared
  // machine hit both alike.
  for (int round = 0; round < rounds && run_latency; ++round) {
    for (size_t k = 0; k < sizes.size(); ++k) {
      // At least 20 per round: with 5, the first operations after a runtime starts weighed on the
      // median of the large sizes (16 MB read 0.78-0.84 of raw instead of 0.92-0.93).
      const int iters = static_cast<int>(std::clamp<int64_t>((256 << 20) / sizes[k], 20, 1000));
      float* data = bufs[k].data();
      const int count = static_cast<int>(bufs[k].size());
      {
        std::unique_ptr<Runtime> rt = StartRuntime(base);
        Tensor t{data, DataType::kFloat32, {static_cast<int64_t>(count)}, {}};
        const std::string name = "bench." + std::to_string(sizes[k]);
        for (int i = 0; i < 3; ++i) {
          if (!rt->Allreduce(name, t, t, sum).ok()) Die("allreduce failed");
        }
        for (int i = 0; i < iters; ++i) {
          double t0 = Now();
          trainyard::Status st = rt->Allreduce(name, t, t, sum);
          ours[k].Add(Now() - t0);
          if (!st.ok()) Die(st.ToString());
        }
        if (!rt->Shutdown().ok()) Die("shutdown");
      }
      for (int i = 0; i < 3; ++i) {
        MPI_Allreduce(MPI_IN_PLACE, data, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      }
      MPI_Barrier(MPI_COMM_WORLD);
      for (int i = 0; i < iters; ++i) {
        double t0 = Now();
        MPI_Allreduce(MPI_IN_PLACE, data, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        raw[k].Add(Now() - t0);
      }
    }
  }
  if (rank == 0 && run_latency) {
    PrintLatencyTable("Allreduce, " + std::to_string(size) + " ranks, float32 Sum in place, " +
                          std::to_string(rounds) + " rounds",
                      "MPI_Allreduce", "MPI bus bw", sizes, raw, ours, bus);
  }

  // ---- Table 2: ResNet-18's gradients: all 62, and the 43 small ones alone ----
  const std::vector<Shape> shapes = ResNet18Shapes();
  std::vector<std::vector<float>> grads;
  for (const Shape& s : shapes) grads.emplace_back(static_cast<size_t>(NumElements(s)), 1.0f);
  std::vector<size_t> all_tensors;
  std::vector<size_t> small_tensors;
  for (size_t k = 0; k < shapes.size(); ++k) {
    all_tensors.push_back(k);
    if (NumElements(shapes[k]) * 4 < (64 << 10)) small_tensors.push_back(k);
  }
  struct Variant {
    const char* label;
    int64_t small_tensor_bytes;  // -1: automatic
    int64_t threshold;
  };
  const std::vector<Variant> variants = {
      {"trainyard, automatic fusion rule", -1, base.fusion_threshold_bytes},
      {"trainyard, fusion off", -1, 0},
      {"trainyard, fuse everything (32 MiB buffers)", 64 << 20, base.fusion_threshold_bytes}};
  const int steps = 10;
  for (const std::vector<size_t>* set : {&all_tensors, &small_tensors}) {
    if (!run_resnet) break;
    int64_t total = 0;
    for (size_t k : *set) total += NumElements(shapes[k]);
    std::vector<float> flat(static_cast<size_t>(total), 1.0f);
    Samples per_tensor, flat_one;
    std::vector<Samples> ours_v(variants.size());
    for (int round = 0; round < rounds; ++round) {
      for (int step = 0; step < steps + 2; ++step) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = Now();
        for (size_t i = set->size(); i-- > 0;) {  // backward order
          std::vector<float>& g = grads[(*set)[i]];
          MPI_Allreduce(MPI_IN_PLACE, g.data(), static_cast<int>(g.size()), MPI_FLOAT, MPI_SUM,
                        MPI_COMM_WORLD);
        }
        if (step >= 2) per_tensor.Add(Now() - t0);
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = Now();
        MPI_Allreduce(MPI_IN_PLACE, flat.data(), static_cast<int>(total), MPI_FLOAT, MPI_SUM,
                      MPI_COMM_WORLD);
        if (step >= 2) flat_one.Add(Now() - t0);
      }
      for (size_t v = 0; v < variants.size(); ++v) {
        Config c = base;
        c.fusion_small_tensor_bytes = variants[v].small_tensor_bytes;
        c.fusion_threshold_bytes = variants[v].threshold;
        std::unique_ptr<Runtime> rt = StartRuntime(c);
        for (int step = 0; step < steps + 2; ++step) {
          MPI_Barrier(MPI_COMM_WORLD);
          double t0 = Now();
          std::vector<Handle> handles;
          for (size_t i = set->size(); i-- > 0;) {
            size_t k = (*set)[i];
            Tensor t{grads[k].data(), DataType::kFloat32, shapes[k], {}};
            handles.push_back(rt->AllreduceAsync("grad." + std::to_string(k), t, t, sum));
          }
          for (const Handle& h : handles) {
            if (!h.Wait().ok()) Die("resnet allreduce failed: " + h.Wait().ToString());
          }
          if (step >= 2) ours_v[v].Add(Now() - t0);
        }
        if (!rt->Shutdown().ok()) Die("shutdown");
      }
    }
    if (rank == 0) {
      const bool all = set == &all_tensors;
      const double scale = all ? 1e3 : 1e6;
      const char* unit = all ? "ms" : "us";
      double best = std::min(per_tensor.Median(), flat_one.Median());
      std::printf("## ResNet-18 gradients: %s (%zu tensors, %.2f MB), %d ranks, %s per step\n\n",
                  all ? "all" : "only those under 64 KB", set->size(),
                  static_cast<double>(total) * 4 / 1e6, size, unit);
      std::printf("| variant | median | min | vs faster reference |\n|---|---|---|---|\n");
      PrintRow("MPI_Allreduce per tensor", per_tensor, scale, best);
      PrintRow("one MPI_Allreduce of all bytes (flat buffer, no copies)", flat_one, scale, best);
      for (size_t v = 0; v < variants.size(); ++v) {
        PrintRow(variants[v].label, ours_v[v], scale, best);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  }
  MPI_Finalize();
  return 0;
}
