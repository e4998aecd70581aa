#include "serve/python_pool_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>

#include "common/process.h"

namespace trainyard::serve::pool_process {
namespace {

Status SetNonBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return ErrnoError("fcntl", errno);
  return Status::Ok();
}

// Forwards what the worker's output pipe holds now; closes it at EOF.
void ReadOutput(Process* p) {
  char buf[65536];
  while (p->output >= 0) {
    const ssize_t n = ::read(p->output, buf, sizeof buf);
    if (n > 0) {
      p->forward.Feed(std::string_view(buf, static_cast<size_t>(n)));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        p->forward.Flush();
        CloseFd(&p->output);
      }
      return;
    }
  }
}

}  // namespace

std::string DescribeExit(int wait_status) {
  if (WIFSIGNALED(wait_status)) return "signal " + std::to_string(WTERMSIG(wait_status));
  if (WIFEXITED(wait_status)) return "exit code " + std::to_string(WEXITSTATUS(wait_status));
  return "wait status " + std::to_string(wait_status);
}

void CloseFd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

void Wake(int event_fd) {
  const uint64_t one = 1;
  while (::write(event_fd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void Drain(int event_fd) {
  uint64_t count = 0;
  while (::read(event_fd, &count, sizeof count) < 0 && errno == EINTR) {
  }
}

Status StartWorker(const std::vector<std::string>& argv,
                   const std::map<std::string, std::string>& env, const std::string& cwd,
                   Process* p) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoError("socketpair", errno);
  }
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    const int e = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    return ErrnoError("pipe", e);
  }
  SpawnOptions spawn;
  spawn.cwd = cwd;
  spawn.stdin_fd = sv[1];
  spawn.stdout_fd = out[1];
  spawn.stderr_fd = out[1];
  spawn.new_process_group = true;
  spawn.die_with_parent = true;
  spawn.close_other_fds = true;
  Result<pid_t> pid = trainyard::Spawn(argv, env, spawn);
  ::close(sv[1]);
  ::close(out[1]);
  p->channel = sv[0];
  p->output = out[0];
  if (!pid.ok()) {
    CloseFd(&p->channel);
    CloseFd(&p->output);
    return pid.status();
  }
  p->pid = *pid;
  Status s = SetNonBlocking(p->channel);
  if (s.ok()) s = SetNonBlocking(p->output);
  if (!s.ok()) Finish(p, Clock::duration::zero(), SIGKILL);
  return s;
}

PumpResult Pump(Process* p, int wake_fd, std::optional<Clock::time_point> until) {
  int timeout_ms = -1;
  if (until) {
    const Clock::duration left = *until - Clock::now();
    if (left <= Clock::duration::zero()) return PumpResult::kTimeout;
    timeout_ms = static_cast<int>(std::min<long long>(Millis(left) + 1, INT_MAX));
  }
  pollfd fds[3];
  nfds_t n = 0;
  const bool want_send = p->sent < p->sending.size();
  fds[n++] = {p->channel, static_cast<short>(POLLIN | (want_send ? POLLOUT : 0)), 0};
  fds[n++] = {wake_fd, POLLIN, 0};
  if (p->output >= 0) fds[n++] = {p->output, POLLIN, 0};
  const int ready = ::poll(fds, n, timeout_ms);
  if (ready < 0) return PumpResult::kActivity;  // EINTR
  if (ready == 0) {
    return until && Clock::now() >= *until ? PumpResult::kTimeout : PumpResult::kActivity;
  }
  if (n == 3 && fds[2].revents != 0) ReadOutput(p);
  if (want_send && (fds[0].revents & POLLOUT) != 0) {
    const ssize_t w = ::send(p->channel, p->sending.data() + p->sent, p->sending.size() - p->sent,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      p->sent += static_cast<size_t>(w);
    } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      p->channel_closed = true;
    }
  }
  if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
    char buf[65536];
    while (true) {
      const ssize_t r = ::recv(p->channel, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) {
        p->received.append(buf, static_cast<size_t>(r));
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) p->channel_closed = true;
      break;
    }
  }
  if ((fds[1].revents & POLLIN) != 0) {
    Drain(wake_fd);
    return PumpResult::kWake;
  }
  return PumpResult::kActivity;
}

int Finish(Process* p, Clock::duration grace, int first_signal) {
  if (first_signal != 0) {
    ::kill(-p->pid, first_signal);
    ::kill(p->pid, first_signal);
  }
  const Clock::time_point give_up = Clock::now() + grace;
  bool killed = false;
  while (true) {
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    // WNOWAIT: the exited worker stays a zombie, so its pid still names its process group below.
    const int r = ::waitid(P_PID, static_cast<id_t>(p->pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || info.si_pid == p->pid) break;
    if (!killed && Clock::now() >= give_up) {
      ::kill(-p->pid, SIGKILL);
      ::kill(p->pid, SIGKILL);
      killed = true;
    }
    if (p->output >= 0) {
      pollfd fd = {p->output, POLLIN, 0};
      if (::poll(&fd, 1, 20) > 0) ReadOutput(p);
    } else {
      ::usleep(20 * 1000);
    }
  }
  ::kill(-p->pid, SIGKILL);  // whatever the worker started and left behind in its group
  int status = 0;
  WaitPid(p->pid, &status);
  ReadOutput(p);
  p->forward.Flush();
  CloseFd(&p->output);
  CloseFd(&p->channel);
  p->pid = -1;
  return status;
}

}  // namespace trainyard::serve::pool_process
