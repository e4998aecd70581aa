// The NCCL communicator: a C10dCommunicator (c10d_communicator.h) over c10d's ProcessGroupNCCL, for
// buffers in CUDA memory. Compiled only when the libtorch found at build time has CUDA
// (TRAINYARD_HAVE_NCCL, USE_C10D_NCCL); it compiles out with a CPU-only libtorch.
//
// Status: the communicator is complete (every Communicator method; coordination methods stage
// their few bytes through the device), but the runtime does not route CUDA tensors to it yet — it
// still refuses them with Unimplemented (runtime_ops.cc), and Runtime::NcclBuilt() stays false.
// Routing needs a second communicator per process set, chosen per response by the tensor's device
// (docs/collective.md, "Gloo and NCCL"). nccl_check.cc (scripts/gpu_check.sh) exercises it on a
// GPU machine.
//
// Streams: every operation waits for its Work and then synchronizes the current stream of the
// device, so that the host may read or reuse the buffers when a call returns, like every other
// transport. Buffers must be ready on the device when a call starts (the caller's stream work is
// complete or ordered before the current stream of this thread).
#pragma once

#include <memory>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "collective/communicator.h"
#include "common/status.h"

namespace trainyard::collective {

// Collective over `size` ranks sharing `store` (each passes its `rank`): creates a communicator of
// them on CUDA device `device_index`. Operations fail with Unavailable after `timeout_seconds`
// without progress (c10d's NCCL watchdog).
Result<std::unique_ptr<Communicator>> CreateNcclCommunicator(
    const c10::intrusive_ptr<::c10d::Store>& store, int rank, int size, int device_index,
    double timeout_seconds);

}  // namespace trainyard::collective
