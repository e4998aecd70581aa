// trainyard::dist: data-parallel training for libtorch C++ programs (horovod.torch's API in C++).
//
//   #include <trainyard/dist.h>
//   namespace dist = trainyard::dist;
//
//   dist::Init();                                          // under mpirun: one process per rank
//   torch::manual_seed(0);
//   Net net;                                               // any torch::nn::Module
//   dist::BroadcastParameters(*net, /*root_rank=*/0);      // every rank starts from rank 0's
//   weights torch::optim::Adam adam(net->parameters(), 1e-3); dist::DistributedOptimizer opt(adam,
//   net->named_parameters()); for (...) {                                            // each rank
//   reads its own shard
//     opt.zero_grad();
//     loss_fn(net->forward(x), y).backward();              // allreduces start during backward
//     opt.step();                                          // waits for them, then adam.step()
//   }
//   dist::Shutdown();
//
// It is a thin layer over trainyard's collective runtime (src/collective, docs/collective.md):
// one runtime per process, created by Init(); tensors are handed to it as views of their memory.
//
// Errors: everything here THROWS `trainyard::dist::Error` (a std::runtime_error carrying the
// runtime's Status), unlike the rest of trainyard's C++ API, which returns Status values. The
// reason: a training loop in libtorch is already written against exceptions (every torch call may
// throw c10::Error), gradients are reduced from autograd hooks where a Status cannot be returned
// (an exception thrown there comes out of backward()), and a failed collective (a peer died, a
// shape mismatch between ranks) is not something a loop can recover from locally. `catch (const
// std::exception&)` catches both ours and torch's.
//
// Tensors: CPU tensors of dtype uint8, int8, int32, int64, float16, bfloat16, float32, float64
// or bool. Out-of-place operations copy non-contiguous inputs; in-place ones on a non-contiguous
// tensor reduce a contiguous copy and write it back when the Handle is waited for. CUDA tensors go
// through NCCL when the runtime was built with it (a CUDA libtorch; work queued on a current stream
// other than the device's default one is waited for first), and are refused with an Error
// (InvalidArgument-like: Unimplemented) otherwise. A tensor handed to an asynchronous operation
// must not be read or written until its Handle is waited for.
//
// One runtime per process: this library is shared (libty_dist.so), and the Python extension
// (trainyard.torch, horovod.torch) is a binding of these functions, so a Python process that
// called hvd.init() and a C++ extension loaded into it use the same runtime, whichever started
// it.
//
// Collective calls: every rank must make the same calls with the same names (in any order for the
// asynchronous forms); an empty name is replaced by an automatic one, which is only safe when all
// ranks make the unnamed calls in the same order.
//
// Thread-safety: operations may be called from any thread once Init() returned; Init and Shutdown
// from one thread while no other thread uses the runtime. A DistributedOptimizer is used from one
// thread at a time (like any torch::optim::Optimizer).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "trainyard/status.h"

namespace trainyard::dist {

// The error thrown by every function here. what() is "trainyard::dist: <context>: <status>".
class Error : public std::runtime_error {
 public:
  explicit Error(Status status);
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// --- lifecycle and topology ---

// Connects to the other ranks (collective: every rank calls it), with the runtime's automatic
// transport choice: MPI under mpirun, Gloo under torch.distributed's RANK/WORLD_SIZE contract
// (trainyard's pytorch backend), else a world of one. HOROVOD_* settings are read from the
// environment (docs/collective.md). Calling it again while initialized does
// nothing. The runtime is shut down at process exit if Shutdown() was not called.
void Init();
struct InitOptions {
  // Process sets registered at init (lists of global ranks, identical on every rank); they get
  // the ids 1, 2, ... in this order.
  std::vector<std::vector<int>> process_sets;
};
// Init with options. A runtime that stopped on its own (a peer died, another rank shut down) is
// replaced by a new one; a running one is kept (the options are then ignored).
void Init(const InitOptions& options);
// Stops the runtime on every rank (collective). Pending operations fail. Init() may be called
// again afterwards. Does nothing when not initialized.
void Shutdown();
bool IsInitialized();

// Topology of the global set. Throw when not initialized.
int Rank();
int Size();
int LocalRank();
int LocalSize();
int CrossRank();
int CrossSize();
// The transport the runtime runs on: "mpi", "gloo" or "single"; empty when not initialized.
std::string Transport();
// Which transports this build has (Runtime::MpiBuilt and friends; NCCL: CUDA tensors work).
bool MpiBuilt();
bool GlooBuilt();
bool NcclBuilt();
// Chrome trace of the runtime's activity (docs/collective.md, "Timeline"); rank 0 writes it.
void StartTimeline(const std::string& path, bool mark_cycles = false);
void StopTimeline();

// --- process sets ---

// A subset of the global ranks that operations can run on (horovod.torch's ProcessSet); 0 is the
// global set. Adding and removing are collective over *all* ranks, which pass the same arguments;
// then only the members run operations on the set (each set coordinates on its own).
using ProcessSetId = int32_t;
inline constexpr ProcessSetId kGlobalProcessSet = 0;
// Registers the set of these global ranks and returns its id (the same on every rank). Throws
// if a set with the same ranks exists or a rank is out of range.
ProcessSetId AddProcessSet(std::vector<int> ranks);
// Removes a set; its pending operations fail. The global set cannot be removed.
void RemoveProcessSet(ProcessSetId id);
// The set's global ranks (ascending), and this process's rank within it (-1 if not a member).
std::vector<int> ProcessSetRanks(ProcessSetId id);
int ProcessSetRank(ProcessSetId id);

// --- operations on torch::Tensor ---

// Reductions. Average is Sum divided by the number of ranks (integer tensors truncate).
// Adasum (Horovod's adaptive summation) takes floating-point tensors.
enum class ReduceOp { kAverage, kSum, kMin, kMax, kProduct, kAdasum };
inline constexpr ReduceOp Average = ReduceOp::kAverage;
inline constexpr ReduceOp Sum = ReduceOp::kSum;

struct AllreduceOptions {
  ReduceOp op = ReduceOp::kAverage;
  double prescale_factor = 1.0;   // multiplies the input before the reduction
  double postscale_factor = 1.0;  // multiplies the result (before Average's division)
  ProcessSetId process_set = kGlobalProcessSet;
};

// An asynchronous operation in flight. Copyable (copies refer to the same operation); keeps the
// tensors it uses alive until it is done.
class Handle {
 public:
  struct State;
  Handle() = default;
  explicit Handle(std::shared_ptr<State> state) : state_(std::move(state)) {}

  bool valid() const { return state_ != nullptr; }
  // True once the operation finished; never blocks.
  bool Poll() const;
  // Blocks until the operation finished; returns its output (for in-place operations, the
  // tensor that was passed in; for a grouped allreduce, the first). Throws Error when it failed.
  // May be called more than once.
  torch::Tensor Wait() const;
  // Wait(), returning every output (a grouped allreduce's, in the order given; else one).
  std::vector<torch::Tensor> WaitAll() const;
  // An alltoall's rows received from each rank of the set (after Wait()); empty otherwise.
  std::vector<int64_t> ReceivedSplits() const;

 private:
  std::shared_ptr<State> state_;
};

// Allreduce into a new tensor (`tensor` is not modified).
torch::Tensor Allreduce(const torch::Tensor& tensor, ReduceOp op = ReduceOp::kAverage,
                        const std::string& name = "");
torch::Tensor Allreduce(const torch::Tensor& tensor, const AllreduceOptions& options,
                        const std::string& name = "");
// Allreduce in place; returns `tensor`.
torch::Tensor Allreduce_(const torch::Tensor& tensor, ReduceOp op = ReduceOp::kAverage,
                         const std::string& name = "");
Handle AllreduceAsync(const torch::Tensor& tensor, ReduceOp op = ReduceOp::kAverage,
                      const std::string& name = "");
Handle AllreduceAsync(const torch::Tensor& tensor, const AllreduceOptions& options,
                      const std::string& name = "");
Handle AllreduceAsync_(const torch::Tensor& tensor, ReduceOp op = ReduceOp::kAverage,
                       const std::string& name = "");
Handle AllreduceAsync_(const torch::Tensor& tensor, const AllreduceOptions& options,
                       const std::string& name = "");

// Several allreduces with the same options that complete together, fused when the runtime's rule
// allows; tensor i is named "<name>.<i>". Into new tensors, or in place.
std::vector<torch::Tensor> GroupedAllreduce(const std::vector<torch::Tensor>& tensors,
                                            const AllreduceOptions& options = {},
                                            const std::string& name = "");
void GroupedAllreduce_(const std::vector<torch::Tensor>& tensors,
                       const AllreduceOptions& options = {}, const std::string& name = "");
Handle GroupedAllreduceAsync(const std::vector<torch::Tensor>& tensors,
                             const AllreduceOptions& options = {}, const std::string& name = "");
Handle GroupedAllreduceAsync_(const std::vector<torch::Tensor>& tensors,
                              const AllreduceOptions& options = {}, const std::string& name = "");

// Concatenation of every rank's tensor along dimension 0 (whose size may differ between ranks),
// in rank order.
torch::Tensor Allgather(const torch::Tensor& tensor, const std::string& name = "",
                        ProcessSetId process_set = kGlobalProcessSet);
Handle AllgatherAsync(const torch::Tensor& tensor, const std::string& name = "",
                      ProcessSetId process_set = kGlobalProcessSet);

// Every rank gets `root_rank`'s tensor (root_rank is a global rank): into a new tensor, or in
// place.
torch::Tensor Broadcast(const torch::Tensor& tensor, int root_rank, const std::string& name = "",
                        ProcessSetId process_set = kGlobalProcessSet);
torch::Tensor Broadcast_(const torch::Tensor& tensor, int root_rank, const std::string& name = "",
                         ProcessSetId process_set = kGlobalProcessSet);
Handle BroadcastAsync(const torch::Tensor& tensor, int root_rank, const std::string& name = "",
                      ProcessSetId process_set = kGlobalProcessSet);
Handle BroadcastAsync_(const torch::Tensor& tensor, int root_rank, const std::string& name = "",
                       ProcessSetId process_set = kGlobalProcessSet);

// Rows (dimension 0) of `tensor` go to the ranks of the set: splits[i] rows to rank i, or equal
// parts when `splits` is empty. Returns the rows received, in rank order.
torch::Tensor Alltoall(const torch::Tensor& tensor, const std::vector<int64_t>& splits = {},
                       const std::string& name = "", ProcessSetId process_set = kGlobalProcessSet);
Handle AlltoallAsync(const torch::Tensor& tensor, const std::vector<int64_t>& splits = {},
                     const std::string& name = "", ProcessSetId process_set = kGlobalProcessSet);

// The reduction over ranks, of which each rank keeps one block of rows (dimension 0; the first
// rows % size ranks get one row more), as Horovod's reducescatter.
torch::Tensor Reducescatter(const torch::Tensor& tensor, const AllreduceOptions& options = {},
                            const std::string& name = "");
torch::Tensor Reducescatter(const torch::Tensor& tensor, ReduceOp op, const std::string& name = "");
Handle ReducescatterAsync(const torch::Tensor& tensor, const AllreduceOptions& options = {},
                          const std::string& name = "");

// Refuses `operation` ("allreduce", "allgather", "broadcast", "alltoall" or "reducescatter") of
// `names` on this rank: for an argument error an adapter found before it started the operation
// (e.g. Python's own checks). The runtime negotiates it like its own refusals, so the other ranks'
// operations of those names fail with `message` instead of waiting for this rank (empty names
// take the next automatic name, as the operation would have). `invalid_argument` picks the status
// code they fail with (InvalidArgument, else FailedPrecondition). Throws Error for an unknown
// operation; does nothing before init().
void Refuse(const std::string& operation, const std::vector<std::string>& names,
            const std::string& message, bool invalid_argument,
            ProcessSetId process_set = kGlobalProcessSet);

// Returns once every rank of the set called it.
void Barrier(ProcessSetId process_set = kGlobalProcessSet);

// This rank has run out of data: until every rank of the set has joined, it takes part in the
// others' operations with zeros (allreduce: Average still divides by the whole set's size), and
// it may not start operations of its own on the set. Returns the global rank that joined last.
// With a DistributedOptimizer, call it after the last step, so that ranks with more batches
// finish theirs.
int Join(ProcessSetId process_set = kGlobalProcessSet);

// --- broadcasting model and optimizer state ---

// Overwrites every rank's tensors with `root_rank`'s, in place (no autograd), e.g. after each rank
// initialized its model differently. The names must be the same on every rank (they name the
// broadcasts: "broadcast.<name>"); undefined tensors are skipped. All broadcasts are in flight at
// once, then waited for. The module form covers the parameters and buffers (what a state_dict
// holds), with the module's names. Python's broadcast_parameters and the tensors of its
// broadcast_optimizer_state are this function.
void BroadcastParameters(const torch::OrderedDict<std::string, torch::Tensor>& named_tensors,
                         int root_rank, ProcessSetId process_set = kGlobalProcessSet);
void BroadcastParameters(const std::vector<std::pair<std::string, torch::Tensor>>& named_tensors,
                         int root_rank, ProcessSetId process_set = kGlobalProcessSet);
void BroadcastParameters(const torch::nn::Module& module, int root_rank,
                         ProcessSetId process_set = kGlobalProcessSet);

// Makes every rank's optimizer equal to `root_rank`'s: each param group's hyperparameters (lr,
// momentum, betas, ...) and the per-parameter state (SGD's momentum buffers; Adam's/AdamW's step,
// exp_avg, exp_avg_sq, max_exp_avg_sq). State that root has and a rank lacks (e.g. before the
// first step) is created there; state that root lacks is dropped. Supports SGD, Adam and AdamW;
// for other optimizers only the learning rate is broadcast and a non-empty state is an Error. All
// ranks must have the same number of param groups and parameters, of the same shapes.
void BroadcastOptimizerState(torch::optim::Optimizer& optimizer, int root_rank);

// --- the distributed optimizer ---

enum class Compression {
  kNone,
  kFp16,  // floating-point gradients travel as float16 and come back in their own dtype
};

// What is communicated instead of `tensor`: `tensor` itself (kNone, and kFp16 for float16 and
// non-floating-point tensors), or a float16 copy. Python's Compression.fp16 is this function.
torch::Tensor Compress(const torch::Tensor& tensor, Compression compression);
// The communicated tensor back in the dtype of the tensor it came from (a no-op when equal).
torch::Tensor Decompress(const torch::Tensor& tensor, torch::ScalarType original);

// A compression of one's own for DistributedOptimizer/GradientReducer (Python's custom
// horovod Compressor classes come through this). Called with the reducer's lock held, from the
// autograd hooks or Synchronize(); `index` is the parameter's position in the reducer.
class Compressor {
 public:
  virtual ~Compressor() = default;
  // What is reduced in place for parameter `index` instead of its gradient (may be `grad`).
  virtual torch::Tensor Compress(size_t index, const torch::Tensor& grad) = 0;
  // Writes the reduced tensor (what Compress returned) back into the gradient.
  virtual void Decompress(size_t index, const torch::Tensor& reduced, torch::Tensor& grad) = 0;
};

struct DistributedOptimizerOptions {
  // Backward passes whose gradients are accumulated locally before they are reduced; step() must
  // come after exactly that many (fewer is allowed: step() reduces what there is).
  int backward_passes_per_step = 1;
  Compression compression = Compression::kNone;
  // kAverage or kSum.
  ReduceOp op = ReduceOp::kAverage;
  // With kAverage: gradients are divided by this factor before the sum and multiplied by
  // factor/size after it (to keep fp16 sums in range). Must be 1 for other ops.
  double gradient_predivide_factor = 1.0;
  // The ranks that train together (all by default).
  ProcessSetId process_set = kGlobalProcessSet;
  // When set, used instead of `compression`.
  std::shared_ptr<Compressor> compressor;
  // Sparse gradients (torch::nn::Embedding with sparse=true) are reduced as dense tensors and
  // converted back to sparse (Horovod's sparse_as_dense); by default they are allgathered
  // (indices and values) and param.grad() becomes the sparse sum (or average) of every rank's.
  bool sparse_as_dense = false;
  // When > 0: the parameters that require grad are split, in parameter order, into this many
  // contiguous groups (Horovod's groups=<int>); the gradients of a group are reduced in one
  // grouped allreduce once the whole group is ready.
  int num_groups = 0;
};

// The engine of DistributedOptimizer, for adapters that wrap an optimizer of their own (the
// Python DistributedOptimizer): it owns the autograd hooks on the given parameters, starts each
// gradient's in-place allreduce as soon as backward has accumulated it, and lays the gradients
// out in one flat buffer per (dtype, device) after the first Synchronize (in the order the hooks
// fired, so that fused groups are reduced where they lie). DistributedOptimizer below describes
// the contract; parameters that do not require grad are ignored.
class GradientReducer {
 public:
  struct Options : DistributedOptimizerOptions {
    // Register the hooks also when the process set has one rank (Horovod's HOROVOD_ELASTIC).
    bool force_hooks = false;
    // Lay the gradients out as autograd views of the flat buffer (Python: `grad._base` is the
    // buffer; torch.optim's zero_grad handles views) instead of separate tensors over its memory
    // (libtorch 1.x's Optimizer::zero_grad() calls detach_(), which views refuse).
    bool view_layout = false;
    // Explicit groups (Horovod's groups=<list of lists>): indices into `named_parameters`, each
    // at most once; the others are reduced alone. Indices of parameters that do not require grad
    // are dropped. Exclusive with num_groups.
    std::vector<std::vector<size_t>> groups;
  };
  // `named_parameters` in param-group order (the same on every rank); names are prefixed with
  // "allreduce." unless they start with it.
  GradientReducer(const std::vector<std::pair<std::string, torch::Tensor>>& named_parameters,
                  Options options);
  // Removes the hooks. Reductions still in flight are waited for (their errors are dropped).
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Waits for every gradient's reduction (starting those that backward did not start, in
  // parameter order); afterwards param.grad() holds the reduced gradients. Does nothing when no
  // hooks are registered or when no backward pass came since the last call.
  void Synchronize();
  // True after a backward pass until Synchronize(): reductions may be writing into gradients.
  bool Pending() const;
  bool hooks() const;
  void set_backward_passes_per_step(int passes);
  int backward_passes_per_step() const;
  // Collective operations enqueued so far: one per allreduce, one per grouped allreduce, two per
  // sparse gradient (the allgathers of its indices and values).
  int64_t operations() const;

  struct State;  // shared with the autograd hooks

 private:
  std::shared_ptr<State> state_;
};

// Wraps any torch::optim::Optimizer so that gradients are averaged (or summed) over the ranks
// before each step, like horovod.torch.DistributedOptimizer.
//
// It registers a hook on each parameter's gradient accumulator (the autograd node that writes
// param.grad()): as soon as backward has accumulated a parameter's gradient, its allreduce starts,
// in place in param.grad(), while backward continues with earlier layers (overlap). step() waits
// for all of them (starting the reductions of parameters that got no gradient, with zeros, so every
// rank reduces the same set), copies back compressed gradients, and calls the wrapped optimizer's
// step().
//
// Because the reductions write into param.grad() asynchronously, nothing may read or write
// param.grad() between backward() and step()/Synchronize(): use Synchronize() first, and call
// zero_grad() on this object (it refuses while reductions are pending), not on the wrapped one.
//
// Names: "allreduce.<name>" from `named_parameters` (a module's named_parameters(); identical on
// every rank); without names, "allreduce.noname.<group>.<index>" from the param groups. Every
// parameter of the optimizer's param groups must be named.
//
// The wrapped optimizer (by reference: it must outlive this object; or shared) keeps working as
// before: LR schedulers take it, and its param groups and state are the real ones. With a single
// rank no hooks are registered and step() is the wrapped optimizer's step(). On a rank outside
// options.process_set (as in Horovod) nothing is distributed either: no hooks, Synchronize() does
// nothing and step() updates the parameters with this rank's own gradients.
//
// Sparse gradients: allgathered (indices and values; param.grad() stays sparse and holds the
// sum, or the average, of every rank's), or reduced densely with options.sparse_as_dense.
class DistributedOptimizer {
 public:
  using LossClosure = torch::optim::Optimizer::LossClosure;

  DistributedOptimizer(torch::optim::Optimizer& optimizer,
                       const torch::OrderedDict<std::string, torch::Tensor>& named_parameters,
                       DistributedOptimizerOptions options = {});
  DistributedOptimizer(std::shared_ptr<torch::optim::Optimizer> optimizer,
                       const torch::OrderedDict<std::string, torch::Tensor>& named_parameters,
                       DistributedOptimizerOptions options = {});
  // Unnamed parameters ("allreduce.noname.<group>.<index>").
  explicit DistributedOptimizer(torch::optim::Optimizer& optimizer,
                                DistributedOptimizerOptions options = {});
  // Removes the hooks. Reductions still in flight are waited for (their errors are dropped).
  ~DistributedOptimizer();
  DistributedOptimizer(const DistributedOptimizer&) = delete;
  DistributedOptimizer& operator=(const DistributedOptimizer&) = delete;

  // Synchronize() (unless inside SkipSynchronize()), then the wrapped optimizer's step(closure).
  // Returns what that step returns.
  torch::Tensor step(const LossClosure& closure = nullptr);
  // Zeroes the gradients through the wrapped optimizer. Throws if reductions are pending (after
  // backward, before step/Synchronize): they are writing into the gradients.
  void zero_grad();
  // Waits for every gradient's reduction (starting those that backward did not start); afterwards
  // param.grad() holds the reduced gradients.
  void Synchronize();
  // For clipping between Synchronize() and step(): while the returned guard lives, step() does not
  // synchronize again.
  class SkipSynchronizeGuard {
   public:
    explicit SkipSynchronizeGuard(DistributedOptimizer& optimizer);
    ~SkipSynchronizeGuard();
    SkipSynchronizeGuard(const SkipSynchronizeGuard&) = delete;
    SkipSynchronizeGuard& operator=(const SkipSynchronizeGuard&) = delete;

   private:
    DistributedOptimizer& optimizer_;
  };
  SkipSynchronizeGuard SkipSynchronize() { return SkipSynchronizeGuard(*this); }

  void set_backward_passes_per_step(int passes);
  int backward_passes_per_step() const;
  torch::optim::Optimizer& optimizer() { return *optimizer_; }

  GradientReducer& reducer() { return *reducer_; }

 private:
  void Setup(const torch::OrderedDict<std::string, torch::Tensor>* named_parameters,
             DistributedOptimizerOptions options);

  std::shared_ptr<torch::optim::Optimizer> owned_;  // set when constructed from a shared_ptr
  torch::optim::Optimizer* optimizer_;
  std::unique_ptr<GradientReducer> reducer_;
  bool should_synchronize_ = true;
};

}  // namespace trainyard::dist
