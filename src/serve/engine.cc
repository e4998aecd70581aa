// TorchScript services (engine.h): the model file found in the registered path, the declared
// input read from the tags, and a dynamic batcher (batcher.h) over TorchScript backends
// (torchscript.h). Problems with the path or the tags fail the load (LoadError), so that a server
// keeps serving its other models and says why this one cannot.
#include "serve/engine.h"

#include <algorithm>
#include <filesystem>
#include <thread>
#include <utility>
#include <vector>

#include "serve/batcher.h"
#include "serve/torchscript.h"

namespace trainyard::serve {
namespace {

namespace fs = std::filesystem;

bool IsModelFile(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && (p.extension() == ".pt" || p.extension() == ".pth");
}

// `path` itself when it is a file; in a folder, its one *.pt / *.pth file (at the top, else below).
Result<std::string> FindModelFile(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFound("model path " + path + " does not exist");
  if (!fs::is_directory(path, ec)) return path;
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    if (IsModelFile(entry.path())) found.push_back(entry.path().string());
  }
  if (found.empty()) {
    for (auto it = fs::recursive_directory_iterator(path, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (IsModelFile(it->path())) found.push_back(it->path().string());
    }
  }
  std::sort(found.begin(), found.end());
  if (found.size() == 1) return found[0];
  if (found.empty()) {
    return NotFound("the model folder " + path + " holds no *.pt or *.pth file to serve");
  }
  std::string names;
  for (const auto& f : found) {
    names += (names.empty() ? "" : ", ") + fs::relative(f, path, ec).string();
  }
  return InvalidArgument("the model folder " + path + " holds several model files (" + names +
                         "); register the one to serve");
}

// The tags input_shape ("1,8,8" or "[1, 8, 8]", -1 for any size; without the batch dimension)
// and input_dtype ("FP32", the default) as one declared input; none without input_shape.
Result<std::vector<TensorSpec>> DeclaredInputs(const std::map<std::string, std::string>& tags) {
  auto shape_tag = tags.find("input_shape");
  auto dtype_tag = tags.find("input_dtype");
  if (shape_tag == tags.end()) {
    if (dtype_tag != tags.end()) {
      return InvalidArgument("tag input_dtype=" + dtype_tag->second +
                             " needs tag input_shape too (the item's shape without the batch "
                             "dimension, -1 for any size: e.g. input_shape=1,8,8)");
    }
    return std::vector<TensorSpec>{};
  }
  TensorSpec spec;
  spec.shape.push_back(-1);
  std::string text = shape_tag->second;
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '[' || c == ']'; }, ' ');
  size_t at = 0;
  while (at < text.size()) {
    size_t comma = text.find(',', at);
    std::string part = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    at = comma == std::string::npos ? text.size() : comma + 1;
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    if (part.empty() && comma == std::string::npos && spec.shape.size() == 1) break;  // "" or "[]"
    size_t used = 0;
    int64_t d = 0;
    try {
      d = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (part.empty() || used != part.size() || (d < 1 && d != -1)) {
      return InvalidArgument("tag input_shape=" + shape_tag->second +
                             ": expected dimensions separated by commas (positive, or -1 for "
                             "any size), such as 1,8,8");
    }
    spec.shape.push_back(d);
  }
  if (dtype_tag != tags.end()) {
    auto dtype = ParseDType(dtype_tag->second);
    if (!dtype) {
      return InvalidArgument("tag input_dtype=" + dtype_tag->second +
                             ": not a datatype (BOOL, UINT8, INT8, INT16, INT32, INT64, FP16, "
                             "BF16, FP32, FP64)");
    }
    spec.dtype = *dtype;
  }
  return std::vector<TensorSpec>{spec};
}

}  // namespace

Result<std::unique_ptr<ModelService>> MakeTorchScriptService(
    const std::string& name, const std::string& version, const std::string& path,
    const std::map<std::string, std::string>& tags, const EngineOptions& options,
    Metrics* metrics) {
  if (options.intra_op_threads < 0) return InvalidArgument("intra-op threads must be >= 0");
  BatcherOptions batcher;
  batcher.name = name;
  batcher.version = version;
  batcher.platform = "pytorch_torchscript";
  batcher.batch_size = options.batch_size;
  batcher.max_batch_delay_ms = options.max_batch_delay_ms;
  batcher.instances = options.instances;
  batcher.queue_size = options.queue_size;
  auto declared = DeclaredInputs(tags);
  Status tag_error = declared.status();
  if (declared.ok()) batcher.declared_inputs = std::move(declared).value();

  int threads = options.intra_op_threads;
  if (threads == 0) {
    int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / std::max(1, options.instances));
  }
  const bool gpu = options.gpu;
  BackendLoader loader = [path, tag_error, gpu,
                          threads](int instance) -> Result<std::unique_ptr<Backend>> {
    RETURN_IF_ERROR(tag_error);
    ASSIGN_OR_RETURN(std::string file, FindModelFile(path));
    return LoadTorchScript(file, gpu, threads, instance);
  };
  return MakeBatchedService(std::move(batcher), std::move(loader), metrics);
}

}  // namespace trainyard::serve
