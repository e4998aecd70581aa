// The NCCL communicator (src/collective/transport/c10d/nccl_communicator.h) on CUDA buffers: every
// Communicator method, results compared with values computed on the host.
//
//   nccl_communicator_test                          # a world of one (its own TCPStore)
//   RANK=r WORLD_SIZE=n MASTER_ADDR=... MASTER_PORT=... nccl_communicator_test
//
// ctest: gpu.nccl.1 (one process) and gpu.nccl.2 (two ranks started by tests/launch_ranks.py with
// torch.distributed's contract). Rank r uses device LOCAL_RANK, else r, modulo the device count.
// Every test skips, with the reason, when this build has no NCCL (a CPU-only libtorch), when no
// CUDA device is visible, or when there are fewer devices than ranks (NCCL refuses two ranks on one
// device). Every rank runs every test in the same order; the checks around collectives are
// non-fatal, so one rank's failure does not leave the others waiting.
#include "collective/transport/c10d/nccl_communicator.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <vector>

#include "collective/transport/c10d/c10d_communicator.h"
#include "common/process.h"

namespace trainyard::collective {
namespace {

// Set once by main() before the tests run.
std::string skip_reason;             // non-empty: every test skips with it
std::unique_ptr<Communicator> comm;  // the communicator under test (null when skipping)
c10::Device device(c10::kCPU);       // the CUDA device of this rank
std::string setup_error;             // creating the communicator failed (every test fails)

class NcclCommunicator : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!skip_reason.empty()) GTEST_SKIP() << skip_reason;
    ASSERT_TRUE(setup_error.empty()) << setup_error;
    ASSERT_NE(comm, nullptr);
  }
  at::TensorOptions On(at::ScalarType t) const {
    return at::TensorOptions().dtype(t).device(device);
  }
};

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

TEST_F(NcclCommunicator, TransportName) { EXPECT_EQ(std::string(comm->transport_name()), "NCCL"); }

TEST_F(NcclCommunicator, AllreduceEveryDtypeAndOpInAndOutOfPlace) {
  const int rank = comm->rank();
  const int n = comm->size();
  for (DataType d :
       {DataType::kUInt8, DataType::kInt8, DataType::kInt32, DataType::kInt64, DataType::kFloat16,
        DataType::kBFloat16, DataType::kFloat32, DataType::kFloat64}) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMin, ReduceOp::kMax, ReduceOp::kProduct}) {
      const int64_t count = 1000;
      std::vector<double> host(count);
      for (int64_t i = 0; i < count; ++i) host[static_cast<size_t>(i)] = Value(rank, i);
      at::Tensor in = at::tensor(host, at::kDouble).to(On(ScalarTypeOf(d)));
      // Min out of place, the others in place.
      at::Tensor out = op == ReduceOp::kMin ? at::empty_like(in) : in;
      SCOPED_TRACE(std::string(DataTypeName(d)) + " " + ReduceOpName(op));
      Status st = comm->Allreduce(in.data_ptr(), out.data_ptr(), count, d, op);
      EXPECT_TRUE(st.ok()) << st.ToString();
      if (!st.ok()) continue;
      at::Tensor got = out.to(at::kDouble).cpu();
      auto a = got.accessor<double, 1>();
      int64_t wrong = 0;
      for (int64_t i = 0; i < count; ++i) wrong += a[i] != Expected(op, n, i);
      EXPECT_EQ(wrong, 0);
    }
  }
}

TEST_F(NcclCommunicator, AllgathervDifferentCounts) {
  // Rank r contributes r + 1 floats of value r.
  const int rank = comm->rank();
  const int n = comm->size();
  std::vector<int64_t> counts;
  int64_t total = 0;
  for (int r = 0; r < n; ++r) {
    counts.push_back(r + 1);
    total += r + 1;
  }
  at::Tensor in = at::full({rank + 1}, static_cast<double>(rank), On(at::kFloat));
  at::Tensor out = at::zeros({total}, On(at::kFloat));
  Status st = comm->Allgatherv(in.data_ptr(), out.data_ptr(), counts, DataType::kFloat32);
  ASSERT_TRUE(st.ok()) << st.ToString();
  at::Tensor got = out.cpu();
  int64_t k = 0;
  for (int r = 0; r < n; ++r) {
    for (int64_t j = 0; j <= r; ++j, ++k) {
      EXPECT_EQ(got[k].item<float>(), static_cast<float>(r)) << "element " << k;
    }
  }
}

TEST_F(NcclCommunicator, BroadcastFromTheLastRank) {
  const int n = comm->size();
  at::Tensor t = at::full({4096}, static_cast<double>(comm->rank()), On(at::kDouble));
  Status st = comm->Broadcast(t.data_ptr(), 4096, DataType::kFloat64, n - 1);
  ASSERT_TRUE(st.ok()) << st.ToString();
  at::Tensor got = t.cpu();
  EXPECT_EQ(got.min().item<double>(), n - 1);
  EXPECT_EQ(got.max().item<double>(), n - 1);
}

TEST_F(NcclCommunicator, AlltoallvDifferentCounts) {
  // Rank r sends j + 1 ints of value 100 r + j to rank j.
  const int rank = comm->rank();
  const int n = comm->size();
  std::vector<int64_t> send_counts;
  std::vector<int64_t> recv_counts(static_cast<size_t>(n), rank + 1);
  std::vector<int32_t> host;
  for (int j = 0; j < n; ++j) {
    send_counts.push_back(j + 1);
    for (int k = 0; k <= j; ++k) host.push_back(100 * rank + j);
  }
  at::Tensor in = at::tensor(host, at::kInt).to(device);
  at::Tensor out = at::zeros({n * (rank + 1)}, On(at::kInt));
  Status st =
      comm->Alltoallv(in.data_ptr(), send_counts, out.data_ptr(), recv_counts, DataType::kInt32);
  ASSERT_TRUE(st.ok()) << st.ToString();
  at::Tensor got = out.cpu();
  for (int src = 0; src < n; ++src) {
    for (int k = 0; k <= rank; ++k) {
      EXPECT_EQ(got[src * (rank + 1) + k].item<int32_t>(), 100 * src + rank) << "from " << src;
    }
  }
}

TEST_F(NcclCommunicator, ReduceScatterUnevenCounts) {
  // 2n + 1 floats 0, 1, 2, ... on every rank; rank 0 gets 3 of the sums, the others 2.
  const int rank = comm->rank();
  const int n = comm->size();
  const int64_t d = 2 * n + 1;
  std::vector<int64_t> counts;
  for (int r = 0; r < n; ++r) counts.push_back(r == 0 ? 3 : 2);
  at::Tensor in = at::arange(d, On(at::kFloat));
  at::Tensor out = at::zeros({counts[static_cast<size_t>(rank)]}, On(at::kFloat));
  Status st = comm->ReduceScatter(in.data_ptr(), out.data_ptr(), counts, DataType::kFloat32,
                                  ReduceOp::kSum);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const int64_t first = rank == 0 ? 0 : 3 + 2 * (rank - 1);
  at::Tensor got = out.cpu();
  for (int64_t k = 0; k < counts[static_cast<size_t>(rank)]; ++k) {
    EXPECT_EQ(got[k].item<float>(), static_cast<float>(n * (first + k))) << "element " << k;
  }
}

TEST_F(NcclCommunicator, CoordinationMethodsOnHostMemory) {
  const int rank = comm->rank();
  const int n = comm->size();
  uint64_t words[2] = {~0ULL, 0xF0F0ULL | (1ULL << (rank % 64))};
  Status st = comm->AllreduceBitsAnd(words, 2);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(words[0], ~0ULL);
  EXPECT_EQ(words[1], n == 1 ? (0xF0F0ULL | 1ULL) : 0xF0F0ULL);

  std::vector<std::string> all;
  st = comm->GatherBytes(std::string(static_cast<size_t>(rank) + 1, 'a'), &all);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (rank == 0) {
    ASSERT_EQ(all.size(), static_cast<size_t>(n));
    for (int r = 0; r < n; ++r) EXPECT_EQ(all[static_cast<size_t>(r)].size(), r + 1u);
  }

  std::string bytes = rank == 0 ? "from rank 0" : "";
  st = comm->BroadcastBytes(&bytes);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(bytes, "from rank 0");

  std::vector<int64_t> ints;
  st = comm->AllgatherInt64(rank * 10, &ints);
  EXPECT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(ints.size(), static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) EXPECT_EQ(ints[static_cast<size_t>(r)], r * 10);

  std::vector<int64_t> send;
  for (int j = 0; j < n; ++j) send.push_back(rank * 100 + j);
  std::vector<int64_t> recv;
  st = comm->AlltoallInt64(send, &recv);
  EXPECT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(recv.size(), static_cast<size_t>(n));
  for (int src = 0; src < n; ++src) EXPECT_EQ(recv[static_cast<size_t>(src)], src * 100 + rank);

  st = comm->Barrier();
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(NcclCommunicator, SplitOfTheEvenRanks) {
  const int rank = comm->rank();
  const int n = comm->size();
  std::vector<int> even;
  for (int r = 0; r < n; r += 2) even.push_back(r);
  Result<std::unique_ptr<Communicator>> sub = comm->Split(even);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  EXPECT_EQ(*sub != nullptr, rank % 2 == 0);
  if (*sub != nullptr) {
    EXPECT_EQ((*sub)->size(), static_cast<int>(even.size()));
    at::Tensor t = at::ones({8}, On(at::kFloat));
    Status st =
        (*sub)->Allreduce(t.data_ptr(), t.data_ptr(), 8, DataType::kFloat32, ReduceOp::kSum);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(t.cpu()[7].item<float>(), static_cast<float>(even.size()));
  }
}

TEST_F(NcclCommunicator, Allreduce64MBTwice) {
  const int n = comm->size();
  const int64_t count = 16 << 20;
  at::Tensor t = at::ones({count}, On(at::kFloat));
  auto t0 = std::chrono::steady_clock::now();
  Status st =
      comm->Allreduce(t.data_ptr(), t.data_ptr(), count, DataType::kFloat32, ReduceOp::kSum);
  if (st.ok()) {
    st = comm->Allreduce(t.data_ptr(), t.data_ptr(), count, DataType::kFloat32, ReduceOp::kSum);
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(st.ok()) << st.ToString();
  at::Tensor got = t.cpu();
  EXPECT_EQ(got.min().item<float>(), static_cast<float>(n * n));
  EXPECT_EQ(got.max().item<float>(), static_cast<float>(n * n));
  std::printf("rank %d: two 64 MB allreduces on %d rank(s): %.3f ms\n", comm->rank(), n, ms);
}

int IntFromEnv(const char* name, int otherwise) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : otherwise;
}

// Creates `comm`, or sets skip_reason / setup_error.
void SetUpCommunicator() {
  const bool launched = std::getenv("RANK") != nullptr;
  const int rank = launched ? IntFromEnv("RANK", 0) : 0;
  const int size = launched ? IntFromEnv("WORLD_SIZE", 1) : 1;
#if !TRAINYARD_HAVE_NCCL
  (void)rank;
  skip_reason =
      "this build has no NCCL communicator: the libtorch it was configured with has no CUDA "
      "(scripts/gpu_check.sh builds against a CUDA torch on a GPU machine); " +
      std::to_string(size) + " rank(s)";
#else
  const int devices = static_cast<int>(torch::cuda::device_count());
  if (devices == 0) {
    skip_reason = "no CUDA device visible (torch::cuda::device_count() is 0)";
    return;
  }
  if (devices < size) {
    skip_reason = "NCCL needs one GPU per rank: " + std::to_string(size) + " ranks, " +
                  std::to_string(devices) + " CUDA device(s)";
    return;
  }
  const int index = IntFromEnv("LOCAL_RANK", rank) % devices;
  device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  // The current device of this thread: what c10d's NCCL group and the tensors' kernels use.
  static c10::DeviceGuard guard(device);

  std::string addr = "127.0.0.1";
  int port = 0;
  if (launched) {
    const char* a = std::getenv("MASTER_ADDR");
    if (a != nullptr) addr = a;
    port = IntFromEnv("MASTER_PORT", 0);
    if (port == 0) {
      setup_error = "RANK is set but MASTER_PORT is not (torch.distributed's contract)";
      return;
    }
  } else {
    port = PickFreePort();
  }
  c10::intrusive_ptr<::c10d::Store> store;
  Status st = C10dCall("TCPStore", [&] {
    ::c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(port);
    o.isServer = rank == 0;
    o.numWorkers = static_cast<std::size_t>(size);
    o.waitWorkers = false;
    o.timeout = std::chrono::seconds(60);
    store = c10::make_intrusive<::c10d::TCPStore>(addr, o);
  });
  if (!st.ok()) {
    setup_error = st.ToString();
    return;
  }
  Result<std::unique_ptr<Communicator>> made = CreateNcclCommunicator(store, rank, size, index, 60);
  if (!made.ok()) {
    setup_error = "CreateNcclCommunicator: " + made.status().ToString();
    return;
  }
  comm = std::move(*made);
  std::printf("nccl_communicator_test: rank %d of %d on cuda:%d (%d device(s))\n", rank, size,
              index, devices);
#endif
}

}  // namespace
}  // namespace trainyard::collective

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  trainyard::collective::SetUpCommunicator();
  const int result = RUN_ALL_TESTS();
  trainyard::collective::comm.reset();
  return result;
}
