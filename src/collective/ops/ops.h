// The operations: how each agreed Response is executed on a Communicator.
//
// One operation per file (allreduce.cc, allgather.cc, ...), each a free function over an
// OpContext, in the style of gloo. They run on the background thread, after the coordination
// protocol made every rank agree on the same list of responses, so every rank calls the same
// transport methods in the same order.
//
// A Slot is one tensor's part: the agreed response plus this rank's entry. The entry is null on a
// rank that has joined (Runtime::Join); such a rank still takes part, with zeros (allreduce,
// reducescatter), no rows (allgather) or a scratch buffer to receive into (broadcast).
//
// Errors: the returned Status is a transport failure, after which the runtime shuts down. A
// failure that concerns only this rank's tensor (its output allocator failed) is stored in
// Slot::status; the operation still runs, with a scratch buffer, so the other ranks do not hang.
#pragma once

#include <cstddef>
#include <vector>

#include "collective/communicator.h"
#include "collective/fusion.h"
#include "collective/tensor_queue.h"
#include "collective/timeline.h"
#include "collective/wire.h"

namespace trainyard::collective {

struct Slot {
  const Response* response = nullptr;
  TensorEntry* entry = nullptr;  // null on a joined rank
  Status status;                 // local failure of this tensor
};

// Everything the operations use; none of it is owned by the context.
struct OpContext {
  // The communicator the operation runs on: the process set's host communicator, or, for a
  // response on a device (Response::device not the CPU), its device communicator (the executor
  // swaps it in). Ops touch data buffers only through its memory methods (Copy, ScaleCopy, Scale,
  // Scratch below), never with the CPU directly, except in the fusion buffer (host only).
  Communicator* comm = nullptr;
  // The process set's device communicator, or null when it has none.
  Communicator* device_comm = nullptr;
  const std::vector<int>* ranks = nullptr;  // global ranks of the process set, by set rank
  FusionBuffer* fusion_buffer = nullptr;
  Timeline* timeline = nullptr;
  std::vector<std::byte>* scratch = nullptr;  // reusable scratch memory

  // Scratch of at least `bytes`, zero-filled when `zero`, in the memory of `comm` (host scratch,
  // or the device communicator's DeviceScratch). An error is a failed device allocation.
  Result<void*> Scratch(int64_t bytes, bool zero);
  // True when `comm` works on device memory.
  bool on_device() const { return comm->device().type != DeviceType::kCpu; }
  // "MPI_ALLREDUCE" for the context's transport.
  std::string TransportActivity(OpType type) const;
};

// Allreduce of one tensor (in place in the caller's output, no copy) or, with several slots, of a
// fused group (copy in, one transport call, copy out).
Status ExecuteAllreduce(OpContext& ctx, const std::vector<Slot*>& slots);
// Adasum of one tensor or a fused group (each tensor combined on its own); see adasum.cc.
Status ExecuteAdasum(OpContext& ctx, const std::vector<Slot*>& slots);
Status ExecuteAllgather(OpContext& ctx, Slot& slot);
Status ExecuteBroadcast(OpContext& ctx, Slot& slot);
Status ExecuteAlltoall(OpContext& ctx, Slot& slot);
Status ExecuteReducescatter(OpContext& ctx, Slot& slot);
Status ExecuteBarrier(OpContext& ctx, Slot& slot);

// The reduce op and dtype the transport sees: Average becomes Sum, and bool becomes uint8 with
// Max (Sum, Max: logical or) or Min (Min, Product: logical and).
ReduceOp TransportReduceOp(DataType dtype, ReduceOp op);
DataType TransportDataType(DataType dtype);
// The factor applied after the reduction (postscale, and 1/size for Average).
double EffectivePostscale(const Response& r, int size);

// Gives the slot's entry an output of `shape` (its allocator, or memory owned by the handle).
// Returns the memory to write to: the output, or scratch when there is no entry or allocation
// failed (then slot.status says why). On a device communicator the entry must have an allocator
// (enqueue refuses device tensors without one) and what it returns must be on that device. An
// error is a failed scratch allocation.
Result<void*> AllocateOutput(OpContext& ctx, Slot& slot, const Shape& shape);

}  // namespace trainyard::collective
