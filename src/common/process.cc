#include "common/process.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <unordered_map>

#include "common/clock.h"
#include "common/strings.h"

extern char** environ;

namespace trainyard {

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

int CpuCores() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

std::map<std::string, std::string> CurrentEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

std::string FindOnPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  for (const auto& dir : Split(path ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    std::string cand = dir + "/" + name;
    struct stat st {};
    if (stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(cand.c_str(), X_OK) == 0) {
      return cand;
    }
  }
  return "";
}

std::map<std::string, std::string> EnvironmentWith(const std::map<std::string, std::string>& set,
                                                   const std::vector<std::string>& unset) {
  std::map<std::string, std::string> env = CurrentEnvironment();
  for (const auto& k : unset) env.erase(k);
  for (const auto& [k, v] : set) env[k] = v;
  return env;
}

namespace {

// An argv and an environment as the null-terminated arrays execve takes, and the strings they
// point to. Built before fork (the child only reads them).
class ExecArgs {
 public:
  ExecArgs(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
    strings_.reserve(argv.size() + env.size());  // no reallocation: the pointers stay valid
    for (const auto& a : argv) strings_.push_back(a);
    for (const auto& [k, v] : env) strings_.push_back(k + "=" + v);
    for (size_t i = 0; i < strings_.size(); ++i) {
      (i < argv.size() ? argv_ : envp_).push_back(strings_[i].data());
    }
    argv_.push_back(nullptr);
    envp_.push_back(nullptr);
  }
  ExecArgs(const ExecArgs&) = delete;
  ExecArgs& operator=(const ExecArgs&) = delete;
  char* const* argv() const { return argv_.data(); }
  char* const* envp() const { return envp_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> argv_;
  std::vector<char*> envp_;
};

// What the child reports through the error pipe when it cannot go on.
struct ChildFailure {
  int step;  // 1: entering cwd, 2: exec, 3: the second fork of a detached start
  int error;
};

// In the child: tells the parent what failed and exits. Async-signal-safe.
[[noreturn]] void ChildFail(int fd, int step) {
  ChildFailure f{step, errno};
  ssize_t ignored = write(fd, &f, sizeof f);
  (void)ignored;
  _exit(127);
}

}  // namespace

pid_t WaitPid(pid_t pid, int* status, int flags) {
  pid_t r;
  do {
    r = waitpid(pid, status, flags);
  } while (r < 0 && errno == EINTR);
  return r;
}

int ExitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

Result<pid_t> Spawn(const std::vector<std::string>& argv,
                    const std::map<std::string, std::string>& env, const SpawnOptions& options) {
  if (argv.empty()) return InvalidArgument("empty command");
  const std::string exe = FindOnPath(argv[0]);
  if (exe.empty()) return NotFound("program not found: " + argv[0]);
  const ExecArgs exec(argv, env);
  const char* cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  const pid_t parent = getpid();
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return ErrnoError("pipe", errno);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) {
    int e = errno;
    close(report[0]);
    close(report[1]);
    return ErrnoError("open /dev/null", e);
  }
  const int in = options.stdin_fd >= 0 ? options.stdin_fd : devnull;
  const int out = options.stdout_fd >= 0 ? options.stdout_fd : devnull;
  const int err = options.stderr_fd >= 0 ? options.stderr_fd : devnull;

  pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    if (options.die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
    }
    if (options.new_session || options.detach) setsid();
    if (options.new_process_group && !options.new_session && !options.detach) setpgid(0, 0);
    if (options.detach) {
      pid_t grandchild = fork();
      if (grandchild < 0) ChildFail(report[1], 3);
      if (grandchild > 0) _exit(0);
    }
    // dup2 clears O_CLOEXEC on the copies; a descriptor that already is 0/1/2 keeps its flag,
    // so clear it by hand.
    int fds[3] = {in, out, err};
    for (int target = 0; target < 3; ++target) {
      if (fds[target] == target) {
        fcntl(target, F_SETFD, 0);
      } else {
        dup2(fds[target], target);
      }
    }
    if (options.close_other_fds) {
      for (int fd = 3; fd < 1024; ++fd) {
        if (fd != report[1]) close(fd);
      }
    }
    signal(SIGPIPE, SIG_DFL);
    if (cwd != nullptr && chdir(cwd) != 0) ChildFail(report[1], 1);
    execve(exe.c_str(), exec.argv(), exec.envp());
    ChildFail(report[1], 2);
  }
  int fork_errno = errno;
  close(report[1]);
  close(devnull);
  if (pid < 0) {
    close(report[0]);
    return ErrnoError("fork (starting " + argv[0] + ")", fork_errno);
  }
  if (options.detach) {
    // The intermediate child exits at once; reap it so it leaves no zombie.
    int status = 0;
    WaitPid(pid, &status);
  }
  // EOF: the program runs (the pipe closed on exec); a record: it failed before.
  ChildFailure f{};
  ssize_t n;
  do {
    n = read(report[0], &f, sizeof f);
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof f)) {
    if (!options.detach) WaitPid(pid, nullptr);
    switch (f.step) {
      case 1:
        return ErrnoError("cannot enter " + options.cwd + " (starting " + argv[0] + ")", f.error);
      case 3: return ErrnoError("fork (starting " + argv[0] + ")", f.error);
      default: return ErrnoError("cannot execute " + exe, f.error);
    }
  }
  return options.detach ? 0 : pid;
}

Status OutputPipes(int out[2], int err[2]) {
  if (pipe2(out, O_CLOEXEC) != 0) return ErrnoError("pipe", errno);
  if (pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    close(out[0]);
    close(out[1]);
    return ErrnoError("pipe", e);
  }
  return Status::Ok();
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const CommandOptions& options) {
  if (argv.empty()) return InvalidArgument("empty command");
  int out_pipe[2], err_pipe[2];
  RETURN_IF_ERROR(OutputPipes(out_pipe, err_pipe));
  SpawnOptions spawn;
  spawn.cwd = options.cwd;
  spawn.stdout_fd = out_pipe[1];
  spawn.stderr_fd = err_pipe[1];
  Result<pid_t> spawned = Spawn(argv, EnvironmentWith(options.set_env, options.unset_env), spawn);
  if (!spawned.ok()) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    return spawned.status();
  }
  pid_t pid = *spawned;
  close(out_pipe[1]);
  close(err_pipe[1]);

  CommandResult result;
  int64_t deadline = options.timeout_seconds > 0
                         ? MonotonicMicros() + static_cast<int64_t>(options.timeout_seconds * 1e6)
                         : 0;
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[8192];
  while (open_fds > 0) {
    int wait_ms = -1;
    if (deadline) {
      int64_t left = deadline - MonotonicMicros();
      if (left <= 0) {
        kill(pid, SIGKILL);
        result.timed_out = true;
        break;
      }
      wait_ms = static_cast<int>(left / 1000) + 1;
    }
    int n = poll(fds, 2, wait_ms);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  WaitPid(pid, &status);
  result.exit_code = ExitCodeOf(status);
  return result;
}

namespace {

// Parses /proc/PID/stat: returns false if unreadable. comm may contain spaces and parens, so
// fields are taken after the last ')'.
bool ReadStat(pid_t pid, pid_t* ppid, unsigned long long* start_ticks) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return false;
  std::string line;
  std::getline(in, line);
  size_t rp = line.rfind(')');
  if (rp == std::string::npos) return false;
  std::istringstream rest(line.substr(rp + 2));
  std::string state;
  long long parent = 0;
  rest >> state >> parent;
  // Fields 5..21 follow; start time is field 22 (index 19 after state).
  std::string skip;
  for (int i = 0; i < 17; ++i) rest >> skip;
  unsigned long long st = 0;
  rest >> st;
  if (ppid) *ppid = static_cast<pid_t>(parent);
  if (start_ticks) *start_ticks = st;
  return true;
}

}  // namespace

unsigned long long ProcessStartTicks(pid_t pid) {
  unsigned long long st = 0;
  return ReadStat(pid, nullptr, &st) ? st : 0;
}

bool ProcessAlive(pid_t pid, unsigned long long start_ticks) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  unsigned long long st = 0;
  if (!ReadStat(pid, nullptr, &st)) return false;
  // A zombie is dead for our purposes.
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  size_t rp = line.rfind(')');
  if (rp != std::string::npos && rp + 2 < line.size() && line[rp + 2] == 'Z') return false;
  return start_ticks == 0 || st == start_ticks;
}

std::vector<pid_t> Descendants(pid_t root) {
  std::unordered_multimap<pid_t, pid_t> children;
  DIR* d = opendir("/proc");
  if (!d) return {};
  while (struct dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    pid_t ppid = 0;
    if (ReadStat(static_cast<pid_t>(pid), &ppid, nullptr)) {
      children.emplace(ppid, static_cast<pid_t>(pid));
    }
  }
  closedir(d);
  std::vector<pid_t> out, stack = {root};
  while (!stack.empty()) {
    pid_t p = stack.back();
    stack.pop_back();
    auto [b, e] = children.equal_range(p);
    for (auto it = b; it != e; ++it) {
      out.push_back(it->second);
      stack.push_back(it->second);
    }
  }
  return out;
}

std::vector<pid_t> ProcessesWithEnvironment(const std::string& key_value) {
  std::vector<pid_t> out;
  const pid_t self = getpid();
  DIR* d = opendir("/proc");
  if (!d) return out;
  std::string entry = key_value;
  entry.push_back('\0');
  while (struct dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == self) continue;
    std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
    if (!in) continue;
    std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    env.push_back('\0');
    // Whole entries only: "\0K=V\0" (or at the start).
    bool found = StartsWith(env, entry) || env.find('\0' + entry) != std::string::npos;
    if (found && ProcessAlive(static_cast<pid_t>(pid))) out.push_back(static_cast<pid_t>(pid));
  }
  closedir(d);
  return out;
}

std::string ProcessName(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

StopReport StopProcessesWithEnvironment(const std::string& key_value, int grace_ms) {
  StopReport report;
  std::map<pid_t, std::string> seen;  // pid -> name, for every process signalled
  std::map<pid_t, std::string> refused;
  auto signal_all = [&](int sig) {
    std::vector<pid_t> pids = ProcessesWithEnvironment(key_value);
    for (pid_t pid : pids) {
      if (!seen.count(pid)) seen[pid] = ProcessName(pid);
      if (kill(pid, sig) != 0 && errno == EPERM) refused[pid] = std::strerror(EPERM);
    }
    return pids;
  };
  if (!signal_all(SIGTERM).empty() && grace_ms > 0) {
    int64_t deadline = MonotonicMicros() + static_cast<int64_t>(grace_ms) * 1000;
    while (MonotonicMicros() < deadline && !ProcessesWithEnvironment(key_value).empty()) {
      SleepMicros(50'000);
    }
  }
  std::vector<pid_t> left;
  for (int round = 0; round < 50; ++round) {
    left = signal_all(SIGKILL);
    if (left.empty()) break;
    SleepMicros(20'000);
  }
  left = ProcessesWithEnvironment(key_value);
  for (const auto& [pid, name] : seen) {
    bool alive = std::find(left.begin(), left.end(), pid) != left.end();
    if (!alive) {
      report.stopped.emplace_back(pid, name);
    } else {
      auto why = refused.find(pid);
      report.failed.emplace_back(
          pid, name + ": " + (why != refused.end() ? why->second : "still running"));
    }
  }
  return report;
}

namespace {

// Binds 127.0.0.1:`port` (0: any) and returns the port bound, or -1. `fd` stays open.
int BindLoopback(int fd, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return -1;
  }
  return ntohs(addr.sin_port);
}

}  // namespace

int PickFreePort() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    int a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = a >= 0 ? BindLoopback(a, 0) : -1;
    bool next_free = port > 0 && port < 65535 && b >= 0 && BindLoopback(b, port + 1) > 0;
    if (a >= 0) close(a);
    if (b >= 0) close(b);
    if (next_free) return port;
  }
  return 29500;
}

}  // namespace trainyard
