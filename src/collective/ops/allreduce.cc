// Allreduce: every rank ends up with the element-wise reduction of every rank's tensor.
//
// Unfused (one slot): the transport reduces the caller's memory directly — in place when input
// and output are the same buffer, else from input to output — so a large tensor is never copied.
// A prescale factor is applied first (into the output, leaving the input untouched), the
// postscale factor (with 1/size for Average) afterwards.
//
// Fused (several slots, all of one dtype/op/scaling): each input is copied (and prescaled) into
// consecutive ranges of the fusion buffer, the buffer is reduced in one call, and each range is
// copied (and postscaled) to its output. A joined rank contributes zeros. When this rank's tensors
// already lie back to back in the agreed order and are reduced in place (the DistributedOptimizers
// lay gradients out so), the group is reduced where it lies, without the copies: how a rank
// prepares the one contiguous range is its own business, the transport call is the same.
//
// Scaling and scratch go through the communicator (Communicator::ScaleCopy/Scale/DeviceScratch),
// so the unfused path works on device memory too; the fused path is host only (PlanFusion never
// fuses device tensors).
#include <cstring>

#include "collective/ops/ops.h"
#include "collective/reduce.h"

namespace trainyard::collective {
namespace {

// The start of the slots' memory when every slot reduces in place (input == output) and slot k
// begins where slot k - 1 ends; null otherwise (or on a joined rank, which has no tensors).
void* AdjacentSpan(const std::vector<Slot*>& slots, int64_t esize) {
  auto* next = static_cast<std::byte*>(nullptr);
  for (Slot* s : slots) {
    if (s->entry == nullptr || s->entry->input.data != s->entry->output.data) return nullptr;
    auto* data = static_cast<std::byte*>(s->entry->output.data);
    if (next != nullptr && data != next) return nullptr;
    next = data + NumElements(s->response->shape) * esize;
  }
  return slots.front()->entry->output.data;
}

}  // namespace

Status ExecuteAllreduce(OpContext& ctx, const std::vector<Slot*>& slots) {
  const Response& r = *slots.front()->response;
  if (r.reduce_op == ReduceOp::kAdasum) return ExecuteAdasum(ctx, slots);
  const DataType wire = TransportDataType(r.dtype);
  const ReduceOp op = TransportReduceOp(r.dtype, r.reduce_op);
  const double pre = r.prescale;
  const double post = EffectivePostscale(r, ctx.comm->size());
  const int64_t esize = static_cast<int64_t>(DataTypeSize(r.dtype));
  Timeline& tl = *ctx.timeline;
  const std::string activity = ctx.TransportActivity(OpType::kAllreduce);

  if (slots.size() == 1) {
    Slot& s = *slots.front();
    const int64_t count = NumElements(r.shape);
    if (s.entry != nullptr) s.entry->handle->output = s.entry->output;
    if (count == 0) return Status::Ok();
    const void* in;
    void* out;
    if (s.entry != nullptr) {
      in = s.entry->input.data;
      out = s.entry->output.data;
    } else {
      ASSIGN_OR_RETURN(out, ctx.Scratch(count * esize, true));
      in = out;
    }
    if (pre != 1.0) {
      RETURN_IF_ERROR(ctx.comm->ScaleCopy(out, in, count, r.dtype, pre));
      in = out;
    }
    tl.Begin(r.name, activity.c_str());
    Status st = ctx.comm->Allreduce(in, out, count, wire, op);
    tl.End(r.name, activity.c_str());
    RETURN_IF_ERROR(st);
    if (post != 1.0) RETURN_IF_ERROR(ctx.comm->Scale(out, count, r.dtype, post));
    return Status::Ok();
  }
  if (ctx.on_device()) return Internal("fused allreduce of device tensors '" + r.name + "'");

  int64_t total = 0;
  for (Slot* s : slots) total += NumElements(s->response->shape);
  if (void* span = AdjacentSpan(slots, esize)) {
    // This rank's tensors already lie one after the other, in place, in the agreed order: the
    // group is reduced where it is, with no copy in or out (the other ranks make the same call,
    // from the fusion buffer if their tensors are not laid out so).
    if (pre != 1.0) RETURN_IF_ERROR(ctx.comm->Scale(span, total, r.dtype, pre));
    for (Slot* s : slots) tl.Begin(s->response->name, activity.c_str());
    Status st = ctx.comm->Allreduce(span, span, total, wire, op);
    for (Slot* s : slots) tl.End(s->response->name, activity.c_str());
    RETURN_IF_ERROR(st);
    if (post != 1.0) RETURN_IF_ERROR(ctx.comm->Scale(span, total, r.dtype, post));
    for (Slot* s : slots) s->entry->handle->output = s->entry->output;
    return Status::Ok();
  }
  auto* buffer = static_cast<std::byte*>(ctx.fusion_buffer->Get(total * esize));
  if (buffer == nullptr) return Internal("cannot allocate the fusion buffer");
  int64_t offset = 0;
  for (Slot* s : slots) {
    const int64_t count = NumElements(s->response->shape);
    tl.Begin(s->response->name, "MEMCPY_IN_FUSION_BUFFER");
    if (s->entry != nullptr) {
      ScaleCopy(buffer + offset * esize, s->entry->input.data, count, r.dtype, pre);
    } else {
      std::memset(buffer + offset * esize, 0, static_cast<size_t>(count * esize));
    }
    tl.End(s->response->name, "MEMCPY_IN_FUSION_BUFFER");
    offset += count;
  }
  for (Slot* s : slots) tl.Begin(s->response->name, activity.c_str());
  Status st = ctx.comm->Allreduce(buffer, buffer, total, wire, op);
  for (Slot* s : slots) tl.End(s->response->name, activity.c_str());
  RETURN_IF_ERROR(st);
  offset = 0;
  for (Slot* s : slots) {
    const int64_t count = NumElements(s->response->shape);
    if (s->entry != nullptr) {
      tl.Begin(s->response->name, "MEMCPY_OUT_FUSION_BUFFER");
      ScaleCopy(s->entry->output.data, buffer + offset * esize, count, r.dtype, post);
      s->entry->handle->output = s->entry->output;
      tl.End(s->response->name, "MEMCPY_OUT_FUSION_BUFFER");
    }
    offset += count;
  }
  return Status::Ok();
}

}  // namespace trainyard::collective
