#include "server/api.h"

namespace trainyard::server {

// Placeholder until this group's endpoints land (docs/api.md).
void AddTrackingRoutes(Routes& /*routes*/, ServerContext& /*ctx*/) {}

}  // namespace trainyard::server
