// GradientReducer and DistributedOptimizer (dist.h): gradients are allreduced from autograd hooks
// as backward produces them, and waited for in step(). The Python DistributedOptimizer
// (python/trainyard/torch/optimizer.py) is a GradientReducer too.
//
// The hooks sit on each parameter's gradient accumulator (the AccumulateGrad node that writes
// param.grad()), which is what horovod.torch does in Python (`p.expand_as(p).grad_fn.
// next_functions[0][0].register_hook`). In C++ the node is torch::autograd::impl::grad_accumulator
// (libtorch 1.x and 2.x). Two hooks per parameter:
//   - a pre-hook, which runs before the new gradient is added to param.grad(): it refuses a
//     backward pass beyond backward_passes_per_step while the reduction of param.grad() may still
//     be writing into it (an error out of backward() instead of a silent race);
//   - a post-hook, which runs after the gradient was accumulated: it counts the pass and, on the
//     last one, starts the in-place allreduce of param.grad().
// A tensor hook (param.register_hook) would not do: it sees the incoming gradient *before*
// accumulation, while we must reduce the accumulated one. (torch 2.1 added
// register_post_accumulate_grad_hook for exactly this; the node hooks work on 1.13 and 2.x.)
// The accumulator is held weakly by the parameter, so we keep a reference to it: otherwise a new
// node (without our hooks) could be made for the next backward.
//
// Groups (Horovod's `groups`): a parameter of a group only counts as ready in its post-hook; the
// last member to become ready starts one grouped allreduce of every member's gradient.
// Sparse gradients (Horovod's sparse_allreduce_async): two allgathers, of the indices (one row
// per nonzero) and of the values; Synchronize() makes the sparse sum of every rank's (divided by
// the set size for Average) and puts it in param.grad(). With sparse_as_dense the gradient is
// reduced as a dense copy, which becomes param.grad()'s value again as a sparse tensor.
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "collective/torch/internal.h"

namespace trainyard::dist {

namespace col = trainyard::collective;

torch::Tensor Compress(const torch::Tensor& tensor, Compression compression) {
  if (compression == Compression::kFp16 && tensor.defined() && tensor.is_floating_point() &&
      tensor.scalar_type() != torch::kHalf) {
    return tensor.to(torch::kHalf);
  }
  return tensor;
}

torch::Tensor Decompress(const torch::Tensor& tensor, torch::ScalarType original) {
  return tensor.scalar_type() == original ? tensor : tensor.to(original);
}

struct GradientReducer::State {
  struct Param {
    torch::Tensor tensor;
    std::string name;      // "allreduce.<name>"
    int passes_left = 1;   // backward passes before the reduction starts
    bool touched = false;  // a backward pass produced a gradient since the last Synchronize
    bool started = false;  // its reduction started (until Synchronize)
    int group = -1;        // index into State::groups, or -1 (reduced alone)
    col::Handle handle;    // the (grouped) allreduce, once started; shared by a group's members
    // A sparse gradient's allgathers (of its indices, one row per nonzero, and of its values).
    Handle indices_handle;
    Handle values_handle;
    // What is reduced when it is not param.grad() itself (compression, non-contiguous
    // gradient); copied back into param.grad() in Synchronize.
    torch::Tensor buffer;
    // This parameter's place in the flat gradient buffer of its dtype and device, once laid out
    // (after the first Synchronize); undefined before, or when the gradient is not laid out.
    torch::Tensor slot;
    std::shared_ptr<torch::autograd::Node> accumulator;
    uintptr_t post_hook_key = 0;
    const torch::autograd::FunctionPreHook* pre_hook = nullptr;
  };

  mutable std::mutex mu;
  std::vector<Param> params;  // param-group order: the same on every rank
  Options options;
  col::AllreduceOptions reduce_options;
  bool hooks = false;      // registered (more than one rank, or forced)
  int set_size = 1;        // ranks of the process set (Average divides sparse sums by it)
  int64_t operations = 0;  // collective operations enqueued (GradientReducer::operations)
  // Groups of indices into params; group_ready[g] counts members whose passes are done.
  std::vector<std::vector<size_t>> groups;
  std::vector<size_t> group_ready;
  bool synchronized = false;  // Synchronize ran and no backward pass came since
  // Indices of params in the order the hooks started their reductions, until laid out.
  std::vector<size_t> hook_order;
  bool laid_out = false;

  void BeforeAccumulate(size_t index);
  void AfterAccumulate(size_t index);
  // Makes the gradients views of one flat buffer per (dtype, device), in hook order, so that the
  // runtime reduces a fused group where it lies, without copies (ops/allreduce.cc). Requires mu.
  void LayOutGradients();
  // Starts the reduction of params[index]'s gradient (zeros when it has none). Requires mu.
  void StartReduction(size_t index);
  // Starts one grouped allreduce of the gradients of groups[g]'s members (sparse ones, unless
  // sparse_as_dense, are allgathered on their own). Requires mu.
  void StartGroup(size_t g);
  // Marks params[index] started and returns what its allreduce reduces in place; or an undefined
  // tensor when its gradient is sparse and was handed to StartSparse. Requires mu.
  torch::Tensor Prepare(size_t index);
  // Starts the allgathers of params[index]'s sparse gradient. Requires mu.
  void StartSparse(size_t index);
  // Waits for params[index]'s reduction and puts the result into param.grad(). Requires mu.
  Status Finish(size_t index);
};

namespace {

class PreHook : public torch::autograd::FunctionPreHook {
 public:
  PreHook(std::weak_ptr<GradientReducer::State> state, size_t index)
      : state_(std::move(state)), index_(index) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& grads) override {
    if (auto state = state_.lock()) state->BeforeAccumulate(index_);
    return grads;
  }

 private:
  std::weak_ptr<GradientReducer::State> state_;
  size_t index_;
};

class PostHook : public torch::autograd::FunctionPostHook {
 public:
  PostHook(std::weak_ptr<GradientReducer::State> state, size_t index)
      : state_(std::move(state)), index_(index) {}
  torch::autograd::variable_list operator()(
      const torch::autograd::variable_list& outputs,
      const torch::autograd::variable_list& /*inputs*/) override {
    if (auto state = state_.lock()) state->AfterAccumulate(index_);
    return outputs;
  }

 private:
  std::weak_ptr<GradientReducer::State> state_;
  size_t index_;
};

std::string PassesText(int passes) {
  return "backward_passes_per_step (" + std::to_string(passes) + ")";
}

}  // namespace

void GradientReducer::State::BeforeAccumulate(size_t index) {
  std::lock_guard<std::mutex> lock(mu);
  Param& p = params[index];
  if (p.started || p.passes_left <= 0) {
    throw Error(FailedPrecondition(
        "gradients of '" + p.name + "' were computed more than " +
        PassesText(options.backward_passes_per_step) +
        " times before step(): its allreduce has started (or waits for the rest of its group). "
        "Call step() "
        "(or Synchronize()) after each pass, or increase backward_passes_per_step to accumulate "
        "gradients locally"));
  }
}

void GradientReducer::State::AfterAccumulate(size_t index) {
  std::lock_guard<std::mutex> lock(mu);
  Param& p = params[index];
  p.touched = true;
  synchronized = false;
  if (--p.passes_left == 0) {
    if (!laid_out) hook_order.push_back(index);
    if (p.group < 0) {
      StartReduction(index);
    } else if (++group_ready[p.group] == groups[p.group].size()) {
      StartGroup(p.group);
    }
  }
}

void GradientReducer::State::LayOutGradients() {
  laid_out = true;
  // The compressed copies are what is reduced; their layout is not ours.
  if (options.compression != Compression::kNone || options.compressor != nullptr) return;
  // Hook order (once each: a step that failed may have recorded a parameter twice), then the
  // parameters no hook reduced, in param order.
  std::vector<size_t> order;
  std::vector<bool> seen(params.size(), false);
  for (size_t i : hook_order) {
    if (!seen[i]) order.push_back(i);
    seen[i] = true;
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (!seen[i]) order.push_back(i);
  }
  // Groups by (dtype, device), in order of first appearance.
  std::vector<std::vector<size_t>> layouts;
  for (size_t i : order) {
    const torch::Tensor& g = params[i].tensor.grad();
    if (!g.defined() || g.layout() != torch::kStrided || !g.is_contiguous() ||
        g.sizes() != params[i].tensor.sizes()) {
      continue;
    }
    auto same = [&](const std::vector<size_t>& group) {
      const torch::Tensor& h = params[group.front()].tensor.grad();
      return h.scalar_type() == g.scalar_type() && h.device() == g.device();
    };
    auto it = std::find_if(layouts.begin(), layouts.end(), same);
    if (it == layouts.end()) {
      layouts.push_back({i});
    } else {
      it->push_back(i);
    }
  }
  torch::NoGradGuard no_grad;
  for (const std::vector<size_t>& group : layouts) {
    int64_t total = 0;
    for (size_t i : group) total += params[i].tensor.numel();
    torch::Tensor flat = torch::empty({total}, params[group.front()].tensor.grad().options());
    int64_t offset = 0;
    for (size_t i : group) {
      Param& p = params[i];
      const int64_t n = p.tensor.numel();
      if (options.view_layout) {
        p.slot = flat.narrow(0, offset, n).view(p.tensor.sizes());
      } else {
        // A tensor of its own over the flat buffer (which it keeps alive), not an autograd
        // view: libtorch 1.x's Optimizer::zero_grad() calls detach_(), which views refuse.
        p.slot = torch::from_blob(
            static_cast<char*>(flat.data_ptr()) + offset * flat.element_size(), p.tensor.sizes(),
            [flat](void*) {}, flat.options());
      }
      p.slot.copy_(p.tensor.grad());
      p.tensor.mutable_grad() = p.slot;
      offset += n;
    }
  }
}

torch::Tensor GradientReducer::State::Prepare(size_t index) {
  Param& p = params[index];
  p.started = true;
  // Runs inside backward (from the post-hook) or in Synchronize; nothing here is differentiated.
  torch::NoGradGuard no_grad;
  torch::Tensor& grad = p.tensor.mutable_grad();
  if (p.slot.defined() && !(grad.defined() && grad.layout() == torch::kStrided &&
                            grad.data_ptr() == p.slot.data_ptr())) {
    // zero_grad() that reset the gradient, or one the caller replaced: back into its place
    // (a gradient that no longer fits the place takes the parameter out of the layout).
    if (!grad.defined()) {
      p.slot.zero_();
      grad = p.slot;
    } else if (grad.sizes() == p.slot.sizes() && grad.scalar_type() == p.slot.scalar_type() &&
               grad.device() == p.slot.device() && grad.layout() == torch::kStrided) {
      p.slot.copy_(grad);
      grad = p.slot;
    } else {
      p.slot = torch::Tensor();
    }
  }
  if (!grad.defined()) {
    // No gradient on this rank (the parameter was not used): reduce zeros, so that every rank
    // reduces the same names and the others' gradients are still averaged over all ranks.
    // (As in Horovod, this cannot match another rank's sparse gradient of the parameter.)
    grad = torch::zeros_like(p.tensor);
  }
  torch::Tensor source = grad;
  if (grad.is_sparse()) {
    if (!options.sparse_as_dense) {
      StartSparse(index);
      return torch::Tensor();
    }
    source = grad.to_dense();
  }
  torch::Tensor target = options.compressor != nullptr ? options.compressor->Compress(index, source)
                                                       : Compress(source, options.compression);
  if (!target.is_contiguous()) target = target.contiguous();
  p.buffer = target.is_same(grad) ? torch::Tensor() : target;
  return target;
}

void GradientReducer::State::StartSparse(size_t index) {
  Param& p = params[index];
  const torch::Tensor& grad = p.tensor.grad();
  // Allgather concatenates along dimension 0: the indices go as one row per nonzero.
  torch::Tensor indices = grad._indices().t().contiguous();
  torch::Tensor values = grad._values().contiguous();
  p.indices_handle = AllgatherAsync(indices, p.name + ".indices", options.process_set);
  p.values_handle = AllgatherAsync(values, p.name + ".values", options.process_set);
  operations += 2;
}

void GradientReducer::State::StartReduction(size_t index) {
  Param& p = params[index];
  torch::Tensor target = Prepare(index);
  if (!target.defined()) return;  // a sparse gradient: allgathered
  col::Tensor view = internal::ToView(target, "allreduce '" + p.name + "'");
  p.handle = internal::RuntimeOrThrow().AllreduceAsync(p.name, view, view, reduce_options);
  ++operations;
}

void GradientReducer::State::StartGroup(size_t g) {
  std::vector<size_t> members;
  std::vector<std::string> names;
  std::vector<col::Tensor> views;
  for (size_t i : groups[g]) {
    if (params[i].started) continue;
    torch::Tensor target = Prepare(i);
    if (!target.defined()) continue;  // a sparse gradient: allgathered on its own
    members.push_back(i);
    names.push_back(params[i].name);
    views.push_back(internal::ToView(target, "allreduce '" + params[i].name + "'"));
  }
  group_ready[g] = 0;
  if (members.empty()) return;
  col::Handle handle =
      internal::RuntimeOrThrow().GroupedAllreduceAsync(names, views, views, reduce_options);
  ++operations;
  for (size_t i : members) params[i].handle = handle;
}

Status GradientReducer::State::Finish(size_t index) {
  Param& p = params[index];
  torch::NoGradGuard no_grad;
  torch::Tensor& grad = p.tensor.mutable_grad();
  if (p.indices_handle.valid()) {
    // Both are waited for, values first (as Horovod does), even when one failed.
    torch::Tensor values;
    torch::Tensor indices;
    Status st;
    try {
      values = p.values_handle.Wait();
    } catch (const Error& e) {
      st = e.status();
    }
    try {
      indices = p.indices_handle.Wait();
    } catch (const Error& e) {
      if (st.ok()) st = e.status();
    }
    if (!st.ok()) return st;
    if (options.op == ReduceOp::kAverage) values = values / set_size;
    torch::Tensor sum = torch::sparse_coo_tensor(indices.t(), values, grad.sizes(), grad.options());
    grad.zero_().add_(sum);
    return Status();
  }
  Status st = p.handle.Wait();
  if (!st.ok() || !(p.buffer.defined() || options.compressor != nullptr)) return st;
  const torch::Tensor& reduced = p.buffer.defined() ? p.buffer : grad;
  if (grad.is_sparse()) {
    // sparse_as_dense: the reduced dense gradient, back to sparse for the update (Horovod's).
    torch::Tensor dense;
    if (options.compressor != nullptr) {
      dense = torch::zeros(grad.sizes(), grad.options().layout(torch::kStrided));
      options.compressor->Decompress(index, reduced, dense);
    } else {
      dense = Decompress(reduced, grad.scalar_type());
    }
    grad.zero_().add_(dense.to_sparse(grad.sparse_dim()));
  } else if (options.compressor != nullptr) {
    options.compressor->Decompress(index, reduced, grad);
  } else {
    grad.copy_(reduced);  // decompresses fp16 into the gradient's dtype
  }
  return st;
}

namespace {

// state.groups from options.groups (indices into named_parameters, mapped by param_index) or
// options.num_groups (Horovod's split of the parameter list into that many contiguous parts).
void SetUpGroups(GradientReducer::State& state, const std::vector<int64_t>& param_index,
                 const GradientReducer::Options& options) {
  const std::string what = "DistributedOptimizer";
  if (options.num_groups < 0) {
    throw Error(InvalidArgument(what + ": num_groups must be >= 0, got " +
                                std::to_string(options.num_groups)));
  }
  if (options.num_groups > 0 && !options.groups.empty()) {
    throw Error(InvalidArgument(what + ": give either num_groups or groups, not both"));
  }
  std::vector<std::vector<size_t>> groups;
  if (options.num_groups > 0) {
    const size_t n = state.params.size();
    const size_t k = static_cast<size_t>(options.num_groups);
    const size_t d = n / k;
    const size_t r = n % k;
    for (size_t i = 0; i < k; ++i) {
      std::vector<size_t> group;
      for (size_t j = i * d + std::min(i, r); j < (i + 1) * d + std::min(i + 1, r); ++j) {
        group.push_back(j);
      }
      groups.push_back(std::move(group));
    }
  } else {
    std::vector<bool> seen(param_index.size(), false);
    for (const std::vector<size_t>& given : options.groups) {
      std::vector<size_t> group;
      for (size_t k : given) {
        if (k >= param_index.size()) {
          throw Error(InvalidArgument(what + ": groups name parameter " + std::to_string(k) +
                                      " of " + std::to_string(param_index.size())));
        }
        if (seen[k]) {
          throw Error(InvalidArgument(what + ": a parameter can only appear once in groups"));
        }
        seen[k] = true;
        if (param_index[k] >= 0) group.push_back(static_cast<size_t>(param_index[k]));
      }
      groups.push_back(std::move(group));
    }
  }
  for (std::vector<size_t>& group : groups) {
    if (group.empty()) continue;
    for (size_t i : group) state.params[i].group = static_cast<int>(state.groups.size());
    state.groups.push_back(std::move(group));
  }
  state.group_ready.assign(state.groups.size(), 0);
}

}  // namespace

GradientReducer::GradientReducer(
    const std::vector<std::pair<std::string, torch::Tensor>>& named_parameters, Options options) {
  const std::string what = "DistributedOptimizer";
  if (options.backward_passes_per_step < 1) {
    throw Error(InvalidArgument(what + ": backward_passes_per_step must be >= 1, got " +
                                std::to_string(options.backward_passes_per_step)));
  }
  if (options.op != ReduceOp::kAverage && options.op != ReduceOp::kSum) {
    throw Error(InvalidArgument(what + ": op must be Average or Sum"));
  }
  if (options.gradient_predivide_factor != 1.0 && options.op != ReduceOp::kAverage) {
    throw Error(InvalidArgument(what + ": gradient_predivide_factor is only supported with "
                                       "op Average"));
  }
  if (!(options.gradient_predivide_factor > 0.0)) {
    throw Error(InvalidArgument(what + ": gradient_predivide_factor must be positive"));
  }
  col::Runtime& rt = internal::RuntimeOrThrow();

  auto state = std::make_shared<State>();
  state->options = std::move(options);
  const Options& opts = state->options;
  state->reduce_options.op = internal::ToReduceOp(opts.op);
  state->reduce_options.process_set = opts.process_set;
  if (opts.op == ReduceOp::kAverage) {
    // The runtime divides by the set size after the postscale: grad/f summed, times f/size.
    state->reduce_options.prescale_factor = 1.0 / opts.gradient_predivide_factor;
    state->reduce_options.postscale_factor = opts.gradient_predivide_factor;
  }
  // Index in state->params of each of named_parameters (-1: does not require grad).
  std::vector<int64_t> param_index(named_parameters.size(), -1);
  for (size_t k = 0; k < named_parameters.size(); ++k) {
    const auto& [name, param] = named_parameters[k];
    if (!param.requires_grad()) continue;
    State::Param p;
    p.tensor = param;
    p.name = name.starts_with("allreduce.") ? name : "allreduce." + name;
    p.passes_left = opts.backward_passes_per_step;
    param_index[k] = static_cast<int64_t>(state->params.size());
    state->params.push_back(std::move(p));
  }
  SetUpGroups(*state, param_index, opts);

  // With one rank there is nothing to reduce: step() is the wrapped optimizer's (as in Horovod).
  // Nor on a rank outside the process set: it trains on its own gradients (as in Horovod).
  Result<col::ProcessSetInfo> set = rt.GetProcessSet(opts.process_set);
  internal::ThrowIfError(set.status(), what);
  state->set_size = set->size();
  state->hooks = set->included() && (set->size() > 1 || opts.force_hooks);
  if (state->hooks) {
    for (size_t i = 0; i < state->params.size(); ++i) {
      State::Param& p = state->params[i];
      p.accumulator = torch::autograd::impl::grad_accumulator(p.tensor);
      if (p.accumulator == nullptr) {
        throw Error(InvalidArgument(what + ": parameter '" + p.name +
                                    "' is not a leaf tensor (it has no gradient accumulator)"));
      }
      auto pre = std::make_unique<PreHook>(state, i);
      p.pre_hook = pre.get();
      p.accumulator->add_pre_hook(std::move(pre));
      p.post_hook_key = p.accumulator->add_post_hook(std::make_unique<PostHook>(state, i));
    }
  }
  state_ = std::move(state);
}

GradientReducer::~GradientReducer() {
  std::lock_guard<std::mutex> lock(state_->mu);
  for (State::Param& p : state_->params) {
    // The runtime may still write into the gradient (or our buffer): let it finish first.
    if (p.handle.valid()) p.handle.Wait().IgnoreError();
    for (const Handle* h : {&p.indices_handle, &p.values_handle}) {
      if (!h->valid()) continue;
      try {
        h->Wait();
      } catch (const Error&) {  // dropped, as documented
      }
    }
    if (p.accumulator == nullptr) continue;
    p.accumulator->del_post_hook(p.post_hook_key);
    auto& pre_hooks = p.accumulator->pre_hooks();
    for (auto it = pre_hooks.begin(); it != pre_hooks.end(); ++it) {
      if (it->get() == p.pre_hook) {
        pre_hooks.erase(it);
        break;
      }
    }
  }
}

void GradientReducer::Synchronize() {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.hooks || s.synchronized) return;
  // Start what backward did not: parameters without a gradient, and those with fewer passes
  // than backward_passes_per_step. Every rank starts the same names (the runtime matches them by
  // name, so the order does not matter for correctness; param order keeps it deterministic).
  // A parameter of a group starts with its whole group (one grouped allreduce).
  for (size_t i = 0; i < s.params.size(); ++i) {
    if (s.params[i].started) continue;
    if (s.params[i].group >= 0) {
      s.StartGroup(s.params[i].group);
    } else {
      s.StartReduction(i);
    }
  }
  Status first_error;
  for (size_t i = 0; i < s.params.size(); ++i) {
    State::Param& p = s.params[i];
    Status st = s.Finish(i);
    if (!st.ok() && first_error.ok()) first_error = st.WithContext("allreduce '" + p.name + "'");
    p.handle = col::Handle();
    p.indices_handle = Handle();
    p.values_handle = Handle();
    p.buffer = torch::Tensor();
    p.touched = false;
    p.started = false;
    p.passes_left = s.options.backward_passes_per_step;
  }
  s.group_ready.assign(s.groups.size(), 0);
  s.synchronized = true;
  if (!first_error.ok()) throw Error(first_error.WithContext("DistributedOptimizer"));
  if (!s.laid_out && !s.hook_order.empty()) s.LayOutGradients();
}

bool GradientReducer::Pending() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return std::any_of(state_->params.begin(), state_->params.end(),
                     [](const State::Param& p) { return p.touched || p.started; });
}

bool GradientReducer::hooks() const { return state_->hooks; }

int64_t GradientReducer::operations() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->operations;
}

void GradientReducer::set_backward_passes_per_step(int passes) {
  if (passes < 1) {
    throw Error(InvalidArgument("DistributedOptimizer: backward_passes_per_step must be >= 1"));
  }
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->options.backward_passes_per_step = passes;
  for (State::Param& p : state_->params) {
    // As in Horovod: the count restarts (passes already accumulated stay in the gradient).
    if (!p.started) p.passes_left = passes;
  }
  // No group has started but partly (a group starts all its members at once): recount.
  for (size_t g = 0; g < state_->groups.size(); ++g) {
    if (!state_->params[state_->groups[g].front()].started) state_->group_ready[g] = 0;
  }
}

int GradientReducer::backward_passes_per_step() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->options.backward_passes_per_step;
}

DistributedOptimizer::DistributedOptimizer(
    torch::optim::Optimizer& optimizer,
    const torch::OrderedDict<std::string, torch::Tensor>& named_parameters,
    DistributedOptimizerOptions options)
    : optimizer_(&optimizer) {
  Setup(&named_parameters, std::move(options));
}

DistributedOptimizer::DistributedOptimizer(
    std::shared_ptr<torch::optim::Optimizer> optimizer,
    const torch::OrderedDict<std::string, torch::Tensor>& named_parameters,
    DistributedOptimizerOptions options)
    : owned_(std::move(optimizer)), optimizer_(owned_.get()) {
  if (optimizer_ == nullptr) throw Error(InvalidArgument("DistributedOptimizer: null optimizer"));
  Setup(&named_parameters, std::move(options));
}

DistributedOptimizer::DistributedOptimizer(torch::optim::Optimizer& optimizer,
                                           DistributedOptimizerOptions options)
    : optimizer_(&optimizer) {
  Setup(nullptr, std::move(options));
}

DistributedOptimizer::~DistributedOptimizer() = default;

void DistributedOptimizer::Setup(
    const torch::OrderedDict<std::string, torch::Tensor>* named_parameters,
    DistributedOptimizerOptions options) {
  const std::string what = "DistributedOptimizer";
  std::unordered_map<const void*, std::string> names;
  if (named_parameters != nullptr) {
    for (const auto& item : *named_parameters) {
      names.emplace(item.value().unsafeGetTensorImpl(), item.key());
    }
  }
  std::vector<std::pair<std::string, torch::Tensor>> named;
  const auto& groups = optimizer_->param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& group_params = groups[g].params();
    for (size_t i = 0; i < group_params.size(); ++i) {
      const torch::Tensor& param = group_params[i];
      std::string name;
      if (named_parameters == nullptr) {
        name = "noname." + std::to_string(g) + "." + std::to_string(i);
      } else {
        auto it = names.find(param.unsafeGetTensorImpl());
        if (it == names.end()) {
          throw Error(InvalidArgument(
              what + ": named_parameters was given, but parameter " + std::to_string(i) +
              " of param group " + std::to_string(g) + " (shape " + c10::str(param.sizes()) +
              ") is not in it; pass the module's named_parameters() covering every parameter "
              "of the optimizer"));
        }
        name = it->second;
      }
      named.emplace_back(std::move(name), param);
    }
  }
  GradientReducer::Options reducer_options;
  static_cast<DistributedOptimizerOptions&>(reducer_options) = std::move(options);
  reducer_ = std::make_unique<GradientReducer>(named, std::move(reducer_options));
}

void DistributedOptimizer::Synchronize() { reducer_->Synchronize(); }

torch::Tensor DistributedOptimizer::step(const LossClosure& closure) {
  if (closure != nullptr) {
    // The closure runs backward inside the wrapped step: its gradients are reduced before the
    // wrapped optimizer reads them (Horovod's Python wrapper would read them mid-reduction).
    return optimizer_->step([this, &closure] {
      torch::Tensor loss = closure();
      Synchronize();
      return loss;
    });
  }
  if (should_synchronize_) Synchronize();
  return optimizer_->step();
}

void DistributedOptimizer::zero_grad() {
  if (reducer_->Pending()) {
    throw Error(FailedPrecondition(
        "DistributedOptimizer: zero_grad() was called after backward() but before step() or "
        "Synchronize(); allreduces are writing into the gradients. Call step() (or "
        "Synchronize()) first"));
  }
  optimizer_->zero_grad();
}

void DistributedOptimizer::set_backward_passes_per_step(int passes) {
  reducer_->set_backward_passes_per_step(passes);
}

int DistributedOptimizer::backward_passes_per_step() const {
  return reducer_->backward_passes_per_step();
}

DistributedOptimizer::SkipSynchronizeGuard::SkipSynchronizeGuard(DistributedOptimizer& optimizer)
    : optimizer_(optimizer) {
  optimizer_.should_synchronize_ = false;
}

DistributedOptimizer::SkipSynchronizeGuard::~SkipSynchronizeGuard() {
  optimizer_.should_synchronize_ = true;
}

}  // namespace trainyard::dist
