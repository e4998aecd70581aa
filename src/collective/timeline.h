// The timeline: a Chrome-trace JSON file (chrome://tracing, Perfetto) of what happened to each
// tensor.
//
// Each tensor is a "process" in the trace (named after the tensor); its activities are nested
// begin/end spans:
//   NEGOTIATE_<OP>            from the background thread picking the request up until every rank
//                             has it and the coordinator decided (through the cache or not)
//   <OP>                      the execution, containing:
//     QUEUE                   waiting for earlier operations of the same cycle
//     MEMCPY_IN_FUSION_BUFFER copy into the fusion buffer (fused tensors only)
//     <TRANSPORT>_<OP>        the transport's collective, e.g. MPI_ALLREDUCE
//     MEMCPY_OUT_FUSION_BUFFER
// Timestamps are microseconds since Start(). With mark_cycles, an instant event CYCLE_START marks
// every coordination round. The file is a JSON array that is valid once Stop() has run.
//
// Thread-safe: any thread may record events; Start/Stop may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>

#include "common/mutex.h"
#include "common/status.h"

namespace trainyard::collective {

class Timeline {
 public:
  Timeline() = default;
  ~Timeline();
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // Starts a new trace at `path` (truncating it), ending any trace in progress first. IoError when
  // the file cannot be created.
  Status Start(const std::string& path, bool mark_cycles);
  // Finishes the JSON and closes the file; no-op when not started.
  void Stop();
  bool active() const { return active_.load(std::memory_order_relaxed); }
  bool mark_cycles() const { return mark_cycles_.load(std::memory_order_relaxed); }

  // `args_json`, if not empty, is a JSON object's members (`"dtype": "float32"`) attached to the
  // event. Events are dropped when the timeline is not active.
  void Begin(const std::string& tensor, const char* activity, const std::string& args_json = "");
  void End(const std::string& tensor, const char* activity);
  void MarkCycle();

 private:
  int64_t Now() const;
  int PidFor(const std::string& tensor) TY_REQUIRES(mu_);
  void Emit(const std::string& event) TY_REQUIRES(mu_);

  std::atomic<bool> active_{false};
  std::atomic<bool> mark_cycles_{false};
  Mutex mu_;
  std::FILE* file_ TY_GUARDED_BY(mu_) = nullptr;
  bool first_event_ TY_GUARDED_BY(mu_) = true;
  int64_t start_micros_ = 0;
  std::unordered_map<std::string, int> pids_ TY_GUARDED_BY(mu_);
};

}  // namespace trainyard::collective
