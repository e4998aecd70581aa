// The transport interface: how the runtime moves bytes between the ranks of one process set.
//
// A Communicator is one group of ranks on one transport (MPI, Gloo, NCCL, in-process). A process
// set has a host communicator, which also carries the coordination, and optionally a device
// communicator (NCCL) for CUDA tensors; the executor picks one per tensor by its device. The
// runtime's algorithms — coordination, fusion, the ops — only ever talk to this interface; they
// never touch MPI, sockets or threads directly. Transports are registered in transport_registry.cc,
// the only place with #if's.
//
// Every method is collective: all ranks of the communicator must call the same methods in the
// same order with matching arguments (the coordination protocol guarantees that). "Rank" and
// "size" here are positions within this communicator, not global ranks.
//
// Errors: a method returns a non-OK Status when the transport failed (for example a peer process
// exited). After such an error the communicator is unusable and the runtime shuts down.
//
// Thread-safety: a Communicator is used by one thread at a time (the runtime's background
// thread); it is not safe to call concurrently. The object returned by Split() must be destroyed
// before the communicator it came from.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "collective/reduce.h"
#include "collective/types.h"
#include "common/status.h"

namespace trainyard::collective {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Upper-case transport name used in timeline activities ("MPI" gives "MPI_ALLREDUCE").
  virtual const char* transport_name() const = 0;
  // True when every rank of this communicator runs on the same host (the fusion policy differs:
  // see fusion.h).
  virtual bool all_on_one_host() const = 0;

  // --- coordination (small messages) ---
  // Bitwise AND of `words` across ranks, in place.
  virtual Status AllreduceBitsAnd(uint64_t* words, size_t count) = 0;
  // Rank 0 receives every rank's `mine` (indexed by rank) in `all`; other ranks get `all` empty.
  virtual Status GatherBytes(const std::string& mine, std::vector<std::string>* all) = 0;
  // Rank 0's `bytes` replace every other rank's.
  virtual Status BroadcastBytes(std::string* bytes) = 0;
  // Every rank receives every rank's value, indexed by rank.
  virtual Status AllgatherInt64(int64_t mine, std::vector<int64_t>* all) = 0;
  // send[i] goes to rank i; recv[i] is what rank i sent to this rank.
  virtual Status AlltoallInt64(const std::vector<int64_t>& send, std::vector<int64_t>* recv) = 0;

  // --- data (counts are elements of `dtype`) ---
  // out = reduction over ranks of in. `in == out` means in place. `op` is one of Sum, Min, Max,
  // Product and `dtype` is not kBool (the ops layer maps Average, and bool onto uint8).
  virtual Status Allreduce(const void* in, void* out, int64_t count, DataType dtype,
                           ReduceOp op) = 0;
  // Rank i contributes counts[i] elements (counts[rank()] of them from `in`); `out` receives all
  // contributions concatenated in rank order.
  virtual Status Allgatherv(const void* in, void* out, const std::vector<int64_t>& counts,
                            DataType dtype) = 0;
  // `data` (count elements) of rank `root` is copied to every other rank's `data`.
  virtual Status Broadcast(void* data, int64_t count, DataType dtype, int root) = 0;
  // send_counts[i] elements (consecutive in `in`) go to rank i; recv_counts[i] elements from rank
  // i land consecutively in `out`.
  virtual Status Alltoallv(const void* in, const std::vector<int64_t>& send_counts, void* out,
                           const std::vector<int64_t>& recv_counts, DataType dtype) = 0;
  // Reduces `in` (sum of counts elements) across ranks and leaves block i (counts[i] elements) on
  // rank i in `out`. Same op/dtype rules as Allreduce.
  virtual Status ReduceScatter(const void* in, void* out, const std::vector<int64_t>& counts,
                               DataType dtype, ReduceOp op) = 0;
  virtual Status Barrier() = 0;

  // --- memory of the data methods (local, not collective) ---
  // The ops never touch a data buffer with the CPU themselves: copies, scaling and scratch memory
  // go through these methods, so that a communicator for device memory (NCCL: CUDA) does them on
  // its device. The defaults are for host memory.
  //
  // Where the data buffers live: the CPU (default), or a CUDA device. The runtime routes a tensor
  // to a process set's device communicator by this (collective.h, "Devices").
  virtual Device device() const { return Device{}; }
  // dst = src (`bytes` bytes; the buffers do not overlap).
  virtual Status Copy(void* dst, const void* src, int64_t bytes) {
    if (bytes > 0) std::memcpy(dst, src, static_cast<size_t>(bytes));
    return Status::Ok();
  }
  // dst[i] = src[i] * factor (reduce.h's rules: 16-bit floats through float32, integers truncated
  // toward zero); `dst` may equal `src`. Not called on bool.
  virtual Status ScaleCopy(void* dst, const void* src, int64_t count, DataType dtype,
                           double factor) {
    collective::ScaleCopy(dst, src, count, dtype, factor);
    return Status::Ok();
  }
  // data[i] *= factor, in place (same rules as ScaleCopy).
  virtual Status Scale(void* data, int64_t count, DataType dtype, double factor) {
    ScaleInPlace(data, count, dtype, factor);
    return Status::Ok();
  }
  // Memory on device() of at least `bytes`, zero-filled when `zero`, owned by the communicator and
  // valid until the next call of DeviceScratch (a joined rank's zeros, a failed allocation's
  // stand-in). Host communicators never get this call (the runtime keeps host scratch itself):
  // the default is Unimplemented.
  virtual Result<void*> DeviceScratch(int64_t bytes, bool zero) {
    (void)bytes;
    (void)zero;
    return Unimplemented(std::string(transport_name()) + " has no device scratch memory");
  }

  // Collective over this communicator: creates a communicator of `members` (ranks of this
  // communicator, ascending, identical on every caller). Members get the new communicator (their
  // rank in it is their index in `members`); non-members get null.
  virtual Result<std::unique_ptr<Communicator>> Split(const std::vector<int>& members) = 0;
};

// Where this process sits in the job.
struct Topology {
  int rank = 0;
  int size = 1;
  int local_rank = 0;  // among the ranks on this host
  int local_size = 1;
  int cross_rank = 0;  // among the ranks with the same local_rank (one per host)
  int cross_size = 1;
};

// The world a transport connects this process to: a communicator of every rank, plus topology.
struct World {
  std::unique_ptr<Communicator> comm;
  Topology topology;
  // Optional: a communicator of the same ranks (same order) for device memory (NCCL for CUDA
  // tensors), whose device() is not the CPU. Coordination always stays on `comm`; process sets
  // split this one alongside `comm`. Every rank must have one, or none.
  std::unique_ptr<Communicator> device;
};

}  // namespace trainyard::collective
