// The NCCL communicator: a C10dCommunicator (c10d_communicator.h) over c10d's ProcessGroupNCCL, for
// buffers in CUDA memory. Compiled only when the libtorch found at build time has CUDA
// (TRAINYARD_HAVE_NCCL, USE_C10D_NCCL); it compiles out with a CPU-only libtorch.
//
// The runtime uses it as a process set's *device communicator* (World::device): CreateWorld
// attaches one to every world when each rank has a CUDA device (AttachNcclDevice), process sets
// split it alongside their host communicator, and the executor runs CUDA tensors on it while
// coordination stays on the host communicator. Besides the data methods it implements the memory
// methods of Communicator on the device (copies, scaling with a torch mul on a from_blob CUDA
// tensor, scratch memory), so the ops never touch device pointers from the CPU. tests/gpu
// (nccl_communicator_test.cc, runtime_device_test.cc; scripts/gpu_check.sh) exercises it on a GPU
// machine.
//
// Streams: every operation (collective or memory) runs on the current stream of the device for
// the calling thread (ProcessGroupNCCL orders its own stream after it) and ends by synchronizing
// that stream, so that the buffers are ready when a call returns, like every other transport.
// Buffers must be ready on the device when a call starts (the caller's stream work is complete or
// ordered before the current stream of this thread).
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

// Collective over world.comm: when every rank has a CUDA device, sets world.device to an NCCL
// communicator of the world's ranks (rank r on device local_rank % device_count). Its rendezvous
// is a private TCPStore hosted by rank 0 on a free port, whose address goes to the others over
// world.comm (127.0.0.1 when all ranks share a host, else rank 0's host name). Leaves world.device
// null when some rank has no CUDA device, or when TRAINYARD_NCCL=0. An error when creating it on
// some rank leaves every rank without it (a warning on stderr): CPU training must not fail
// because of the GPU path.
Status AttachNcclDevice(World& world, double timeout_seconds);

}  // namespace trainyard::collective
