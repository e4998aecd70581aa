#include "env/build_steps.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/process.h"

namespace trainyard::env {

FileLock::~FileLock() {
  if (fd_ >= 0) close(fd_);  // releases the lock
}

Result<bool> FileLock::Acquire(const std::string& path, bool wait) {
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) return ErrnoError("cannot open the lock " + path, errno);
  while (flock(fd_, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return false;
    return ErrnoError("cannot lock " + path, errno);
  }
  return true;
}

Result<int> RunStreaming(const std::vector<std::string>& argv,
                         const std::function<void(const std::string&)>& on_line,
                         const StreamingOptions& options) {
  if (argv.empty()) return InvalidArgument("RunStreaming: empty argv");

  // Input goes through an unlinked temp file: a pipe would need a writer thread.
  int in_fd = -1;
  if (!options.stdin_data.empty()) {
    char tmpl[] = "/tmp/trainyard-stdin-XXXXXX";
    in_fd = mkostemp(tmpl, O_CLOEXEC);
    if (in_fd < 0) return ErrnoError("cannot make a temporary file", errno);
    unlink(tmpl);
    const std::string& data = options.stdin_data;
    if (write(in_fd, data.data(), data.size()) != static_cast<ssize_t>(data.size()) ||
        lseek(in_fd, 0, SEEK_SET) != 0) {
      int e = errno;
      close(in_fd);
      return ErrnoError("cannot write a temporary file", e);
    }
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    int e = errno;
    if (in_fd >= 0) close(in_fd);
    return ErrnoError("pipe", e);
  }
  SpawnOptions spawn;
  spawn.cwd = options.cwd;
  spawn.stdin_fd = in_fd;
  spawn.stdout_fd = fds[1];
  spawn.stderr_fd = fds[1];
  Result<pid_t> spawned = Spawn(argv, EnvironmentWith(options.set_env, options.unset_env), spawn);
  if (!spawned.ok()) {
    if (in_fd >= 0) close(in_fd);
    close(fds[0]);
    close(fds[1]);
    return spawned.status();
  }
  pid_t pid = *spawned;
  if (in_fd >= 0) close(in_fd);
  close(fds[1]);
  std::string pending;
  char buf[8192];
  while (true) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      on_line(line);
      pending.erase(0, nl + 1);
    }
  }
  if (!pending.empty()) on_line(pending);
  close(fds[0]);
  int status = 0;
  WaitPid(pid, &status);
  if (WIFEXITED(status) || WIFSIGNALED(status)) return ExitCodeOf(status);
  return -1;
}

}  // namespace trainyard::env
