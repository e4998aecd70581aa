// Follows the per-rank log files of a run (see log_capture.h for their format) and hands complete
// new lines to a sink, merged across ranks by time, with a "[rank N] " prefix when the run has
// several ranks. Used by `logs` (also --follow and --tail), `--stream` and the C++ API. Not
// thread-safe.
//
// Memory is bounded whatever the size of the logs: each rank's file is read in blocks and the
// ranks are merged line by line (a k-way merge of files that are each in time order), so a pump
// holds one block and one line per rank, never a whole file. A line without '\n' longer than
// kMaxLine (the capture splits lines at 64 KiB, so only a damaged file has one) is handed over in
// pieces.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace trainyard::runner {

class LogFollower {
 public:
  using Sink = std::function<void(const std::string& line)>;
  static constexpr size_t kMaxLine = 1 << 20;

  // `only_rank` < 0: all ranks. `timestamps`: prefix each line with its ISO time.
  LogFollower(std::string log_dir, int only_rank, bool timestamps, Sink sink);
  // Hands new complete lines to the sink; with `all`, also a last line without '\n'. Returns
  // the number of lines handed over.
  int Pump(bool all = false);
  // Moves past everything written so far without handing it over.
  void SkipToEnd();
  // Moves to the start of the last `lines` complete lines of each rank's file (reading the files
  // backwards in blocks), so that the next Pump hands over those and what follows.
  void SkipToLastLines(int lines);

 private:
  struct Source {
    int rank;
    std::string path;
    long offset = 0;      // bytes of the file read so far
    std::string partial;  // read, not yet handed over (no '\n' in it between pumps)
    size_t pos = 0;       // start of what is left in `partial` during a pump
    int fd = -1;
    bool at_end = false;  // nothing more to read in this pump
  };
  void Discover();
  // The next line of `s` in this pump; false when it has none (yet).
  bool NextLine(Source& s, bool all, std::string* line);
  std::string dir_;
  int only_rank_;
  bool timestamps_;
  Sink sink_;
  std::vector<Source> sources_;
};

}  // namespace trainyard::runner
