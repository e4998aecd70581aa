#include "common/process.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
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

ExecArgs::ExecArgs(const std::vector<std::string>& argv,
                   const std::map<std::string, std::string>& env) {
  strings_.reserve(argv.size() + env.size());  // no reallocation: the pointers below stay valid
  for (const auto& a : argv) strings_.push_back(a);
  for (const auto& [k, v] : env) strings_.push_back(k + "=" + v);
  for (size_t i = 0; i < strings_.size(); ++i) {
    (i < argv.size() ? argv_ : envp_).push_back(strings_[i].data());
  }
  argv_.push_back(nullptr);
  envp_.push_back(nullptr);
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const CommandOptions& options) {
  if (argv.empty()) return InvalidArgument("empty command");
  std::string exe = FindOnPath(argv[0]);
  if (exe.empty()) return NotFound("program not found: " + argv[0]);

  const ExecArgs exec(argv, EnvironmentWith(options.set_env, options.unset_env));

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoError("pipe", errno);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return ErrnoError("pipe", errno);
  }
  pid_t pid = fork();
  if (pid < 0) return ErrnoError("fork", errno);
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) _exit(127);
    execve(exe.c_str(), exec.argv(), exec.envp());
    _exit(127);
  }
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
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    result.exit_code = 128 + WTERMSIG(status);
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
