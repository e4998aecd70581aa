// A Communicator over a c10d process group, torch.distributed's C++ backends: ProcessGroupGloo for
// host memory (gloo_world.h) and ProcessGroupNCCL for CUDA memory (nccl_communicator.h). Internal
// to the c10d transports; compiled only when libtorch is found.
//
// Every call wraps the caller's raw buffers as tensors (torch::from_blob, no copy), starts the
// c10d operation and waits for its Work. Nothing is a home-made algorithm: where the backend lacks
// an operation, it is composed from ones it has:
//   - Allgatherv with different counts: c10d's allgather needs equal sizes, so contributions are
//     padded to the largest one and compacted afterwards (equal counts gather straight into
//     `out`);
//   - ReduceScatter: Gloo (torch 1.13) has no reduce_scatter; an allreduce of a copy of the input,
//     then this rank's block is copied out;
//   - bfloat16 reductions: Gloo (1.13) does not reduce bfloat16; they go through float32 and are
//     rounded back to nearest even (NCCL reduces bfloat16 natively). float16 is native in both.
//   - bool travels as uint8 (the ops layer maps the reduce op).
//   - Coordination (bit AND, gathers, broadcasts of bytes) uses small int64/uint8 tensors; for a
//     CUDA group they are staged through device memory (and, NCCL having no bitwise AND, the
//     bit AND is a minimum over one byte per bit).
// Non-reducing operations (allgather, broadcast, alltoall) move bytes, whatever the dtype.
//
// Errors: c10d reports failures (a peer that exited: "Connection closed by peer"; a peer that
// stopped answering: Gloo's timeout) as exceptions; they become Unavailable here and the
// transport is marked broken, after which every call fails at once without touching the group
// (it might block on the dead peer). No exception leaves this class.
//
// Split() creates a new process group of the members on a PrefixStore of the world's store whose
// prefix is derived from a per-communicator counter, so every rank (members or not) advances the
// same counter and members of one split meet under the same keys.
//
// Not thread-safe (one thread at a time, like every Communicator).
#pragma once

#include <ATen/ATen.h>
#include <torch/version.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <vector>

#include "collective/communicator.h"

// c10d's process groups derive from ProcessGroup in torch 1.x and from Backend in 2.x.
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif

namespace trainyard::collective {

#if TORCH_VERSION_MAJOR >= 2
using C10dGroup = ::c10d::Backend;
#else
using C10dGroup = ::c10d::ProcessGroup;
#endif

// Creates the process group of one communicator on a store private to it. May throw (c10d's
// errors); the caller converts.
using C10dGroupFactory = std::function<c10::intrusive_ptr<C10dGroup>(
    const c10::intrusive_ptr<::c10d::Store>& store, int rank, int size)>;

// What every communicator of one c10d world shares.
struct C10dShared {
  // The world's rendezvous store (a TCPStore hosted by rank 0).
  c10::intrusive_ptr<::c10d::Store> store;
  // Host name per world rank (all_on_one_host of every communicator derives from it).
  std::vector<std::string> hosts;
  C10dGroupFactory make_group;
  // "GLOO" or "NCCL" (timeline activities: GLOO_ALLREDUCE ...).
  const char* name = "GLOO";
  // Where the data buffers live: the CPU for Gloo, a CUDA device for NCCL.
  c10::Device device = c10::Device(c10::kCPU);
  // Whether the backend reduces bfloat16 itself (otherwise through float32).
  bool native_bfloat16 = false;
  // Called after a Work completed, before its buffers are read (NCCL: synchronize the stream).
  std::function<void()> after_wait;
  // Makes the communicator of a group created by Split (null: a plain C10dCommunicator); lets a
  // transport keep its own subclass in sub-communicators.
  std::function<std::unique_ptr<Communicator>(c10::intrusive_ptr<C10dGroup> group,
                                              std::shared_ptr<C10dShared> shared,
                                              std::vector<int> world_ranks, std::string prefix)>
      make_communicator;
  // Set when an operation failed: the group may be stuck on a dead peer, so nothing is started on
  // it any more.
  std::atomic<bool> broken{false};
  std::string broken_reason;
};

class C10dCommunicator : public Communicator {
 public:
  // `world_ranks[i]` is the world rank of rank i of `group`; `prefix` names this communicator in
  // the store (sub-communicators get "<prefix>/<n>").
  C10dCommunicator(c10::intrusive_ptr<C10dGroup> group, std::shared_ptr<C10dShared> shared,
                   std::vector<int> world_ranks, std::string prefix);
  ~C10dCommunicator() override;
  C10dCommunicator(const C10dCommunicator&) = delete;
  C10dCommunicator& operator=(const C10dCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* transport_name() const override { return shared_->name; }
  bool all_on_one_host() const override { return one_host_; }

  Status AllreduceBitsAnd(uint64_t* words, size_t count) override;
  Status GatherBytes(const std::string& mine, std::vector<std::string>* all) override;
  Status BroadcastBytes(std::string* bytes) override;
  Status AllgatherInt64(int64_t mine, std::vector<int64_t>* all) override;
  Status AlltoallInt64(const std::vector<int64_t>& send, std::vector<int64_t>* recv) override;

  Status Allreduce(const void* in, void* out, int64_t count, DataType dtype, ReduceOp op) override;
  Status Allgatherv(const void* in, void* out, const std::vector<int64_t>& counts,
                    DataType dtype) override;
  Status Broadcast(void* data, int64_t count, DataType dtype, int root) override;
  Status Alltoallv(const void* in, const std::vector<int64_t>& send_counts, void* out,
                   const std::vector<int64_t>& recv_counts, DataType dtype) override;
  Status ReduceScatter(const void* in, void* out, const std::vector<int64_t>& counts,
                       DataType dtype, ReduceOp op) override;
  Status Barrier() override;
  Result<std::unique_ptr<Communicator>> Split(const std::vector<int>& members) override;

 protected:
  // Runs `fn` unless the transport is broken; exceptions become Unavailable ("<NAME> <what>
  // failed: ...") and mark the transport broken.
  Status Call(const char* what, const std::function<void()>& fn);
  // Starts an operation with `start` and waits for it (through Call).
  Status Run(const char* what, const std::function<c10::intrusive_ptr<::c10d::Work>()>& start);
  C10dGroup& group() const { return *group_; }

 private:
  // A tensor over `count` elements of `dtype` at `data` on the communicator's device (an empty
  // tensor when count is 0).
  at::Tensor Wrap(const void* data, int64_t count, DataType dtype) const;
  // A byte tensor over `bytes` bytes at `data`.
  at::Tensor WrapBytes(const void* data, int64_t bytes) const;
  // Reduces `t` in place across ranks (bfloat16 through float32 when the backend lacks it).
  Status ReduceTensor(at::Tensor& t, ReduceOp op, const char* what);
  // Allgather of equal-size byte tensors: `out` receives size() * in.numel() bytes.
  Status AllgatherEqual(const at::Tensor& in, const at::Tensor& out, const char* what);
  // A CPU tensor over host memory (coordination buffers), whatever the group's device.
  at::Tensor WrapHost(const void* data, int64_t count, DataType dtype) const;
  // Coordination on host memory: runs `op` on device copies of `in` (in_bytes) and `out`
  // (out_bytes; the same copy when in == out) and copies the result back into `out`; on a CPU
  // group, runs `op(in, out)` directly.
  Status OnDevice(const void* in, int64_t in_bytes, void* out, int64_t out_bytes,
                  const std::function<Status(const void*, void*)>& op);

  c10::intrusive_ptr<C10dGroup> group_;
  std::shared_ptr<C10dShared> shared_;
  std::vector<int> world_ranks_;
  std::string prefix_;
  int64_t splits_ = 0;
  int rank_ = 0;
  int size_ = 1;
  bool one_host_ = true;
};

// The ATen dtype of a runtime dtype (bool travels as uint8).
at::ScalarType ScalarTypeOf(DataType dtype);

// Runs `fn`, converting c10d's exceptions into Unavailable("<what>: <message>").
Status C10dCall(const std::string& what, const std::function<void()>& fn);

}  // namespace trainyard::collective
