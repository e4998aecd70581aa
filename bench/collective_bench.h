// What the allreduce benchmarks share (allreduce_bench.cc over MPI, gloo_allreduce_bench.cc over
// Gloo): a clock, sample statistics, and ResNet-18's gradient shapes.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "collective/types.h"

namespace trainyard::bench {

inline double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Samples {
  std::vector<double> v;
  void Add(double s) { v.push_back(s); }
  double Median() {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
  }
  double Min() { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }
};

// torchvision.models.resnet18().parameters(), in order (62 tensors, 11,689,512 floats).
inline std::vector<collective::Shape> ResNet18Shapes() {
  std::vector<collective::Shape> s = {{64, 3, 7, 7}, {64}, {64}};
  auto block = [&](int64_t in, int64_t out, bool down) {
    s.push_back({out, in, 3, 3});
    s.push_back({out});
    s.push_back({out});
    s.push_back({out, out, 3, 3});
    s.push_back({out});
    s.push_back({out});
    if (down) {
      s.push_back({out, in, 1, 1});
      s.push_back({out});
      s.push_back({out});
    }
  };
  block(64, 64, false);
  block(64, 64, false);
  block(64, 128, true);
  block(128, 128, false);
  block(128, 256, true);
  block(256, 256, false);
  block(256, 512, true);
  block(512, 512, false);
  s.push_back({1000, 512});
  s.push_back({1000});
  return s;
}

}  // namespace trainyard::bench
