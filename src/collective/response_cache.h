// The response cache: the steady-state shortcut of the coordination protocol.
//
// Training loops submit the same tensors (same names, shapes and types) every step. Once a tensor
// has been negotiated through the coordinator, every rank stores its Response here under a bit
// position. From then on a rank announces "tensor NAME is ready" by setting that bit, and one
// bitwise-AND allreduce of the bit vector tells every rank which cached tensors are ready
// everywhere, without sending names to the coordinator.
//
// Every rank's cache must hold the same entries at the same bits. That holds because the cache is
// only changed by steps every rank performs in the same order: Put() for each newly negotiated
// response, Touch() for each executed cached response, and Erase() for names the coordinator
// tells everyone to evict. Eviction when full is least-recently-used, which is deterministic for
// the same reason. A capacity of 0 disables the cache (every request is negotiated).
//
// Not thread-safe; owned and used by one Controller on the background thread.
#pragma once

#include <list>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "collective/wire.h"

namespace trainyard::collective {

class ResponseCache {
 public:
  explicit ResponseCache(size_t capacity);

  enum class State {
    kMiss,     // name not cached
    kHit,      // cached with the same parameters: announce through the bit
    kInvalid,  // cached with other parameters: negotiate, and the coordinator evicts the entry
  };
  struct Lookup {
    State state = State::kMiss;
    int bit = -1;
  };
  Lookup Find(const Request& request) const;

  // Width of the bit vector: one more than the highest bit ever assigned. Identical on all ranks.
  int num_bits() const { return high_water_; }
  size_t size() const { return by_name_.size(); }
  size_t capacity() const { return capacity_; }

  // The response at `bit`, or null if the bit is free.
  const Response* Get(int bit) const;
  int BitOf(const std::string& name) const;

  // Marks `bit` as the most recently used.
  void Touch(int bit);
  // Stores a cacheable response (no-op when disabled or not cacheable). If the cache is full the
  // least recently used entry is evicted first and its bit returned through `evicted_bit` (-1 if
  // none). Replaces an entry of the same name in place.
  void Put(const Response& response, int* evicted_bit);
  // Removes `name`; returns its bit, or -1 if it was not cached.
  int Erase(const std::string& name);

 private:
  struct Entry {
    Response response;
    std::list<int>::iterator lru;
  };
  size_t capacity_;
  int high_water_ = 0;
  std::map<int, Entry> by_bit_;
  std::unordered_map<std::string, int> by_name_;
  std::list<int> lru_;  // front: most recently used
  std::set<int> free_bits_;
};

}  // namespace trainyard::collective
