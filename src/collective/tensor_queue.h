// The tensor queue: enqueued operations waiting for the background thread.
//
// Callers add entries (a request plus the caller's tensors and handle); the background thread pops
// the new requests of each process set once per cycle and, when a request has been decided, takes
// its entry out to execute it. A name can be in flight only once per process set.
//
// Thread-safety: every method is safe to call concurrently from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "collective/handle.h"
#include "collective/wire.h"
#include "common/mutex.h"

namespace trainyard::collective {

struct TensorEntry {
  int32_t process_set = 0;
  Request request;
  Tensor input;
  Tensor output;
  std::vector<int64_t> splits;  // alltoall: rows sent to each rank of the set
  OutputAllocator allocator;
  std::shared_ptr<internal::HandleState> handle;
  // A refusal's stand-in: `request` carries the error, `handle` is nobody's (the caller's handle
  // failed at the call). It holds the name until the coordinator answered it.
  bool refusal = false;
};

class TensorQueue {
 public:
  // Adds `entries` all or nothing. InvalidArgument (Horovod's duplicate-name error, naming the
  // tensor) if a name is already in flight in its process set or repeated among `entries`; the
  // close status after Close(). A name is free again once its entry was taken out. A name held by
  // a refusal is not a duplicate: the new entry waits behind the refusal (its request is not
  // announced) until Take() removes the refusal.
  Status Add(std::vector<TensorEntry> entries);
  // The duplicate-name error Add() gives when `name` is in flight, other than behind a refusal;
  // OK otherwise.
  Status CheckName(int32_t process_set, OpType type, const std::string& name) const;
  // The requests of `process_set` added since the last call, in the order added.
  std::vector<Request> PopNew(int32_t process_set);
  // Removes and returns the entry of `name`, if present; the first entry waiting behind it (if
  // it was a refusal) takes its place and is announced.
  std::optional<TensorEntry> Take(int32_t process_set, const std::string& name);
  bool InFlight(int32_t process_set, const std::string& name) const;
  // Removes and returns every entry of `process_set`.
  std::vector<TensorEntry> TakeAll(int32_t process_set);
  // Makes further Add() calls fail with `status`; returns every entry still queued.
  std::vector<TensorEntry> Close(const Status& status);
  // Reopens a closed queue (the runtime was initialized again).
  void Reopen();

  // Blocks until a request was added since the last PopNew, Wake() was called, or the monotonic
  // clock passes `deadline_micros`. Polls (yielding the CPU) for up to `poll_micros` before
  // sleeping.
  void WaitForWork(int64_t deadline_micros, int64_t poll_micros = 0);
  void Wake();

 private:
  struct PerSet {
    std::unordered_map<std::string, TensorEntry> in_flight;
    std::vector<Request> fresh;
    // Entries added while a refusal held their name, in the order added.
    std::unordered_map<std::string, std::deque<TensorEntry>> waiting;
  };
  mutable Mutex mu_;
  CondVar cv_;
  std::map<int32_t, PerSet> sets_ TY_GUARDED_BY(mu_);
  int64_t fresh_count_ TY_GUARDED_BY(mu_) = 0;
  std::atomic<bool> has_fresh_{false};  // fresh_count_ > 0, readable without the lock
  bool woken_ TY_GUARDED_BY(mu_) = false;
  bool closed_ TY_GUARDED_BY(mu_) = false;
  Status close_status_ TY_GUARDED_BY(mu_);
};

}  // namespace trainyard::collective
