#include "collective/timeline.h"

#include <cerrno>

#include "common/clock.h"
#include "common/strings.h"

namespace trainyard::collective {

Timeline::~Timeline() { Stop(); }

Status Timeline::Start(const std::string& path, bool mark_cycles) {
  Stop();
  MutexLock lock(mu_);
  file_ = std::fopen(path.c_str(), "w");
  if (file_ == nullptr) return ErrnoError("timeline: cannot create " + path, errno);
  std::fputs("[\n", file_);
  first_event_ = true;
  pids_.clear();
  start_micros_ = MonotonicMicros();
  mark_cycles_.store(mark_cycles, std::memory_order_relaxed);
  active_.store(true, std::memory_order_relaxed);
  return Status::Ok();
}

void Timeline::Stop() {
  MutexLock lock(mu_);
  active_.store(false, std::memory_order_relaxed);
  if (file_ == nullptr) return;
  std::fputs("\n]\n", file_);
  std::fclose(file_);
  file_ = nullptr;
}

int64_t Timeline::Now() const { return MonotonicMicros() - start_micros_; }

void Timeline::Emit(const std::string& event) {
  if (file_ == nullptr) return;
  if (!first_event_) std::fputs(",\n", file_);
  first_event_ = false;
  std::fputs(event.c_str(), file_);
}

int Timeline::PidFor(const std::string& tensor) {
  auto it = pids_.find(tensor);
  if (it != pids_.end()) return it->second;
  int pid = static_cast<int>(pids_.size()) + 1;  // pid 0 holds the cycle marks
  pids_.emplace(tensor, pid);
  std::string p = std::to_string(pid);
  Emit("{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": " + p + ", \"args\": {\"name\": \"" +
       JsonEscape(tensor) + "\"}}");
  Emit("{\"name\": \"process_sort_index\", \"ph\": \"M\", \"pid\": " + p +
       ", \"args\": {\"sort_index\": " + p + "}}");
  return pid;
}

void Timeline::Begin(const std::string& tensor, const char* activity,
                     const std::string& args_json) {
  if (!active()) return;
  MutexLock lock(mu_);
  if (file_ == nullptr) return;
  int pid = PidFor(tensor);
  std::string e = "{\"name\": \"" + std::string(activity) +
                  "\", \"ph\": \"B\", \"ts\": " + std::to_string(Now()) +
                  ", \"pid\": " + std::to_string(pid) + ", \"tid\": 0";
  if (!args_json.empty()) e += ", \"args\": {" + args_json + "}";
  Emit(e + "}");
}

void Timeline::End(const std::string& tensor, const char* activity) {
  if (!active()) return;
  MutexLock lock(mu_);
  if (file_ == nullptr) return;
  int pid = PidFor(tensor);
  Emit("{\"name\": \"" + std::string(activity) + "\", \"ph\": \"E\", \"ts\": " +
       std::to_string(Now()) + ", \"pid\": " + std::to_string(pid) + ", \"tid\": 0}");
}

void Timeline::MarkCycle() {
  if (!active() || !mark_cycles()) return;
  MutexLock lock(mu_);
  Emit("{\"name\": \"CYCLE_START\", \"ph\": \"i\", \"s\": \"g\", \"ts\": " + std::to_string(Now()) +
       ", \"pid\": 0, \"tid\": 0}");
}

}  // namespace trainyard::collective
