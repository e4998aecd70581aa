#include "collective/transport/c10d/nccl_communicator.h"

// c10d's NCCL header is only visible with USE_C10D_NCCL (set by CMake for this target).
#include <arpa/inet.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "collective/transport/c10d/c10d_communicator.h"

namespace trainyard::collective {
namespace {

// What scaling computes in, as reduce.h's host kernels do: float32 for 16- and 32-bit floats,
// float64 for float64 and the integers (which copy_ then truncates toward zero).
at::ScalarType ComputeTypeOf(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat16:
    case DataType::kBFloat16:
    case DataType::kFloat32: return at::kFloat;
    default: return at::kDouble;
  }
}

std::string HostName() {
  char host[HOST_NAME_MAX + 1] = {};
  if (gethostname(host, sizeof host - 1) != 0) return "localhost";
  return host;
}

// A TCP port that is free now (the kernel's choice for port 0); the TCPStore binds it right after.
Result<int> FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Unavailable("NCCL rendezvous: socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API.
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  int port = -1;
  if (bind(fd, sa, sizeof addr) == 0 && getsockname(fd, sa, &len) == 0) port = ntohs(addr.sin_port);
  close(fd);
  if (port <= 0) return Unavailable("NCCL rendezvous: no free TCP port");
  return port;
}

// The C10dCommunicator of an NCCL group, with the memory methods on its CUDA device.
class NcclCommunicator : public C10dCommunicator {
 public:
  NcclCommunicator(c10::intrusive_ptr<C10dGroup> group, std::shared_ptr<C10dShared> shared,
                   std::vector<int> world_ranks, std::string prefix, int device_index)
      : C10dCommunicator(std::move(group), std::move(shared), std::move(world_ranks),
                         std::move(prefix)),
        index_(static_cast<c10::DeviceIndex>(device_index)) {}

  Device device() const override { return Device{DeviceType::kCuda, index_}; }

  Status Copy(void* dst, const void* src, int64_t bytes) override {
    if (bytes <= 0) return Status::Ok();
    return OnStream(
        "copy", [&] { On(dst, bytes, DataType::kUInt8).copy_(On(src, bytes, DataType::kUInt8)); });
  }

  Status ScaleCopy(void* dst, const void* src, int64_t count, DataType dtype,
                   double factor) override {
    if (count <= 0) return Status::Ok();
    return OnStream("scale", [&] {
      at::Tensor out = On(dst, count, dtype);
      at::Tensor in = dst == src ? out : On(src, count, dtype);
      if (factor == 1.0) {
        if (dst != src) out.copy_(in);
        return;
      }
      // at::mul (not mul_): `in.to()` is `in` itself when the type already matches.
      out.copy_(at::mul(in.to(ComputeTypeOf(dtype)), factor));
    });
  }

  Status Scale(void* data, int64_t count, DataType dtype, double factor) override {
    return ScaleCopy(data, data, count, dtype, factor);
  }

  Result<void*> DeviceScratch(int64_t bytes, bool zero) override {
    RETURN_IF_ERROR(OnStream("scratch", [&] {
      if (!scratch_.defined() || scratch_.numel() < bytes) {
        scratch_ = at::empty({bytes}, at::TensorOptions().dtype(at::kByte).device(Where()));
      }
      if (zero) scratch_.narrow(0, 0, bytes).zero_();
    }));
    return scratch_.data_ptr();
  }

 private:
  c10::Device Where() const { return c10::Device(c10::kCUDA, index_); }

  // A tensor over `count` elements at `data` on this device (no copy).
  at::Tensor On(const void* data, int64_t count, DataType dtype) const {
    // from_blob never writes through a pointer it did not get; only outputs are written.
    return at::from_blob(const_cast<void*>(data), {count},  // NOLINT
                         at::TensorOptions().dtype(ScalarTypeOf(dtype)).device(Where()));
  }

  // Runs `fn` on the device's current stream and waits for it, converting c10 errors.
  Status OnStream(const char* what, const std::function<void()>& fn) {
    return Call(what, [&] {
      c10::cuda::CUDAGuard guard(index_);
      fn();
      c10::cuda::getCurrentCUDAStream(index_).synchronize();
    });
  }

  c10::DeviceIndex index_;
  at::Tensor scratch_;
};

}  // namespace

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
  // Process sets' communicators (Split) keep the device memory methods.
  shared->make_communicator = [device_index](c10::intrusive_ptr<C10dGroup> group,
                                             std::shared_ptr<C10dShared> s, std::vector<int> ranks,
                                             std::string p) -> std::unique_ptr<Communicator> {
    return std::make_unique<NcclCommunicator>(std::move(group), std::move(s), std::move(ranks),
                                              std::move(p), device_index);
  };
  shared->store = store;
  c10::intrusive_ptr<C10dGroup> group;
  const std::string prefix = "trainyard/nccl";
  RETURN_IF_ERROR(C10dCall(
      "NCCL: rank " + std::to_string(rank) + " of " + std::to_string(size) +
          " could not create its process group",
      [&] {
        c10::cuda::set_device(index);
        std::string mine = HostName();
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
  return std::unique_ptr<Communicator>(new NcclCommunicator(std::move(group), std::move(shared),
                                                            std::move(all), prefix, device_index));
}

Status AttachNcclDevice(World& world, double timeout_seconds) {
  Communicator& comm = *world.comm;
  const char* env = std::getenv("TRAINYARD_NCCL");
  const bool disabled = env != nullptr && std::string(env) == "0";
  int devices = 0;
  if (!disabled) {
    // c10::DeviceIndex is a signed char holding a count, not a character.
    Status st = C10dCall("CUDA", [&] {
      devices = static_cast<int>(c10::cuda::device_count());  // NOLINT(bugprone-signed-char-misuse)
    });
    if (!st.ok()) devices = 0;
  }
  uint64_t everyone = devices > 0 ? 1 : 0;
  RETURN_IF_ERROR(comm.AllreduceBitsAnd(&everyone, 1));
  if (everyone == 0) return Status::Ok();

  const int rank = comm.rank();
  const int size = comm.size();
  const int device = world.topology.local_rank % devices;
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000.0));
  auto connect = [&](const std::string& host, int port, bool server) {
    ::c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(port);
    options.isServer = server;
    options.numWorkers = static_cast<std::size_t>(size);
    options.waitWorkers = false;  // the process group's creation below waits for everyone
    options.timeout = timeout;
    return c10::make_intrusive<::c10d::TCPStore>(host, options);
  };

  // Rank 0 hosts the store and tells the others where ("" when it could not).
  c10::intrusive_ptr<::c10d::Store> store;
  Status st;
  std::string where;
  if (rank == 0) {
    Result<int> port = FreePort();
    st = port.status();
    if (st.ok()) {
      const std::string host =
          world.topology.local_size == size ? std::string("127.0.0.1") : HostName();
      st = C10dCall("NCCL rendezvous: hosting a TCPStore on port " + std::to_string(*port),
                    [&] { store = connect("127.0.0.1", *port, true); });
      if (st.ok()) where = host + " " + std::to_string(*port);
    }
  }
  RETURN_IF_ERROR(comm.BroadcastBytes(&where));
  if (rank != 0 && !where.empty()) {
    const size_t space = where.find(' ');
    const std::string host = where.substr(0, space);
    const int port = std::atoi(where.c_str() + space + 1);
    st = C10dCall("NCCL rendezvous: reaching the TCPStore at " + where,
                  [&] { store = connect(host, port, false); });
  }
  Result<std::unique_ptr<Communicator>> made =
      where.empty() ? Result<std::unique_ptr<Communicator>>(
                          Unavailable("NCCL rendezvous: rank 0 could not host a store"))
      : st.ok() ? CreateNcclCommunicator(store, rank, size, device, timeout_seconds)
                : Result<std::unique_ptr<Communicator>>(st);
  uint64_t all_made = made.ok() ? 1 : 0;
  RETURN_IF_ERROR(comm.AllreduceBitsAnd(&all_made, 1));
  if (all_made == 0) {
    std::fprintf(
        stderr,
        "trainyard.collective: warning: rank %d: no NCCL communicator, CUDA tensors will "
        "be refused (%s)\n",
        rank,
        made.ok() ? "another rank failed to create its own" : made.status().ToString().c_str());
    return Status::Ok();
  }
  world.device = std::move(made).value();
  return Status::Ok();
}

}  // namespace trainyard::collective
