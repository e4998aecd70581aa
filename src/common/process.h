// Running other programs. Arguments always travel as an argv vector; nothing goes through a shell.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainyard {

struct CommandResult {
  int exit_code = -1;  // exit status, or 128+signal when killed by a signal
  std::string out;     // stdout
  std::string err;     // stderr
  bool timed_out = false;
};

struct CommandOptions {
  std::string cwd;                             // empty: inherit
  std::map<std::string, std::string> set_env;  // added to (or overriding) the inherited env
  std::vector<std::string> unset_env;
  double timeout_seconds = 0;  // 0: none; on expiry the child is SIGKILLed
};

// Runs argv[0] (searched on PATH when it has no '/') and waits for it. Fails only when the program
// cannot be started; a non-zero exit is reported in CommandResult.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const CommandOptions& options = {});

// Finds an executable on PATH ("" when absent). A name containing '/' is returned if executable.
std::string FindOnPath(const std::string& name);

// This machine's host name ("localhost" if it cannot be read).
std::string HostName();
// Online CPU cores (at least 1).
int CpuCores();

// A TCP port that was free a moment ago on 127.0.0.1, and so was the next one: the collective
// runtime's Gloo rendezvous takes MASTER_PORT + 1 (docs/collective.md).
int PickFreePort();

// The current environment as a map.
std::map<std::string, std::string> CurrentEnvironment();
// The current environment without `unset`, with `set` added (or overriding).
std::map<std::string, std::string> EnvironmentWith(const std::map<std::string, std::string>& set,
                                                   const std::vector<std::string>& unset);

// An argv and an environment as the null-terminated arrays execve takes, and the strings they
// point to. Built before fork (the child only reads them). Not copyable: the arrays point inside.
class ExecArgs {
 public:
  ExecArgs(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env);
  ExecArgs(const ExecArgs&) = delete;
  ExecArgs& operator=(const ExecArgs&) = delete;
  char* const* argv() const { return argv_.data(); }
  char* const* envp() const { return envp_.data(); }

 private:
  std::vector<std::string> strings_;  // argv, then KEY=VALUE; never grows after construction
  std::vector<char*> argv_;
  std::vector<char*> envp_;
};

// True while a process with this pid exists and, when start_ticks is non-zero, it is the same
// process (its start time in /proc/PID/stat matches, so a reused pid does not count).
bool ProcessAlive(pid_t pid, unsigned long long start_ticks = 0);
// Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat); 0 if unknown.
unsigned long long ProcessStartTicks(pid_t pid);
// All descendants of `root` (children, their children, ...), from /proc.
std::vector<pid_t> Descendants(pid_t root);

}  // namespace trainyard
