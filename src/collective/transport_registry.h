// The transports compiled into this build, which one a process uses, and how to connect to a world
// through it. This is the only place with #if's on optional transports (transport_registry.cc).
// All functions are safe to call from any thread; CreateWorld is collective over the ranks it
// connects.
#pragma once

#include <string>
#include <vector>

#include "collective/communicator.h"
#include "collective/config.h"
#include "common/status.h"

namespace trainyard::collective {

// "mpi" when built with MPI, "gloo" when built with libtorch (c10d's ProcessGroupGloo). The
// single-rank world ("single") is always there and not listed. NCCL is not a world transport but
// a device communicator attached to whichever world is created (NcclCompiled, CreateWorld).
std::vector<std::string> BuiltTransports();
bool TransportBuilt(const std::string& name);
// True when the NCCL device communicator is compiled in (TRAINYARD_HAVE_NCCL).
bool NcclCompiled();

// The transport a process uses for InitOptions::transport `requested`:
//   - anything but "auto" (or empty) is returned unchanged;
//   - config.transport (HOROVOD_CPU_OPERATIONS / HOROVOD_CONTROLLER) forces "mpi" or "gloo";
//   - "mpi" when launched by Open MPI (OMPI_COMM_WORLD_SIZE) and MPI is built;
//   - "gloo" when RANK/WORLD_SIZE describe more than one rank and Gloo is built;
//   - "single" (a world of this process alone, on the in-process transport) otherwise, so that
//     a plain `python train.py` works.
// Unavailable when the launcher started several ranks but the transport they need is not built
// (falling back to "single" would silently train N independent models).
Result<std::string> ResolveTransport(const std::string& requested, const Config& config,
                                     const LaunchEnv& env);

// Connects this process to its world through `transport` ("auto" is resolved first, from the
// process environment). With NCCL compiled in and a CUDA device on every rank, the world also
// gets an NCCL device communicator (World::device; AttachNcclDevice, TRAINYARD_NCCL=0 turns it
// off). Unavailable when it is not built or cannot start (MPI_Init failed, a Gloo
// peer did not show up within HOROVOD_GLOO_TIMEOUT_SECONDS).
Result<World> CreateWorld(const std::string& transport, const Config& config);

}  // namespace trainyard::collective
