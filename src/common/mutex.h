// Mutex, MutexLock and CondVar: std::mutex, std::unique_lock and std::condition_variable with
// clang's thread-safety annotations (common/thread_annotations.h), so that members marked
// TY_GUARDED_BY(mu_) are checked at compile time. Same costs and semantics as the std types.
//
//   Mutex mu_;
//   int count_ TY_GUARDED_BY(mu_) = 0;
//   ...
//   MutexLock lock(mu_);
//   while (count_ == 0) cv_.Wait(lock);
//
// A predicate passed to CondVar runs with the mutex held; annotate the lambda so the analysis
// knows: cv_.Wait(lock, [&]() TY_REQUIRES(mu_) { return count_ > 0; }).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "common/thread_annotations.h"

namespace trainyard {

// A non-recursive mutex. Not copyable or movable; safe to share between threads (that is its job).
class TY_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() TY_ACQUIRE() { mu_.lock(); }
  void Unlock() TY_RELEASE() { mu_.unlock(); }

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds a Mutex from construction to destruction; Unlock()/Lock() release and retake it in
// between (for a slow call that must not hold it). Belongs to one thread.
class TY_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) TY_ACQUIRE(mu) : lock_(mu.mu_) {}
  ~MutexLock() TY_RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() TY_RELEASE() { lock_.unlock(); }
  void Lock() TY_ACQUIRE() { lock_.lock(); }

 private:
  friend class CondVar;
  std::unique_lock<std::mutex> lock_;
};

// A condition variable used with MutexLock. Waits may wake spuriously: wait in a loop, or with a
// predicate. Safe to share between threads.
class CondVar {
 public:
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

  void Wait(MutexLock& lock) { cv_.wait(lock.lock_); }
  template <typename Predicate>
  void Wait(MutexLock& lock, Predicate pred) {
    cv_.wait(lock.lock_, std::move(pred));
  }
  // Returns false when `timeout` passed without a notification.
  template <typename Rep, typename Period>
  bool WaitFor(MutexLock& lock, const std::chrono::duration<Rep, Period>& timeout) {
    return cv_.wait_for(lock.lock_, timeout) == std::cv_status::no_timeout;
  }
  // Returns pred() at the end (false: timed out with the predicate still false).
  template <typename Rep, typename Period, typename Predicate>
  bool WaitFor(MutexLock& lock, const std::chrono::duration<Rep, Period>& timeout, Predicate pred) {
    return cv_.wait_for(lock.lock_, timeout, std::move(pred));
  }

 private:
  std::condition_variable cv_;
};

}  // namespace trainyard
