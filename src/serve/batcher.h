// The dynamic batcher behind every tensor model (engine.h): a ModelService over `instances`
// copies of a model (Backends), each driven by its own worker thread.
//
// Terms:
//   request   one Infer() call: one or more inputs, each with the same number of items (its
//             dimension 0). A request is never split across forwards.
//   signature a request's datatypes and item shapes (each input's shape without dimension 0);
//             only requests with the same signature share a forward.
//   collector the one worker (at a time) that is forming a batch. It takes the oldest request,
//             then takes requests of the same signature in arrival order while they fit in
//             batch_size items, waiting up to max_batch_delay_ms for more; then it hands the
//             collector's role to the next free worker and runs its forward. One collector at a
//             time means that a free instance never steals half of a batch being formed.
//   specs     the inputs a request must match: declared (the model's tags, checked from the first
//             request on) or learned from the first request that succeeds; the outputs' specs are
//             learned from the first successful forward. Requests that do not match are refused
//             in Infer, before queueing, naming the expected shape.
//
// Loading runs on a thread of its own: each instance is loaded (and, with declared inputs of
// fixed size, warmed up with two forwards of zeros), then the workers start and Ready() turns
// true. A request whose deadline passes while it waits is answered Timeout without running.
// Destroying the service stops the workers after their current forward and answers the requests
// still queued with Unavailable.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "serve/metrics.h"
#include "serve/model_service.h"

namespace trainyard::serve {

// One loaded copy of a model. Used by one thread at a time (its worker; the loading thread
// before that), never shared.
class Backend {
 public:
  virtual ~Backend() = default;

  // Runs one forward on `inputs` (each with the batch dimension first, the same number of items
  // in each). Returns the outputs, each with the batch dimension first (named, or "" to be
  // called output__<i>). InvalidArgument when the model refuses the inputs (the message is for
  // the user: it names the problem); any other error for a failure of the backend itself.
  virtual Result<std::vector<Tensor>> Forward(std::vector<Tensor> inputs) = 0;

  // The model's input names in order, when it declares them (TorchScript: forward's arguments);
  // empty when it does not (the inputs are then called input__<i>).
  virtual std::vector<std::string> InputNames() const { return {}; }
};

// Loads instance `instance` (0-based) of the model; called on the loading thread. An error
// becomes the service's LoadError().
using BackendLoader = std::function<Result<std::unique_ptr<Backend>>(int instance)>;

struct BatcherOptions {
  std::string name;
  std::string version;
  std::string platform;  // ModelInfo::platform
  int batch_size = 1;
  int max_batch_delay_ms = 5;
  int instances = 1;
  int queue_size = 1024;
  // Declared inputs (shape with -1 for the batch dimension; names are filled from the backend's
  // InputNames() when empty); empty: learned from the first successful request.
  std::vector<TensorSpec> declared_inputs;
};

// Starts loading the instances with `loader` on a background thread and returns at once.
// InvalidArgument for options out of range (batch_size, instances, queue_size < 1, delay < 0).
// `metrics` may be null; otherwise it must outlive the service.
Result<std::unique_ptr<ModelService>> MakeBatchedService(BatcherOptions options,
                                                         BackendLoader loader, Metrics* metrics);

}  // namespace trainyard::serve
