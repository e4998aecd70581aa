// What the allreduce benchmarks share (allreduce_bench.cc over MPI, gloo_allreduce_bench.cc over
// Gloo): a clock, sample statistics, ResNet-18's gradient shapes, and the tables they print.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
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

// "4 KB", "16 MB".
inline std::string SizeLabel(int64_t bytes) {
  return bytes >= (1 << 20) ? std::to_string(bytes >> 20) + " MB"
                            : std::to_string(bytes >> 10) + " KB";
}

// Table 1: per size, the reference's and trainyard's time per allreduce (median and min), the
// time trainyard adds, both bus bandwidths (bytes * `bus` / time) and their ratio. `reference`
// names the reference's time column, `reference_bw` its bandwidth column.
inline void PrintLatencyTable(const std::string& title, const char* reference,
                              const char* reference_bw, const std::vector<int64_t>& sizes,
                              std::vector<Samples>& raw, std::vector<Samples>& ours, double bus) {
  std::printf("## %s\n\n", title.c_str());
  std::printf(
      "| size | %s median (min) | trainyard median (min) | added | %s | trainyard bus bw | bw "
      "ratio |\n|---|---|---|---|---|---|---|\n",
      reference, reference_bw);
  for (size_t k = 0; k < sizes.size(); ++k) {
    const double r = raw[k].Median();
    const double o = ours[k].Median();
    const double rb = static_cast<double>(sizes[k]) * bus / r / 1e9;
    const double ob = static_cast<double>(sizes[k]) * bus / o / 1e9;
    std::printf(
        "| %s | %.1f us (%.1f) | %.1f us (%.1f) | %+.1f us | %.2f GB/s | %.2f GB/s | %.2f |\n",
        SizeLabel(sizes[k]).c_str(), r * 1e6, raw[k].Min() * 1e6, o * 1e6, ours[k].Min() * 1e6,
        (o - r) * 1e6, rb, ob, ob / rb);
  }
  std::printf("\n");
  std::fflush(stdout);
}

// A row of a ResNet-18 table: median and min times `scale`, and the median over `best`.
inline void PrintRow(const char* label, Samples& s, double scale, double best) {
  std::printf("| %s | %.2f | %.2f | %.2f |\n", label, s.Median() * scale, s.Min() * scale,
              s.Median() / best);
}

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
