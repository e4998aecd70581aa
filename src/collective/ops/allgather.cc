// Allgather: every rank ends up with all ranks' tensors concatenated along the first dimension,
// in rank order. The first dimension may differ between ranks (it is exchanged first, which keeps
// the response cacheable when it changes from step to step); the other dimensions must agree.
// A joined rank contributes no rows.
#include "collective/ops/ops.h"

namespace trainyard::collective {

Status ExecuteAllgather(OpContext& ctx, Slot& slot) {
  const Response& r = *slot.response;
  Timeline& tl = *ctx.timeline;
  int64_t row = 1;
  for (size_t i = 1; i < r.shape.size(); ++i) row *= r.shape[i];
  const int64_t mine = slot.entry != nullptr ? slot.entry->input.shape.front() : 0;
  std::vector<int64_t> rows;
  RETURN_IF_ERROR(ctx.comm->AllgatherInt64(mine, &rows));
  int64_t total_rows = 0;
  std::vector<int64_t> counts;
  for (int64_t n : rows) {
    total_rows += n;
    counts.push_back(n * row);
  }
  Shape out_shape = r.shape;
  out_shape.front() = total_rows;
  ASSIGN_OR_RETURN(void* out, AllocateOutput(ctx, slot, out_shape));
  if (total_rows * row == 0) return Status::Ok();
  const void* in = slot.entry != nullptr ? slot.entry->input.data : nullptr;
  const std::string activity = ctx.TransportActivity(OpType::kAllgather);
  tl.Begin(r.name, activity.c_str());
  Status st = ctx.comm->Allgatherv(in, out, counts, TransportDataType(r.dtype));
  tl.End(r.name, activity.c_str());
  return st;
}

}  // namespace trainyard::collective
