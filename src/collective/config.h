// Runtime settings, read from HOROVOD_* (and a few TRAINYARD_*) environment variables.
//
// Settings that must agree across ranks for the protocol to work (cache capacity, fusion sizes,
// cycle time, stall limits) are taken from rank 0 at Init and override the other ranks' values.
// Plain value; safe to copy between threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"

namespace trainyard::collective {

struct Config {
  // HOROVOD_CYCLE_TIME (ms): how long the background thread sleeps between coordination rounds
  // when no tensor is waiting. New work wakes it at once.
  double cycle_time_ms = 1.0;
  // HOROVOD_FUSION_THRESHOLD (bytes): upper bound of one fusion buffer; 0 disables fusion.
  int64_t fusion_threshold_bytes = 64 << 20;
  // TRAINYARD_FUSION_BUFFER_MAX_BYTES: the buffer actually used is min(threshold, this); -1 lets
  // the runtime choose per transport: 32 MiB on MPI, whose temporary buffers above that fall out
  // of glibc's heap into fresh mmaps (see docs/collective.md), no cap on the others.
  int64_t fusion_buffer_max_bytes = -1;
  // TRAINYARD_FUSION_SMALL_TENSOR_BYTES: only tensors smaller than this are fused; -1 lets the
  // runtime choose per transport (see fusion.h).
  int64_t fusion_small_tensor_bytes = -1;
  // HOROVOD_CACHE_CAPACITY: entries of the response cache; 0 disables it.
  int64_t cache_capacity = 1024;
  // HOROVOD_STALL_CHECK_DISABLE=1 turns the stall inspector's warning and shutdown off.
  bool stall_check = true;
  // HOROVOD_STALL_CHECK_TIME_SECONDS: warn about tensors waiting this long.
  double stall_warning_seconds = 60;
  // HOROVOD_STALL_SHUTDOWN_TIME_SECONDS: > 0 shuts the runtime down (every pending operation
  // fails) when a tensor has waited this long.
  double stall_shutdown_seconds = 0;
  // TRAINYARD_STALL_FAIL_SECONDS: > 0 fails an operation that some ranks of its process set
  // submitted and others did not for this long, on the ranks that submitted it (the runtime keeps
  // working for later operations). 0 (default): such an operation waits (see the two above).
  // Independent of HOROVOD_STALL_CHECK_DISABLE.
  double stall_fail_seconds = 0;
  // HOROVOD_TIMELINE: Chrome-trace file written by global rank 0 ("{rank}" in the path makes
  // every rank write its own). HOROVOD_TIMELINE_MARK_CYCLES=1 adds an event per cycle.
  std::string timeline_path;
  bool timeline_mark_cycles = false;
  // HOROVOD_MPI_THREADS_DISABLE=1: ask MPI for MPI_THREAD_SERIALIZED instead of MULTIPLE.
  bool mpi_threads_disable = false;
  // HOROVOD_CPU_OPERATIONS or HOROVOD_CONTROLLER ("mpi" or "gloo", Horovod's knobs): forces the
  // transport that InitOptions::transport "auto" would otherwise choose (see
  // transport_registry.h). Empty: automatic. If both variables are set they must agree.
  std::string transport;
  // HOROVOD_GLOO_TIMEOUT_SECONDS: how long the Gloo transport waits for a peer, at the rendezvous
  // (a rank that never starts) and in every operation (a rank that stopped answering), before it
  // fails with Unavailable.
  double gloo_timeout_seconds = 60;
};

using EnvLookup = std::function<const char*(const char*)>;

// Reads the variables above; unset or empty ones keep their defaults. A malformed value gives
// InvalidArgument naming the variable.
Result<Config> ConfigFromEnv(const EnvLookup& lookup);
// From the process environment.
Result<Config> ConfigFromEnv();

// How this process was launched, read from the launcher's environment; decides the transport of
// InitOptions::transport "auto" (transport_registry.h) and how the Gloo transport meets its peers.
struct LaunchEnv {
  // Started by Open MPI's launcher (OMPI_COMM_WORLD_SIZE is set); `ompi_size` is that value.
  bool open_mpi = false;
  int ompi_size = 1;
  // torch.distributed's contract (torchrun and friends): RANK and WORLD_SIZE are set.
  bool torch = false;
  int rank = 0;
  int size = 1;
  // LOCAL_RANK / LOCAL_WORLD_SIZE, -1 when unset (then derived from host names).
  int local_rank = -1;
  int local_size = -1;
  // Where rank 0 hosts the Gloo transport's TCPStore: HOROVOD_GLOO_RENDEZVOUS_ADDR and
  // HOROVOD_GLOO_RENDEZVOUS_PORT when set, else MASTER_ADDR and MASTER_PORT + 1. MASTER_PORT itself
  // is left to the user's script (torch.distributed.init_process_group binds it on rank 0). Empty
  // address / port 0 when neither is set.
  std::string rendezvous_addr;
  int rendezvous_port = 0;
};

// Reads the variables above. InvalidArgument names a malformed variable (RANK not a number, RANK
// outside [0, WORLD_SIZE), a port outside 1..65535).
Result<LaunchEnv> ReadLaunchEnv(const EnvLookup& lookup);

// The settings rank 0 decides for everyone, encoded for a broadcast.
std::string EncodeSharedConfig(const Config& config);
// Overwrites the shared settings of `config` with the encoded ones.
Status DecodeSharedConfig(const std::string& bytes, Config* config);

}  // namespace trainyard::collective
