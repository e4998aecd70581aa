#include "targets/process_group.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"

namespace trainyard::targets {

ProcessGroup::~ProcessGroup() {
  for (auto& p : procs_) {
    for (int& fd : p.fds) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
  }
}

Status ProcessGroup::BecomeSubreaper() {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return ErrnoError("prctl(SUBREAPER)", errno);
  return Status::Ok();
}

Status ProcessGroup::Start(const LaunchPlan& plan, const std::string& log_dir) {
  RETURN_IF_ERROR(MakeDirs(log_dir));
  auto base_env = CurrentEnvironment();
  for (const auto& spec : plan.processes) {
    Proc p;
    p.rank = spec.rank;
    if (spec.tagged_output) {
      p.demux = std::make_unique<TaggedDemux>(log_dir);
    } else {
      p.log = std::make_unique<RankLog>();
      RETURN_IF_ERROR(p.log->Open(log_dir + "/rank-" + std::to_string(spec.rank) + ".log"));
    }
    auto env = base_env;
    for (const auto& [k, v] : spec.env) env[k] = v;
    int out[2], err[2];
    if (Status piped = OutputPipes(out, err); !piped.ok()) {
      Stop(0);
      return piped;
    }
    SpawnOptions options;
    options.cwd = spec.cwd;
    options.stdout_fd = out[1];
    options.stderr_fd = err[1];
    options.new_process_group = true;
    options.die_with_parent = true;
    Result<pid_t> pid = Spawn(spec.argv, env, options);
    if (!pid.ok()) {
      for (int fd : {out[0], out[1], err[0], err[1]}) close(fd);
      Stop(0);
      return Status(pid.status().code(), "cannot start rank " + std::to_string(spec.rank) + ": " +
                                             pid.status().message());
    }
    close(out[1]);
    close(err[1]);
    fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    fcntl(err[0], F_SETFL, fcntl(err[0], F_GETFL) | O_NONBLOCK);
    p.pid = *pid;
    p.fds[0] = out[0];
    p.fds[1] = err[0];
    procs_.push_back(std::move(p));
  }
  return Status::Ok();
}

void ProcessGroup::Drain(Proc& p, int stream) {
  char buf[65536];
  while (p.fds[stream] >= 0) {
    ssize_t n = read(p.fds[stream], buf, sizeof buf);
    if (n > 0) {
      std::string_view bytes(buf, static_cast<size_t>(n));
      if (p.demux) {
        p.demux->Feed(stream, bytes);
      } else {
        p.log->Feed(stream, bytes);
      }
      if (static_cast<size_t>(n) < sizeof buf) return;
      continue;
    }
    if (n < 0 && (errno == EINTR)) continue;
    if (n < 0 && errno == EAGAIN) return;
    close(p.fds[stream]);
    p.fds[stream] = -1;
  }
}

void ProcessGroup::ReapChildren(std::vector<RankExit>* exits) {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (size_t i = 0; i < procs_.size(); ++i) {
      Proc& p = procs_[i];
      if (p.pid != pid) continue;
      p.exited = true;
      RankExit e;
      e.index = static_cast<int>(i);
      e.rank = p.rank;
      if (WIFEXITED(status)) {
        e.exit_code = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        e.exit_code = 128 + WTERMSIG(status);
        e.signaled = true;
      }
      if (exits) exits->push_back(e);
    }
    // Other pids are orphaned descendants reparented to us (subreaper): just reaped.
  }
}

std::vector<RankExit> ProcessGroup::Poll(int timeout_ms) {
  std::vector<pollfd> fds;
  std::vector<std::pair<size_t, int>> who;
  for (size_t i = 0; i < procs_.size(); ++i) {
    for (int s = 0; s < 2; ++s) {
      if (procs_[i].fds[s] >= 0) {
        fds.push_back({procs_[i].fds[s], POLLIN, 0});
        who.emplace_back(i, s);
      }
    }
  }
  if (!fds.empty()) {
    int n = poll(fds.data(), fds.size(), timeout_ms);
    if (n > 0) {
      for (size_t k = 0; k < fds.size(); ++k) {
        if (fds[k].revents & (POLLIN | POLLHUP | POLLERR))
          Drain(procs_[who[k].first], who[k].second);
      }
    }
  } else if (timeout_ms > 0) {
    SleepMicros(static_cast<int64_t>(timeout_ms) * 1000);
  }
  std::vector<RankExit> exits;
  ReapChildren(&exits);
  // A process that exited may have left output in its pipe: read it all now, unless a
  // grandchild still holds the pipe open (then it is read as it comes).
  for (const auto& e : exits) {
    Proc& p = procs_[static_cast<size_t>(e.index)];
    for (int s = 0; s < 2; ++s) Drain(p, s);
  }
  return exits;
}

bool ProcessGroup::AllExited() const {
  for (const auto& p : procs_) {
    if (!p.exited) return false;
  }
  return true;
}

void ProcessGroup::Stop(int grace_ms) {
  pid_t self = getpid();
  auto signal_all = [&](int sig) {
    auto pids = Descendants(self);
    for (pid_t pid : pids) kill(pid, sig);
    return !pids.empty();
  };
  if (signal_all(SIGTERM) && grace_ms > 0) {
    int64_t deadline = MonotonicMicros() + static_cast<int64_t>(grace_ms) * 1000;
    while (MonotonicMicros() < deadline) {
      Poll(50);
      bool any_live = false;
      for (pid_t pid : Descendants(self)) any_live |= ProcessAlive(pid);
      if (!any_live) break;
    }
  }
  // SIGKILL until nothing is left (a process may fork while we look).
  for (int round = 0; round < 100; ++round) {
    bool any = false;
    for (pid_t pid : Descendants(self)) {
      any = true;
      kill(pid, SIGKILL);
    }
    Poll(20);
    if (!any) break;
  }
  // Keep draining pipes until every writer is gone.
  for (auto& p : procs_) {
    for (int s = 0; s < 2; ++s) {
      if (p.fds[s] >= 0) {
        Drain(p, s);
        if (p.fds[s] >= 0) {
          close(p.fds[s]);
          p.fds[s] = -1;
        }
      }
    }
  }
  ReapChildren(nullptr);
}

void ProcessGroup::CloseLogs() {
  for (auto& p : procs_) {
    if (p.log) p.log->Close();
    if (p.demux) p.demux->Close();
  }
}

std::deque<std::string> ProcessGroup::StderrTail(int rank) const {
  for (const auto& p : procs_) {
    if (p.log && p.rank == rank) return p.log->stderr_tail();
    if (p.demux) {
      if (const RankLog* log = p.demux->rank_log(rank)) return log->stderr_tail();
    }
  }
  return {};
}

std::deque<std::string> ProcessGroup::LauncherTail() const {
  for (const auto& p : procs_) {
    if (p.demux) return p.demux->launcher().all_tail();
  }
  return {};
}

}  // namespace trainyard::targets
