// GPU check of trainyard::dist on CUDA tensors (built by src/collective/transport/c10d/gpu_check
// against a CUDA libtorch; run by scripts/gpu_check.sh on a machine with a GPU). One rank: the
// adapter must hand CUDA tensors to the runtime's NCCL device communicator, results stay on the
// device, and BroadcastParameters / a DistributedOptimizer step work on a CUDA module.
// Exit 0: all checks passed; 77: no CUDA device; 1: a check failed.
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "trainyard/dist.h"

namespace dist = trainyard::dist;

namespace {

int failures = 0;

void Check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

}  // namespace

int main() {
  if (!torch::cuda::is_available()) {
    std::printf("dist_gpu_check: no CUDA device\n");
    return 77;
  }
  try {
    dist::Init();
    const int n = dist::Size();
    torch::Device cuda(torch::kCUDA, 0);
    auto x = torch::arange(8, torch::TensorOptions().dtype(torch::kFloat).device(cuda));
    auto sum = dist::Allreduce(x, dist::ReduceOp::kSum, "gpu.sum");
    Check(sum.is_cuda(), "allreduce output stays on the GPU");
    Check(torch::allclose(sum.cpu(), x.cpu() * n), "allreduce Sum of a CUDA tensor");
    auto half = torch::ones({5}, torch::TensorOptions().dtype(torch::kHalf).device(cuda));
    dist::Allreduce_(half, dist::ReduceOp::kAverage, "gpu.half");
    Check(torch::allclose(half.cpu().to(torch::kFloat), torch::ones({5})),
          "in-place Average of a float16 CUDA tensor");
    auto b = dist::Broadcast(x * 2, 0, "gpu.bcast");
    Check(b.is_cuda() && torch::allclose(b.cpu(), x.cpu() * 2), "broadcast of a CUDA tensor");

    torch::manual_seed(0);
    torch::nn::Linear model(8, 4);
    model->to(cuda);
    auto reference = std::dynamic_pointer_cast<torch::nn::LinearImpl>(model->clone());
    reference->to(cuda);
    dist::BroadcastParameters(*model, 0);
    torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.1));
    torch::optim::SGD ref_sgd(reference->parameters(), torch::optim::SGDOptions(0.1));
    dist::DistributedOptimizer opt(sgd, model->named_parameters());
    auto in = torch::randn({16, 8}, torch::TensorOptions().device(cuda));
    auto target = torch::randn({16, 4}, torch::TensorOptions().device(cuda));
    for (int step = 0; step < 3; ++step) {
      opt.zero_grad();
      torch::mse_loss(model->forward(in), target).backward();
      opt.step();
      ref_sgd.zero_grad();
      torch::mse_loss(reference->forward(in), target).backward();
      ref_sgd.step();
    }
    Check(torch::allclose(model->weight.cpu(), reference->weight.cpu(), 1e-5, 1e-6),
          "DistributedOptimizer on a CUDA module matches plain SGD (one rank)");
    dist::Shutdown();
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  std::printf("dist_gpu_check: %d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
