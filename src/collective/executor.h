// Executes the responses one cycle agreed on, for one process set: plans fusion, runs each work
// item through the ops, and completes the handles.
//
// Runs on the background thread only. Every rank calls it with the same responses in the same
// order, so the transport calls match across ranks.
#pragma once

#include <atomic>
#include <functional>
#include <vector>

#include "collective/fusion.h"
#include "collective/ops/ops.h"
#include "collective/tensor_queue.h"

namespace trainyard::collective {

// Finishes a control response (kJoin, kAddProcessSet, kRemoveProcessSet) for the runtime. It may
// set slot.status and the handle's value; it returns a transport failure.
using ControlHandler = std::function<Status(const Response&, Slot&)>;

// Counters the executor adds to (the runtime's RuntimeStats).
struct ExecutorCounters {
  std::atomic<int64_t> fused_tensors{0};   // tensors that went through the fusion buffer
  std::atomic<int64_t> device_tensors{0};  // tensors executed on a device communicator
};

// Takes each response's entry out of `queue` (a joined rank may have none), executes the responses
// in the order of PlanFusion, and completes every taken handle. Returns a transport failure, after
// completing every handle taken here with it.
//
// Routing: a data response whose device is not the CPU runs on ctx.device_comm (ctx.comm is
// swapped for it); when the set has none (enqueue refuses such tensors, so only a rank with an
// inconsistent setup gets here) the tensor fails with FailedPrecondition on this rank.
Status ExecuteResponses(OpContext& ctx, const FusionPolicy& policy, int32_t process_set,
                        TensorQueue& queue, const std::vector<Response>& responses,
                        const ControlHandler& control, ExecutorCounters* counters);

}  // namespace trainyard::collective
