// Line-by-line capture of a rank's stdout and stderr into one per-rank log file.
//
// File format, one line per captured line:  "<ISO-8601 UTC time> <out|err> <text>\n".
// Lines longer than kMaxLine are split; a last line without '\n' is flushed at close. Writes are
// appended whole, so a reader never sees half a line. Not thread-safe; owned by the supervisor.
//
// A line that cannot be written (a full disk, an I/O error) is not stored at all (a partial write
// is cut off again) and is counted: per log, and for the whole process in LogLosses(), which the
// supervisor reads at the end of the run so that lost output fails the run instead of vanishing.
#pragma once

#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace trainyard::targets {

// What the logs of this process could not store, since the process started.
struct LogLoss {
  int64_t bytes = 0;  // bytes of log lines not stored
  int64_t lines = 0;
  std::string first_error;   // "No space left on device", ...
  std::string first_folder;  // the folder of the first log that lost a line
  bool disk_full = false;    // some write failed with ENOSPC
};
LogLoss LogLosses();
// Returns LogLosses() and starts counting again from zero (the supervisor, at a run's start).
LogLoss TakeLogLosses();

class RankLog {
 public:
  static constexpr size_t kMaxLine = size_t{64} * 1024;
  static constexpr size_t kTailLines = 20;

  RankLog() = default;
  ~RankLog();
  RankLog(const RankLog&) = delete;
  RankLog& operator=(const RankLog&) = delete;

  Status Open(const std::string& path);
  // Feeds bytes read from stream 0 (stdout) or 1 (stderr).
  void Feed(int stream, std::string_view bytes);
  // Writes one complete line (without '\n') of stream 0 or 1.
  void AddLine(int stream, std::string_view line);
  // Flushes partial lines of both streams.
  void Close();
  // The last lines written to stderr (for failure reports).
  const std::deque<std::string>& stderr_tail() const { return err_tail_; }
  // The last lines written to either stream.
  const std::deque<std::string>& all_tail() const { return all_tail_; }
  // Bytes of lines that could not be written to this log.
  int64_t lost_bytes() const { return lost_bytes_; }

 private:
  void WriteLine(int stream, std::string_view line);
  // Appends `rec` whole, or not at all; counts it when it cannot.
  void Append(const std::string& rec);
  int fd_ = -1;
  std::string path_;
  int64_t lost_bytes_ = 0;
  std::string partial_[2];
  std::deque<std::string> err_tail_;
  std::deque<std::string> all_tail_;
};

// Demultiplexes the output of `mpirun --tag-output` ("[1,3]<stdout>:text") into one RankLog per
// rank (<log_dir>/rank-<r>.log, opened on first use); untagged lines (mpirun's own messages) go
// to <log_dir>/launcher.log. Not thread-safe.
class TaggedDemux {
 public:
  enum class Format {
    kOpenMpi,  // mpirun --tag-output: "[1,3]<stdout>:text"
    kSlurm,    // srun --label: "3: text" (the stream is the file it came from)
  };
  explicit TaggedDemux(std::string log_dir, Format format = Format::kOpenMpi);
  void Feed(int stream, std::string_view bytes);
  void Close();
  // nullptr when the rank wrote nothing.
  const RankLog* rank_log(int rank) const;
  const RankLog& launcher() const { return launcher_; }

 private:
  void Route(int stream, std::string_view line);
  RankLog& Rank(int rank);
  std::string dir_;
  Format format_;
  std::string partial_[2];
  std::map<int, std::unique_ptr<RankLog>> ranks_;
  RankLog launcher_;
};

// A parsed log line.
struct LogLine {
  std::string time;    // ISO-8601
  std::string stream;  // "out" or "err"
  std::string text;
};
// Parses one stored line; lines in another shape come back whole as text.
LogLine ParseLogLine(const std::string& line);

}  // namespace trainyard::targets
