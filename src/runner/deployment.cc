// Implements runner/deployment.h.
#include "runner/deployment.h"

namespace trainyard::runner {}  // namespace trainyard::runner
