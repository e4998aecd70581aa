// A Communicator over an MPI communicator. Internal to the MPI transport (see mpi_world.h).
//
// Coordination calls use nonblocking MPI and wait by polling: spinning for the first 50 us (the
// common case when ranks are in step), then yielding the CPU, then sleeping 50 us between polls,
// so a rank that waits for a slower one does not steal a core from its own training thread; the
// wait also watches the liveness of the peers on this host. Data calls are the blocking MPI
// collectives (the fastest path in Open MPI). Allreduces larger than the chunk size (16 MiB) are
// split into chunks, which keeps Open MPI's temporary buffers below glibc's mmap threshold.
//
// Not thread-safe (one thread at a time, like every Communicator).
#pragma once

#include <mpi.h>
#include <sys/types.h>

#include <atomic>
#include <memory>
#include <vector>

#include "collective/communicator.h"

namespace trainyard::collective {

// What every communicator of one MPI world shares.
struct MpiShared {
  MpiShared() = default;
  ~MpiShared();
  MpiShared(const MpiShared&) = delete;
  MpiShared& operator=(const MpiShared&) = delete;

  int world_rank = 0;
  std::vector<int> host_of;  // host id (lowest world rank on that host) per world rank
  std::vector<pid_t> pid;    // per world rank
  std::vector<unsigned long long> start_ticks;
  int64_t chunk_bytes = 16 << 20;
  // Set when a peer died or MPI failed: from then on nothing is freed through MPI (it could hang
  // waiting for the dead peer).
  std::atomic<bool> broken{false};
  // Custom reductions for float16 and bfloat16: [0] float16, [1] bfloat16; Sum, Min, Max, Prod.
  MPI_Op half_ops[2][4] = {};

  // Unavailable naming a dead peer on this host, or OK.
  Status CheckPeers() const;
};

class MpiCommunicator : public Communicator {
 public:
  // Takes ownership of `comm` (freed on destruction unless MPI is finalized by then).
  // `world_ranks[i]` is the world rank of rank i of `comm`.
  MpiCommunicator(MPI_Comm comm, std::shared_ptr<MpiShared> shared, std::vector<int> world_ranks);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* transport_name() const override { return "MPI"; }
  bool all_on_one_host() const override { return one_host_; }

  Status AllreduceBitsAnd(uint64_t* words, size_t count) override;
  Status GatherBytes(const std::string& mine, std::vector<std::string>* all) override;
  Status BroadcastBytes(std::string* bytes) override;
  Status AllgatherInt64(int64_t mine, std::vector<int64_t>* all) override;
  Status AlltoallInt64(const std::vector<int64_t>& send, std::vector<int64_t>* recv) override;

  Status Allreduce(const void* in, void* out, int64_t count, DataType dtype, ReduceOp op) override;
  Status Allgatherv(const void* in, void* out, const std::vector<int64_t>& counts,
                    DataType dtype) override;
  Status Broadcast(void* data, int64_t count, DataType dtype, int root) override;
  Status Alltoallv(const void* in, const std::vector<int64_t>& send_counts, void* out,
                   const std::vector<int64_t>& recv_counts, DataType dtype) override;
  Status ReduceScatter(const void* in, void* out, const std::vector<int64_t>& counts,
                       DataType dtype, ReduceOp op) override;
  Status Barrier() override;
  Result<std::unique_ptr<Communicator>> Split(const std::vector<int>& members) override;

  MPI_Comm comm() const { return comm_; }

 private:
  // Waits for a nonblocking request (see the class comment).
  Status Wait(MPI_Request* request, const char* what);
  // Marks the transport broken and returns `status`.
  Status Broken(Status status);
  MPI_Op OpFor(DataType dtype, ReduceOp op) const;

  MPI_Comm comm_;
  std::shared_ptr<MpiShared> shared_;
  std::vector<int> world_ranks_;
  int rank_ = 0;
  int size_ = 1;
  bool one_host_ = true;
};

// "MPI_Allreduce: <MPI's error string>" as Unavailable.
Status MpiError(int code, const char* what);
MPI_Datatype MpiType(DataType dtype);

}  // namespace trainyard::collective
