// Allreduce benchmark over Gloo: trainyard's collective runtime (Gloo transport) against raw c10d
// ProcessGroupGloo, side by side in one run, 2 ranks on this host, no MPI:
//
//   build/bench/gloo_allreduce_bench [rounds=5] [latency|resnet]
//
// Started without RANK in the environment, the program launches itself twice with torch's
// contract (RANK, WORLD_SIZE=2, MASTER_ADDR=127.0.0.1, MASTER_PORT) and waits for both; rank 0
// prints. The runtime meets its peer at MASTER_PORT + 1, the raw reference at MASTER_PORT + 2 (a
// TCPStore and a ProcessGroupGloo with the same options and device as the runtime's).
//
// Table 1: one float32 allreduce (Sum, in place), 4 KB .. 64 MB: time per operation (median over
// all iterations of all rounds, and min), bus bandwidth (bytes * 2(n-1)/n / time), trainyard's
// added latency and bandwidth ratio. trainyard calls are synchronous (enqueue, wait), so the
// figures include the hand-off to the background thread and the coordination step (itself a
// Gloo allgather of a few words).
//
// Table 2: ResNet-18's 62 gradient tensors (torchvision shapes, 46.8 MB), ms per step, and the 43
// of them under 64 KB alone (us per step):
//   trainyard: submit all asynchronously (backward order), then wait for all: the automatic
//              fusion rule (on Gloo: fuse everything that fits in 64 MiB buffers) on separately
//              allocated tensors, and on tensors back to back in one allocation in submission
//              order (how the DistributedOptimizers lay gradients out: no fusion-buffer copies);
//              only tensors under 64 KB fused (the MPI shared-memory rule); fusion off;
//   raw c10d:  one allreduce per tensor (all started, then all waited for, as DDP without buckets
//              would); one allreduce of a flat buffer of all bytes. The faster of the two is the
//              reference. For insight, also one allreduce per tensor waited for one at a time
//              (c10d's worker threads run two started allreduces at once; the runtime runs one).
//
// Reference and trainyard alternate in blocks (per size and round); the runtime is shut down
// while the reference runs, so its background thread (a coordination allreduce per idle
// millisecond) does not disturb it. Every rank destroys its runtime before a barrier on the raw
// group, so a new runtime never meets the previous one's store.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <vector>

#include "collective/collective.h"
#include "collective_bench.h"
#include "common/process.h"

extern char** environ;

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
  std::fprintf(stderr, "gloo_allreduce_bench: %s\n", what.c_str());
  std::fflush(stderr);
  _exit(1);
}

// The raw reference: a ProcessGroupGloo like the runtime's (default device, same timeout).
class RawGloo {
 public:
  RawGloo(int rank, int size, const std::string& addr, int port) {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = rank == 0;
    so.numWorkers = static_cast<std::size_t>(size);
    so.waitWorkers = false;
    so.timeout = std::chrono::seconds(60);
    store_ = c10::make_intrusive<c10d::TCPStore>(addr, so);
    auto options = c10d::ProcessGroupGloo::Options::create(std::chrono::seconds(60));
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("raw", store_), rank, size, options);
  }
  c10::intrusive_ptr<c10d::Work> Start(float* data, int64_t count) {
    std::vector<at::Tensor> t{at::from_blob(data, {count}, at::kFloat)};
    return pg_->allreduce(t);
  }
  void Allreduce(float* data, int64_t count) { Start(data, count)->wait(); }
  void Barrier() { pg_->barrier()->wait(); }

 private:
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
};

std::unique_ptr<Runtime> StartRuntime(const Config& config) {
  InitOptions options;
  options.transport = "gloo";
  options.config = config;
  auto rt = Runtime::Init(std::move(options));
  if (!rt.ok()) Die("Runtime::Init: " + rt.status().ToString());
  return std::move(*rt);
}

// Runs this program as 2 ranks and returns the first non-zero exit status (or 0).
int LaunchRanks(char** argv) {
  const int master_port = trainyard::PickFreePort();  // and MASTER_PORT + 1, the runtime's
  std::vector<pid_t> pids;
  for (int rank = 0; rank < 2; ++rank) {
    std::vector<std::string> env_strings = {"RANK=" + std::to_string(rank), "WORLD_SIZE=2",
                                            "MASTER_ADDR=127.0.0.1",
                                            "MASTER_PORT=" + std::to_string(master_port)};
    for (char** e = environ; *e != nullptr; ++e) {
      std::string s = *e;
      if (s.rfind("RANK=", 0) == 0 || s.rfind("WORLD_SIZE=", 0) == 0 ||
          s.rfind("MASTER_", 0) == 0 || s.rfind("OMPI_", 0) == 0) {
        continue;
      }
      env_strings.push_back(s);
    }
    std::vector<char*> envp;
    for (std::string& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, envp.data()) != 0) {
      Die("posix_spawn failed");
    }
    pids.push_back(pid);
  }
  int result = 0;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (result == 0) result = code;
  }
  return result;
}

int RunRank(int argc, char** argv) {
  const int rank = std::atoi(std::getenv("RANK"));
  const int size = std::atoi(std::getenv("WORLD_SIZE"));
  const std::string addr = std::getenv("MASTER_ADDR");
  const int master_port = std::atoi(std::getenv("MASTER_PORT"));
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  const std::string only = argc > 2 ? argv[2] : "";
  auto env = ConfigFromEnv();
  if (!env.ok()) Die(env.status().ToString());
  const Config base = *env;
  const double bus = 2.0 * (size - 1) / size;
  RawGloo raw_pg(rank, size, addr, master_port + 2);

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
  for (int round = 0; round < rounds && run_latency; ++round) {
    for (size_t k = 0; k < sizes.size(); ++k) {
      // At least 20 per round, as in allreduce_bench.cc (startup effects weigh on fewer).
      const int iters = static_cast<int>(std::clamp<int64_t>((256 << 20) / sizes[k], 20, 500));
      float* data = bufs[k].data();
      const int64_t count = static_cast<int64_t>(bufs[k].size());
      {
        std::unique_ptr<Runtime> rt = StartRuntime(base);
        Tensor t{data, DataType::kFloat32, {count}, {}};
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
      raw_pg.Barrier();
      for (int i = 0; i < 3; ++i) raw_pg.Allreduce(data, count);
      for (int i = 0; i < iters; ++i) {
        double t0 = Now();
        raw_pg.Allreduce(data, count);
        raw[k].Add(Now() - t0);
      }
      raw_pg.Barrier();
    }
  }
  if (rank == 0 && run_latency) {
    PrintLatencyTable("Allreduce over Gloo, " + std::to_string(size) +
                          " ranks, float32 Sum in place, " + std::to_string(rounds) + " rounds",
                      "c10d Gloo", "Gloo bus bw", sizes, raw, ours, bus);
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
    int64_t threshold;
    int64_t small_tensor_bytes;  // -1: the automatic rule
    bool one_allocation;         // tensors back to back in submission order
  };
  const std::vector<Variant> variants = {
      {"trainyard, automatic fusion rule", base.fusion_threshold_bytes, -1, false},
      {"trainyard, gradients in one allocation (DistributedOptimizer layout)",
       base.fusion_threshold_bytes, -1, true},
      {"trainyard, only tensors < 64 KB fused (MPI shared-memory rule)",
       base.fusion_threshold_bytes, 64 << 10, false},
      {"trainyard, fusion off", 0, -1, false}};
  const int steps = 10;
  for (const std::vector<size_t>* set : {&all_tensors, &small_tensors}) {
    if (!run_resnet) break;
    int64_t total = 0;
    for (size_t k : *set) total += NumElements(shapes[k]);
    std::vector<float> flat(static_cast<size_t>(total), 1.0f);
    Samples per_tensor, flat_one, sequential;
    std::vector<Samples> ours_v(variants.size());
    for (int round = 0; round < rounds; ++round) {
      for (int step = 0; step < steps + 2; ++step) {
        raw_pg.Barrier();
        double t0 = Now();
        std::vector<c10::intrusive_ptr<c10d::Work>> works;
        for (size_t i = set->size(); i-- > 0;) {  // backward order
          std::vector<float>& g = grads[(*set)[i]];
          works.push_back(raw_pg.Start(g.data(), static_cast<int64_t>(g.size())));
        }
        for (auto& w : works) w->wait();
        if (step >= 2) per_tensor.Add(Now() - t0);
        raw_pg.Barrier();
        t0 = Now();
        for (size_t i = set->size(); i-- > 0;) {
          std::vector<float>& g = grads[(*set)[i]];
          raw_pg.Allreduce(g.data(), static_cast<int64_t>(g.size()));
        }
        if (step >= 2) sequential.Add(Now() - t0);
        raw_pg.Barrier();
        t0 = Now();
        raw_pg.Allreduce(flat.data(), total);
        if (step >= 2) flat_one.Add(Now() - t0);
      }
      for (size_t v = 0; v < variants.size(); ++v) {
        Config c = base;
        c.fusion_threshold_bytes = variants[v].threshold;
        c.fusion_small_tensor_bytes = variants[v].small_tensor_bytes;
        // The one-allocation layout: tensor k at offsets[k] of `flat`, in submission order.
        std::vector<int64_t> offsets(shapes.size(), 0);
        int64_t at = 0;
        for (size_t i = set->size(); i-- > 0;) {
          offsets[(*set)[i]] = at;
          at += NumElements(shapes[(*set)[i]]);
        }
        {
          std::unique_ptr<Runtime> rt = StartRuntime(c);
          for (int step = 0; step < steps + 2; ++step) {
            double t0 = Now();
            std::vector<Handle> handles;
            for (size_t i = set->size(); i-- > 0;) {
              size_t k = (*set)[i];
              float* data = variants[v].one_allocation ? flat.data() + offsets[k] : grads[k].data();
              Tensor t{data, DataType::kFloat32, shapes[k], {}};
              handles.push_back(rt->AllreduceAsync("grad." + std::to_string(k), t, t, sum));
            }
            for (const Handle& h : handles) {
              if (!h.Wait().ok()) Die("resnet allreduce failed: " + h.Wait().ToString());
            }
            if (step >= 2) ours_v[v].Add(Now() - t0);
            // Steps start together, as the raw ones do after their barrier.
            if (!rt->Barrier().ok()) Die("barrier failed");
          }
          if (!rt->Shutdown().ok()) Die("shutdown");
        }
        raw_pg.Barrier();
      }
    }
    if (rank == 0) {
      const bool all = set == &all_tensors;
      const double scale = all ? 1e3 : 1e6;
      const char* unit = all ? "ms" : "us";
      double best = std::min(per_tensor.Median(), flat_one.Median());
      std::printf(
          "## ResNet-18 gradients over Gloo: %s (%zu tensors, %.2f MB), %d ranks, %s per step\n\n",
          all ? "all" : "only those under 64 KB", set->size(), static_cast<double>(total) * 4 / 1e6,
          size, unit);
      std::printf("| variant | median | min | vs faster reference |\n|---|---|---|---|\n");
      PrintRow("c10d Gloo allreduce per tensor (all started, then waited)", per_tensor, scale,
               best);
      PrintRow("one c10d Gloo allreduce of all bytes (flat buffer, no copies)", flat_one, scale,
               best);
      PrintRow("(c10d Gloo allreduce per tensor, one at a time: not a reference)", sequential,
               scale, best);
      for (size_t v = 0; v < variants.size(); ++v) {
        PrintRow(variants[v].label, ours_v[v], scale, best);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  }
  raw_pg.Barrier();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("RANK") == nullptr) return LaunchRanks(argv);
  try {
    return RunRank(argc, argv);
  } catch (const std::exception& e) {
    Die(std::string("c10d: ") + e.what());
  }
}
