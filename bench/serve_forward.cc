// The model's own forward time for the serving benchmark (bench/serve_bench.py): a TorchScript
// file loaded with libtorch in C++, as trainyard-serve loads it, run on one input of the given
// shape (random values) under torch::NoGradGuard, after a warm-up. Prints one JSON object:
//   {"threads", "shape", "runs", "median_ms", "p99_ms", "min_ms"}
//
// Usage: serve_forward MODEL.pt SHAPE [RUNS] [THREADS]      (SHAPE like 1,3,224,224)
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: serve_forward MODEL.pt SHAPE [RUNS] [THREADS]\n");
    return 2;
  }
  std::vector<int64_t> shape;
  std::stringstream ss(argv[2]);
  for (std::string part; std::getline(ss, part, ',');) shape.push_back(std::atoll(part.c_str()));
  int runs = argc > 3 ? std::atoi(argv[3]) : 200;
  int threads = argc > 4 ? std::atoi(argv[4]) : 0;
  if (threads > 0) at::set_num_threads(threads);
  if (runs < 1 || shape.empty()) {
    std::fprintf(stderr, "serve_forward: RUNS must be >= 1 and SHAPE not empty\n");
    return 2;
  }

  torch::jit::script::Module module;
  try {
    module = torch::jit::load(argv[1]);
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "serve_forward: cannot load %s: %s\n", argv[1],
                 e.what_without_backtrace());
    return 1;
  }
  module.eval();
  torch::NoGradGuard no_grad;
  std::vector<torch::jit::IValue> inputs{torch::rand(shape)};
  for (int i = 0; i < std::min(runs, 10); ++i) module.forward(inputs);  // warm-up (JIT profiling)

  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(runs));
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    module.forward(inputs);
    auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  size_t p99 = std::min(ms.size() - 1, static_cast<size_t>(0.99 * static_cast<double>(ms.size())));
  std::printf(
      "{\"threads\": %d, \"shape\": \"%s\", \"runs\": %d, \"median_ms\": %.3f, \"p99_ms\": %.3f, "
      "\"min_ms\": %.3f}\n",
      at::get_num_threads(), argv[2], runs, ms[ms.size() / 2], ms[p99], ms.front());
  return 0;
}
