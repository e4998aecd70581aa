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

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
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
#include "serve/python_pool_process.h"

namespace trainyard::serve {
namespace {

namespace fs = std::filesystem;
using pool_process::CloseFd;
using pool_process::DescribeExit;
using pool_process::Drain;
using pool_process::Finish;
using pool_process::Millis;
using pool_process::Process;
using pool_process::Pump;
using pool_process::PumpResult;
using pool_process::StartWorker;
using pool_process::Wake;

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
      if (Status s = StartWorker(argv_, env_, options_.source_dir, &p); !s.ok()) {
        InitFailed("cannot start a scoring worker: " + s.message());
        ++failures;
        continue;
      }
      ++started_;
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
