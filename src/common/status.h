// Status and Result<T> are part of the public API; see include/trainyard/status.h.
#pragma once

#include "trainyard/status.h"  // IWYU pragma: export
