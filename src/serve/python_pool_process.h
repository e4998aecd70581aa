// One scoring worker process as the pool (python_pool.cc) holds it: started with a socketpair as
// its stdin (the frames of python_pool_io.h travel there) and one pipe for its stdout and stderr,
// whose lines are forwarded to this process's stderr as "[worker N] line". Pump() moves bytes
// both ways with one poll(); Finish() ends and reaps the process. A Process belongs to one thread:
// the one that started it, which must live as long as the process (the worker is SIGKILLed when
// that thread ends: PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "serve/model_service.h"
#include "serve/python_pool_io.h"

namespace trainyard::serve::pool_process {

struct Process {
  explicit Process(int index) : forward("[worker " + std::to_string(index) + "] ") {}

  pid_t pid = -1;
  int channel = -1;  // this side of the socketpair (non-blocking); the worker's stdin
  int output = -1;   // the read end of the worker's stdout and stderr; -1 after their EOF
  bool channel_closed = false;  // EOF or an error on the channel: the worker is gone or going
  std::string received;         // from the channel, not yet taken as frames
  std::string sending;          // a frame being sent, from `sent` on
  size_t sent = 0;
  pool_io::LineForwarder forward;
};

// Starts `argv` with `env` in `cwd` as a worker, in a process group of its own, into `p` (which
// must hold no process). The reason when it cannot start (nothing is left open then).
Status StartWorker(const std::vector<std::string>& argv,
                   const std::map<std::string, std::string>& env, const std::string& cwd,
                   Process* p);

enum class PumpResult { kActivity, kWake, kTimeout };

// One round of poll() over the worker's channel and output and `wake_fd` (an eventfd, drained
// when it fired: kWake), until `until` (none: no limit; kTimeout once passed). Sends what it can
// of p->sending, receives into p->received (setting p->channel_closed at EOF or error), forwards
// output lines. Must not be called once p->channel_closed.
PumpResult Pump(Process* p, int wake_fd, std::optional<Clock::time_point> until);

// Ends the worker: sends `first_signal` (0: none) to its process group, gives it `grace` to exit
// (forwarding its output meanwhile), then SIGKILLs what is left of the group, reaps the worker
// and closes this side's descriptors. Returns its wait status.
int Finish(Process* p, Clock::duration grace, int first_signal);

// "signal 9" or "exit code 1", of a wait status.
std::string DescribeExit(int wait_status);

// Adds one to an eventfd (waking a Pump on it) / resets it to zero.
void Wake(int event_fd);
void Drain(int event_fd);

// Closes *fd if open and sets it to -1.
void CloseFd(int* fd);

inline long long Millis(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace trainyard::serve::pool_process
