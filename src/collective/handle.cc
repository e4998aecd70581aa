#include "collective/handle.h"

#include <sched.h>

#include <chrono>

#include "common/clock.h"

namespace trainyard::collective {
namespace internal {

void HandleState::Complete(const Status& part_status) {
  MutexLock lock(mu);
  if (!part_status.ok() && status.ok()) status = part_status;
  if (--remaining > 0) return;
  done.store(true, std::memory_order_release);
  cv.NotifyAll();
}

}  // namespace internal

Handle Handle::Done(const Status& status) {
  auto state = std::make_shared<internal::HandleState>(1);
  state->refused = true;
  state->Complete(status);
  return Handle(std::move(state));
}

bool Handle::Poll() const {
  return state_ == nullptr || state_->done.load(std::memory_order_acquire);
}

Status Handle::Wait() const {
  if (state_ == nullptr) return FailedPrecondition("waiting on an invalid collective handle");
  // Small operations finish within microseconds: poll (yielding the CPU) for a short while before
  // sleeping, which saves the wake-up latency of a futex sleep.
  if (state_->poll_micros > 0 && !state_->done.load(std::memory_order_acquire)) {
    const int64_t start = MonotonicMicros();
    while (!state_->done.load(std::memory_order_acquire) &&
           MonotonicMicros() - start < state_->poll_micros) {
      sched_yield();
    }
  }
  MutexLock lock(state_->mu);
  state_->cv.Wait(lock, [&] { return state_->done.load(std::memory_order_acquire); });
  return state_->status;
}

Status Handle::WaitFor(double seconds) const {
  if (state_ == nullptr) return FailedPrecondition("waiting on an invalid collective handle");
  MutexLock lock(state_->mu);
  bool done = state_->cv.WaitFor(lock, std::chrono::duration<double>(seconds),
                                 [&] { return state_->done.load(std::memory_order_acquire); });
  if (!done)
    return Timeout("collective operation still running after " + std::to_string(seconds) + " s");
  return state_->status;
}

}  // namespace trainyard::collective
