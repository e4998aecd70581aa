// What the HTTP front end (http_server.h) serves: one ModelService per model version (a
// TorchScript model behind the dynamic batcher, batcher.h), and at most one scoring script
// (python_pool.h) behind /score.
//
// Errors are Status values mapped to HTTP by the front end:
//   InvalidArgument -> 400 (bad JSON, wrong dtype or shape: the message names the expected one)
//   NotFound        -> 404      Unavailable -> 503 (loading, queue full, worker restarting)
//   Timeout         -> 504      anything else -> 500
// Every method is safe to call from many threads at once (one per HTTP connection); calls block
// the calling thread until the answer or the deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "serve/tensor.h"

namespace trainyard::serve {

using Clock = std::chrono::steady_clock;

// One input or output as the model declares it (OIP model metadata). A -1 in the shape is a
// dimension of any size (the batch dimension is always -1).
struct TensorSpec {
  std::string name;
  DType dtype = DType::kFP32;
  std::vector<int64_t> shape;
};

struct ModelInfo {
  std::string name;
  std::string version;   // "1", "2", ...
  std::string platform;  // "pytorch_torchscript"
  // Known after the model has loaded and (for TorchScript, which declares no shapes) after the
  // first successful request or from the model's tags input_shape / input_dtype; empty before.
  std::vector<TensorSpec> inputs, outputs;
};

class ModelService {
 public:
  virtual ~ModelService() = default;

  // Stable for the object's life except inputs/outputs, which fill in once known.
  virtual ModelInfo Info() const = 0;
  // True once loaded and able to answer (OIP /v2/models/{m}/ready); while false, Infer answers
  // Unavailable ("model NAME:V is still loading").
  virtual bool Ready() const = 0;
  // Why loading failed; "" while loading or once loaded.
  virtual std::string LoadError() const = 0;

  // Runs one request: `inputs` each carry the batch dimension first (one request may hold
  // several items). The outputs keep that dimension. Batched with other requests when the
  // service batches; answers Timeout when `deadline` passes before the result.
  virtual Result<std::vector<Tensor>> Infer(std::vector<Tensor> inputs,
                                            Clock::time_point deadline) = 0;
};

}  // namespace trainyard::serve
