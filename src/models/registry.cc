// Implements models/registry.h.
#include "models/registry.h"

namespace trainyard::models {}  // namespace trainyard::models
