// Barrier: returns on every rank once every rank of the process set has reached it.
#include "collective/ops/ops.h"

namespace trainyard::collective {

Status ExecuteBarrier(OpContext& ctx, Slot& slot) {
  const std::string activity = ctx.TransportActivity(OpType::kBarrier);
  ctx.timeline->Begin(slot.response->name, activity.c_str());
  Status st = ctx.comm->Barrier();
  ctx.timeline->End(slot.response->name, activity.c_str());
  return st;
}

}  // namespace trainyard::collective
