// Reducescatter: the tensors are reduced element-wise across ranks and the result is split along
// the first dimension: rank i keeps block i. With d rows and n ranks the first d % n ranks get
// d / n + 1 rows and the others d / n (Horovod's split). Scale factors and Average apply as in
// allreduce. A joined rank contributes zeros. Host memory only (device tensors are refused at
// enqueue).
#include <vector>

#include "collective/ops/ops.h"
#include "collective/reduce.h"

namespace trainyard::collective {

Status ExecuteReducescatter(OpContext& ctx, Slot& slot) {
  const Response& r = *slot.response;
  const int size = ctx.comm->size();
  const int me = ctx.comm->rank();
  int64_t row = 1;
  for (size_t i = 1; i < r.shape.size(); ++i) row *= r.shape[i];
  const int64_t d = r.shape.front();
  auto rows_of = [&](int i) { return d / size + (i < d % size ? 1 : 0); };
  std::vector<int64_t> counts;
  for (int i = 0; i < size; ++i) counts.push_back(rows_of(i) * row);
  Shape out_shape = r.shape;
  out_shape.front() = rows_of(me);
  const int64_t total = d * row;
  const int64_t esize = static_cast<int64_t>(DataTypeSize(r.dtype));

  const void* in;
  std::vector<std::byte> scaled;
  if (ctx.on_device()) {
    // Enqueue refuses device tensors here: the host scratch below would not be device memory.
    return Internal("reducescatter of device tensor '" + r.name + "'");
  }
  if (slot.entry == nullptr) {
    ASSIGN_OR_RETURN(in, ctx.Scratch(total * esize, true));
  } else if (r.prescale != 1.0) {
    scaled.resize(static_cast<size_t>(total * esize));
    ScaleCopy(scaled.data(), slot.entry->input.data, total, r.dtype, r.prescale);
    in = scaled.data();
  } else {
    in = slot.entry->input.data;
  }
  // A joined rank's zeros live in scratch; its output must not overlap them.
  std::vector<std::byte> joined_out;
  void* out;
  if (slot.entry == nullptr) {
    joined_out.resize(static_cast<size_t>(counts[static_cast<size_t>(me)] * esize + 1));
    out = joined_out.data();
  } else {
    ASSIGN_OR_RETURN(out, AllocateOutput(ctx, slot, out_shape));
  }
  if (total == 0) return Status::Ok();
  const std::string activity = ctx.TransportActivity(OpType::kReducescatter);
  ctx.timeline->Begin(r.name, activity.c_str());
  Status st = ctx.comm->ReduceScatter(in, out, counts, TransportDataType(r.dtype),
                                      TransportReduceOp(r.dtype, r.reduce_op));
  ctx.timeline->End(r.name, activity.c_str());
  RETURN_IF_ERROR(st);
  double post = EffectivePostscale(r, size);
  if (post != 1.0 && slot.status.ok()) {
    ScaleInPlace(out, counts[static_cast<size_t>(me)], r.dtype, post);
  }
  return Status::Ok();
}

}  // namespace trainyard::collective
