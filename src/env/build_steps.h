// Pieces shared by the builders of cached artifacts in the workspace (pip environments,
// C++ programs): an flock'ed lock file, and running a tool with its output streamed line by line.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainyard::env {

// Holds an flock on a file while alive (released by the destructor, or when the process dies, so a
// crashed builder never leaves a stale lock behind).
class FileLock {
 public:
  FileLock() = default;
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // Opens (creating) `path` and locks it exclusively; `wait` false returns false at once when
  // another holder has it. Call once per object.
  Result<bool> Acquire(const std::string& path, bool wait);

 private:
  int fd_ = -1;
};

struct StreamingOptions {
  std::string cwd;                             // "" = inherit
  std::map<std::string, std::string> set_env;  // added to (or overriding) the inherited env
  std::vector<std::string> unset_env;
  std::string stdin_data;  // what the program reads on stdin ("" = /dev/null)
};

// Runs argv (argv[0] absolute; no shell) with stdout and stderr merged and stdin from /dev/null
// (or options.stdin_data),
// calling on_line for each output line (on the calling thread). Returns the exit code (128+signal
// when killed); an error only when it cannot be started.
Result<int> RunStreaming(const std::vector<std::string>& argv,
                         const std::function<void(const std::string&)>& on_line,
                         const StreamingOptions& options = {});

}  // namespace trainyard::env
