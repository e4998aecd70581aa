// The TorchScript backend (batcher.h's Backend over a torch::jit::Module), private to engine.cc.
// Built from torchscript_torch.cc with libtorch, or torchscript_notorch.cc without it (where
// every load fails saying so); this header names no torch type.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "serve/batcher.h"
#include "serve/engine.h"

namespace trainyard::serve {

// Loads instance `instance` of the TorchScript file `file` (torch::jit::load, eval mode, frozen
// when freezing works) on the CPU, or with options.gpu on CUDA device instance % device count.
// `intra_op_threads` (> 0) is the torch intra-op thread count of the thread that runs forwards.
// InvalidArgument when the file is no TorchScript; Unavailable when a GPU is asked but missing or
// when this build has no libtorch.
Result<std::unique_ptr<Backend>> LoadTorchScript(const std::string& file, bool gpu,
                                                 int intra_op_threads, int instance);

}  // namespace trainyard::serve
