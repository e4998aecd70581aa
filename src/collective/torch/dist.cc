// trainyard::dist: the process-wide runtime and the operations on torch::Tensor (dist.h).
#include <c10/core/impl/VirtualGuardImpl.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <mutex>
#include <utility>

#include "collective/torch/internal.h"
#include "collective/transport_registry.h"

namespace trainyard::dist {

namespace col = trainyard::collective;

Error::Error(Status status)
    : std::runtime_error("trainyard::dist: " + status.ToString()), status_(std::move(status)) {}

namespace internal {
namespace {

// The one runtime of the process. Written only by Init/Shutdown (one thread, while no other thread
// uses the runtime: dist.h), read by every operation; atomic so that readers on other threads see
// a fully constructed runtime.
std::atomic<col::Runtime*> g_runtime{nullptr};
std::mutex g_lifecycle_mu;
// The transport g_runtime runs on (written with it, under g_lifecycle_mu).
std::string g_transport;

// Registered (once) after the first successful Init, hence after the MPI transport registered its
// own MPI_Finalize handler: atexit handlers run in reverse order, so this shuts the runtime down
// while MPI is still usable. A plain static unique_ptr would be destroyed after MPI_Finalize.
void ShutdownAtExit() {
  std::lock_guard<std::mutex> lock(g_lifecycle_mu);
  col::Runtime* rt = g_runtime.exchange(nullptr);
  if (rt == nullptr) return;
  rt->Shutdown().IgnoreError();  // best effort at exit; nobody is left to report to
  delete rt;
}

}  // namespace

col::Runtime& RuntimeOrThrow() {
  col::Runtime* rt = g_runtime.load(std::memory_order_acquire);
  if (rt == nullptr) {
    throw Error(FailedPrecondition("not initialized: call trainyard::dist::Init() first"));
  }
  return *rt;
}

void ThrowIfError(const Status& status, const std::string& context) {
  if (status.ok()) return;
  // The runtime's messages mostly start with "<op> '<name>': " already: say it once.
  if (status.message().compare(0, context.size() + 1, context + ":") == 0) throw Error(status);
  throw Error(status.WithContext(context));
}

col::DataType ToDataType(torch::ScalarType type, const std::string& what) {
  switch (type) {
    case torch::kByte: return col::DataType::kUInt8;
    case torch::kChar: return col::DataType::kInt8;
    case torch::kShort: return col::DataType::kInt16;
    case torch::kInt: return col::DataType::kInt32;
    case torch::kLong: return col::DataType::kInt64;
    case torch::kHalf: return col::DataType::kFloat16;
    case torch::kBFloat16: return col::DataType::kBFloat16;
    case torch::kFloat: return col::DataType::kFloat32;
    case torch::kDouble: return col::DataType::kFloat64;
    case torch::kBool: return col::DataType::kBool;
    default:
      throw Error(InvalidArgument(what + ": dtype " + std::string(c10::toString(type)) +
                                  " is not supported (uint8, int8, int16, int32, int64, float16, "
                                  "bfloat16, float32, float64, bool)"));
  }
}

col::Tensor ToView(const torch::Tensor& tensor, const std::string& what) {
  if (!tensor.defined()) throw Error(InvalidArgument(what + ": the tensor is undefined"));
  col::Device device;
  if (tensor.device().is_cuda() && col::Runtime::NcclBuilt()) {
    // The runtime sends it through the process set's NCCL communicator (docs/collective.md), on
    // the device's default stream: work queued on another current stream is waited for first.
    c10::impl::VirtualGuardImpl impl(c10::DeviceType::CUDA);
    const c10::Stream current = impl.getStream(tensor.device());
    if (current != impl.getDefaultStream(tensor.device())) impl.synchronizeStream(current);
    device.type = col::DeviceType::kCuda;
    device.index = tensor.device().index();
  } else if (!tensor.device().is_cpu()) {
    // The runtime would refuse it too, but only once the operation runs; say it at the call.
    throw Error(Unimplemented(what + ": this build supports CPU tensors only (got a tensor on " +
                              tensor.device().str() +
                              "): trainyard's collective runtime has no GPU transport (NCCL) "
                              "here; move the tensor to the CPU (tensor.cpu())"));
  }
  if (tensor.is_sparse() || !tensor.is_contiguous()) {
    throw Error(InvalidArgument(what + ": the tensor must be dense and contiguous (call "
                                       ".contiguous() or use the out-of-place form)"));
  }
  col::Tensor view;
  view.dtype = ToDataType(tensor.scalar_type(), what);
  view.shape.assign(tensor.sizes().begin(), tensor.sizes().end());
  view.data = tensor.numel() == 0 ? nullptr : tensor.data_ptr();
  view.device = device;
  return view;
}

col::ReduceOp ToReduceOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::kAverage: return col::ReduceOp::kAverage;
    case ReduceOp::kSum: return col::ReduceOp::kSum;
    case ReduceOp::kMin: return col::ReduceOp::kMin;
    case ReduceOp::kMax: return col::ReduceOp::kMax;
    case ReduceOp::kProduct: return col::ReduceOp::kProduct;
    case ReduceOp::kAdasum: return col::ReduceOp::kAdasum;
  }
  throw Error(InvalidArgument("unknown reduce op " + std::to_string(static_cast<int>(op))));
}

std::string Describe(const char* op, const std::string& name) {
  return name.empty() ? std::string(op) : std::string(op) + " '" + name + "'";
}

}  // namespace internal

using internal::Describe;
using internal::RuntimeOrThrow;
using internal::ToView;

// --- lifecycle ---

void Init() { Init(InitOptions{}); }

void Init(const InitOptions& options) {
  std::lock_guard<std::mutex> lock(internal::g_lifecycle_mu);
  if (col::Runtime* old = internal::g_runtime.load(); old != nullptr) {
    if (old->is_initialized()) return;
    // It stopped on its own (a dead peer, another rank's shutdown): replace it.
    internal::g_runtime.store(nullptr);
    internal::g_transport.clear();
    old->Shutdown().IgnoreError();  // already stopped; its reason was reported to its handles
    delete old;
  }
  // Runtime::Init's "auto" rule, resolved here so that Transport() can report it.
  Result<col::Config> config = col::ConfigFromEnv();
  internal::ThrowIfError(config.status(), "Init");
  Result<col::LaunchEnv> env =
      col::ReadLaunchEnv([](const char* name) { return std::getenv(name); });
  internal::ThrowIfError(env.status(), "Init");
  Result<std::string> transport = col::ResolveTransport("auto", *config, *env);
  internal::ThrowIfError(transport.status(), "Init");
  col::InitOptions init;
  init.transport = *transport;
  init.process_sets = options.process_sets;
  auto rt = col::Runtime::Init(std::move(init));
  internal::ThrowIfError(rt.status(), "Init");
  internal::g_transport = *transport;
  internal::g_runtime.store(rt->release(), std::memory_order_release);
  static std::once_flag registered;
  std::call_once(registered, [] { std::atexit(internal::ShutdownAtExit); });
}

void Shutdown() {
  std::lock_guard<std::mutex> lock(internal::g_lifecycle_mu);
  col::Runtime* rt = internal::g_runtime.exchange(nullptr);
  if (rt == nullptr) return;
  internal::g_transport.clear();
  Status st = rt->Shutdown();
  delete rt;
  internal::ThrowIfError(st, "Shutdown");
}

bool IsInitialized() { return internal::g_runtime.load() != nullptr; }

int Rank() { return RuntimeOrThrow().rank(); }
int Size() { return RuntimeOrThrow().size(); }
int LocalRank() { return RuntimeOrThrow().local_rank(); }
int LocalSize() { return RuntimeOrThrow().local_size(); }
int CrossRank() { return RuntimeOrThrow().cross_rank(); }
int CrossSize() { return RuntimeOrThrow().cross_size(); }

std::string Transport() {
  std::lock_guard<std::mutex> lock(internal::g_lifecycle_mu);
  return internal::g_transport;
}

bool MpiBuilt() { return col::Runtime::MpiBuilt(); }
bool GlooBuilt() { return col::Runtime::GlooBuilt(); }
bool NcclBuilt() { return col::Runtime::NcclBuilt(); }

void StartTimeline(const std::string& path, bool mark_cycles) {
  internal::ThrowIfError(RuntimeOrThrow().StartTimeline(path, mark_cycles), "StartTimeline");
}

void StopTimeline() { internal::ThrowIfError(RuntimeOrThrow().StopTimeline(), "StopTimeline"); }

// --- process sets ---

ProcessSetId AddProcessSet(std::vector<int> ranks) {
  Result<col::ProcessSetId> id = RuntimeOrThrow().AddProcessSet(std::move(ranks));
  internal::ThrowIfError(id.status(), "AddProcessSet");
  return *id;
}

void RemoveProcessSet(ProcessSetId id) {
  internal::ThrowIfError(RuntimeOrThrow().RemoveProcessSet(id),
                         "RemoveProcessSet " + std::to_string(id));
}

namespace {
col::ProcessSetInfo ProcessSetOrThrow(ProcessSetId id) {
  Result<col::ProcessSetInfo> info = RuntimeOrThrow().GetProcessSet(id);
  internal::ThrowIfError(info.status(), "process set " + std::to_string(id));
  return *info;
}
}  // namespace

std::vector<int> ProcessSetRanks(ProcessSetId id) { return ProcessSetOrThrow(id).ranks; }
int ProcessSetRank(ProcessSetId id) { return ProcessSetOrThrow(id).rank; }

// --- handles ---

bool Handle::Poll() const {
  if (state_ == nullptr) throw Error(FailedPrecondition("Poll on an invalid handle"));
  return state_->handle.Poll();
}

torch::Tensor Handle::Wait() const {
  if (state_ == nullptr) throw Error(FailedPrecondition("Wait on an invalid handle"));
  internal::ThrowIfError(state_->handle.Wait(), state_->what);
  if (state_->gathered != nullptr) return *state_->gathered;
  if (!state_->copy_back.empty()) {
    std::call_once(state_->copied, [&] {
      torch::NoGradGuard no_grad;
      for (auto& [reduced, target] : state_->copy_back) target.copy_(reduced);
    });
  }
  return state_->output;
}

std::vector<int64_t> Handle::ReceivedSplits() const {
  if (state_ == nullptr) throw Error(FailedPrecondition("ReceivedSplits on an invalid handle"));
  return state_->handle.received_splits();
}

std::vector<torch::Tensor> Handle::WaitAll() const {
  torch::Tensor first = Wait();
  if (!state_->outputs.empty()) return state_->outputs;
  return {first};
}

// --- operations ---

namespace {

col::AllreduceOptions ToOptions(const AllreduceOptions& options) {
  col::AllreduceOptions out;
  out.op = internal::ToReduceOp(options.op);
  out.prescale_factor = options.prescale_factor;
  out.postscale_factor = options.postscale_factor;
  out.process_set = options.process_set;
  return out;
}

// An output allocator for operations whose output shape the other ranks decide: it makes the
// torch tensor (with `like`'s options) that the handle returns, on the runtime's thread.
col::OutputAllocator AllocateInto(Handle::State& state, const torch::Tensor& like,
                                  col::DataType dtype) {
  auto gathered = std::make_shared<torch::Tensor>();
  state.gathered = gathered;
  return [gathered, tensor_options = like.options(), dtype,
          what = state.what](const col::Shape& shape) -> Result<col::Tensor> {
    try {
      *gathered = torch::empty(shape, tensor_options);
    } catch (const std::exception& e) {
      return Internal(what + ": allocating the output failed: " + e.what());
    }
    col::Tensor out;
    out.dtype = dtype;
    out.shape = shape;
    out.data = gathered->numel() == 0 ? nullptr : gathered->data_ptr();
    return out;
  };
}

// A refusal thrown by the adapter before the runtime saw the operation (ToView: an unsupported
// dtype, a sparse or non-contiguous tensor, ...; an unknown reduce op): the runtime negotiates it
// like its own refusals, so that the other ranks' operations of `names` fail instead of waiting
// for this rank forever (docs/collective.md, "Refusals"). Then rethrows.
[[noreturn]] void RefuseAndRethrow(col::OpType type, const std::vector<std::string>& names,
                                   ProcessSetId process_set, const Error& error) {
  col::Runtime* rt = internal::g_runtime.load(std::memory_order_acquire);
  if (rt != nullptr && rt->is_initialized()) {
    rt->RefuseAsync(type, names, error.status(), process_set).Wait().IgnoreError();
  }
  throw error;
}

// Horovod raises argument errors (and a duplicate in-flight name) at the call, on the rank that
// made it: so does every operation here, when the runtime refused it (Handle::refused()).
col::Handle RaiseIfRefused(col::Handle h, const std::string& what) {
  if (h.refused()) internal::ThrowIfError(h.Wait(), what);
  return h;
}

// In place on a non-contiguous (strided) tensor: the runtime works on a contiguous copy, which
// the first Wait() copies back into `tensor`. Returns the tensor the runtime is given.
torch::Tensor StageInPlace(Handle::State& state, const torch::Tensor& tensor) {
  if (!tensor.defined() || tensor.layout() != torch::kStrided || tensor.is_contiguous()) {
    return tensor;
  }
  torch::Tensor staged = tensor.contiguous();
  state.copy_back.emplace_back(staged, tensor);
  return staged;
}

Handle StartGroupedAllreduce(std::vector<torch::Tensor> inputs, std::vector<torch::Tensor> outputs,
                             const AllreduceOptions& options, const std::string& name,
                             bool in_place) {
  auto state = std::make_shared<Handle::State>();
  state->what = Describe("grouped allreduce", name);
  if (inputs.empty()) throw Error(InvalidArgument(state->what + ": no tensors"));
  // The caller's tensors are what WaitAll returns; the runtime may work on staged copies.
  state->outputs = outputs;
  if (in_place) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      inputs[i] = outputs[i] = StageInPlace(*state, inputs[i]);
    }
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < inputs.size(); ++i) {
    names.push_back(name.empty() ? "" : name + "." + std::to_string(i));
  }
  std::vector<col::Tensor> in;
  std::vector<col::Tensor> out;
  col::Handle h;
  try {
    for (size_t i = 0; i < inputs.size(); ++i) {
      const std::string what = state->what + " (tensor " + std::to_string(i) + ")";
      in.push_back(ToView(inputs[i], what));
      out.push_back(ToView(outputs[i], what));
    }
    state->inputs = std::move(inputs);
    state->inputs.insert(state->inputs.end(), outputs.begin(), outputs.end());
    state->output = state->outputs.front();
    h = RuntimeOrThrow().GroupedAllreduceAsync(names, in, out, ToOptions(options));
  } catch (const Error& e) {
    RefuseAndRethrow(col::OpType::kAllreduce, names, options.process_set, e);
  }
  state->handle = RaiseIfRefused(std::move(h), state->what);
  return Handle(std::move(state));
}

// An operation that reads `input` and writes `output` of the same shape (in place when they are
// the same tensor, staged through a contiguous copy where needed): `start` enqueues it on the
// runtime with the two views.
Handle StartInOut(col::OpType type, const torch::Tensor& input, const torch::Tensor& output,
                  const std::string& name, ProcessSetId process_set,
                  const std::function<col::Handle(const col::Tensor&, const col::Tensor&)>& start) {
  auto state = std::make_shared<Handle::State>();
  state->what = Describe(col::OpTypeName(type), name);
  state->output = output;
  torch::Tensor target = input.is_same(output) ? StageInPlace(*state, output) : output;
  const torch::Tensor& source = input.is_same(output) ? target : input;
  col::Handle h;
  try {
    col::Tensor in = ToView(source, state->what);
    col::Tensor out = ToView(target, state->what);
    state->input = source;
    state->target = target;
    h = start(in, out);
  } catch (const Error& e) {
    RefuseAndRethrow(type, {name}, process_set, e);
  }
  state->handle = RaiseIfRefused(std::move(h), state->what);
  return Handle(std::move(state));
}

Handle StartAllreduce(const torch::Tensor& input, const torch::Tensor& output,
                      const AllreduceOptions& options, const std::string& name) {
  return StartInOut(col::OpType::kAllreduce, input, output, name, options.process_set,
                    [&](const col::Tensor& in, const col::Tensor& out) {
                      return RuntimeOrThrow().AllreduceAsync(name, in, out, ToOptions(options));
                    });
}

Handle StartBroadcast(const torch::Tensor& input, const torch::Tensor& output, int root_rank,
                      const std::string& name, ProcessSetId process_set) {
  return StartInOut(col::OpType::kBroadcast, input, output, name, process_set,
                    [&](const col::Tensor& in, const col::Tensor& out) {
                      return RuntimeOrThrow().BroadcastAsync(name, in, out, root_rank, process_set);
                    });
}

// The out-of-place forms copy a non-contiguous input; an undefined one is reported by ToView.
torch::Tensor ContiguousOrUndefined(const torch::Tensor& tensor) {
  return tensor.defined() ? tensor.contiguous() : tensor;
}

torch::Tensor EmptyLikeOrUndefined(const torch::Tensor& tensor) {
  return tensor.defined() ? torch::empty_like(tensor) : tensor;
}

// Starts an operation whose output the other ranks size (allgather, alltoall, reducescatter):
// `start` enqueues the input view with the allocator that makes the returned tensor.
Handle StartSized(
    col::OpType type, const torch::Tensor& tensor, const std::string& name,
    ProcessSetId process_set,
    const std::function<col::Handle(const col::Tensor&, col::OutputAllocator)>& start) {
  auto state = std::make_shared<Handle::State>();
  state->what = Describe(col::OpTypeName(type), name);
  state->input = ContiguousOrUndefined(tensor);
  col::Handle h;
  try {
    col::Tensor in = ToView(state->input, state->what);
    h = start(in, AllocateInto(*state, state->input, in.dtype));
  } catch (const Error& e) {
    RefuseAndRethrow(type, {name}, process_set, e);
  }
  state->handle = RaiseIfRefused(std::move(h), state->what);
  return Handle(std::move(state));
}

AllreduceOptions WithOp(ReduceOp op) {
  AllreduceOptions options;
  options.op = op;
  return options;
}

}  // namespace

Handle AllreduceAsync(const torch::Tensor& tensor, const AllreduceOptions& options,
                      const std::string& name) {
  torch::Tensor input = ContiguousOrUndefined(tensor);
  return StartAllreduce(input, EmptyLikeOrUndefined(input), options, name);
}

Handle AllreduceAsync(const torch::Tensor& tensor, ReduceOp op, const std::string& name) {
  return AllreduceAsync(tensor, WithOp(op), name);
}

Handle AllreduceAsync_(const torch::Tensor& tensor, const AllreduceOptions& options,
                       const std::string& name) {
  return StartAllreduce(tensor, tensor, options, name);
}

Handle AllreduceAsync_(const torch::Tensor& tensor, ReduceOp op, const std::string& name) {
  return AllreduceAsync_(tensor, WithOp(op), name);
}

torch::Tensor Allreduce(const torch::Tensor& tensor, const AllreduceOptions& options,
                        const std::string& name) {
  return AllreduceAsync(tensor, options, name).Wait();
}

torch::Tensor Allreduce(const torch::Tensor& tensor, ReduceOp op, const std::string& name) {
  return AllreduceAsync(tensor, WithOp(op), name).Wait();
}

torch::Tensor Allreduce_(const torch::Tensor& tensor, ReduceOp op, const std::string& name) {
  return AllreduceAsync_(tensor, WithOp(op), name).Wait();
}

Handle GroupedAllreduceAsync(const std::vector<torch::Tensor>& tensors,
                             const AllreduceOptions& options, const std::string& name) {
  std::vector<torch::Tensor> inputs;
  std::vector<torch::Tensor> outputs;
  for (const torch::Tensor& t : tensors) {
    inputs.push_back(ContiguousOrUndefined(t));
    outputs.push_back(EmptyLikeOrUndefined(inputs.back()));
  }
  return StartGroupedAllreduce(std::move(inputs), std::move(outputs), options, name, false);
}

Handle GroupedAllreduceAsync_(const std::vector<torch::Tensor>& tensors,
                              const AllreduceOptions& options, const std::string& name) {
  return StartGroupedAllreduce(tensors, tensors, options, name, true);
}

std::vector<torch::Tensor> GroupedAllreduce(const std::vector<torch::Tensor>& tensors,
                                            const AllreduceOptions& options,
                                            const std::string& name) {
  return GroupedAllreduceAsync(tensors, options, name).WaitAll();
}

void GroupedAllreduce_(const std::vector<torch::Tensor>& tensors, const AllreduceOptions& options,
                       const std::string& name) {
  GroupedAllreduceAsync_(tensors, options, name).Wait();
}

Handle AllgatherAsync(const torch::Tensor& tensor, const std::string& name,
                      ProcessSetId process_set) {
  return StartSized(col::OpType::kAllgather, tensor, name, process_set,
                    [&](const col::Tensor& in, col::OutputAllocator allocator) {
                      col::AllgatherOptions options;
                      options.process_set = process_set;
                      options.allocator = std::move(allocator);
                      return RuntimeOrThrow().AllgatherAsync(name, in, options);
                    });
}

torch::Tensor Allgather(const torch::Tensor& tensor, const std::string& name,
                        ProcessSetId process_set) {
  return AllgatherAsync(tensor, name, process_set).Wait();
}

Handle BroadcastAsync(const torch::Tensor& tensor, int root_rank, const std::string& name,
                      ProcessSetId process_set) {
  torch::Tensor input = ContiguousOrUndefined(tensor);
  return StartBroadcast(input, EmptyLikeOrUndefined(input), root_rank, name, process_set);
}

Handle BroadcastAsync_(const torch::Tensor& tensor, int root_rank, const std::string& name,
                       ProcessSetId process_set) {
  return StartBroadcast(tensor, tensor, root_rank, name, process_set);
}

torch::Tensor Broadcast(const torch::Tensor& tensor, int root_rank, const std::string& name,
                        ProcessSetId process_set) {
  return BroadcastAsync(tensor, root_rank, name, process_set).Wait();
}

torch::Tensor Broadcast_(const torch::Tensor& tensor, int root_rank, const std::string& name,
                         ProcessSetId process_set) {
  return BroadcastAsync_(tensor, root_rank, name, process_set).Wait();
}

Handle AlltoallAsync(const torch::Tensor& tensor, const std::vector<int64_t>& splits,
                     const std::string& name, ProcessSetId process_set) {
  return StartSized(col::OpType::kAlltoall, tensor, name, process_set,
                    [&](const col::Tensor& in, col::OutputAllocator allocator) {
                      col::AlltoallOptions options;
                      options.splits = splits;
                      options.process_set = process_set;
                      options.allocator = std::move(allocator);
                      return RuntimeOrThrow().AlltoallAsync(name, in, options);
                    });
}

torch::Tensor Alltoall(const torch::Tensor& tensor, const std::vector<int64_t>& splits,
                       const std::string& name, ProcessSetId process_set) {
  return AlltoallAsync(tensor, splits, name, process_set).Wait();
}

Handle ReducescatterAsync(const torch::Tensor& tensor, const AllreduceOptions& options,
                          const std::string& name) {
  return StartSized(col::OpType::kReducescatter, tensor, name, options.process_set,
                    [&](const col::Tensor& in, col::OutputAllocator allocator) {
                      col::ReducescatterOptions col_options;
                      col_options.op = internal::ToReduceOp(options.op);
                      col_options.prescale_factor = options.prescale_factor;
                      col_options.postscale_factor = options.postscale_factor;
                      col_options.process_set = options.process_set;
                      col_options.allocator = std::move(allocator);
                      return RuntimeOrThrow().ReducescatterAsync(name, in, col_options);
                    });
}

torch::Tensor Reducescatter(const torch::Tensor& tensor, const AllreduceOptions& options,
                            const std::string& name) {
  return ReducescatterAsync(tensor, options, name).Wait();
}

torch::Tensor Reducescatter(const torch::Tensor& tensor, ReduceOp op, const std::string& name) {
  return ReducescatterAsync(tensor, WithOp(op), name).Wait();
}

void Refuse(const std::string& operation, const std::vector<std::string>& names,
            const std::string& message, bool invalid_argument, ProcessSetId process_set) {
  const col::OpType types[] = {col::OpType::kAllreduce, col::OpType::kAllgather,
                               col::OpType::kBroadcast, col::OpType::kAlltoall,
                               col::OpType::kReducescatter};
  const col::OpType* type = std::find_if(std::begin(types), std::end(types), [&](col::OpType t) {
    return operation == col::OpTypeName(t);
  });
  if (type == std::end(types)) {
    throw Error(InvalidArgument("Refuse: unknown operation '" + operation + "'"));
  }
  col::Runtime* rt = internal::g_runtime.load(std::memory_order_acquire);
  if (rt == nullptr || !rt->is_initialized()) return;
  Status why = invalid_argument ? InvalidArgument(message) : FailedPrecondition(message);
  rt->RefuseAsync(*type, names, why, process_set).Wait().IgnoreError();
}

void Barrier(ProcessSetId process_set) {
  internal::ThrowIfError(RuntimeOrThrow().Barrier(process_set), "barrier");
}

int Join(ProcessSetId process_set) {
  Result<int> last = RuntimeOrThrow().Join(process_set);
  internal::ThrowIfError(last.status(), "join");
  return *last;
}

}  // namespace trainyard::dist
