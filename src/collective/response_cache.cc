#include "collective/response_cache.h"

namespace trainyard::collective {

ResponseCache::ResponseCache(size_t capacity) : capacity_(capacity) {}

ResponseCache::Lookup ResponseCache::Find(const Request& request) const {
  auto it = by_name_.find(request.name);
  if (it == by_name_.end()) return {};
  const Response& cached = by_bit_.at(it->second).response;
  return {SameSignature(request, cached) ? State::kHit : State::kInvalid, it->second};
}

const Response* ResponseCache::Get(int bit) const {
  auto it = by_bit_.find(bit);
  return it == by_bit_.end() ? nullptr : &it->second.response;
}

int ResponseCache::BitOf(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : it->second;
}

void ResponseCache::Touch(int bit) {
  auto it = by_bit_.find(bit);
  if (it == by_bit_.end()) return;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
}

void ResponseCache::Put(const Response& response, int* evicted_bit) {
  *evicted_bit = -1;
  if (capacity_ == 0 || !response.Cacheable()) return;
  auto named = by_name_.find(response.name);
  if (named != by_name_.end()) {
    Entry& e = by_bit_.at(named->second);
    e.response = response;
    lru_.splice(lru_.begin(), lru_, e.lru);
    return;
  }
  if (by_name_.size() >= capacity_) {
    int victim = lru_.back();
    *evicted_bit = victim;
    Erase(by_bit_.at(victim).response.name);
  }
  int bit;
  if (!free_bits_.empty()) {
    bit = *free_bits_.begin();
    free_bits_.erase(free_bits_.begin());
  } else {
    bit = high_water_++;
  }
  lru_.push_front(bit);
  by_bit_.emplace(bit, Entry{response, lru_.begin()});
  by_name_.emplace(response.name, bit);
}

int ResponseCache::Erase(const std::string& name) {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return -1;
  int bit = it->second;
  auto e = by_bit_.find(bit);
  lru_.erase(e->second.lru);
  by_bit_.erase(e);
  by_name_.erase(it);
  free_bits_.insert(bit);
  return bit;
}

}  // namespace trainyard::collective
