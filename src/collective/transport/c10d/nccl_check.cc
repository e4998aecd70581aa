// GPU check of the NCCL communicator (nccl_communicator.h): every Communicator method on CUDA
// buffers, results compared with values computed on the host. Built and run by
// scripts/gpu_check.sh (a small CMake project, gpu_check/CMakeLists.txt, that compiles only this
// and the c10d communicator, against a CUDA libtorch).
//
//   RANK=r WORLD_SIZE=n MASTER_ADDR=127.0.0.1 MASTER_PORT=p nccl_check
//
// One rank per GPU (NCCL refuses two ranks on one device): rank r uses device LOCAL_RANK or
// r % device_count. Prints one line per check and "nccl_check: rank r: N checks, F failed";
// exits 0 when all passed, 1 when one failed, 77 when there is no CUDA device (a skip).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAFunctions.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <vector>

#include "collective/transport/c10d/c10d_communicator.h"
#include "collective/transport/c10d/nccl_communicator.h"

namespace trainyard::collective {
namespace {

int checks = 0;
int failed = 0;
int my_rank = 0;

void Check(bool ok, const std::string& what) {
  ++checks;
  if (!ok) ++failed;
  std::printf("rank %d: %s %s\n", my_rank, ok ? "PASS" : "FAIL", what.c_str());
  std::fflush(stdout);
}

void CheckOk(const Status& st, const std::string& what) {
  Check(st.ok(), what + (st.ok() ? "" : ": " + st.ToString()));
}

// Rank r's value at index i: small integers, exact in every dtype for up to 8 ranks.
double Value(int rank, int64_t i) { return static_cast<double>((rank + i) % 3 + 1); }

double Expected(ReduceOp op, int size, int64_t i) {
  double acc = Value(0, i);
  for (int r = 1; r < size; ++r) {
    double v = Value(r, i);
    switch (op) {
      case ReduceOp::kMin: acc = std::min(acc, v); break;
      case ReduceOp::kMax: acc = std::max(acc, v); break;
      case ReduceOp::kProduct: acc *= v; break;
      default: acc += v; break;
    }
  }
  return acc;
}

void Run(Communicator& comm, const c10::Device& device) {
  const int rank = comm.rank();
  const int n = comm.size();
  auto on = [&](at::ScalarType t) { return at::TensorOptions().dtype(t).device(device); };

  // Allreduce: every dtype and op, in place and out of place.
  for (DataType d :
       {DataType::kUInt8, DataType::kInt8, DataType::kInt32, DataType::kInt64, DataType::kFloat16,
        DataType::kBFloat16, DataType::kFloat32, DataType::kFloat64}) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMin, ReduceOp::kMax, ReduceOp::kProduct}) {
      const int64_t count = 1000;
      std::vector<double> host(count);
      for (int64_t i = 0; i < count; ++i) host[static_cast<size_t>(i)] = Value(rank, i);
      at::Tensor in = at::tensor(host, at::kDouble).to(on(ScalarTypeOf(d)));
      at::Tensor out = op == ReduceOp::kMin ? at::empty_like(in) : in;
      std::string what = std::string("allreduce ") + DataTypeName(d) + " " + ReduceOpName(op);
      Status st = comm.Allreduce(in.data_ptr(), out.data_ptr(), count, d, op);
      if (!st.ok()) {
        CheckOk(st, what);
        continue;
      }
      at::Tensor got = out.to(at::kDouble).cpu();
      bool ok = true;
      for (int64_t i = 0; i < count && ok; ++i) {
        ok = got[i].item<double>() == Expected(op, n, i);
      }
      Check(ok, what);
    }
  }

  // Allgatherv: rank r contributes r + 1 floats of value r.
  {
    std::vector<int64_t> counts;
    int64_t total = 0;
    for (int r = 0; r < n; ++r) {
      counts.push_back(r + 1);
      total += r + 1;
    }
    at::Tensor in = at::full({rank + 1}, static_cast<double>(rank), on(at::kFloat));
    at::Tensor out = at::zeros({total}, on(at::kFloat));
    Status st = comm.Allgatherv(in.data_ptr(), out.data_ptr(), counts, DataType::kFloat32);
    at::Tensor got = out.cpu();
    bool ok = st.ok();
    int64_t k = 0;
    for (int r = 0; r < n && ok; ++r) {
      for (int64_t j = 0; j <= r; ++j) ok = ok && got[k++].item<float>() == static_cast<float>(r);
    }
    Check(ok, "allgatherv (different counts)" + (st.ok() ? "" : ": " + st.ToString()));
  }

  // Broadcast from the last rank.
  {
    at::Tensor t = at::full({4096}, static_cast<double>(rank), on(at::kDouble));
    Status st = comm.Broadcast(t.data_ptr(), 4096, DataType::kFloat64, n - 1);
    Check(st.ok() && t.cpu()[4095].item<double>() == n - 1,
          "broadcast" + (st.ok() ? "" : ": " + st.ToString()));
  }

  // Alltoallv: rank r sends j + 1 ints of value 100 r + j to rank j.
  {
    std::vector<int64_t> send_counts;
    std::vector<int64_t> recv_counts(static_cast<size_t>(n), rank + 1);
    std::vector<int32_t> host;
    for (int j = 0; j < n; ++j) {
      send_counts.push_back(j + 1);
      for (int k = 0; k <= j; ++k) host.push_back(100 * rank + j);
    }
    at::Tensor in = at::tensor(host, at::kInt).to(device);
    at::Tensor out = at::zeros({n * (rank + 1)}, on(at::kInt));
    Status st =
        comm.Alltoallv(in.data_ptr(), send_counts, out.data_ptr(), recv_counts, DataType::kInt32);
    at::Tensor got = out.cpu();
    bool ok = st.ok();
    for (int src = 0; src < n && ok; ++src) {
      ok = got[src * (rank + 1)].item<int32_t>() == 100 * src + rank;
    }
    Check(ok, "alltoallv" + (st.ok() ? "" : ": " + st.ToString()));
  }

  // ReduceScatter of 2n + 1 floats (rank 0 gets 3, the others 2).
  {
    const int64_t d = 2 * n + 1;
    std::vector<int64_t> counts;
    for (int r = 0; r < n; ++r) counts.push_back(r == 0 ? 3 : 2);
    at::Tensor in = at::arange(d, on(at::kFloat));
    at::Tensor out = at::zeros({counts[static_cast<size_t>(rank)]}, on(at::kFloat));
    Status st = comm.ReduceScatter(in.data_ptr(), out.data_ptr(), counts, DataType::kFloat32,
                                   ReduceOp::kSum);
    const int64_t first = rank == 0 ? 0 : 3 + 2 * (rank - 1);
    Check(st.ok() && out.cpu()[0].item<float>() == static_cast<float>(n * first),
          "reducescatter" + (st.ok() ? "" : ": " + st.ToString()));
  }

  // Coordination methods (host memory, staged through the device).
  {
    uint64_t words[2] = {~0ULL, 0xF0F0ULL | (1ULL << (rank % 64))};
    CheckOk(comm.AllreduceBitsAnd(words, 2), "allreduce bits and (call)");
    Check(words[0] == ~0ULL && (words[1] & 0xF0F0ULL) == 0xF0F0ULL, "allreduce bits and (value)");
    std::vector<std::string> all;
    CheckOk(comm.GatherBytes(std::string(static_cast<size_t>(rank) + 1, 'a'), &all),
            "gather bytes");
    if (rank == 0)
      Check(all.size() == static_cast<size_t>(n) && all.back().size() == static_cast<size_t>(n),
            "gather bytes (value)");
    std::string bytes = rank == 0 ? "from rank 0" : "";
    CheckOk(comm.BroadcastBytes(&bytes), "broadcast bytes");
    Check(bytes == "from rank 0", "broadcast bytes (value)");
    std::vector<int64_t> ints;
    CheckOk(comm.AllgatherInt64(rank * 10, &ints), "allgather int64");
    Check(ints.size() == static_cast<size_t>(n) && ints.back() == (n - 1) * 10,
          "allgather int64 (value)");
    std::vector<int64_t> send;
    for (int j = 0; j < n; ++j) send.push_back(rank * 100 + j);
    std::vector<int64_t> recv;
    CheckOk(comm.AlltoallInt64(send, &recv), "alltoall int64");
    Check(recv.size() == static_cast<size_t>(n) && recv[0] == rank, "alltoall int64 (value)");
  }
  CheckOk(comm.Barrier(), "barrier");

  // Split: the even ranks.
  {
    std::vector<int> even;
    for (int r = 0; r < n; r += 2) even.push_back(r);
    Result<std::unique_ptr<Communicator>> sub = comm.Split(even);
    CheckOk(sub.status(), "split");
    if (sub.ok()) {
      Check((*sub != nullptr) == (rank % 2 == 0), "split membership");
      if (*sub != nullptr) {
        at::Tensor t = at::ones({8}, on(at::kFloat));
        CheckOk(
            (*sub)->Allreduce(t.data_ptr(), t.data_ptr(), 8, DataType::kFloat32, ReduceOp::kSum),
            "allreduce in split");
        Check(t.cpu()[7].item<float>() == static_cast<float>(even.size()),
              "allreduce in split (value)");
      }
    }
  }

  // 64 MB float32: correctness and time.
  {
    const int64_t count = 16 << 20;
    at::Tensor t = at::ones({count}, on(at::kFloat));
    auto t0 = std::chrono::steady_clock::now();
    Status st =
        comm.Allreduce(t.data_ptr(), t.data_ptr(), count, DataType::kFloat32, ReduceOp::kSum);
    st = st.ok()
             ? comm.Allreduce(t.data_ptr(), t.data_ptr(), count, DataType::kFloat32, ReduceOp::kSum)
             : st;
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    Check(st.ok() && t.cpu()[count - 1].item<float>() == static_cast<float>(n * n),
          "allreduce 64 MB twice (" + std::to_string(ms) + " ms)");
  }
}

}  // namespace
}  // namespace trainyard::collective

int main() {
  using namespace trainyard::collective;
  const char* rank_s = std::getenv("RANK");
  const char* size_s = std::getenv("WORLD_SIZE");
  const char* addr = std::getenv("MASTER_ADDR");
  const char* port_s = std::getenv("MASTER_PORT");
  if (rank_s == nullptr || size_s == nullptr || addr == nullptr || port_s == nullptr) {
    std::fprintf(stderr, "nccl_check: set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT\n");
    return 2;
  }
  const int rank = std::atoi(rank_s);
  const int size = std::atoi(size_s);
  my_rank = rank;
  const int devices = c10::cuda::device_count();
  if (devices == 0) {
    std::printf("nccl_check: SKIP: no CUDA device\n");
    return 77;
  }
  const char* local = std::getenv("LOCAL_RANK");
  const int device = (local != nullptr ? std::atoi(local) : rank) % devices;
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));

  c10::intrusive_ptr<c10d::Store> store;
  trainyard::Status st = C10dCall("TCPStore", [&] {
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(std::atoi(port_s));
    o.isServer = rank == 0;
    o.numWorkers = static_cast<std::size_t>(size);
    o.waitWorkers = false;
    o.timeout = std::chrono::seconds(60);
    store = c10::make_intrusive<c10d::TCPStore>(addr, o);
  });
  if (!st.ok()) {
    std::fprintf(stderr, "nccl_check: %s\n", st.ToString().c_str());
    return 1;
  }
  trainyard::Result<std::unique_ptr<Communicator>> comm =
      CreateNcclCommunicator(store, rank, size, device, 60);
  if (!comm.ok()) {
    std::fprintf(stderr, "nccl_check: %s\n", comm.status().ToString().c_str());
    return 1;
  }
  Check(std::string((*comm)->transport_name()) == "NCCL", "transport name");
  Run(**comm, c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device)));
  comm->reset();
  std::printf("nccl_check: rank %d (device %d of %d): %d checks, %d failed\n", rank, device,
              devices, checks, failed);
  return failed == 0 ? 0 : 1;
}
