#include "collective/executor.h"

#include <optional>

namespace trainyard::collective {
namespace {

bool IsDataOp(const Response& r) {
  switch (r.type) {
    case OpType::kAllreduce:
    case OpType::kAllgather:
    case OpType::kBroadcast:
    case OpType::kAlltoall:
    case OpType::kReducescatter:
    case OpType::kBarrier: return !r.is_error();
    default: return false;
  }
}

// Executes a data response's slots on ctx.comm.
Status RunData(OpContext& ctx, const Response& r, std::vector<Slot>& slots) {
  switch (r.type) {
    case OpType::kAllreduce: {
      std::vector<Slot*> ptrs;
      for (Slot& s : slots) ptrs.push_back(&s);
      return ExecuteAllreduce(ctx, ptrs);
    }
    case OpType::kAllgather: return ExecuteAllgather(ctx, slots.front());
    case OpType::kBroadcast: return ExecuteBroadcast(ctx, slots.front());
    case OpType::kAlltoall: return ExecuteAlltoall(ctx, slots.front());
    case OpType::kReducescatter: return ExecuteReducescatter(ctx, slots.front());
    case OpType::kBarrier: return ExecuteBarrier(ctx, slots.front());
    default: return Internal(std::string("not a data operation: ") + OpTypeName(r.type));
  }
}

bool OnDevice(const Response& r) {
  return IsDataOp(r) && r.type != OpType::kBarrier && r.device.type != DeviceType::kCpu;
}

Status RunItem(OpContext& ctx, const Response& r, std::vector<Slot>& slots,
               const ControlHandler& control) {
  if (r.is_error()) {
    StatusCode code = r.error_code == StatusCode::kOk ? StatusCode::kInvalidArgument : r.error_code;
    for (Slot& s : slots) s.status = Status(code, r.error);
    return Status::Ok();
  }
  if (OnDevice(r)) {
    if (ctx.device_comm == nullptr) {
      for (Slot& s : slots) {
        s.status = FailedPrecondition(std::string(OpTypeName(r.type)) + " '" + s.response->name +
                                      "': the tensor is on " + r.device.ToString() +
                                      " but this process set has no device communicator");
      }
      return Status::Ok();
    }
    OpContext device_ctx = ctx;
    device_ctx.comm = ctx.device_comm;
    return RunData(device_ctx, r, slots);
  }
  if (IsDataOp(r)) return RunData(ctx, r, slots);
  return control(r, slots.front());
}

}  // namespace

Status ExecuteResponses(OpContext& ctx, const FusionPolicy& policy, int32_t process_set,
                        TensorQueue& queue, const std::vector<Response>& responses,
                        const ControlHandler& control, ExecutorCounters* counters) {
  const size_t n = responses.size();
  std::vector<std::optional<TensorEntry>> entries(n);
  Timeline& tl = *ctx.timeline;
  for (size_t i = 0; i < n; ++i) {
    entries[i] = queue.Take(process_set, responses[i].name);
    if (IsDataOp(responses[i])) {
      tl.Begin(responses[i].name, OpTypeUpperName(responses[i].type));
      tl.Begin(responses[i].name, "QUEUE");
    }
  }
  Status fatal;
  for (const WorkItem& item : PlanFusion(responses, policy)) {
    const Response& first = responses[item.indices.front()];
    std::vector<Slot> slots;
    for (size_t idx : item.indices) {
      Slot s;
      s.response = &responses[idx];
      s.entry = entries[idx] ? &*entries[idx] : nullptr;
      slots.push_back(s);
      if (IsDataOp(responses[idx])) tl.End(responses[idx].name, "QUEUE");
    }
    const auto count = static_cast<int64_t>(item.indices.size());
    if (count > 1) counters->fused_tensors.fetch_add(count);
    if (OnDevice(first)) counters->device_tensors.fetch_add(count);
    fatal = RunItem(ctx, first, slots, control);
    for (size_t k = 0; k < item.indices.size(); ++k) {
      size_t idx = item.indices[k];
      if (IsDataOp(responses[idx]))
        tl.End(responses[idx].name, OpTypeUpperName(responses[idx].type));
      if (entries[idx]) {
        entries[idx]->handle->Complete(fatal.ok() ? slots[k].status : fatal);
        entries[idx].reset();
      }
    }
    if (!fatal.ok()) break;
  }
  if (!fatal.ok()) {
    for (auto& e : entries) {
      if (e) e->handle->Complete(fatal);
    }
  }
  return fatal;
}

}  // namespace trainyard::collective
