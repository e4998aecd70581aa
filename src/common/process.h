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

// How Spawn starts a process.
struct SpawnOptions {
  std::string cwd;  // "" = inherit
  // The child's stdin, stdout and stderr: a descriptor of the caller's (not closed by Spawn), or
  // -1 for /dev/null.
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
  bool new_process_group = false;  // setpgid(0, 0)
  bool new_session = false;        // setsid()
  // PR_SET_PDEATHSIG(SIGKILL): the child is killed when the spawning thread's process dies (also
  // when it died between fork and the call).
  bool die_with_parent = false;
  // Detached: started through an intermediate child that exits at once, so the program is
  // adopted by init (or the nearest subreaper) and never becomes the caller's zombie. Spawn
  // then returns 0, not a pid. Implies new_session.
  bool detach = false;
  // Closes every descriptor above 2 in the child, also those without O_CLOEXEC.
  bool close_other_fds = false;
};

// Starts argv[0] (searched on PATH when it has no '/') with exactly `env` as its environment.
// The argv and environment arrays are built before fork and the child makes only
// async-signal-safe calls. Fails with NotFound when the program is not there, and with the
// reason when fork fails or the child cannot enter `cwd` or exec the program (reported back
// through a close-on-exec pipe, so a failed start is never mistaken for a program that ran).
// The caller reaps the pid with WaitPid (or waitpid).
Result<pid_t> Spawn(const std::vector<std::string>& argv,
                    const std::map<std::string, std::string>& env,
                    const SpawnOptions& options = {});

// Two close-on-exec pipes for a child's stdout and stderr; on failure none is left open.
Status OutputPipes(int out[2], int err[2]);

// waitpid(pid, status, flags), retried on EINTR. Returns waitpid's result.
pid_t WaitPid(pid_t pid, int* status, int flags = 0);

// The exit code of a wait status: the exit status, or 128 + the signal that killed it.
int ExitCodeOf(int wait_status);

// True while a process with this pid exists and, when start_ticks is non-zero, it is the same
// process (its start time in /proc/PID/stat matches, so a reused pid does not count).
bool ProcessAlive(pid_t pid, unsigned long long start_ticks = 0);
// Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat); 0 if unknown.
unsigned long long ProcessStartTicks(pid_t pid);
// All descendants of `root` (children, their children, ...), from /proc.
std::vector<pid_t> Descendants(pid_t root);

// Processes (other than this one) whose environment, as it was when they started
// (/proc/PID/environ), holds exactly the entry `key_value` ("TRAINYARD_RUN_ID=<id>"). Processes
// whose environment cannot be read (another user's, when not root) are not seen.
std::vector<pid_t> ProcessesWithEnvironment(const std::string& key_value);

// The short name of a process (/proc/PID/comm), "" when gone.
std::string ProcessName(pid_t pid);

// What StopProcessesWithEnvironment did.
struct StopReport {
  std::vector<std::pair<pid_t, std::string>> stopped;  // pid, name
  // pid, "name: why it could not be stopped" ("Operation not permitted", "still running").
  std::vector<std::pair<pid_t, std::string>> failed;
};

// Stops every process ProcessesWithEnvironment(key_value) finds: SIGTERM, up to `grace_ms` for
// them to end, then SIGKILL (looking again, since a process may start others meanwhile) until
// none is left or kill fails.
StopReport StopProcessesWithEnvironment(const std::string& key_value, int grace_ms);

}  // namespace trainyard
