// The Gloo transport: c10d's ProcessGroupGloo, connected without MPI through torch.distributed's
// launch contract (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; LOCAL_RANK and LOCAL_WORLD_SIZE
// optional).
//
// Rendezvous: rank 0 hosts a c10d TCPStore at LaunchEnv::rendezvous_addr/port (config.h):
// HOROVOD_GLOO_RENDEZVOUS_ADDR/PORT when set, else MASTER_ADDR and MASTER_PORT + 1 — never
// MASTER_PORT itself, which the user's script may hand to torch.distributed.init_process_group.
// Every rank publishes its host name (and LOCAL_RANK if set) in the store; the world's process
// group is a ProcessGroupGloo on a PrefixStore of it, and process sets are further groups on other
// prefixes (C10dCommunicator::Split).
//
// Topology: local ranks are the ranks with the same host name (LOCAL_RANK / LOCAL_WORLD_SIZE win
// when set), ordered by rank; cross ranks those with the same local rank.
//
// Timeouts: the store, the rendezvous and every Gloo operation give up after
// HOROVOD_GLOO_TIMEOUT_SECONDS (default 60): a rank that never starts makes Init fail with
// Unavailable naming the rendezvous address; a peer that dies makes pending operations fail
// ("Connection closed by peer", usually at once) instead of hanging.
//
// Network device: GLOO_SOCKET_IFNAME (torch's variable) or HOROVOD_GLOO_IFACE names the interface;
// otherwise Gloo binds to the address of this host's name (loopback if it does not resolve).
#pragma once

#include "collective/communicator.h"
#include "collective/config.h"
#include "common/status.h"

namespace trainyard::collective {

Result<World> CreateGlooWorld(const Config& config, const LaunchEnv& env);

}  // namespace trainyard::collective
