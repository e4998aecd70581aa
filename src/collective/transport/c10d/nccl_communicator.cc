#include "collective/transport/c10d/nccl_communicator.h"

// c10d's NCCL header is only visible with USE_C10D_NCCL (set by CMake for this target).
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "collective/transport/c10d/c10d_communicator.h"

namespace trainyard::collective {

Result<std::unique_ptr<Communicator>> CreateNcclCommunicator(
    const c10::intrusive_ptr<::c10d::Store>& store, int rank, int size, int device_index,
    double timeout_seconds) {
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000.0));
  auto shared = std::make_shared<C10dShared>();
  shared->name = "NCCL";
  shared->device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device_index));
  shared->native_bfloat16 = true;
  const auto index = static_cast<c10::DeviceIndex>(device_index);
  shared->after_wait = [index] { c10::cuda::getCurrentCUDAStream(index).synchronize(); };
  shared->make_group = [timeout](const c10::intrusive_ptr<::c10d::Store>& group_store,
                                 int group_rank, int group_size) -> c10::intrusive_ptr<C10dGroup> {
    auto options = ::c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
    return c10::make_intrusive<::c10d::ProcessGroupNCCL>(group_store, group_rank, group_size,
                                                         options);
  };
  shared->store = store;
  c10::intrusive_ptr<C10dGroup> group;
  const std::string prefix = "trainyard/nccl";
  RETURN_IF_ERROR(C10dCall(
      "NCCL: rank " + std::to_string(rank) + " of " + std::to_string(size) +
          " could not create its process group",
      [&] {
        c10::cuda::set_device(index);
        char host[HOST_NAME_MAX + 1] = {};
        gethostname(host, sizeof host - 1);
        std::string mine = host;
        store->set(prefix + "/host/" + std::to_string(rank),
                   std::vector<uint8_t>(mine.begin(), mine.end()));
        for (int r = 0; r < size; ++r) {
          std::vector<uint8_t> v = store->get(prefix + "/host/" + std::to_string(r));
          shared->hosts.emplace_back(v.begin(), v.end());
        }
        group =
            shared->make_group(c10::make_intrusive<::c10d::PrefixStore>(prefix, store), rank, size);
      }));
  std::vector<int> all(static_cast<size_t>(size));
  for (int i = 0; i < size; ++i) all[static_cast<size_t>(i)] = i;
  return std::unique_ptr<Communicator>(
      new C10dCommunicator(std::move(group), std::move(shared), std::move(all), prefix));
}

}  // namespace trainyard::collective
