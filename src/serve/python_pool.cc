// The scoring pool. Each worker slot has a thread of its own that owns one Python process at a
// time: it starts it, waits for init(), then takes requests off the pool's queue one by one,
// sends each over the process's socket and waits (poll) for the answer, the request's deadline,
// the process's death, or a wake-up. Between those it forwards the process's output lines. When
// the process dies or has to be killed (a deadline passed mid-request), the thread reaps it,
// answers the request it was running, and starts another: at once after a crash once init() had
// worked, after a growing pause (0.5 s doubling up to 30 s) while the script cannot start.
//
// Requests wait in one queue; a worker thread that finds it empty marks itself idle and sleeps in
// poll() on its eventfd, which Score writes to wake one idle worker. The spawning thread is the
// one that lives as long as the process (PR_SET_PDEATHSIG is tied to the spawning thread).
#include "serve/python_pool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "common/mutex.h"
#include "common/process.h"
#include "serve/python_pool_io.h"

namespace trainyard::serve {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxAnswerBytes = size_t{1} << 30;
constexpr auto kStopGrace = std::chrono::seconds(5);  // SIGTERM to SIGKILL when stopping
constexpr auto kExitGrace = std::chrono::seconds(2);  // a worker whose socket closed, to exit
constexpr auto kFirstBackoff = std::chrono::milliseconds(500);
constexpr auto kMaxBackoff = std::chrono::seconds(30);
constexpr size_t kErrorLogLines = 10;  // a worker's last output lines, in a load error

// The worker script: $TRAINYARD_SCORE_WORKER, else the package folder the runner also honours
// ($TRAINYARD_PYTHON_PACKAGE_DIR), else the build tree's copy.
std::string WorkerScript() {
  if (const char* v = std::getenv("TRAINYARD_SCORE_WORKER"); v != nullptr && *v != '\0') return v;
  if (const char* v = std::getenv("TRAINYARD_PYTHON_PACKAGE_DIR"); v != nullptr && *v != '\0') {
    return std::string(v) + "/trainyard/_score_worker.py";
  }
  return TRAINYARD_SCORE_WORKER;
}

// "signal 9" or "exit code 1".
std::string DescribeExit(int wait_status) {
  if (WIFSIGNALED(wait_status)) return "signal " + std::to_string(WTERMSIG(wait_status));
  if (WIFEXITED(wait_status)) return "exit code " + std::to_string(WEXITSTATUS(wait_status));
  return "wait status " + std::to_string(wait_status);
}

long long Millis(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

void CloseFd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

Status SetNonBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return ErrnoError("fcntl", errno);
  return Status::Ok();
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

// `path` made absolute and normal ("" stays "").
std::string Absolute(const std::string& path) {
  std::error_code ec;
  const fs::path p = fs::absolute(path, ec);
  return (ec ? fs::path(path) : p).lexically_normal().string();
}

bool AllDigits(const std::string& s) {
  return !s.empty() && s.size() < 18 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A path component that can name a folder (a model's name or version).
bool PlainComponent(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         s.find('\0') == std::string::npos;
}

// AZUREML_MODEL_DIR: with one model the folder holding it; with several the folder holding
// <name>/<version>/... When the models do not lie in such a layout under one folder, a fresh
// folder of symbolic links <temp>/<name>/<version>/<file> is made and named in `*temp_dir`.
Result<std::string> ModelDirFor(const std::vector<ScoringModel>& models, std::string* temp_dir) {
  if (models.empty()) return std::string();
  std::vector<fs::path> paths;
  for (const ScoringModel& m : models) {
    fs::path p = Absolute(m.path);
    if (p.filename().empty()) p = p.parent_path();  // "folder/"
    paths.push_back(p);
  }
  if (models.size() == 1) return paths[0].parent_path().string();
  std::optional<fs::path> root;
  bool shared = true;
  for (size_t i = 0; i < models.size() && shared; ++i) {
    const fs::path version_dir = paths[i].parent_path();
    const fs::path name_dir = version_dir.parent_path();
    const bool laid_out =
        version_dir.filename() == models[i].version && name_dir.filename() == models[i].name;
    if (laid_out && !root) root = name_dir.parent_path();
    shared = laid_out && *root == name_dir.parent_path();
  }
  if (shared) return root->string();

  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/trainyard-models-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) return ErrnoError("mkdtemp " + pattern, errno);
  *temp_dir = pattern;
  for (size_t i = 0; i < models.size(); ++i) {
    std::error_code ec;
    const fs::path dir = fs::path(pattern) / models[i].name / models[i].version;
    fs::create_directories(dir, ec);
    if (!ec) fs::create_symlink(paths[i], dir / paths[i].filename(), ec);
    if (ec)
      return IoError("cannot link model " + models[i].name + ":" + models[i].version + " under " +
                     pattern + ": " + ec.message());
  }
  return pattern;
}

// One Python worker process and what this side holds of it. Owned by its slot's thread.
struct Process {
  explicit Process(int index) : forward("[worker " + std::to_string(index) + "] ") {}

  pid_t pid = -1;
  int channel = -1;  // this side of the socketpair; the worker's stdin until it moves it
  int output = -1;   // the read end of the worker's stdout and stderr; -1 after their EOF
  bool channel_closed = false;
  std::string received;  // from the channel, not yet taken as frames
  std::string sending;   // a frame being sent, from `sent` on
  size_t sent = 0;
  pool_io::LineForwarder forward;
};

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

enum class PumpResult { kActivity, kWake, kTimeout };

// One round of poll() over the worker's channel and output and the slot's eventfd, until `until`
// (none: no limit). Sends what it can of p->sending, receives into p->received (setting
// p->channel_closed at EOF or error), forwards output. Must not be called once channel_closed.
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

// Ends the worker: sends `first_signal` (0: none) to its process group, gives it `grace` to exit
// (forwarding its output meanwhile), then SIGKILLs the group, reaps the worker and closes this
// side's descriptors. Returns its wait status.
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

class PythonScoringPool final : public ScoringPool {
 public:
  PythonScoringPool(std::vector<std::string> argv, std::map<std::string, std::string> env,
                    ScoringOptions options, std::string temp_model_dir)
      : argv_(std::move(argv)),
        env_(std::move(env)),
        options_(std::move(options)),
        temp_model_dir_(std::move(temp_model_dir)) {}

  // Makes the slots' eventfds and starts their threads.
  Status StartWorkers() {
    for (int i = 0; i < options_.workers; ++i) {
      auto slot = std::make_unique<Slot>();
      slot->index = i + 1;
      slot->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (slot->wake_fd < 0) return ErrnoError("eventfd", errno);
      slots_.push_back(std::move(slot));
    }
    for (auto& slot : slots_) {
      Slot* s = slot.get();
      s->thread = std::thread([this, s] { RunSlot(s); });
    }
    return Status::Ok();
  }

  ~PythonScoringPool() override {
    {
      MutexLock lock(mu_);
      stopping_ = true;
      for (auto& request : queue_) {
        request->result = Unavailable("the scoring pool is stopping");
      }
      queue_.clear();
    }
    answered_.NotifyAll();
    for (auto& slot : slots_) Wake(slot->wake_fd);
    for (auto& slot : slots_) {
      if (slot->thread.joinable()) slot->thread.join();
      CloseFd(&slot->wake_fd);
    }
    {
      // Every request has its answer now; wait for the callers still returning it.
      MutexLock lock(mu_);
      while (callers_ > 0) answered_.Wait(lock);
    }
    if (!temp_model_dir_.empty()) {
      std::error_code ec;
      fs::remove_all(temp_model_dir_, ec);  // the links only, never what they point to
    }
  }

  bool Ready() const override {
    MutexLock lock(mu_);
    return ReadyLocked();
  }

  std::string LoadError() const override {
    MutexLock lock(mu_);
    return ReadyLocked() ? std::string() : init_error_;
  }

  Result<std::string> Score(const std::string& body, Clock::time_point deadline) override {
    if (body.size() > UINT32_MAX) {
      return InvalidArgument("a request body of " + std::to_string(body.size()) +
                             " bytes is more than a scoring worker takes (4 GiB)");
    }
    auto request = std::make_shared<Request>();
    request->frame = pool_io::EncodeFrame(body);  // the one copy of a body that may be large
    request->deadline = deadline;
    request->enqueued = Clock::now();
    MutexLock lock(mu_);
    ++callers_;
    Result<std::string> result = ScoreLocked(request, lock);
    if (--callers_ == 0 && stopping_) answered_.NotifyAll();
    return result;
  }

  int64_t StartedWorkers() const override { return started_.load(); }

 private:
  struct Request {
    std::string frame;  // the body as a frame; moved out by the slot that takes it
    Clock::time_point deadline, enqueued;
    bool taken = false;                         // guarded by mu_
    std::optional<Result<std::string>> result;  // guarded by mu_; set once
  };

  // Score, with mu_ held (through `lock`, which it releases while it waits).
  Result<std::string> ScoreLocked(const std::shared_ptr<Request>& request, MutexLock& lock)
      TY_REQUIRES(mu_) {
    const Clock::time_point deadline = request->deadline;
    if (stopping_) return Unavailable("the scoring pool is stopping");
    if (!ReadyLocked()) {
      if (!init_error_.empty()) {
        return Unavailable("the scoring script failed to load: " + init_error_);
      }
      return Unavailable("the scoring script is still loading (init() has not returned yet)");
    }
    queue_.push_back(request);
    WakeIdleSlotLocked();
    while (!request->result) {
      if (!request->taken) {
        if (Clock::now() >= deadline) {
          auto it = std::find(queue_.begin(), queue_.end(), request);
          if (it != queue_.end()) queue_.erase(it);
          return Timeout("no scoring worker free within " +
                         std::to_string(Millis(deadline - request->enqueued)) + " ms");
        }
        answered_.WaitFor(lock, deadline - Clock::now());
      } else {
        // The slot's thread answers by the deadline (it kills a worker that runs past it).
        answered_.Wait(lock);
      }
    }
    return std::move(*request->result);
  }

  struct Slot {
    int index = 0;      // 1, 2, ...: "[worker N]"
    int wake_fd = -1;   // eventfd: a request is queued for this slot, or the pool is stopping
    bool idle = false;  // guarded by mu_: sleeping in poll() with no request
    std::thread thread;
  };

  enum class ServeEnd { kDied, kStopping };

  bool ReadyLocked() const TY_REQUIRES(mu_) {
    return ready_workers_ > 0 || (ever_ready_ && init_error_.empty());
  }

  bool Stopping() const {
    MutexLock lock(mu_);
    return stopping_;
  }

  // Wakes one idle slot when a request waits.
  void WakeIdleSlotLocked() TY_REQUIRES(mu_) {
    if (queue_.empty()) return;
    for (auto& slot : slots_) {
      if (slot->idle) {
        slot->idle = false;
        Wake(slot->wake_fd);
        return;
      }
    }
  }

  // The oldest request still within its deadline, marked taken (nullptr: none). Requests past
  // their deadline are left for Score to answer.
  std::shared_ptr<Request> TakeRequestLocked() TY_REQUIRES(mu_) {
    const Clock::time_point now = Clock::now();
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if ((*it)->deadline > now) {
        std::shared_ptr<Request> request = *it;
        queue_.erase(it);
        request->taken = true;
        return request;
      }
    }
    return nullptr;
  }

  void Answer(const std::shared_ptr<Request>& request, Result<std::string> result) {
    {
      MutexLock lock(mu_);
      request->result = std::move(result);
    }
    answered_.NotifyAll();
  }

  void InitFailed(const std::string& why) {
    MutexLock lock(mu_);
    init_error_ = why;
  }

  // Sleeps `delay` unless the pool stops first (then returns false).
  bool Pause(Slot* slot, Clock::duration delay) {
    const Clock::time_point until = Clock::now() + delay;
    while (!Stopping()) {
      const Clock::duration left = until - Clock::now();
      if (left <= Clock::duration::zero()) return true;
      pollfd fd = {slot->wake_fd, POLLIN, 0};
      if (::poll(&fd, 1, static_cast<int>(Millis(left) + 1)) > 0) Drain(slot->wake_fd);
    }
    return false;
  }

  // Starts a worker process into `p`.
  Status Spawn(Process* p) {
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
    spawn.cwd = options_.source_dir;
    spawn.stdin_fd = sv[1];
    spawn.stdout_fd = out[1];
    spawn.stderr_fd = out[1];
    spawn.new_process_group = true;
    spawn.die_with_parent = true;
    spawn.close_other_fds = true;
    Result<pid_t> pid = trainyard::Spawn(argv_, env_, spawn);
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
    ++started_;
    Status s = SetNonBlocking(p->channel);
    if (s.ok()) s = SetNonBlocking(p->output);
    if (!s.ok()) Finish(p, Clock::duration::zero(), SIGKILL);
    return s;
  }

  // Waits for the worker's first frame. True: init() returned; false: the pool is stopping (the
  // process still runs); an error: init() failed (the process has been ended).
  Result<bool> AwaitInit(Slot* slot, Process* p) {
    const std::string who = "scoring worker " + std::to_string(slot->index);
    const Clock::time_point deadline =
        Clock::now() + std::chrono::seconds(std::max(1, options_.init_timeout_seconds));
    std::string frame;
    while (true) {
      Result<bool> got = pool_io::TakeFrame(&p->received, &frame, kMaxAnswerBytes);
      if (got.ok() && *got && frame == "R") return true;
      if (got.ok() && *got && !frame.empty() && frame[0] == 'F') {
        Finish(p, kExitGrace, 0);
        return FailedPrecondition(frame.substr(1));
      }
      if (!got.ok() || *got) {
        Finish(p, Clock::duration::zero(), SIGKILL);
        return Internal(who + " broke the protocol before init() returned");
      }
      if (p->channel_closed) {
        const std::string status = DescribeExit(Finish(p, kExitGrace, 0));
        std::string why = who + " exited (" + status + ") before init() returned";
        const std::string last = p->forward.LastLines(kErrorLogLines);
        if (!last.empty()) why += "; its last output:\n" + last;
        return Unavailable(why);
      }
      const PumpResult r = Pump(p, slot->wake_fd, deadline);
      if (r == PumpResult::kTimeout) {
        Finish(p, Clock::duration::zero(), SIGKILL);
        return Timeout("init() did not return within " +
                       std::to_string(options_.init_timeout_seconds) + " s");
      }
      if (r == PumpResult::kWake && Stopping()) return false;
    }
  }

  // What the worker answered to a request.
  static Result<std::string> FromFrame(const std::string& frame) {
    const std::string text = frame.substr(std::min<size_t>(1, frame.size()));
    switch (frame.empty() ? '\0' : frame[0]) {
      case 'O': return text;
      case 'E': return Internal(text);
      case 'B': return InvalidArgument(text);
      default: return Internal("unknown answer");
    }
  }

  // Feeds the worker requests until it dies (it has been reaped) or the pool stops (it still runs).
  ServeEnd Serve(Slot* slot, Process* p) {
    const std::string who = "scoring worker " + std::to_string(slot->index);
    while (true) {
      std::shared_ptr<Request> request;
      {
        MutexLock lock(mu_);
        if (stopping_) return ServeEnd::kStopping;
        request = TakeRequestLocked();
        slot->idle = request == nullptr;
        if (request != nullptr) WakeIdleSlotLocked();  // more may wait
      }
      if (request == nullptr) {
        const PumpResult r = Pump(p, slot->wake_fd, std::nullopt);
        if (p->channel_closed || !p->received.empty()) {
          // Died while idle, or spoke out of turn: either way it is replaced.
          const bool died = p->channel_closed;
          const std::string status = DescribeExit(
              Finish(p, died ? kExitGrace : Clock::duration::zero(), died ? 0 : SIGKILL));
          p->forward.Feed(who + (died ? " exited (" : " sent an unasked frame and was stopped (") +
                          status + ") while idle; restarting\n");
          return ServeEnd::kDied;
        }
        (void)r;
        continue;
      }

      p->sending = std::move(request->frame);
      p->sent = 0;
      std::string frame;
      while (true) {
        Result<bool> got = pool_io::TakeFrame(&p->received, &frame, kMaxAnswerBytes);
        if (got.ok() && *got && !frame.empty() &&
            std::string("OEB").find(frame[0]) != std::string::npos) {
          Answer(request, FromFrame(frame));
          break;
        }
        if (!got.ok() || *got) {
          Finish(p, Clock::duration::zero(), SIGKILL);
          Answer(request,
                 Internal(who + " broke the protocol while running this request; restarted"));
          return ServeEnd::kDied;
        }
        if (p->channel_closed) {
          const std::string status = DescribeExit(Finish(p, kExitGrace, 0));
          Answer(request,
                 Unavailable(who + " died (" + status + ") while running this request; restarted"));
          return ServeEnd::kDied;
        }
        const PumpResult r = Pump(p, slot->wake_fd, request->deadline);
        if (r == PumpResult::kTimeout) {
          Finish(p, Clock::duration::zero(), SIGKILL);
          p->forward.Feed(who + " was stopped: run() passed its request's deadline; restarting\n");
          Answer(request, Timeout("run() did not return within " +
                                  std::to_string(Millis(request->deadline - request->enqueued)) +
                                  " ms; " + who + " was stopped and restarted"));
          return ServeEnd::kDied;
        }
        if (r == PumpResult::kWake && Stopping()) {
          Answer(request, Unavailable("the scoring pool is stopping"));
          return ServeEnd::kStopping;
        }
      }
    }
  }

  // A slot's thread: runs workers one after another until the pool stops.
  void RunSlot(Slot* slot) {
    int failures = 0;  // starts in a row that did not get through init()
    while (!Stopping()) {
      if (failures > 0) {
        const auto delay = std::min<Clock::duration>(
            kFirstBackoff * (int64_t{1} << std::min(failures - 1, 10)), kMaxBackoff);
        if (!Pause(slot, delay)) break;
      }
      Process p(slot->index);
      if (Status s = Spawn(&p); !s.ok()) {
        InitFailed("cannot start a scoring worker: " + s.message());
        ++failures;
        continue;
      }
      Result<bool> init = AwaitInit(slot, &p);
      if (!init.ok()) {
        InitFailed(init.status().message());
        ++failures;
        continue;
      }
      if (!*init) {
        Finish(&p, kStopGrace, SIGTERM);
        break;
      }
      failures = 0;
      {
        MutexLock lock(mu_);
        ++ready_workers_;
        ever_ready_ = true;
        init_error_.clear();
      }
      const ServeEnd end = Serve(slot, &p);
      {
        MutexLock lock(mu_);
        --ready_workers_;
        slot->idle = false;
        WakeIdleSlotLocked();  // what this slot would have taken next
      }
      if (end == ServeEnd::kStopping) {
        Finish(&p, kStopGrace, SIGTERM);
        break;
      }
    }
  }

  const std::vector<std::string> argv_;
  const std::map<std::string, std::string> env_;
  const ScoringOptions options_;
  const std::string temp_model_dir_;  // AZUREML_MODEL_DIR's links, when made; removed at the end
  std::vector<std::unique_ptr<Slot>> slots_;  // fixed once the threads start
  std::atomic<int64_t> started_{0};

  mutable Mutex mu_;
  CondVar answered_;  // a request was answered
  std::deque<std::shared_ptr<Request>> queue_ TY_GUARDED_BY(mu_);
  bool stopping_ TY_GUARDED_BY(mu_) = false;
  int ready_workers_ TY_GUARDED_BY(mu_) = 0;
  bool ever_ready_ TY_GUARDED_BY(mu_) = false;
  int callers_ TY_GUARDED_BY(mu_) = 0;         // threads inside Score
  std::string init_error_ TY_GUARDED_BY(mu_);  // the last failed start's reason; "" after a success
};

}  // namespace

Result<std::unique_ptr<ScoringPool>> ScoringPool::Start(const ScoringOptions& options) {
  ScoringOptions o = options;
  if (o.workers < 1) return InvalidArgument("workers must be at least 1");
  if (o.entry.empty()) return InvalidArgument("no scoring script given");
  std::error_code ec;
  if (!fs::is_regular_file(o.entry, ec)) {
    return InvalidArgument("scoring script not found: " + o.entry);
  }
  o.entry = Absolute(o.entry);
  if (o.source_dir.empty()) o.source_dir = fs::path(o.entry).parent_path().string();
  if (!fs::is_directory(o.source_dir, ec)) {
    return InvalidArgument("source folder not found: " + o.source_dir);
  }
  o.source_dir = Absolute(o.source_dir);
  if (o.python.empty()) o.python = "/usr/bin/python3";
  if (FindOnPath(o.python).empty()) {
    return InvalidArgument("Python interpreter not found: " + o.python);
  }
  for (const ScoringModel& m : o.models) {
    if (!PlainComponent(m.name) || !PlainComponent(m.version)) {
      return InvalidArgument("bad model name or version: " + m.name + ":" + m.version);
    }
    if (!fs::exists(m.path, ec)) {
      return InvalidArgument("model " + m.name + ":" + m.version + " not found at " + m.path);
    }
  }
  const std::string worker = WorkerScript();
  if (!fs::is_regular_file(worker, ec)) {
    return NotFound("the scoring worker script is missing: " + worker +
                    " (set TRAINYARD_SCORE_WORKER to python/trainyard/_score_worker.py)");
  }

  std::string temp_model_dir;
  Result<std::string> model_dir = ModelDirFor(o.models, &temp_model_dir);
  if (!model_dir.ok()) {
    if (!temp_model_dir.empty()) fs::remove_all(temp_model_dir, ec);
    return model_dir.status();
  }
  nlohmann::json listed = nlohmann::json::array();
  for (const ScoringModel& m : o.models) {
    nlohmann::json version =
        AllDigits(m.version) ? nlohmann::json(std::stoll(m.version)) : nlohmann::json(m.version);
    listed.push_back({{"name", m.name}, {"version", version}, {"path", Absolute(m.path)}});
  }
  std::map<std::string, std::string> set = {{"TRAINYARD_MODELS", listed.dump()},
                                            {"PYTHONUNBUFFERED", "1"}};
  if (!model_dir->empty()) set["AZUREML_MODEL_DIR"] = *model_dir;
  for (const auto& [k, v] : o.env) set[k] = v;  // the caller's entries win
  std::map<std::string, std::string> env = EnvironmentWith(set, {});

  std::vector<std::string> argv = {o.python, "-u", worker, o.entry, o.source_dir};
  auto pool = std::make_unique<PythonScoringPool>(std::move(argv), std::move(env), std::move(o),
                                                  std::move(temp_model_dir));
  RETURN_IF_ERROR(pool->StartWorkers());
  return std::unique_ptr<ScoringPool>(std::move(pool));
}

}  // namespace trainyard::serve
