// Broadcast: the root's tensor replaces every other rank's. The root is a global rank; the
// transport gets its position in the process set. On the root, an output distinct from the input
// receives a copy of the input. A joined rank (never the root: the coordinator refuses that)
// receives into scratch memory.
#include <algorithm>

#include "collective/ops/ops.h"

namespace trainyard::collective {

Status ExecuteBroadcast(OpContext& ctx, Slot& slot) {
  const Response& r = *slot.response;
  const auto& ranks = *ctx.ranks;
  const int root = static_cast<int>(std::find(ranks.begin(), ranks.end(), r.root) - ranks.begin());
  const int64_t count = NumElements(r.shape);
  const int64_t bytes = count * static_cast<int64_t>(DataTypeSize(r.dtype));
  void* data;
  if (slot.entry != nullptr) {
    TensorEntry& e = *slot.entry;
    e.handle->output = e.output;
    data = e.output.data;
    if (ctx.comm->rank() == root && e.output.data != e.input.data && bytes > 0) {
      RETURN_IF_ERROR(ctx.comm->Copy(e.output.data, e.input.data, bytes));
    }
  } else {
    ASSIGN_OR_RETURN(data, ctx.Scratch(bytes, false));
  }
  if (count == 0) return Status::Ok();
  const std::string activity = ctx.TransportActivity(OpType::kBroadcast);
  ctx.timeline->Begin(r.name, activity.c_str());
  Status st = ctx.comm->Broadcast(data, count, TransportDataType(r.dtype), root);
  ctx.timeline->End(r.name, activity.c_str());
  return st;
}

}  // namespace trainyard::collective
