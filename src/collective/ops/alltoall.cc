// Alltoall: rank i sends splits[j] rows of its tensor (consecutive, in order) to rank j, and
// receives what every rank sent it, concatenated in rank order. The row counts are exchanged
// first; the handle reports them as received_splits. Not allowed while ranks have joined (the
// coordinator answers with an error).
#include "collective/ops/ops.h"

namespace trainyard::collective {

Status ExecuteAlltoall(OpContext& ctx, Slot& slot) {
  const Response& r = *slot.response;
  TensorEntry* e = slot.entry;
  const int size = ctx.comm->size();
  int64_t row = 1;
  for (size_t i = 1; i < r.shape.size(); ++i) row *= r.shape[i];
  std::vector<int64_t> send_rows =
      e != nullptr ? e->splits : std::vector<int64_t>(static_cast<size_t>(size), 0);
  std::vector<int64_t> recv_rows;
  RETURN_IF_ERROR(ctx.comm->AlltoallInt64(send_rows, &recv_rows));
  std::vector<int64_t> send_counts;
  std::vector<int64_t> recv_counts;
  int64_t total_rows = 0;
  for (int i = 0; i < size; ++i) {
    send_counts.push_back(send_rows[static_cast<size_t>(i)] * row);
    recv_counts.push_back(recv_rows[static_cast<size_t>(i)] * row);
    total_rows += recv_rows[static_cast<size_t>(i)];
  }
  Shape out_shape = r.shape;
  out_shape.front() = total_rows;
  ASSIGN_OR_RETURN(void* out, AllocateOutput(ctx, slot, out_shape));
  if (e != nullptr) e->handle->received_splits = recv_rows;
  const std::string activity = ctx.TransportActivity(OpType::kAlltoall);
  ctx.timeline->Begin(r.name, activity.c_str());
  Status st = ctx.comm->Alltoallv(e != nullptr ? e->input.data : nullptr, send_counts, out,
                                  recv_counts, TransportDataType(r.dtype));
  ctx.timeline->End(r.name, activity.c_str());
  return st;
}

}  // namespace trainyard::collective
