// Follows the per-rank log files of a run (see log_capture.h for their format) and hands complete
// new lines to a sink, merged across ranks by time, with a "[rank N] " prefix when the run has
// several ranks. Used by `logs --follow`, `--stream` and the C++ API. Not thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace trainyard::runner {

class LogFollower {
 public:
  using Sink = std::function<void(const std::string& line)>;
  // `only_rank` < 0: all ranks. `timestamps`: prefix each line with its ISO time.
  LogFollower(std::string log_dir, int only_rank, bool timestamps, Sink sink);
  // Hands new complete lines to the sink; with `all`, also a last line without '\n'. Returns
  // the number of lines handed over.
  int Pump(bool all = false);
  // Moves past everything written so far without handing it over.
  void SkipToEnd();

 private:
  struct Source {
    int rank;
    std::string path;
    long offset = 0;
    std::string partial;
  };
  void Discover();
  std::string dir_;
  int only_rank_;
  bool timestamps_;
  Sink sink_;
  std::vector<Source> sources_;
};

}  // namespace trainyard::runner
