#include "collective/tensor_queue.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "common/clock.h"

namespace trainyard::collective {

namespace {

// Horovod's DUPLICATE_NAME_ERROR is an invalid argument (ValueError in Python).
Status DuplicateName(OpType type, const std::string& name) {
  return InvalidArgument(std::string("Requested to ") + OpTypeName(type) +
                         " a tensor with the same name as another tensor that is currently being "
                         "processed ('" +
                         name +
                         "'). If you want to request another tensor, use a different "
                         "tensor name.");
}

}  // namespace

Status TensorQueue::CheckName(int32_t process_set, OpType type, const std::string& name) const {
  MutexLock lock(mu_);
  auto s = sets_.find(process_set);
  if (s == sets_.end()) return Status::Ok();
  auto e = s->second.in_flight.find(name);
  if (e == s->second.in_flight.end() || e->second.refusal) return Status::Ok();
  return DuplicateName(type, name);
}

Status TensorQueue::Add(std::vector<TensorEntry> entries) {
  {
    MutexLock lock(mu_);
    if (closed_) return close_status_;
    std::set<std::pair<int32_t, std::string>> seen;
    for (const TensorEntry& e : entries) {
      const PerSet* s = sets_.count(e.process_set) ? &sets_.at(e.process_set) : nullptr;
      const TensorEntry* held = nullptr;
      if (s != nullptr) {
        auto it = s->in_flight.find(e.request.name);
        if (it != s->in_flight.end()) held = &it->second;
      }
      if ((held != nullptr && !held->refusal) ||
          !seen.insert({e.process_set, e.request.name}).second) {
        return DuplicateName(e.request.type, e.request.name);
      }
    }
    for (TensorEntry& e : entries) {
      PerSet& s = sets_[e.process_set];
      if (s.in_flight.count(e.request.name)) {
        s.waiting[e.request.name].push_back(std::move(e));
        continue;
      }
      s.fresh.push_back(e.request);
      std::string name = e.request.name;
      s.in_flight.emplace(std::move(name), std::move(e));
      ++fresh_count_;
    }
    has_fresh_.store(fresh_count_ > 0, std::memory_order_release);
  }
  cv_.NotifyOne();
  return Status::Ok();
}

std::vector<Request> TensorQueue::PopNew(int32_t process_set) {
  MutexLock lock(mu_);
  auto it = sets_.find(process_set);
  if (it == sets_.end()) return {};
  std::vector<Request> out = std::move(it->second.fresh);
  it->second.fresh.clear();
  fresh_count_ -= static_cast<int64_t>(out.size());
  has_fresh_.store(fresh_count_ > 0, std::memory_order_release);
  return out;
}

std::optional<TensorEntry> TensorQueue::Take(int32_t process_set, const std::string& name) {
  MutexLock lock(mu_);
  auto it = sets_.find(process_set);
  if (it == sets_.end()) return std::nullopt;
  auto e = it->second.in_flight.find(name);
  if (e == it->second.in_flight.end()) return std::nullopt;
  TensorEntry out = std::move(e->second);
  it->second.in_flight.erase(e);
  auto w = it->second.waiting.find(name);
  if (w != it->second.waiting.end()) {
    TensorEntry next = std::move(w->second.front());
    w->second.pop_front();
    if (w->second.empty()) it->second.waiting.erase(w);
    it->second.fresh.push_back(next.request);
    it->second.in_flight.emplace(name, std::move(next));
    ++fresh_count_;
    has_fresh_.store(true, std::memory_order_release);
  }
  return out;
}

bool TensorQueue::InFlight(int32_t process_set, const std::string& name) const {
  MutexLock lock(mu_);
  auto it = sets_.find(process_set);
  return it != sets_.end() && it->second.in_flight.count(name) != 0;
}

std::vector<TensorEntry> TensorQueue::TakeAll(int32_t process_set) {
  MutexLock lock(mu_);
  std::vector<TensorEntry> out;
  auto it = sets_.find(process_set);
  if (it == sets_.end()) return out;
  for (auto& [name, e] : it->second.in_flight) out.push_back(std::move(e));
  for (auto& [name, q] : it->second.waiting) {
    for (TensorEntry& e : q) out.push_back(std::move(e));
  }
  fresh_count_ -= static_cast<int64_t>(it->second.fresh.size());
  has_fresh_.store(fresh_count_ > 0, std::memory_order_release);
  sets_.erase(it);
  return out;
}

std::vector<TensorEntry> TensorQueue::Close(const Status& status) {
  std::vector<TensorEntry> out;
  {
    MutexLock lock(mu_);
    closed_ = true;
    close_status_ = status;
    for (auto& [id, s] : sets_) {
      for (auto& [name, e] : s.in_flight) out.push_back(std::move(e));
      for (auto& [name, q] : s.waiting) {
        for (TensorEntry& e : q) out.push_back(std::move(e));
      }
    }
    sets_.clear();
    fresh_count_ = 0;
    has_fresh_.store(false, std::memory_order_release);
  }
  cv_.NotifyAll();
  return out;
}

void TensorQueue::Reopen() {
  MutexLock lock(mu_);
  closed_ = false;
  close_status_ = Status::Ok();
}

void TensorQueue::WaitForWork(int64_t deadline_micros, int64_t poll_micros) {
  if (poll_micros > 0 && !has_fresh_.load(std::memory_order_acquire)) {
    const int64_t start = MonotonicMicros();
    const int64_t until = std::min(deadline_micros, start + poll_micros);
    while (!has_fresh_.load(std::memory_order_acquire) && MonotonicMicros() < until) {
      sched_yield();
    }
  }
  MutexLock lock(mu_);
  while (fresh_count_ == 0 && !woken_) {
    int64_t left = deadline_micros - MonotonicMicros();
    if (left <= 0) break;
    cv_.WaitFor(lock, std::chrono::microseconds(left));
  }
  woken_ = false;
}

void TensorQueue::Wake() {
  {
    MutexLock lock(mu_);
    woken_ = true;
  }
  cv_.NotifyAll();
}

}  // namespace trainyard::collective
