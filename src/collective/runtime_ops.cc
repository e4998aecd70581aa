// Runtime: validating and enqueueing operations (any thread).
#include <algorithm>
#include <optional>

#include "collective/collective.h"
#include "collective/runtime_impl.h"

namespace trainyard::collective {
namespace {

// Handle::Wait polls (yielding the CPU) for up to this long before it sleeps: a futex wake-up
// costs 5-30 us on a busy 2-core machine, more than a whole small allreduce (docs/collective.md).
// Bounded so that a long wait does not keep taking turns on a core from the transport.
constexpr int64_t kPollMicros = 200;

std::string What(OpType type, const std::string& name) {
  return std::string(OpTypeName(type)) + " '" + name + "'";
}

// Checks that apply to every tensor. `device` is the process set's device communicator's device
// (nullopt: none).
Status CheckTensor(OpType type, const std::string& name, const Tensor& t, const char* role,
                   const std::optional<Device>& device) {
  if (!IsValidDataType(static_cast<int>(t.dtype))) {
    return InvalidArgument(What(type, name) + ": " + role + " has an invalid dtype");
  }
  for (int64_t d : t.shape) {
    if (d < 0) {
      return InvalidArgument(What(type, name) + ": " + role + " has a negative dimension " +
                             ShapeToString(t.shape));
    }
  }
  if (t.device.type != DeviceType::kCpu) {
    if (!device) {
      return Unimplemented(
          What(type, name) + ": " + role + " is on " + t.device.ToString() +
          (Runtime::NcclBuilt()
               ? "; this runtime has no device communicator (NCCL): some rank has no CUDA "
                 "device, or TRAINYARD_NCCL=0"
               : "; this build has no GPU transport (NCCL needs a CUDA libtorch at build time), "
                 "only host memory is supported"));
    }
    if (t.device.type != device->type || t.device.index != device->index) {
      return FailedPrecondition(What(type, name) + ": " + role + " is on " + t.device.ToString() +
                                " but this rank's device communicator uses " + device->ToString() +
                                " (local rank modulo the number of GPUs)");
    }
  }
  if (t.data == nullptr && t.num_elements() > 0) {
    return InvalidArgument(What(type, name) + ": " + role + " has no data");
  }
  return Status::Ok();
}

Status CheckReduce(OpType type, const std::string& name, DataType dtype, ReduceOp op, double pre,
                   double post) {
  if (!IsValidReduceOp(static_cast<int>(op))) {
    return InvalidArgument(What(type, name) + ": invalid reduce op");
  }
  if (op == ReduceOp::kAdasum) {
    if (dtype != DataType::kFloat16 && dtype != DataType::kBFloat16 &&
        dtype != DataType::kFloat32 && dtype != DataType::kFloat64) {
      return InvalidArgument(What(type, name) + ": Adasum needs a floating-point tensor, not " +
                             DataTypeName(dtype));
    }
    if (type != OpType::kAllreduce) {
      return InvalidArgument(What(type, name) + ": Adasum is an allreduce op only");
    }
  }
  if (dtype == DataType::kBool && (op == ReduceOp::kAverage || pre != 1.0 || post != 1.0)) {
    return InvalidArgument(What(type, name) +
                           ": bool tensors support Sum/Max (logical or) and Min/Product (logical "
                           "and) without scale factors");
  }
  return Status::Ok();
}

// The device as the ranks coordinate it: its type only. Each rank uses its own GPU, so indices
// may differ between ranks for one name; types must agree (a mismatch error otherwise).
Device CoordinatedDevice(const Device& d) { return Device{d.type, -1}; }

// `input` and `output` must be on the same device.
Status CheckSameDevice(OpType type, const std::string& name, const Tensor& input,
                       const Tensor& output) {
  if (input.device == output.device) return Status::Ok();
  return InvalidArgument(What(type, name) + ": output is on " + output.device.ToString() +
                         ", input on " + input.device.ToString());
}

// Operations with output sizes known only on the background thread need an allocator for device
// tensors: a handle cannot own device memory.
Status CheckDeviceAllocator(OpType type, const std::string& name, const Tensor& input,
                            const OutputAllocator& allocator) {
  if (input.device.type == DeviceType::kCpu || allocator) return Status::Ok();
  return InvalidArgument(What(type, name) + ": a tensor on " + input.device.ToString() +
                         " needs an OutputAllocator that allocates on that device");
}

}  // namespace

Status Runtime::Impl::CheckSet(ProcessSetId id, SetView* view) const {
  MutexLock lock(sets_mu);
  auto it = sets.find(id);
  if (it == sets.end()) return NotFound("process set " + std::to_string(id) + " is not registered");
  if (it->second->comm == nullptr) {
    return InvalidArgument(
        "rank " + std::to_string(topology.rank) + " is not a member of process set " +
        std::to_string(id) + " " +
        ShapeToString(Shape(it->second->ranks.begin(), it->second->ranks.end())));
  }
  view->ranks = it->second->ranks;
  view->rank = it->second->comm->rank();
  if (it->second->device_comm != nullptr) view->device = it->second->device_comm->device();
  return Status::Ok();
}

std::string Runtime::Impl::NameOr(const std::string& name, const char* op) {
  if (!name.empty()) return name;
  return std::string(op) + ".noname." + std::to_string(noname_counter.fetch_add(1));
}

Handle Runtime::Impl::Refuse(ProcessSetId process_set, OpType type,
                             const std::vector<std::string>& names, const Status& why) {
  // Purely local: the rank has joined (it takes part with zeros; the others do not wait for it),
  // or a name of the group is in flight (the first operation of that name is legitimately
  // pending, and the duplicate's refusal is this rank's own business).
  if (queue.InFlight(process_set, kJoinName)) return Handle::Done(why);
  for (const std::string& name : names) {
    Status dup = queue.CheckName(process_set, type, name);
    if (!dup.ok()) return Handle::Done(dup);
  }
  // Nobody waits on the stand-ins' handle: the caller's handle is the refused one below.
  auto shadow = std::make_shared<internal::HandleState>(static_cast<int>(names.size()));
  std::vector<TensorEntry> entries;
  for (const std::string& name : names) {
    TensorEntry e;
    e.process_set = process_set;
    e.request.type = type;
    e.request.name = name;
    e.request.rank = topology.rank;
    e.request.error = why.message();
    e.request.error_code = why.code();
    e.handle = shadow;
    e.refusal = true;
    entries.push_back(std::move(e));
  }
  // Fails only when the runtime is closed (or `names` repeats a name): nothing to tell the others.
  queue.Add(std::move(entries)).IgnoreError();
  return Handle::Done(why);
}

Handle Runtime::Impl::Enqueue(std::vector<TensorEntry> entries, int parts) {
  auto state = std::make_shared<internal::HandleState>(parts);
  state->poll_micros = kPollMicros;
  for (TensorEntry& e : entries) {
    e.request.rank = topology.rank;
    e.handle = state;
    if (e.request.type != OpType::kJoin && queue.InFlight(e.process_set, kJoinName)) {
      return Handle::Done(FailedPrecondition(
          What(e.request.type, e.request.name) + ": this rank has joined process set " +
          std::to_string(e.process_set) + " and takes no new operations until the join completes"));
    }
  }
  Status st = queue.Add(std::move(entries));
  if (!st.ok()) return Handle::Done(st);
  return Handle(std::move(state));
}

Handle Runtime::AllreduceAsync(const std::string& name, const Tensor& input, const Tensor& output,
                               const AllreduceOptions& options) {
  return GroupedAllreduceAsync({name}, {input}, {output}, options);
}

Status Runtime::Allreduce(const std::string& name, const Tensor& input, const Tensor& output,
                          const AllreduceOptions& options) {
  return AllreduceAsync(name, input, output, options).Wait();
}

Handle Runtime::GroupedAllreduceAsync(const std::vector<std::string>& names_in,
                                      const std::vector<Tensor>& inputs,
                                      const std::vector<Tensor>& outputs,
                                      const AllreduceOptions& options) {
  if (names_in.empty()) {
    return Handle::Done(InvalidArgument("grouped allreduce: needs at least one tensor"));
  }
  Impl::SetView view;
  Status st = impl_->CheckSet(options.process_set, &view);
  if (!st.ok()) return Handle::Done(st);
  std::vector<std::string> names;
  for (const std::string& name : names_in) names.push_back(impl_->NameOr(name, "allreduce"));
  auto refuse = [&](const Status& why) {
    return impl_->Refuse(options.process_set, OpType::kAllreduce, names, why);
  };
  if (names.size() != inputs.size() || names.size() != outputs.size()) {
    return refuse(InvalidArgument("grouped allreduce: needs as many names as inputs and outputs"));
  }
  std::vector<TensorEntry> entries;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    const Tensor& in = inputs[i];
    const Tensor& out = outputs[i];
    for (const Status& s : {CheckTensor(OpType::kAllreduce, name, in, "input", view.device),
                            CheckTensor(OpType::kAllreduce, name, out, "output", view.device),
                            CheckSameDevice(OpType::kAllreduce, name, in, out),
                            CheckReduce(OpType::kAllreduce, name, in.dtype, options.op,
                                        options.prescale_factor, options.postscale_factor)}) {
      if (!s.ok()) return refuse(s);
    }
    if (options.op == ReduceOp::kAdasum && in.device.type != DeviceType::kCpu) {
      return refuse(Unimplemented(What(OpType::kAllreduce, name) +
                                  ": Adasum of device tensors is not supported"));
    }
    if (in.dtype != out.dtype || in.shape != out.shape) {
      return refuse(InvalidArgument(What(OpType::kAllreduce, name) + ": output " +
                                    DataTypeName(out.dtype) + " " + ShapeToString(out.shape) +
                                    " differs from input " + DataTypeName(in.dtype) + " " +
                                    ShapeToString(in.shape)));
    }
    TensorEntry e;
    e.process_set = options.process_set;
    e.request.type = OpType::kAllreduce;
    e.request.name = name;
    e.request.dtype = in.dtype;
    e.request.shape = in.shape;
    e.request.reduce_op = options.op;
    e.request.prescale = options.prescale_factor;
    e.request.postscale = options.postscale_factor;
    e.request.device = CoordinatedDevice(in.device);
    e.input = in;
    e.output = out;
    entries.push_back(std::move(e));
  }
  return impl_->Enqueue(std::move(entries), static_cast<int>(names.size()));
}

Handle Runtime::AllgatherAsync(const std::string& name_in, const Tensor& input,
                               const AllgatherOptions& options) {
  Impl::SetView view;
  Status set = impl_->CheckSet(options.process_set, &view);
  if (!set.ok()) return Handle::Done(set);
  std::string name = impl_->NameOr(name_in, "allgather");
  auto refuse = [&](const Status& why) {
    return impl_->Refuse(options.process_set, OpType::kAllgather, {name}, why);
  };
  for (const Status& s :
       {CheckTensor(OpType::kAllgather, name, input, "input", view.device),
        CheckDeviceAllocator(OpType::kAllgather, name, input, options.allocator)}) {
    if (!s.ok()) return refuse(s);
  }
  if (input.shape.empty()) {
    return refuse(InvalidArgument(What(OpType::kAllgather, name) +
                                  ": needs a tensor with at least one dimension"));
  }
  TensorEntry e;
  e.process_set = options.process_set;
  e.request.type = OpType::kAllgather;
  e.request.name = std::move(name);
  e.request.dtype = input.dtype;
  e.request.shape = input.shape;
  e.request.device = CoordinatedDevice(input.device);
  e.input = input;
  e.allocator = options.allocator;
  std::vector<TensorEntry> entries;
  entries.push_back(std::move(e));
  return impl_->Enqueue(std::move(entries), 1);
}

Handle Runtime::BroadcastAsync(const std::string& name_in, const Tensor& input,
                               const Tensor& output, int root_rank, ProcessSetId process_set) {
  Impl::SetView view;
  Status set = impl_->CheckSet(process_set, &view);
  if (!set.ok()) return Handle::Done(set);
  std::string name = impl_->NameOr(name_in, "broadcast");
  auto refuse = [&](const Status& why) {
    return impl_->Refuse(process_set, OpType::kBroadcast, {name}, why);
  };
  for (const Status& s : {CheckTensor(OpType::kBroadcast, name, input, "input", view.device),
                          CheckTensor(OpType::kBroadcast, name, output, "output", view.device),
                          CheckSameDevice(OpType::kBroadcast, name, input, output)}) {
    if (!s.ok()) return refuse(s);
  }
  if (std::find(view.ranks.begin(), view.ranks.end(), root_rank) == view.ranks.end()) {
    return refuse(InvalidArgument(What(OpType::kBroadcast, name) + ": root rank " +
                                  std::to_string(root_rank) + " is not in the process set"));
  }
  if (input.dtype != output.dtype || input.shape != output.shape) {
    return refuse(InvalidArgument(What(OpType::kBroadcast, name) +
                                  ": output differs from input in dtype or shape"));
  }
  TensorEntry e;
  e.process_set = process_set;
  e.request.type = OpType::kBroadcast;
  e.request.name = std::move(name);
  e.request.dtype = input.dtype;
  e.request.shape = input.shape;
  e.request.root = root_rank;
  e.request.device = CoordinatedDevice(input.device);
  e.input = input;
  e.output = output;
  std::vector<TensorEntry> entries;
  entries.push_back(std::move(e));
  return impl_->Enqueue(std::move(entries), 1);
}

Status Runtime::Broadcast(const std::string& name, const Tensor& tensor, int root_rank,
                          ProcessSetId process_set) {
  return BroadcastAsync(name, tensor, tensor, root_rank, process_set).Wait();
}

Handle Runtime::AlltoallAsync(const std::string& name_in, const Tensor& input,
                              const AlltoallOptions& options) {
  Impl::SetView view;
  Status set = impl_->CheckSet(options.process_set, &view);
  if (!set.ok()) return Handle::Done(set);
  std::string name = impl_->NameOr(name_in, "alltoall");
  auto refuse = [&](const Status& why) {
    return impl_->Refuse(options.process_set, OpType::kAlltoall, {name}, why);
  };
  for (const Status& s :
       {CheckTensor(OpType::kAlltoall, name, input, "input", view.device),
        CheckDeviceAllocator(OpType::kAlltoall, name, input, options.allocator)}) {
    if (!s.ok()) return refuse(s);
  }
  if (input.shape.empty()) {
    return refuse(InvalidArgument(What(OpType::kAlltoall, name) +
                                  ": needs a tensor with at least one dimension"));
  }
  const int64_t n = static_cast<int64_t>(view.ranks.size());
  const int64_t rows = input.shape.front();
  std::vector<int64_t> splits = options.splits;
  // Splits that do not fit the tensor are a FailedPrecondition, not an InvalidArgument: Horovod
  // finds them when the operation runs and raises a RuntimeError, while the kind of `splits`
  // (checked by the callers) is Horovod's ValueError.
  if (splits.empty()) {
    if (rows % n != 0) {
      return refuse(FailedPrecondition(
          What(OpType::kAlltoall, name) + ": without splits the first dimension (" +
          std::to_string(rows) + ") must be divisible by the number of ranks (" +
          std::to_string(n) + ")"));
    }
    splits.assign(static_cast<size_t>(n), rows / n);
  }
  int64_t sum = 0;
  bool negative = false;
  for (int64_t x : splits) {
    sum += x;
    negative = negative || x < 0;
  }
  if (static_cast<int64_t>(splits.size()) != n || negative || sum != rows) {
    return refuse(FailedPrecondition(
        What(OpType::kAlltoall, name) + ": splits " + ShapeToString(splits) +
        " must have one non-negative entry per rank of the process set (" + std::to_string(n) +
        ") summing to the first dimension (" + std::to_string(rows) + ")"));
  }
  TensorEntry e;
  e.process_set = options.process_set;
  e.request.type = OpType::kAlltoall;
  e.request.name = std::move(name);
  e.request.dtype = input.dtype;
  e.request.shape = input.shape;
  e.request.device = CoordinatedDevice(input.device);
  e.input = input;
  e.splits = std::move(splits);
  e.allocator = options.allocator;
  std::vector<TensorEntry> entries;
  entries.push_back(std::move(e));
  return impl_->Enqueue(std::move(entries), 1);
}

Handle Runtime::ReducescatterAsync(const std::string& name_in, const Tensor& input,
                                   const ReducescatterOptions& options) {
  Impl::SetView view;
  Status set = impl_->CheckSet(options.process_set, &view);
  if (!set.ok()) return Handle::Done(set);
  std::string name = impl_->NameOr(name_in, "reducescatter");
  auto refuse = [&](const Status& why) {
    return impl_->Refuse(options.process_set, OpType::kReducescatter, {name}, why);
  };
  for (const Status& s : {CheckTensor(OpType::kReducescatter, name, input, "input", view.device),
                          CheckReduce(OpType::kReducescatter, name, input.dtype, options.op,
                                      options.prescale_factor, options.postscale_factor)}) {
    if (!s.ok()) return refuse(s);
  }
  if (input.device.type != DeviceType::kCpu) {
    return refuse(Unimplemented(What(OpType::kReducescatter, name) +
                                ": reducescatter of device tensors is not supported yet"));
  }
  if (input.shape.empty()) {
    return refuse(InvalidArgument(What(OpType::kReducescatter, name) +
                                  ": needs a tensor with at least one dimension"));
  }
  TensorEntry e;
  e.process_set = options.process_set;
  e.request.type = OpType::kReducescatter;
  e.request.name = std::move(name);
  e.request.dtype = input.dtype;
  e.request.shape = input.shape;
  e.request.reduce_op = options.op;
  e.request.prescale = options.prescale_factor;
  e.request.postscale = options.postscale_factor;
  e.request.device = CoordinatedDevice(input.device);
  e.input = input;
  e.allocator = options.allocator;
  std::vector<TensorEntry> entries;
  entries.push_back(std::move(e));
  return impl_->Enqueue(std::move(entries), 1);
}

Handle Runtime::RefuseAsync(OpType type, const std::vector<std::string>& names, const Status& why,
                            ProcessSetId process_set) {
  if (names.empty() || why.ok()) {
    return Handle::Done(InvalidArgument("RefuseAsync: needs a name and an error"));
  }
  Impl::SetView view;
  Status set = impl_->CheckSet(process_set, &view);
  if (!set.ok()) return Handle::Done(why);
  std::vector<std::string> named;
  for (const std::string& name : names) named.push_back(impl_->NameOr(name, OpTypeName(type)));
  return impl_->Refuse(process_set, type, named, why);
}

Handle Runtime::BarrierAsync(ProcessSetId process_set) {
  Impl::SetView view;
  Status st = impl_->CheckSet(process_set, &view);
  if (!st.ok()) return Handle::Done(st);
  TensorEntry e;
  e.process_set = process_set;
  e.request.type = OpType::kBarrier;
  e.request.name = kBarrierName;
  std::vector<TensorEntry> entries;
  entries.push_back(std::move(e));
  return impl_->Enqueue(std::move(entries), 1);
}

Status Runtime::Barrier(ProcessSetId process_set) { return BarrierAsync(process_set).Wait(); }

Handle Runtime::JoinAsync(ProcessSetId process_set) {
  Impl::SetView view;
  Status st = impl_->CheckSet(process_set, &view);
  if (!st.ok()) return Handle::Done(st);
  TensorEntry e;
  e.process_set = process_set;
  e.request.type = OpType::kJoin;
  e.request.name = kJoinName;
  std::vector<TensorEntry> entries;
  entries.push_back(std::move(e));
  return impl_->Enqueue(std::move(entries), 1);
}

Result<int> Runtime::Join(ProcessSetId process_set) {
  Handle h = JoinAsync(process_set);
  RETURN_IF_ERROR(h.Wait());
  return h.last_joined_rank();
}

Result<ProcessSetId> Runtime::AddProcessSet(std::vector<int> ranks) {
  std::sort(ranks.begin(), ranks.end());
  if (ranks.empty() || ranks.front() < 0 || ranks.back() >= size() ||
      std::adjacent_find(ranks.begin(), ranks.end()) != ranks.end()) {
    return InvalidArgument("add_process_set " + ShapeToString(Shape(ranks.begin(), ranks.end())) +
                           ": ranks must be distinct and in [0, " + std::to_string(size()) + ")");
  }
  TensorEntry e;
  e.process_set = kGlobalProcessSet;
  e.request.type = OpType::kAddProcessSet;
  e.request.name = kAddProcessSetPrefix + std::to_string(impl_->add_set_counter.fetch_add(1));
  e.request.ranks.assign(ranks.begin(), ranks.end());
  std::vector<TensorEntry> entries;
  entries.push_back(std::move(e));
  Handle h = impl_->Enqueue(std::move(entries), 1);
  RETURN_IF_ERROR(h.Wait());
  return static_cast<ProcessSetId>(h.state_->value);
}

Status Runtime::RemoveProcessSet(ProcessSetId id) {
  TensorEntry e;
  e.process_set = kGlobalProcessSet;
  e.request.type = OpType::kRemoveProcessSet;
  e.request.name = kRemoveProcessSetPrefix + std::to_string(id);
  e.request.ranks = {id};
  std::vector<TensorEntry> entries;
  entries.push_back(std::move(e));
  return impl_->Enqueue(std::move(entries), 1).Wait();
}

}  // namespace trainyard::collective
