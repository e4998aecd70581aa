// The transports compiled into this build, and how to connect to a world through one of them.
// This is the only place with #if's on optional transports (transport_registry.cc). Both
// functions are safe to call from any thread; CreateWorld is collective over the ranks it connects.
#pragma once

#include <string>
#include <vector>

#include "collective/communicator.h"
#include "collective/config.h"
#include "common/status.h"

namespace trainyard::collective {

// "mpi" when built with MPI, ...
std::vector<std::string> BuiltTransports();

// Connects this process to its world through `transport`. Unavailable when it is not built or
// cannot start (e.g. MPI_Init failed).
Result<World> CreateWorld(const std::string& transport, const Config& config);

}  // namespace trainyard::collective
