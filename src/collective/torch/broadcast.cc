// BroadcastParameters and BroadcastOptimizerState (dist.h).
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "collective/torch/internal.h"

namespace trainyard::dist {

void BroadcastParameters(const std::vector<std::pair<std::string, torch::Tensor>>& named_tensors,
                         int root_rank, ProcessSetId process_set) {
  // All broadcasts in flight at once (the runtime runs them in one coordination cycle), then wait.
  torch::NoGradGuard no_grad;
  std::vector<Handle> handles;
  handles.reserve(named_tensors.size());
  for (const auto& [name, tensor] : named_tensors) {
    if (!tensor.defined()) continue;
    // .data(): the in-place write must not be recorded by autograd (parameters are leaves that
    // require grad).
    handles.push_back(BroadcastAsync_(tensor.data(), root_rank, "broadcast." + name, process_set));
  }
  for (const Handle& h : handles) h.Wait();
}

void BroadcastParameters(const torch::OrderedDict<std::string, torch::Tensor>& named_tensors,
                         int root_rank, ProcessSetId process_set) {
  std::vector<std::pair<std::string, torch::Tensor>> items;
  items.reserve(named_tensors.size());
  for (const auto& item : named_tensors) items.emplace_back(item.key(), item.value());
  BroadcastParameters(items, root_rank, process_set);
}

void BroadcastParameters(const torch::nn::Module& module, int root_rank, ProcessSetId process_set) {
  torch::OrderedDict<std::string, torch::Tensor> all = module.named_parameters(/*recurse=*/true);
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    if (item.value().defined()) all.insert(item.key(), item.value());
  }
  BroadcastParameters(all, root_rank, process_set);
}

namespace {

// How the state of one optimizer class is described, read and created.
struct StateCodec {
  // Hyperparameters of a param group as doubles, and back.
  std::function<std::vector<double>(const torch::optim::OptimizerOptions&)> get_options;
  std::function<void(torch::optim::OptimizerOptions&, const std::vector<double>&)> set_options;
  // A new, empty per-parameter state.
  std::function<std::unique_ptr<torch::optim::OptimizerParamState>()> make_state;
  // The state's tensors, as references into it; and its step counter (nullptr: none).
  std::function<std::vector<torch::Tensor*>(torch::optim::OptimizerParamState&)> tensors;
  std::function<int64_t*(torch::optim::OptimizerParamState&)> step;
  std::vector<std::string> tensor_names;
};

template <typename AdamT, typename OptionsT, typename StateT>
StateCodec AdamCodec() {
  StateCodec c;
  c.get_options = [](const torch::optim::OptimizerOptions& base) {
    const auto& o = static_cast<const OptionsT&>(base);
    return std::vector<double>{o.lr(),  std::get<0>(o.betas()), std::get<1>(o.betas()),
                               o.eps(), o.weight_decay(),       o.amsgrad() ? 1.0 : 0.0};
  };
  c.set_options = [](torch::optim::OptimizerOptions& base, const std::vector<double>& v) {
    auto& o = static_cast<OptionsT&>(base);
    o.lr(v[0]).betas(std::make_tuple(v[1], v[2])).eps(v[3]).weight_decay(v[4]).amsgrad(v[5] != 0);
  };
  c.make_state = [] { return std::make_unique<StateT>(); };
  c.tensors = [](torch::optim::OptimizerParamState& base) {
    auto& s = static_cast<StateT&>(base);
    return std::vector<torch::Tensor*>{&s.exp_avg(), &s.exp_avg_sq(), &s.max_exp_avg_sq()};
  };
  c.step = [](torch::optim::OptimizerParamState& base) {
    return &static_cast<StateT&>(base).step();
  };
  c.tensor_names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return c;
}

StateCodec SgdCodec() {
  StateCodec c;
  c.get_options = [](const torch::optim::OptimizerOptions& base) {
    const auto& o = static_cast<const torch::optim::SGDOptions&>(base);
    return std::vector<double>{o.lr(), o.momentum(), o.dampening(), o.weight_decay(),
                               o.nesterov() ? 1.0 : 0.0};
  };
  c.set_options = [](torch::optim::OptimizerOptions& base, const std::vector<double>& v) {
    auto& o = static_cast<torch::optim::SGDOptions&>(base);
    o.lr(v[0]).momentum(v[1]).dampening(v[2]).weight_decay(v[3]).nesterov(v[4] != 0);
  };
  c.make_state = [] { return std::make_unique<torch::optim::SGDParamState>(); };
  c.tensors = [](torch::optim::OptimizerParamState& base) {
    return std::vector<torch::Tensor*>{
        &static_cast<torch::optim::SGDParamState&>(base).momentum_buffer()};
  };
  c.step = [](torch::optim::OptimizerParamState&) -> int64_t* { return nullptr; };
  c.tensor_names = {"momentum_buffer"};
  return c;
}

// Any other optimizer: its learning rate only (OptimizerOptions::get_lr/set_lr).
StateCodec LrOnlyCodec() {
  StateCodec c;
  c.get_options = [](const torch::optim::OptimizerOptions& o) {
    return std::vector<double>{o.get_lr()};
  };
  c.set_options = [](torch::optim::OptimizerOptions& o, const std::vector<double>& v) {
    o.set_lr(v[0]);
  };
  return c;
}

// The key of a parameter in Optimizer::state(): the address of its TensorImpl, as a string in
// libtorch 1.x (c10::guts::to_string, an ostream of the pointer) and as the pointer in 2.x.
template <typename Map>
typename Map::key_type StateKey(const torch::Tensor& param) {
  if constexpr (std::is_same_v<typename Map::key_type, std::string>) {
    std::ostringstream out;
    out << param.unsafeGetTensorImpl();
    return out.str();
  } else {
    return param.unsafeGetTensorImpl();
  }
}

}  // namespace

void BroadcastOptimizerState(torch::optim::Optimizer& optimizer, int root_rank) {
  const std::string what = "BroadcastOptimizerState";
  torch::NoGradGuard no_grad;
  StateCodec codec;
  bool known = true;
  if (dynamic_cast<torch::optim::SGD*>(&optimizer) != nullptr) {
    codec = SgdCodec();
  } else if (dynamic_cast<torch::optim::AdamW*>(&optimizer) != nullptr) {
    codec =
        AdamCodec<torch::optim::AdamW, torch::optim::AdamWOptions, torch::optim::AdamWParamState>();
  } else if (dynamic_cast<torch::optim::Adam*>(&optimizer) != nullptr) {
    codec =
        AdamCodec<torch::optim::Adam, torch::optim::AdamOptions, torch::optim::AdamParamState>();
  } else {
    codec = LrOnlyCodec();
    known = false;
  }

  // 1. Hyperparameters of every param group, in one float64 tensor.
  auto& groups = optimizer.param_groups();
  std::vector<double> values;
  size_t per_group = 0;
  for (auto& group : groups) {
    std::vector<double> v = codec.get_options(group.options());
    per_group = v.size();
    values.insert(values.end(), v.begin(), v.end());
  }
  torch::Tensor hyper = torch::tensor(values, torch::kFloat64);
  Broadcast_(hyper, root_rank, "broadcast_optimizer.options");
  auto hyper_values = hyper.accessor<double, 1>();
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<double> v(per_group);
    for (size_t k = 0; k < per_group; ++k) {
      v[k] = hyper_values[static_cast<int64_t>(g * per_group + k)];
    }
    codec.set_options(groups[g].options(), v);
  }

  auto& state = optimizer.state();
  using StateMap = std::remove_reference_t<decltype(state)>;
  if (!known) {
    // Unknown state layout: refuse (on every rank alike) rather than leave ranks different.
    torch::Tensor any = torch::tensor({state.empty() ? 0 : 1}, torch::kInt32);
    Allreduce_(any, ReduceOp::kMax, "broadcast_optimizer.has_state");
    if (any.item<int32_t>() != 0) {
      throw Error(Unimplemented(
          what +
          ": only the learning rate of this optimizer was broadcast; its per-parameter "
          "state is not supported (SGD, Adam and AdamW are)"));
    }
    return;
  }

  // 2. Which parameters have state on root, and which of its tensors are defined:
  //    bit 0 = has state, bit 1+k = tensor k defined. Ranks then match root.
  std::vector<torch::Tensor> params;
  for (auto& group : groups) {
    for (const auto& p : group.params()) params.push_back(p);
  }
  torch::Tensor mask = torch::zeros({static_cast<int64_t>(params.size())}, torch::kInt64);
  auto mask_values = mask.accessor<int64_t, 1>();
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = state.find(StateKey<StateMap>(params[i]));
    if (it == state.end()) continue;
    int64_t bits = 1;
    std::vector<torch::Tensor*> tensors = codec.tensors(*it->second);
    for (size_t k = 0; k < tensors.size(); ++k) {
      if (tensors[k]->defined()) bits |= int64_t{1} << (k + 1);
    }
    mask_values[static_cast<int64_t>(i)] = bits;
  }
  Broadcast_(mask, root_rank, "broadcast_optimizer.state_mask");

  // 3. Create missing state like root's (zeros), drop what root lacks, then broadcast the tensors
  //    and the step counters.
  // The state tensors go like parameters (the function Python's broadcast_optimizer_state uses).
  std::vector<std::pair<std::string, torch::Tensor>> tensors_to_send;
  std::vector<int64_t*> steps;
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t bits = mask_values[static_cast<int64_t>(i)];
    auto key = StateKey<StateMap>(params[i]);
    if ((bits & 1) == 0) {
      state.erase(key);
      continue;
    }
    auto it = state.find(key);
    if (it == state.end()) it = state.emplace(key, codec.make_state()).first;
    std::vector<torch::Tensor*> tensors = codec.tensors(*it->second);
    for (size_t k = 0; k < tensors.size(); ++k) {
      torch::Tensor& t = *tensors[k];
      if ((bits & (int64_t{1} << (k + 1))) == 0) {
        t = torch::Tensor();
        continue;
      }
      if (!t.defined() || !t.sizes().equals(params[i].sizes()) || !t.is_contiguous()) {
        t = torch::zeros_like(params[i], torch::MemoryFormat::Contiguous);
      }
      tensors_to_send.emplace_back(
          "optimizer.state." + std::to_string(i) + "." + codec.tensor_names[k], t);
    }
    if (int64_t* step = codec.step(*it->second); step != nullptr) steps.push_back(step);
  }
  BroadcastParameters(tensors_to_send, root_rank);
  if (!steps.empty()) {
    torch::Tensor counts = torch::empty({static_cast<int64_t>(steps.size())}, torch::kInt64);
    auto count_values = counts.accessor<int64_t, 1>();
    for (size_t j = 0; j < steps.size(); ++j) count_values[static_cast<int64_t>(j)] = *steps[j];
    Broadcast_(counts, root_rank, "broadcast_optimizer.steps");
    for (size_t j = 0; j < steps.size(); ++j) *steps[j] = count_values[static_cast<int64_t>(j)];
  }
}

}  // namespace trainyard::dist
