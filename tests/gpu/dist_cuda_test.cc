// trainyard::dist (include/trainyard/dist.h) on CUDA tensors, one rank: the adapter hands CUDA
// tensors to the runtime's NCCL device communicator, results stay on the device, and
// BroadcastParameters / a DistributedOptimizer step work on a CUDA module.
//
// ctest gpu.DistCuda.*. Every test skips, with the reason, when this build has no NCCL (a CPU-only
// libtorch), when no CUDA device is visible, or when the process was started as one of several
// ranks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "trainyard/dist.h"

namespace dist = trainyard::dist;

namespace {

std::string SkipReason() {
  if (!dist::NcclBuilt()) {
    return "this build has no NCCL communicator (dist::NcclBuilt() is false): the libtorch it was "
           "configured with has no CUDA (scripts/gpu_check.sh builds against a CUDA torch on a "
           "GPU machine)";
  }
  if (!torch::cuda::is_available()) return "no CUDA device visible (torch::cuda::is_available())";
  for (const char* var : {"WORLD_SIZE", "OMPI_COMM_WORLD_SIZE"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && std::atoi(v) > 1) {
      return std::string("these tests run one rank, and ") + var + "=" + v;
    }
  }
  return "";
}

class DistCuda : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_ = SkipReason();
    if (!skip_.empty()) return;
    try {
      dist::Init();
    } catch (const std::exception& e) {
      init_error_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    if (dist::IsInitialized()) dist::Shutdown();
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(init_error_.empty()) << "dist::Init(): " << init_error_;
  }
  static torch::TensorOptions Cuda(torch::ScalarType t = torch::kFloat) {
    return torch::TensorOptions().dtype(t).device(torch::Device(torch::kCUDA, 0));
  }

  static inline std::string skip_;
  static inline std::string init_error_;
};

TEST_F(DistCuda, AllreduceSumStaysOnTheDevice) {
  const int n = dist::Size();
  auto x = torch::arange(8, Cuda());
  auto sum = dist::Allreduce(x, dist::ReduceOp::kSum, "gpu.sum");
  EXPECT_TRUE(sum.is_cuda());
  EXPECT_TRUE(torch::allclose(sum.cpu(), x.cpu() * n));
}

TEST_F(DistCuda, InPlaceAverageOfFloat16) {
  auto half = torch::full({5}, 3.0, Cuda(torch::kHalf));
  dist::Allreduce_(half, dist::ReduceOp::kAverage, "gpu.half");
  EXPECT_TRUE(half.is_cuda());
  EXPECT_TRUE(torch::allclose(half.cpu().to(torch::kFloat), torch::full({5}, 3.0)));
}

TEST_F(DistCuda, BroadcastStaysOnTheDevice) {
  auto x = torch::arange(8, Cuda());
  auto b = dist::Broadcast(x * 2, 0, "gpu.bcast");
  EXPECT_TRUE(b.is_cuda());
  EXPECT_TRUE(torch::allclose(b.cpu(), x.cpu() * 2));
}

TEST_F(DistCuda, DistributedOptimizerOnACudaModuleMatchesPlainSgd) {
  torch::manual_seed(0);
  torch::nn::Linear model(8, 4);
  model->to(torch::Device(torch::kCUDA, 0));
  auto reference = std::dynamic_pointer_cast<torch::nn::LinearImpl>(model->clone());
  ASSERT_NE(reference, nullptr);
  reference->to(torch::Device(torch::kCUDA, 0));
  dist::BroadcastParameters(*model, 0);
  torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.1));
  torch::optim::SGD ref_sgd(reference->parameters(), torch::optim::SGDOptions(0.1));
  dist::DistributedOptimizer opt(sgd, model->named_parameters());
  auto in = torch::randn({16, 8}, Cuda());
  auto target = torch::randn({16, 4}, Cuda());
  const auto before = model->weight.detach().cpu().clone();
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    torch::mse_loss(model->forward(in), target).backward();
    opt.step();
    ref_sgd.zero_grad();
    torch::mse_loss(reference->forward(in), target).backward();
    ref_sgd.step();
  }
  EXPECT_TRUE(model->weight.is_cuda());
  EXPECT_FALSE(torch::allclose(model->weight.cpu(), before)) << "the steps changed nothing";
  EXPECT_TRUE(torch::allclose(model->weight.cpu(), reference->weight.cpu(), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(model->bias.cpu(), reference->bias.cpu(), 1e-5, 1e-6));
}

}  // namespace
