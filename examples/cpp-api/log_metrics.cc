// A C++ "training" program that reports through the run context, as a libtorch program would:
// submit it with trainyard (entry_script: log_metrics) and its metrics appear on the run; run it
// directly and it prints them (offline). Usage: log_metrics [STEPS]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "trainyard/trainyard.h"

int main(int argc, char** argv) {
  int steps = argc > 1 ? std::atoi(argv[1]) : 100;
  trainyard::Run& run = trainyard::Run::Context();
  std::printf("run %s (%s)\n", run.id().c_str(), run.offline() ? "offline" : "tracked");
  for (int step = 0; step < steps; ++step) {
    double loss = 2.0 * std::exp(-step / 20.0);
    if (auto s = run.Log("loss", loss); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.message().c_str());
      return 1;
    }
  }
  auto bad = run.Log("bad\tname", 1.0);  // refused at the call, with the reason
  std::printf("bad name refused: %s\n", bad.ok() ? "no" : bad.message().c_str());
  (void)run.Log("special", std::nan(""));
  (void)run.Log("special", INFINITY);
  (void)run.LogRow("summary", {{"steps", steps}, {"final_loss", 2.0 * std::exp(-steps / 20.0)}});
  (void)run.Tag("language", "c++");
  std::ofstream("weights.txt") << "42\n";
  if (auto s = run.UploadFile("outputs/weights.txt", "weights.txt"); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    return 1;
  }
  if (auto s = run.Flush(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    return 1;
  }
  auto metrics = run.GetMetrics("loss");
  std::printf("stored %zu loss values\n", metrics.ok() ? (*metrics)["loss"].size() : 0);
  return 0;
}
