// The byte-level pieces of the scoring pool (python_pool.cc), kept apart so that they can be tested
// without processes: the frames spoken with a worker (python/trainyard/_score_worker.py) and the
// forwarding of a worker's output lines to this process's stderr.
//
// A frame is a 4-byte big-endian length, then that many bytes. From a worker, the first byte of a
// frame says what it is:
//   'R' init() returned        'F' + traceback: the import or init() failed (the worker exits)
//   'O' + JSON: run()'s value  'E' + message: run() raised, or its value is not JSON
//   'B' + message: the request body is not UTF-8 text
// The pool sends the request body as a frame of its own.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

#include "common/status.h"

namespace trainyard::serve::pool_io {

// The frame holding `payload`.
std::string EncodeFrame(std::string_view payload);

// Takes the first complete frame off the front of `buffer` into `payload` and returns true; false
// when `buffer` does not hold a whole frame yet. InvalidArgument when the announced length is over
// `max_payload` (the peer is broken; `buffer` is left as it was).
Result<bool> TakeFrame(std::string* buffer, std::string* payload, size_t max_payload);

// Cuts a stream of bytes into lines and writes each one to a descriptor (stderr by default) as
// "<prefix>line\n", one write() per line so that lines of different workers do not interleave.
// A line longer than 64 KiB is written in pieces. Keeps the last few lines for error messages.
// Belongs to one thread.
class LineForwarder {
 public:
  explicit LineForwarder(std::string prefix, int fd = 2);

  void Feed(std::string_view bytes);
  // Writes a last line that has no newline.
  void Flush();
  // The last `n` lines (at most 20 are kept), joined with '\n'; "" when there were none.
  std::string LastLines(size_t n) const;

 private:
  void Emit(std::string_view line);

  std::string prefix_;
  int fd_;
  std::string partial_;
  std::deque<std::string> recent_;
};

}  // namespace trainyard::serve::pool_io
