// trainyard's collective runtime: Horovod's operations for C++ programs, with no torch inside.
//
//   auto rt = Runtime::Init();                 // under mpirun: MPI from Open MPI's environment
//   if (!rt.ok()) ...
//   Tensor grad{ptr, DataType::kFloat32, {256, 128}};
//   Handle h = (*rt)->AllreduceAsync("grad.fc1", grad, grad);   // in place, Average
//   ... more work, more enqueues ...
//   Status st = h.Wait();
//   (*rt)->Shutdown();
//
// Model (Horovod's): operations are *enqueued* by name from any thread and return a Handle at
// once. A background thread runs coordination cycles in which all ranks agree which named
// operations are ready everywhere and in which order to execute them, so ranks may submit in
// different orders without deadlocking; a response cache makes that agreement a single small
// allreduce in the steady state; small allreduces are fused when that pays; mismatches, stalls and
// dead peers become errors on the handles instead of hangs. The protocol is described in
// controller.h, fusion in fusion.h, the timeline in timeline.h, the transport interface in
// communicator.h; docs/collective.md has the user-level description and measurements.
//
// Tensors are views ({data, dtype, shape, device}, types.h) of memory the caller owns and keeps
// alive, untouched, until the handle is done. Adapters (torch, Python) sit on top of this header.
//
// Ranks: `root_rank` arguments and ranks of process sets are global ranks; alltoall splits and
// the output order of allgather follow the order of ranks within the process set.
//
// Devices: a tensor whose `device` is not the CPU (a CUDA tensor) is executed on the process
// set's device communicator (NCCL; World::device), while coordination stays on the host
// communicator. Without one (NCCL not built, no CUDA device, a world without it) such tensors are
// refused at enqueue with Unimplemented; a tensor on another GPU than the communicator's with
// FailedPrecondition. Device tensors are never fused; on a device, allreduce (not Adasum),
// grouped allreduce, allgather, alltoall (both with an OutputAllocator that allocates on the
// device) and broadcast are supported; reducescatter is refused. Ranks that disagree on the
// device type of one name get a mismatch error, like for dtypes; the GPU index may differ between
// ranks (each rank uses its own GPU).
//
// Thread-safety: a Runtime may be used from any number of threads at once, except Init (which
// creates it), Shutdown and destruction (one thread, once no other thread uses it). Only one
// Runtime over MPI should exist at a time in a process; after Shutdown a new one may be created.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "collective/communicator.h"
#include "collective/config.h"
#include "collective/handle.h"
#include "collective/types.h"
#include "collective/wire.h"
#include "common/status.h"

namespace trainyard::collective {

using ProcessSetId = int32_t;
inline constexpr ProcessSetId kGlobalProcessSet = 0;

struct InitOptions {
  // The transport that connects the ranks, when `world` is empty: "mpi", "gloo", "single" (this
  // process alone) or "auto": MPI under Open MPI's launcher, Gloo under torch.distributed's
  // RANK/WORLD_SIZE, else a single-rank world; HOROVOD_CPU_OPERATIONS / HOROVOD_CONTROLLER force
  // mpi or gloo (ResolveTransport in transport_registry.h, BuiltTransports()).
  std::string transport = "auto";
  // A world made by the caller, e.g. InProcWorld for tests; takes precedence over `transport`.
  // Its optional `device` communicator (World::device) receives the device tensors; tests pass a
  // second in-process communicator there.
  World world;
  // Settings; when absent they are read from the environment (config.h).
  std::optional<Config> config;
  // Process sets registered at init (lists of global ranks, identical on every rank); they get
  // the ids 1, 2, ... in this order.
  std::vector<std::vector<int>> process_sets;
};

struct AllreduceOptions {
  ReduceOp op = ReduceOp::kAverage;
  double prescale_factor = 1.0;   // multiplies the input before the reduction
  double postscale_factor = 1.0;  // multiplies the result
  ProcessSetId process_set = kGlobalProcessSet;
};

struct AllgatherOptions {
  ProcessSetId process_set = kGlobalProcessSet;
  OutputAllocator allocator;  // empty: the handle owns the output
};

struct AlltoallOptions {
  // Rows of the input (first dimension) sent to each rank of the set, in set order; empty: the
  // first dimension is split evenly (it must then be divisible by the set size).
  std::vector<int64_t> splits;
  ProcessSetId process_set = kGlobalProcessSet;
  OutputAllocator allocator;
};

struct ReducescatterOptions {
  ReduceOp op = ReduceOp::kAverage;
  double prescale_factor = 1.0;
  double postscale_factor = 1.0;
  ProcessSetId process_set = kGlobalProcessSet;
  OutputAllocator allocator;
};

struct ProcessSetInfo {
  ProcessSetId id = kGlobalProcessSet;
  std::vector<int> ranks;  // global ranks, ascending
  int rank = -1;           // this process's rank within the set; -1 if not a member
  int size() const { return static_cast<int>(ranks.size()); }
  bool included() const { return rank >= 0; }
};

struct RuntimeStats {
  int64_t cycles = 0;                // coordination cycles, all process sets together
  int64_t negotiations = 0;          // cycles that needed the coordinator's gather/broadcast
  int64_t cached_responses = 0;      // operations agreed through the response cache
  int64_t negotiated_responses = 0;  // operations agreed by the coordinator
  int64_t fused_tensors = 0;         // allreduces executed in a fusion buffer
  int64_t device_tensors = 0;        // tensors executed on a device communicator (NCCL)
};

class Runtime {
 public:
  // Connects to the other ranks (collective: every rank must call it), reads the settings (rank
  // 0's shared settings win), registers the given process sets and starts the background thread.
  // Under MPI it initializes MPI with MPI_THREAD_MULTIPLE (or uses an already initialized MPI);
  // MPI is finalized at process exit, so a new Runtime may be created after Shutdown. Errors:
  // InvalidArgument for bad settings, Unavailable when the transport is not built or fails.
  static Result<std::unique_ptr<Runtime>> Init(InitOptions options = {});
  // Shuts down if needed.
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Stops the background thread, on every rank: the other ranks stop at the same cycle. Pending
  // operations fail with Canceled; later ones with FailedPrecondition. Idempotent.
  Status Shutdown();
  // True from Init until Shutdown, or until a fatal error (a dead peer, a stall shutdown) stopped
  // the runtime; then stop_status() says why.
  bool is_initialized() const;
  Status stop_status() const;

  int rank() const;
  int size() const;
  int local_rank() const;
  int local_size() const;
  int cross_rank() const;
  int cross_size() const;

  // Names of the transports compiled into this build ("mpi", ...).
  static std::vector<std::string> BuiltTransports();
  static bool MpiBuilt();
  static bool GlooBuilt();
  // True when CUDA tensors can be routed to NCCL: the NCCL communicator is compiled in (a CUDA
  // libtorch at build time). A runtime then has a device communicator when CUDA devices exist.
  static bool NcclBuilt();

  // --- operations: every rank of the process set must enqueue the same names ---
  // An empty name is replaced by "<op>.noname.<n>" (n counts calls on this rank). Errors found at
  // enqueue come back as an already-done, refused() handle. Such a refusal still takes part in
  // the negotiation of its name(s): the coordinator fails the name on every rank with
  // "<op> '<name>': rank R refused it: <why>" (the refusal's status code), so a refusal on one
  // rank does not leave the others' operations waiting. The name stays held until then; an
  // operation of the same name enqueued meanwhile waits behind it (no duplicate-name error).
  // Purely local refusals are not negotiated: a process set this rank is not a member of (or that
  // is not registered), a join pending on this rank, and a name already in flight (Horovod's
  // duplicate-name error, InvalidArgument; the first operation of that name goes on).

  // output = reduce(input over ranks); `output` may be `input` (in place); same shape and dtype.
  Handle AllreduceAsync(const std::string& name, const Tensor& input, const Tensor& output,
                        const AllreduceOptions& options = {});
  Status Allreduce(const std::string& name, const Tensor& input, const Tensor& output,
                   const AllreduceOptions& options = {});
  // Several allreduces that complete together (one handle); fused when the fusion rule allows.
  Handle GroupedAllreduceAsync(const std::vector<std::string>& names,
                               const std::vector<Tensor>& inputs,
                               const std::vector<Tensor>& outputs,
                               const AllreduceOptions& options = {});
  // Concatenation of all ranks' inputs along dimension 0 (which may differ between ranks).
  Handle AllgatherAsync(const std::string& name, const Tensor& input,
                        const AllgatherOptions& options = {});
  // output = root's input, on every rank; `output` may be `input`.
  Handle BroadcastAsync(const std::string& name, const Tensor& input, const Tensor& output,
                        int root_rank, ProcessSetId process_set = kGlobalProcessSet);
  Status Broadcast(const std::string& name, const Tensor& tensor, int root_rank,
                   ProcessSetId process_set = kGlobalProcessSet);
  Handle AlltoallAsync(const std::string& name, const Tensor& input,
                       const AlltoallOptions& options = {});
  Handle ReducescatterAsync(const std::string& name, const Tensor& input,
                            const ReducescatterOptions& options = {});
  // Refuses, at the call, an operation that an adapter rejected before it reached the runtime
  // (e.g. a torch dtype the runtime lacks): returns a refused handle with `why` and negotiates
  // the refusal of `names` like the refusals of the operations above. Empty names take the next
  // automatic name, as the operation would have. Grouped operations pass every tensor's name.
  Handle RefuseAsync(OpType type, const std::vector<std::string>& names, const Status& why,
                     ProcessSetId process_set = kGlobalProcessSet);
  Handle BarrierAsync(ProcessSetId process_set = kGlobalProcessSet);
  Status Barrier(ProcessSetId process_set = kGlobalProcessSet);
  // This rank has no more data: it takes part in the others' operations with zeros until every
  // rank has joined. The handle's last_joined_rank() is the global rank that joined last. While a
  // join is pending this rank may not enqueue other operations on that process set.
  Handle JoinAsync(ProcessSetId process_set = kGlobalProcessSet);
  Result<int> Join(ProcessSetId process_set = kGlobalProcessSet);

  // --- process sets (collective over all ranks, which must pass the same arguments) ---
  // Registers a set of global ranks; returns its id on every rank (members or not).
  // AlreadyExists if a set with the same ranks exists.
  Result<ProcessSetId> AddProcessSet(std::vector<int> ranks);
  // Removes a set; its pending operations fail. The global set cannot be removed.
  Status RemoveProcessSet(ProcessSetId id);
  Result<ProcessSetInfo> GetProcessSet(ProcessSetId id) const;
  std::vector<ProcessSetId> ProcessSetIds() const;

  // --- timeline (timeline.h) ---
  // Starts writing a Chrome trace. Written by global rank 0 only (other ranks return OK), unless
  // `path` contains "{rank}", which each rank replaces with its rank.
  Status StartTimeline(const std::string& path, bool mark_cycles = false);
  Status StopTimeline();

  RuntimeStats stats() const;

 private:
  struct Impl;
  explicit Runtime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainyard::collective
