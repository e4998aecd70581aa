// Implements store/models.h.
#include "store/models.h"

namespace trainyard::store {}  // namespace trainyard::store
