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
  // TRAINYARD_FUSION_BUFFER_MAX_BYTES: the buffer actually used is min(threshold, this), because
  // buffers above 32 MiB fall out of glibc's heap into fresh mmaps (see docs/collective.md).
  int64_t fusion_buffer_max_bytes = 32 << 20;
  // TRAINYARD_FUSION_SMALL_TENSOR_BYTES: only tensors smaller than this are fused; -1 lets the
  // runtime choose per transport (see fusion.h).
  int64_t fusion_small_tensor_bytes = -1;
  // HOROVOD_CACHE_CAPACITY: entries of the response cache; 0 disables it.
  int64_t cache_capacity = 1024;
  // HOROVOD_STALL_CHECK_DISABLE=1 turns the stall inspector off.
  bool stall_check = true;
  // HOROVOD_STALL_CHECK_TIME_SECONDS: warn about tensors waiting this long.
  double stall_warning_seconds = 60;
  // HOROVOD_STALL_SHUTDOWN_TIME_SECONDS: > 0 shuts the runtime down (every pending operation
  // fails) when a tensor has waited this long.
  double stall_shutdown_seconds = 0;
  // HOROVOD_TIMELINE: Chrome-trace file written by global rank 0 ("{rank}" in the path makes
  // every rank write its own). HOROVOD_TIMELINE_MARK_CYCLES=1 adds an event per cycle.
  std::string timeline_path;
  bool timeline_mark_cycles = false;
  // HOROVOD_MPI_THREADS_DISABLE=1: ask MPI for MPI_THREAD_SERIALIZED instead of MULTIPLE.
  bool mpi_threads_disable = false;
};

using EnvLookup = std::function<const char*(const char*)>;

// Reads the variables above; unset or empty ones keep their defaults. A malformed value gives
// InvalidArgument naming the variable.
Result<Config> ConfigFromEnv(const EnvLookup& lookup);
// From the process environment.
Result<Config> ConfigFromEnv();

// The settings rank 0 decides for everyone, encoded for a broadcast.
std::string EncodeSharedConfig(const Config& config);
// Overwrites the shared settings of `config` with the encoded ones.
Status DecodeSharedConfig(const std::string& bytes, Config* config);

}  // namespace trainyard::collective
