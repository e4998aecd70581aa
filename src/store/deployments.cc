// Implements store/deployments.h.
#include "store/deployments.h"

namespace trainyard::store {}  // namespace trainyard::store
