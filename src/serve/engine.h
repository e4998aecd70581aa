// The tensor models a server runs: TorchScript files loaded with libtorch (no Python) behind a
// dynamic batcher. A ModelService (model_service.h) made here loads in the background: Ready()
// turns true once every instance has loaded, or LoadError() says why it could not.
//
// Dynamic batching: requests wait in a bounded queue (full -> Unavailable, "queue full"); each of
// `instances` workers takes the oldest request, then waits up to `max_batch_delay_ms` for more
// requests with the same item shape and dtype until the batch holds `batch_size` items, runs one
// forward on the concatenation and splits the outputs back along dimension 0. batch_size 1 turns
// batching off. A request whose deadline passes while queued is answered Timeout without running.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "serve/metrics.h"
#include "serve/model_service.h"

namespace trainyard::serve {

struct EngineOptions {
  int batch_size = 1;          // items per forward, at most
  int max_batch_delay_ms = 5;  // how long a partial batch waits for more
  int instances = 1;           // model copies, each with its own worker thread
  int queue_size = 1024;       // requests waiting, at most
  bool gpu = false;            // CUDA when the libtorch has it; else the load fails saying so
  int intra_op_threads = 0;    // torch intra-op threads per instance; 0 = cores / instances
};

// The model `name`:`version` from `path` (a TorchScript file, or a folder holding exactly one
// *.pt / *.pth file). `tags` are the registered model's tags: input_shape ("1,8,8", without the
// batch dimension) and input_dtype ("FP32") declare the input, so that a wrong request gets 400
// naming the expected shape from the first request on. Returns at once; loading continues in the
// background. InvalidArgument for bad options. `metrics` must outlive the service.
Result<std::unique_ptr<ModelService>> MakeTorchScriptService(
    const std::string& name, const std::string& version, const std::string& path,
    const std::map<std::string, std::string>& tags, const EngineOptions& options, Metrics* metrics);

// True when this build has libtorch (else MakeTorchScriptService's services fail to load, saying
// that this trainyard was built without libtorch).
bool HaveLibtorch();
// True when this build's libtorch has CUDA and a device is visible.
bool HaveCuda();

}  // namespace trainyard::serve
