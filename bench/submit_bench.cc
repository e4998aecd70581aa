// Benchmark (a): wall time of `trainyard submit --wait` of a trivial script against running
// `python3 script.py` directly, measured side by side in one run. Goal: overhead <= 100 ms.
// Usage: submit_bench [REPETITIONS]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "testing/temp_dir.h"

namespace {

using trainyard::MonotonicMicros;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double TimeCommand(const std::vector<std::string>& argv) {
  int64_t t0 = MonotonicMicros();
  auto r = trainyard::RunCommand(argv);
  double ms = static_cast<double>(MonotonicMicros() - t0) / 1000.0;
  if (!r.ok() || r->exit_code != 0) {
    std::fprintf(stderr, "command failed: %s\n%s\n", argv[0].c_str(),
                 r.ok() ? r->err.c_str() : r.status().message().c_str());
    std::exit(1);
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = argc > 1 ? std::atoi(argv[1]) : 10;
  trainyard::testing::TempDir dir;
  std::string src = dir / "src";
  std::string ws = dir / "ws";
  if (!trainyard::MakeDirs(src).ok() ||
      !trainyard::WriteFileAtomic(src + "/script.py", "print('hello')\n").ok()) {
    return 1;
  }
  const std::string bin = TRAINYARD_BIN;
  std::vector<std::string> direct = {"/usr/bin/python3", src + "/script.py"};
  std::vector<std::string> submit = {bin, "--workspace", ws,          "submit", "--source",
                                     src, "--entry",     "script.py", "--wait"};
  // Warm-up: the first submit probes the interpreter (cached afterwards) and creates the
  // workspace; the first python start warms the page cache.
  TimeCommand(direct);
  TimeCommand(submit);
  std::vector<double> t_direct, t_submit;
  for (int i = 0; i < reps; ++i) {  // interleaved, so drift hits both alike
    t_direct.push_back(TimeCommand(direct));
    t_submit.push_back(TimeCommand(submit));
  }
  double d = Median(t_direct), s = Median(t_submit);
  std::printf("## submit --wait overhead (%d repetitions, median)\n\n", reps);
  std::printf("| case | trainyard submit --wait | python3 script.py | ratio | overhead |\n");
  std::printf("|---|---|---|---|---|\n");
  std::printf("| trivial script | %.1f ms | %.1f ms | %.2fx | %.1f ms (goal <= 100 ms) |\n", s, d,
              s / d, s - d);
  return 0;
}
