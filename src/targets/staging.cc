#include "targets/staging.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/strings.h"
#include "env/build_steps.h"

namespace trainyard::targets {

namespace {

std::vector<std::string> AgentCommand(const Staging& s, const std::string& host,
                                      const std::string& command) {
  std::vector<std::string> argv = s.agent;
  argv.push_back(host);
  argv.push_back(command);
  return argv;
}

// The run's folder on the host: staging.dir is "<root>/<run id>/work".
std::string RunFolder(const Staging& s) { return s.dir.substr(0, s.dir.find_last_of('/')); }

// Runs argv with `input` on its stdin and its stdout and stderr merged, passing each line to
// on_line. Returns the exit code (128 + signal when killed).
Result<int> RunWithInput(const std::vector<std::string>& argv, const std::string& input,
                         const std::function<void(const std::string&)>& on_line) {
  std::vector<std::string> full = argv;
  if (std::string exe = FindOnPath(full.at(0)); !exe.empty()) full[0] = exe;
  env::StreamingOptions options;
  options.stdin_data = input;
  return env::RunStreaming(full, on_line, options);
}

}  // namespace

Result<bool> PrepareEnvOnHosts(const EnvironmentPlan& env, const std::string& request_json,
                               const std::function<void(const std::string&)>& on_line) {
  constexpr size_t kTailLines = 15;
  std::mutex mu;
  std::vector<std::string> failures;
  bool all_reused = true;
  std::vector<std::thread> threads;
  std::vector<std::string> quoted;
  for (const auto& w : env.command) quoted.push_back(ShellQuote(w));
  std::string command = Join(quoted, " ");
  for (const auto& host : env.hosts) {
    threads.emplace_back([&, host] {
      std::vector<std::string> argv = env.agent;
      argv.push_back(host);
      argv.push_back(command);
      std::deque<std::string> tail;
      bool reused = false;
      auto code = RunWithInput(argv, request_json, [&](const std::string& line) {
        reused |= StartsWith(line, "environment " + env.hash + " reused");
        tail.push_back(line);
        if (tail.size() > kTailLines) tail.pop_front();
        on_line("[" + host + "] " + line);
      });
      std::lock_guard<std::mutex> lock(mu);
      if (code.ok() && *code == 0) {
        all_reused &= reused;
        return;
      }
      // trainyard's own error line ("trainyard: building environment ... failed: pip ...")
      // and what follows it say the most; without one, the last lines.
      auto from = tail.begin();
      for (auto it = tail.begin(); it != tail.end(); ++it) {
        if (StartsWith(*it, "trainyard: ")) from = it;
      }
      std::string what = !code.ok() ? ": " + code.status().message()
                                    : " (exit code " + std::to_string(*code) + "):\n" +
                                          Join({from, tail.end()}, "\n");
      failures.push_back("on host " + host + what);
    });
  }
  for (auto& t : threads) t.join();
  std::sort(failures.begin(), failures.end());  // hosts in a stable order, whoever ended first
  if (!failures.empty()) {
    return FailedPrecondition("environment " + env.hash.substr(0, 12) + " (" + env.describe +
                              ") could not be prepared:\n" + Join(failures, "\n"));
  }
  return all_reused;
}

Status RunPipeline(const std::vector<std::string>& producer,
                   const std::vector<std::string>& consumer, double timeout_seconds) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoError("pipe", errno);
  char tmpl[] = "/tmp/trainyard-stage-XXXXXX";
  int err_fd = mkostemp(tmpl, O_CLOEXEC);
  if (err_fd < 0) {
    int e = errno;
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return ErrnoError("cannot make a temporary file", e);
  }
  unlink(tmpl);
  const auto env = CurrentEnvironment();
  SpawnOptions a_options, b_options;
  a_options.stdout_fd = pipe_fds[1];
  a_options.stderr_fd = err_fd;
  b_options.stdin_fd = pipe_fds[0];
  b_options.stderr_fd = err_fd;
  Result<pid_t> a = Spawn(producer, env, a_options);
  Result<pid_t> b = a.ok() ? Spawn(consumer, env, b_options) : Result<pid_t>(a.status());
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  if (!b.ok()) {
    close(err_fd);
    if (a.ok()) {
      kill(*a, SIGKILL);
      WaitPid(*a, nullptr);
    }
    return b.status();
  }
  int64_t deadline = MonotonicMicros() + static_cast<int64_t>(timeout_seconds * 1e6);
  int status_a = -1, status_b = -1;
  while (status_a == -1 || status_b == -1) {
    int st = 0;
    bool progressed = false;
    if (status_a == -1 && WaitPid(*a, &st, WNOHANG) == *a) {
      status_a = st;
      progressed = true;
    }
    if (status_b == -1 && WaitPid(*b, &st, WNOHANG) == *b) {
      status_b = st;
      progressed = true;
    }
    if (!progressed) {
      if (MonotonicMicros() > deadline) {
        kill(*a, SIGKILL);
        kill(*b, SIGKILL);
      }
      SleepMicros(5000);
    }
  }
  std::string err;
  char buf[4096];
  ssize_t n = pread(err_fd, buf, sizeof buf, 0);
  if (n > 0) err.assign(buf, static_cast<size_t>(n));
  close(err_fd);
  auto failed = [](int st) { return !WIFEXITED(st) || WEXITSTATUS(st) != 0; };
  if (failed(status_a) || failed(status_b)) {
    const auto& who = failed(status_a) ? producer : consumer;
    std::vector<std::string> quoted;
    for (const auto& w : who) quoted.push_back(ShellQuote(w));
    return IoError(Join(quoted, " ") + " failed" + (err.empty() ? "" : ": " + Trim(err)));
  }
  return Status::Ok();
}

Status PushCode(const Staging& s, const std::string& local_work) {
  for (const auto& host : s.hosts) {
    std::string dir = ShellQuote(s.dir);
    RETURN_IF_ERROR(
        RunPipeline({"tar", "-cf", "-", "-C", local_work, "."},
                    AgentCommand(s, host, "mkdir -p " + dir + " && tar -xf - -C " + dir), 600)
            .WithContext("copying the code to " + host));
  }
  return Status::Ok();
}

Status FetchOutputs(const Staging& s, const std::string& local_work) {
  if (s.hosts.empty()) return Status::Ok();
  RETURN_IF_ERROR(MakeDirs(local_work + "/outputs"));
  std::string dir = ShellQuote(s.dir);
  return RunPipeline(AgentCommand(s, s.hosts.front(),
                                  "if [ -d " + dir + "/outputs ]; then tar -cf - -C " + dir +
                                      " outputs; else tar -cf - -T /dev/null; fi"),
                     {"tar", "-xf", "-", "-C", local_work}, 600)
      .WithContext("fetching outputs/ from " + s.hosts.front());
}

void CleanRemote(const Staging& s) {
  for (const auto& host : s.hosts) {
    RunCommand(AgentCommand(s, host, "rm -rf " + ShellQuote(RunFolder(s))), {.timeout_seconds = 60})
        .status()
        .IgnoreError();
  }
}

}  // namespace trainyard::targets
