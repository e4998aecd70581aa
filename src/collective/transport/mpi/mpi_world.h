// The MPI transport (Open MPI): connects to the world from the launcher's environment.
//
// CreateMpiWorld initializes MPI with MPI_THREAD_MULTIPLE (MPI_THREAD_SERIALIZED with
// HOROVOD_MPI_THREADS_DISABLE=1; at least SERIALIZED is required, since the runtime's background
// thread makes the MPI calls), or uses an MPI the application already initialized. When it
// initialized MPI itself, it registers MPI_Finalize to run at process exit (so that a Runtime can
// be created again after a Shutdown); the Runtime must be shut down before then.
//
// The world communicator is a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, so MPI failures
// come back as Status values. Topology: local ranks are those sharing memory with this process
// (MPI_Comm_split_type SHARED), cross ranks those with the same local rank.
//
// Dead peers: Open MPI's launcher kills the whole job when one rank dies, which is the main
// guarantee. In addition, while a coordination step waits for other ranks, the transport checks
// every 200 ms whether the peers on this host are still alive and fails with Unavailable naming
// the dead rank, so pending operations fail promptly with a clear error.
#pragma once

#include "collective/communicator.h"
#include "collective/config.h"
#include "common/status.h"

namespace trainyard::collective {

Result<World> CreateMpiWorld(const Config& config);

}  // namespace trainyard::collective
