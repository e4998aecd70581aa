#include <cstring>

#include "collective/ops/ops.h"

namespace trainyard::collective {

Result<void*> OpContext::Scratch(int64_t bytes, bool zero) {
  if (on_device()) return comm->DeviceScratch(bytes > 0 ? bytes : 1, zero);
  size_t n = static_cast<size_t>(bytes > 0 ? bytes : 1);
  if (scratch->size() < n) scratch->resize(n);
  if (zero) std::memset(scratch->data(), 0, n);
  return scratch->data();
}

std::string OpContext::TransportActivity(OpType type) const {
  return std::string(comm->transport_name()) + "_" + OpTypeUpperName(type);
}

ReduceOp TransportReduceOp(DataType dtype, ReduceOp op) {
  if (op == ReduceOp::kAverage) op = ReduceOp::kSum;
  if (dtype == DataType::kBool) {
    return (op == ReduceOp::kSum || op == ReduceOp::kMax) ? ReduceOp::kMax : ReduceOp::kMin;
  }
  return op;
}

DataType TransportDataType(DataType dtype) {
  return dtype == DataType::kBool ? DataType::kUInt8 : dtype;
}

double EffectivePostscale(const Response& r, int size) {
  double f = r.postscale;
  if (r.reduce_op == ReduceOp::kAverage) f /= static_cast<double>(size);
  return f;
}

Result<void*> AllocateOutput(OpContext& ctx, Slot& slot, const Shape& shape) {
  const Response& r = *slot.response;
  int64_t bytes = NumElements(shape) * static_cast<int64_t>(DataTypeSize(r.dtype));
  if (slot.entry == nullptr) return ctx.Scratch(bytes, false);
  TensorEntry& e = *slot.entry;
  internal::HandleState& h = *e.handle;
  if (e.allocator) {
    Result<Tensor> t = e.allocator(shape);
    if (!t.ok()) {
      slot.status = t.status().WithContext(std::string(OpTypeName(r.type)) + " '" + r.name +
                                           "': output allocator failed");
      return ctx.Scratch(bytes, false);
    }
    if (t->shape != shape || t->dtype != r.dtype || (t->data == nullptr && bytes > 0) ||
        t->device.type != ctx.comm->device().type) {
      slot.status = Internal(std::string(OpTypeName(r.type)) + " '" + r.name +
                             "': output allocator returned a " + DataTypeName(t->dtype) + " " +
                             ShapeToString(t->shape) + " tensor on " + t->device.ToString() +
                             ", expected " + DataTypeName(r.dtype) + " " + ShapeToString(shape) +
                             " on " + ctx.comm->device().ToString());
      return ctx.Scratch(bytes, false);
    }
    h.output = *t;
    return h.output.data;
  }
  if (ctx.on_device()) {
    // Enqueue refuses this; a handle cannot own device memory.
    slot.status = Internal(std::string(OpTypeName(r.type)) + " '" + r.name +
                           "': a device tensor's output needs an allocator");
    return ctx.Scratch(bytes, false);
  }
  h.owned_output.reset(new std::byte[static_cast<size_t>(bytes > 0 ? bytes : 1)]);
  h.output = Tensor{h.owned_output.get(), r.dtype, shape, e.input.device};
  return h.output.data;
}

}  // namespace trainyard::collective
