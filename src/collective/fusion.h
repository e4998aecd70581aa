// Tensor fusion: when to batch several small allreduces into one, and the buffer used for it.
//
// Fusing copies tensors into one buffer, reduces the buffer with one transport call, and copies
// the results out. It saves one transport call (its latency) per fused tensor and costs two
// memcpys of the tensor. Which side wins depends on the transport (docs/baselines.md, measured on
// ResNet-18's 62 gradients, 2 ranks):
//   - MPI over shared memory: a call costs a few microseconds and moves bytes at memcpy speed, so
//     the copies cost as much as the allreduce itself. Fusing everything is 2.2x *slower* than
//     one call per tensor; fusing only the small tensors is as fast as the best, and small
//     tensors alone fused are 2x faster than unfused.
//   - MPI over TCP, Gloo: a call costs 30 us to milliseconds, so fusion wins 2-100x.
// The rule (PlanFusion):
//   - only allreduce responses are fused, and only with others of the same dtype, reduce op,
//     scale factors and device, and only host (CPU) tensors: the buffer is host memory, so
//     device tensors are always planned unfused;
//   - a tensor is fused only if its size is below `small_tensor_bytes`; bigger tensors are reduced
//     alone, in place in the caller's memory, without any copy;
//   - a group never exceeds `buffer_bytes`: a tensor that does not fit closes the group (the
//     next group starts with it), so a group keeps the agreed order; a group of one is executed
//     unfused (no copy).
// ChooseFusionPolicy sets small_tensor_bytes per communicator: kSharedMemorySmallTensorBytes when
// the transport is MPI and all ranks share one host (shared memory), otherwise the whole buffer
// (fuse everything that fits: Gloo is TCP even on one host, where a call costs 100s of us).
// A rank whose fused tensors already lie back to back (the DistributedOptimizers' gradient
// layout) reduces them in place, without the copies (ops/allreduce.cc).
// TRAINYARD_FUSION_SMALL_TENSOR_BYTES overrides it; HOROVOD_FUSION_THRESHOLD=0 disables fusion. The
// buffer is min(HOROVOD_FUSION_THRESHOLD, TRAINYARD_FUSION_BUFFER_MAX_BYTES), where the cap
// defaults to 32 MiB on MPI (above it glibc serves allocations with fresh mmaps and MPI's own
// temporary buffers page-fault on every call) and to none elsewhere (on Gloo one call less is
// worth more: ResNet-18's 47 MB of gradients go in one call).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "collective/communicator.h"
#include "collective/config.h"
#include "collective/wire.h"

namespace trainyard::collective {

// Fuse tensors below this size on MPI over shared memory (see docs/collective.md for the
// measurements behind it).
inline constexpr int64_t kSharedMemorySmallTensorBytes = 64 << 10;
// The fusion buffer's cap on MPI (TRAINYARD_FUSION_BUFFER_MAX_BYTES=-1, the default).
inline constexpr int64_t kMpiFusionBufferMaxBytes = 32 << 20;

struct FusionPolicy {
  int64_t buffer_bytes = 0;        // 0: no fusion
  int64_t small_tensor_bytes = 0;  // fuse only tensors with fewer bytes than this
};

// `transport`: Communicator::transport_name(); `all_on_one_host`: whether its ranks share a host.
FusionPolicy ChooseFusionPolicy(const Config& config, const std::string& transport,
                                bool all_on_one_host);

// One unit of execution: indices into the response list; more than one means a fused allreduce.
struct WorkItem {
  std::vector<size_t> indices;
};

// Groups `responses` (the cycle's agreed list) into work items, in the order of each item's first
// response. Deterministic: every rank computes the same plan from the same list.
std::vector<WorkItem> PlanFusion(const std::vector<Response>& responses,
                                 const FusionPolicy& policy);

// Byte size of the tensor a response describes.
int64_t ResponseBytes(const Response& response);

// The reusable fusion buffer: grows to the largest size asked for and is kept, so its pages are
// faulted in once. Not thread-safe (used by the background thread).
class FusionBuffer {
 public:
  // A buffer of at least `bytes`, 64-byte aligned. Contents are unspecified.
  void* Get(int64_t bytes);
  int64_t capacity() const { return capacity_; }

 private:
  struct Free {
    void operator()(void* p) const;
  };
  std::unique_ptr<void, Free> data_;
  int64_t capacity_ = 0;
};

}  // namespace trainyard::collective
