// Shared by the files of the torch adapter (not installed): the process-wide runtime, the
// conversions between torch and the collective runtime's views, and the Handle's state.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "collective/collective.h"
#include "trainyard/dist.h"

namespace trainyard::dist {

struct Handle::State {
  collective::Handle handle;
  std::string what;  // "allreduce 'name'", for error messages
  // Kept alive until the operation is done: the runtime reads and writes their memory.
  torch::Tensor input;
  torch::Tensor output;  // what Wait() returns
  torch::Tensor target;  // what the runtime writes: output, or its staged contiguous copy
  // Outputs sized by the other ranks (allgather, alltoall, reducescatter): made by the output
  // allocator on the runtime's thread, read after Wait().
  std::shared_ptr<torch::Tensor> gathered;
  // A grouped allreduce's inputs and outputs (output is outputs[0]).
  std::vector<torch::Tensor> inputs;
  std::vector<torch::Tensor> outputs;
  // In-place operations on non-contiguous tensors: (contiguous copy the runtime writes, the
  // caller's tensor), copied back once by the first successful Wait().
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copy_back;
  std::once_flag copied;
};

namespace internal {

// The runtime made by Init(); throws Error(FailedPrecondition) before Init / after Shutdown.
collective::Runtime& RuntimeOrThrow();
// Throws Error(status with "context: " prepended) unless OK.
void ThrowIfError(const Status& status, const std::string& context);
// Throws InvalidArgument naming `what` for dtypes the runtime lacks (int16, complex, ...).
collective::DataType ToDataType(torch::ScalarType type, const std::string& what);
// A view of a defined, dense, contiguous CPU tensor (or CUDA tensor where NCCL is built; work on
// a non-default current stream of its device is waited for); throws (naming `what`) otherwise.
collective::Tensor ToView(const torch::Tensor& tensor, const std::string& what);
collective::ReduceOp ToReduceOp(ReduceOp op);
// "allreduce 'name'" (or just "allreduce" for an empty name).
std::string Describe(const char* op, const std::string& name);

}  // namespace internal
}  // namespace trainyard::dist
