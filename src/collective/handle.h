// Handles: how a caller learns that an enqueued operation finished, and gets its results.
//
// Every operation of the Runtime returns a Handle at once; the background thread completes it
// later. A Handle is a cheap, copyable reference to shared state; copies see the same operation.
// Thread-safety: all methods may be called from any thread, concurrently.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "collective/types.h"
#include "common/mutex.h"
#include "common/status.h"

namespace trainyard::collective {

// Makes the output of operations whose output shape is only known once all ranks have spoken
// (allgather, alltoall, reducescatter). Called on the background thread with the output shape;
// returns a tensor of that shape with the input's dtype and device, whose memory stays valid at
// least until the handle is done. When no allocator is given, the runtime allocates the output and
// the handle owns it (Handle::output()).
using OutputAllocator = std::function<Result<Tensor>(const Shape& shape)>;

namespace internal {

// Shared between the caller's Handle copies and the runtime. Results are written by the
// background thread before `done` becomes true, and only read after.
struct HandleState {
  explicit HandleState(int parts = 1) : remaining(parts) {}

  // One part of the operation finished (grouped operations have several parts); the first error
  // wins. The handle is done when every part has finished.
  void Complete(const Status& part_status);

  Mutex mu;
  CondVar cv;
  std::atomic<bool> done{false};
  int remaining TY_GUARDED_BY(mu);
  Status status TY_GUARDED_BY(mu);
  Tensor output;
  std::unique_ptr<std::byte[]> owned_output;
  std::vector<int64_t> received_splits;
  int64_t value = -1;  // join: last joined rank; add_process_set: the new id
  // Set by Handle::Done: the operation was refused when it was called; its tensors are unused.
  bool refused = false;
  // How long Wait() polls (yielding the CPU to any other runnable thread) before it sleeps.
  int64_t poll_micros = 0;
};

}  // namespace internal

class Handle {
 public:
  // An invalid handle: Wait() fails with FailedPrecondition.
  Handle() = default;
  explicit Handle(std::shared_ptr<internal::HandleState> state) : state_(std::move(state)) {}
  // A handle that is already done with `status`: the operation was refused at the call (bad
  // arguments, duplicate in-flight name, ...). Its tensors are never used; the runtime may still
  // negotiate the refusal with the other ranks (collective.h, "Errors found at enqueue").
  static Handle Done(const Status& status);

  bool valid() const { return state_ != nullptr; }
  // True for a handle made by Done(): the call itself failed, so a caller that reports errors at
  // the call (as Horovod does for argument errors) can do so instead of at Wait().
  bool refused() const { return state_ != nullptr && state_->refused; }
  // True once the operation finished (successfully or not). Never blocks.
  bool Poll() const;
  // Blocks until the operation finished; returns its status. Polls (yielding the CPU) for up to
  // 200 us before sleeping, since small operations finish faster than a thread wakes up.
  Status Wait() const;
  // Like Wait, but gives up after `seconds` with Timeout (the operation keeps running).
  Status WaitFor(double seconds) const;

  // Results; valid once Wait() returned OK.
  // The output tensor: the one passed in (allreduce, broadcast), or the one made by the
  // allocator or owned by this handle (allgather, alltoall, reducescatter).
  const Tensor& output() const { return state_->output; }
  // alltoall: rows received from each rank of the process set.
  const std::vector<int64_t>& received_splits() const { return state_->received_splits; }
  // join: the global rank that joined last.
  int last_joined_rank() const { return static_cast<int>(state_->value); }

 private:
  friend class Runtime;
  std::shared_ptr<internal::HandleState> state_;
};

}  // namespace trainyard::collective
