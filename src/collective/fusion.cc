#include "collective/fusion.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

namespace trainyard::collective {

FusionPolicy ChooseFusionPolicy(const Config& config, const std::string& transport,
                                bool all_on_one_host) {
  FusionPolicy p;
  if (config.fusion_threshold_bytes <= 0) return p;
  int64_t cap = config.fusion_buffer_max_bytes;
  if (cap < 0) cap = transport == "MPI" ? kMpiFusionBufferMaxBytes : 0;
  p.buffer_bytes =
      cap > 0 ? std::min(config.fusion_threshold_bytes, cap) : config.fusion_threshold_bytes;
  if (config.fusion_small_tensor_bytes >= 0) {
    p.small_tensor_bytes = config.fusion_small_tensor_bytes;
  } else if (transport == "MPI" && all_on_one_host) {
    p.small_tensor_bytes = kSharedMemorySmallTensorBytes;
  } else {
    p.small_tensor_bytes = p.buffer_bytes + 1;
  }
  return p;
}

int64_t ResponseBytes(const Response& r) {
  return NumElements(r.shape) * static_cast<int64_t>(DataTypeSize(r.dtype));
}

namespace {

bool Fusible(const Response& r, const FusionPolicy& p) {
  // The fusion buffer is host memory: device tensors are reduced one by one, in place.
  if (r.type != OpType::kAllreduce || r.is_error() || r.device.type != DeviceType::kCpu) {
    return false;
  }
  int64_t bytes = ResponseBytes(r);
  return bytes > 0 && bytes < p.small_tensor_bytes && bytes <= p.buffer_bytes;
}

bool Compatible(const Response& a, const Response& b) {
  return a.dtype == b.dtype && a.reduce_op == b.reduce_op && a.prescale == b.prescale &&
         a.postscale == b.postscale && a.device == b.device;
}

}  // namespace

std::vector<WorkItem> PlanFusion(const std::vector<Response>& responses,
                                 const FusionPolicy& policy) {
  std::vector<WorkItem> items;
  std::vector<bool> used(responses.size(), false);
  for (size_t i = 0; i < responses.size(); ++i) {
    if (used[i]) continue;
    used[i] = true;
    WorkItem item;
    item.indices.push_back(i);
    if (policy.buffer_bytes > 0 && Fusible(responses[i], policy)) {
      int64_t total = ResponseBytes(responses[i]);
      for (size_t j = i + 1; j < responses.size() && total < policy.buffer_bytes; ++j) {
        if (used[j] || !Fusible(responses[j], policy) || !Compatible(responses[i], responses[j])) {
          continue;
        }
        int64_t bytes = ResponseBytes(responses[j]);
        // A full buffer closes the group rather than taking a later, smaller tensor, so that
        // tensors laid out in the agreed order stay back to back (tensors that are not fused at
        // all, or not compatible, are still skipped over).
        if (total + bytes > policy.buffer_bytes) break;
        used[j] = true;
        total += bytes;
        item.indices.push_back(j);
      }
    }
    items.push_back(std::move(item));
  }
  return items;
}

void FusionBuffer::Free::operator()(void* p) const { std::free(p); }

void* FusionBuffer::Get(int64_t bytes) {
  if (bytes > capacity_) {
    int64_t rounded = (bytes + 4095) / 4096 * 4096;
    void* p = std::aligned_alloc(64, static_cast<size_t>(rounded));
    if (p == nullptr) return nullptr;
    std::memset(p, 0, static_cast<size_t>(rounded));  // fault the pages in once, now
    data_.reset(p);
    capacity_ = rounded;
  }
  return data_.get();
}

}  // namespace trainyard::collective
