// The TorchScript backend with libtorch (torchscript.h).
//
// Inputs become torch tensors without a copy (torch::from_blob over the request's bytes, which
// outlive the forward); outputs are copied once into the answer's bytes. Forwards run under
// c10::InferenceMode. The intra-op thread count is per thread with OpenMP, so each thread that
// runs forwards sets it once.
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/script.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "serve/torchscript.h"

namespace trainyard::serve {
namespace {

Result<c10::ScalarType> TorchType(DType dtype) {
  switch (dtype) {
    case DType::kBool: return c10::ScalarType::Bool;
    case DType::kUInt8: return c10::ScalarType::Byte;
    case DType::kInt8: return c10::ScalarType::Char;
    case DType::kInt16: return c10::ScalarType::Short;
    case DType::kInt32: return c10::ScalarType::Int;
    case DType::kInt64: return c10::ScalarType::Long;
    case DType::kFP16: return c10::ScalarType::Half;
    case DType::kBF16: return c10::ScalarType::BFloat16;
    case DType::kFP32: return c10::ScalarType::Float;
    case DType::kFP64: return c10::ScalarType::Double;
    case DType::kUInt16:
    case DType::kUInt32:
    case DType::kUInt64:
      return InvalidArgument("datatype " + std::string(DTypeName(dtype)) +
                             " has no tensor type in this libtorch; send INT32 or INT64");
    case DType::kBytes: break;
  }
  return InvalidArgument("BYTES inputs cannot go to a TorchScript model (it takes tensors)");
}

Result<DType> OipType(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Bool: return DType::kBool;
    case c10::ScalarType::Byte: return DType::kUInt8;
    case c10::ScalarType::Char: return DType::kInt8;
    case c10::ScalarType::Short: return DType::kInt16;
    case c10::ScalarType::Int: return DType::kInt32;
    case c10::ScalarType::Long: return DType::kInt64;
    case c10::ScalarType::Half: return DType::kFP16;
    case c10::ScalarType::BFloat16: return DType::kBF16;
    case c10::ScalarType::Float: return DType::kFP32;
    case c10::ScalarType::Double: return DType::kFP64;
    default: break;
  }
  return Internal(std::string("the model returned a tensor of type ") + c10::toString(type) +
                  ", which the Open Inference Protocol cannot carry");
}

// The part of a torch error a user needs. The TorchScript interpreter wraps the cause in a
// traceback that ends with the code and a "<--- HERE" marker; the first unindented line after
// the marker is the cause ("RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x64 and
// 32x10)", "builtins.ValueError: ..."). Otherwise the first non-empty line.
std::string Brief(const std::string& what) {
  auto clean = [](std::string line) {
    for (const char* prefix : {"RuntimeError: ", "builtins."}) {
      if (line.rfind(prefix, 0) == 0) line = line.substr(std::strlen(prefix));
    }
    return line;
  };
  size_t here = what.rfind("<--- HERE");
  if (here != std::string::npos) {
    for (size_t at = what.find('\n', here); at != std::string::npos && at + 1 < what.size();) {
      size_t end = what.find('\n', at + 1);
      std::string line = what.substr(at + 1, end == std::string::npos ? end : end - at - 1);
      if (!line.empty() && line[0] != ' ') return clean(line);
      at = end;
    }
  }
  size_t begin = what.find_first_not_of("\n ");
  if (begin == std::string::npos) return "unknown torch error";
  size_t end = what.find('\n', begin);
  return clean(what.substr(begin, end == std::string::npos ? end : end - begin));
}

std::string Brief(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) {
    return Brief(c10->what_without_backtrace());
  }
  return Brief(std::string(e.what()));
}

Result<Tensor> FromTorch(torch::Tensor t, std::string name) {
  if (t.is_sparse() || t.is_quantized()) {
    return Internal("output \"" + name + "\" is a sparse or quantized tensor; return a dense one");
  }
  ASSIGN_OR_RETURN(DType dtype, OipType(t.scalar_type()));
  if (!t.device().is_cpu()) t = t.to(torch::kCPU);
  t = t.contiguous();
  Tensor out;
  out.name = std::move(name);
  out.dtype = dtype;
  out.shape.assign(t.sizes().begin(), t.sizes().end());
  out.data.resize(t.nbytes());
  if (!out.data.empty()) std::memcpy(out.data.data(), t.data_ptr(), out.data.size());
  return out;
}

// A forward's result as tensors: one tensor, a tuple or list of tensors (output__<i>), or a
// dict of str to tensor (named by its keys).
Result<std::vector<Tensor>> Outputs(const c10::IValue& value) {
  std::vector<Tensor> out;
  auto add = [&](const c10::IValue& v, std::string name) -> Status {
    if (!v.isTensor()) {
      return Internal("the model's output \"" + name + "\" is a " + v.tagKind() +
                      ", not a tensor; return a tensor, a tuple or list of tensors, or a "
                      "Dict[str, Tensor]");
    }
    ASSIGN_OR_RETURN(Tensor t, FromTorch(v.toTensor(), std::move(name)));
    out.push_back(std::move(t));
    return Status::Ok();
  };
  auto indexed = [](size_t i) { return "output__" + std::to_string(i); };
  if (value.isTensor()) {
    RETURN_IF_ERROR(add(value, indexed(0)));
  } else if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    for (size_t i = 0; i < elements.size(); ++i) RETURN_IF_ERROR(add(elements[i], indexed(i)));
  } else if (value.isList()) {
    auto list = value.toListRef();
    for (size_t i = 0; i < list.size(); ++i) RETURN_IF_ERROR(add(list[i], indexed(i)));
  } else if (value.isGenericDict()) {
    for (const auto& entry : value.toGenericDict()) {
      if (!entry.key().isString()) {
        return Internal("the model returned a dict whose keys are not strings");
      }
      RETURN_IF_ERROR(add(entry.value(), entry.key().toStringRef()));
    }
  } else {
    RETURN_IF_ERROR(add(value, indexed(0)));
  }
  return out;
}

class TorchScriptBackend : public Backend {
 public:
  TorchScriptBackend(torch::jit::Module module, torch::Device device, int threads)
      : module_(std::move(module)), device_(device), threads_(threads) {
    const auto& arguments = module_.get_method("forward").function().getSchema().arguments();
    for (size_t i = 1; i < arguments.size(); ++i) input_names_.push_back(arguments[i].name());
  }

  std::vector<std::string> InputNames() const override { return input_names_; }

  Result<std::vector<Tensor>> Forward(std::vector<Tensor> inputs) override {
    thread_local int threads_set = 0;
    if (threads_set != threads_) {
      at::set_num_threads(threads_);
      threads_set = threads_;
    }
    c10::InferenceMode inference_mode;
    std::vector<c10::IValue> args;
    args.reserve(inputs.size());
    try {
      for (Tensor& t : inputs) {
        ASSIGN_OR_RETURN(c10::ScalarType type, TorchType(t.dtype));
        torch::Tensor x = torch::from_blob(t.data.data(), t.shape, torch::dtype(type));
        if (device_.is_cuda()) x = x.to(device_);
        args.emplace_back(std::move(x));
      }
      c10::IValue result = module_.forward(std::move(args));
      return Outputs(result);
    } catch (const std::exception& e) {
      return InvalidArgument(Brief(e));
    }
  }

 private:
  torch::jit::Module module_;
  torch::Device device_;
  int threads_;
  std::vector<std::string> input_names_;
};

}  // namespace

Result<std::unique_ptr<Backend>> LoadTorchScript(const std::string& file, bool gpu,
                                                 int intra_op_threads, int instance) {
  torch::Device device(torch::kCPU);
  if (gpu) {
    if (!torch::cuda::is_available()) {
      return Unavailable(at::hasCUDA() ? "GPU asked but no CUDA device is visible"
                                       : "GPU asked but this libtorch has no CUDA");
    }
    device = torch::Device(
        torch::kCUDA,
        static_cast<c10::DeviceIndex>(instance % static_cast<int>(torch::cuda::device_count())));
  }
  torch::jit::Module module;
  try {
    module = torch::jit::load(file, device);
  } catch (const std::exception& e) {
    return InvalidArgument("cannot load " + file + " as TorchScript (" + Brief(e) +
                           "); save the model with torch.jit.script(model).save(path) or "
                           "torch.jit.trace: a state_dict or a pickled module cannot be served");
  }
  try {
    module.eval();
    if (!module.find_method("forward")) {
      return InvalidArgument(file + ": the TorchScript module has no forward method");
    }
    // Freezing inlines the parameters and folds constants; a module that cannot be frozen
    // (it mutates its attributes, say) runs as it is.
    try {
      module = torch::jit::freeze(module);
    } catch (const std::exception&) {
    }
    return std::unique_ptr<Backend>(std::make_unique<TorchScriptBackend>(
        std::move(module), device, intra_op_threads > 0 ? intra_op_threads : 1));
  } catch (const std::exception& e) {
    return InvalidArgument("cannot prepare " + file + ": " + Brief(e));
  }
}

bool HaveLibtorch() { return true; }

bool HaveCuda() { return torch::cuda::is_available(); }

}  // namespace trainyard::serve
