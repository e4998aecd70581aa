// Training-step time of trainyard's C++ DistributedOptimizer, and of one process with no
// communication, for the "Training step" table of docs/benchmarks.md. One variant per run; the
// driver bench/train_step_bench.py runs every variant (this one, horovod.torch, PyTorch DDP) and
// prints the side-by-side table.
//
//   train_step_bench --model mlp|resnet --variant local|dist [--steps 30] [--warmup 5]
//   mpirun -np 2 --bind-to none train_step_bench --model resnet --variant dist
//
// Models (the same as the Python side of the driver): an MLP 784-1024-256-10 (1.07M parameters,
// batch 64) and ResNet-18 (BasicBlocks [2, 2, 2, 2], 11.2M parameters, 10 classes) on 16 images
// of 3x64x64. SGD with momentum 0.9, synthetic data, one thread per process. A step is zero_grad,
// forward, loss, backward and step; rank 0 prints `RESULT {"median_ms": ..., ...}`.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "trainyard/dist.h"

namespace dist = trainyard::dist;

namespace {

struct BasicBlockImpl : torch::nn::Module {
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride)
      : conv1(register_module(
            "conv1",
            torch::nn::Conv2d(
                torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)))),
        bn1(register_module("bn1", torch::nn::BatchNorm2d(out))),
        conv2(register_module(
            "conv2",
            torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1).bias(false)))),
        bn2(register_module("bn2", torch::nn::BatchNorm2d(out))) {
    if (stride != 1 || in != out) {
      downsample = register_module(
          "downsample",
          torch::nn::Sequential(
              torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)),
              torch::nn::BatchNorm2d(out)));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor out = torch::relu(bn1->forward(conv1->forward(x)));
    out = bn2->forward(conv2->forward(out));
    torch::Tensor identity = downsample.is_empty() ? x : downsample->forward(x);
    return torch::relu(out + identity);
  }
  torch::nn::Conv2d conv1;
  torch::nn::BatchNorm2d bn1;
  torch::nn::Conv2d conv2;
  torch::nn::BatchNorm2d bn2;
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

struct ResNet18Impl : torch::nn::Module {
  ResNet18Impl()
      : conv1(register_module(
            "conv1", torch::nn::Conv2d(
                         torch::nn::Conv2dOptions(3, 64, 7).stride(2).padding(3).bias(false)))),
        bn1(register_module("bn1", torch::nn::BatchNorm2d(64))),
        layers(register_module("layers", torch::nn::Sequential())),
        fc(register_module("fc", torch::nn::Linear(512, 10))) {
    int64_t in = 64;
    for (int64_t out : {64, 128, 256, 512}) {
      const int64_t stride = out == 64 ? 1 : 2;
      layers->push_back(BasicBlock(in, out, stride));
      layers->push_back(BasicBlock(out, out, 1));
      in = out;
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor out = torch::relu(bn1->forward(conv1->forward(x)));
    out = torch::max_pool2d(out, 3, 2, 1);
    out = layers->forward(out);
    out = torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1);
    return fc->forward(out);
  }
  torch::nn::Conv2d conv1;
  torch::nn::BatchNorm2d bn1;
  torch::nn::Sequential layers;
  torch::nn::Linear fc;
};
TORCH_MODULE(ResNet18);

struct Setup {
  std::shared_ptr<torch::nn::Module> module;
  std::function<torch::Tensor(const torch::Tensor&)> forward;
  torch::Tensor x;
  torch::Tensor y;
};

Setup MakeSetup(const std::string& model) {
  Setup s;
  if (model == "mlp") {
    torch::nn::Sequential net(torch::nn::Linear(784, 1024), torch::nn::ReLU(),
                              torch::nn::Linear(1024, 256), torch::nn::ReLU(),
                              torch::nn::Linear(256, 10));
    s.module = net.ptr();
    s.forward = [net](const torch::Tensor& x) mutable { return net->forward(x); };
    s.x = torch::randn({64, 784});
    s.y = torch::randint(0, 10, {64});
  } else if (model == "resnet") {
    ResNet18 net;
    s.module = net.ptr();
    s.forward = [net](const torch::Tensor& x) mutable { return net->forward(x); };
    s.x = torch::randn({16, 3, 64, 64});
    s.y = torch::randint(0, 10, {16});
  } else {
    std::cerr << "unknown --model " << model << " (mlp, resnet)\n";
    std::exit(2);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "mlp";
  std::string variant = "local";
  int steps = 30;
  int warmup = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--model") {
      model = value;
    } else if (flag == "--variant") {
      variant = value;
    } else if (flag == "--steps") {
      steps = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--warmup") {
      warmup = std::max(0, std::atoi(value.c_str()));
    } else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (variant != "local" && variant != "dist") {
    std::cerr << "unknown --variant " << variant << " (local, dist)\n";
    return 2;
  }
  try {
    torch::set_num_threads(1);
    torch::manual_seed(0);
    const bool distributed = variant == "dist";
    if (distributed) dist::Init();
    Setup s = MakeSetup(model);
    auto named = s.module->named_parameters();
    torch::optim::SGD sgd(s.module->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
    std::unique_ptr<dist::DistributedOptimizer> dopt;
    if (distributed) {
      dist::BroadcastParameters(*s.module, 0);
      dopt = std::make_unique<dist::DistributedOptimizer>(sgd, named);
    }
    int64_t params = 0;
    for (const auto& p : s.module->parameters()) params += p.numel();

    std::vector<double> times;
    for (int step = 0; step < warmup + steps; ++step) {
      if (distributed && step == warmup) dist::Barrier();
      auto start = std::chrono::steady_clock::now();
      if (dopt) {
        dopt->zero_grad();
      } else {
        sgd.zero_grad();
      }
      torch::Tensor loss = torch::nn::functional::cross_entropy(s.forward(s.x), s.y);
      loss.backward();
      if (dopt) {
        dopt->step();
      } else {
        sgd.step();
      }
      double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      if (step >= warmup) times.push_back(ms);
    }
    std::sort(times.begin(), times.end());
    const int rank = distributed ? dist::Rank() : 0;
    const int size = distributed ? dist::Size() : 1;
    if (rank == 0) {
      std::printf(
          "RESULT {\"impl\": \"cpp\", \"variant\": \"%s\", \"model\": \"%s\", \"ranks\": %d, "
          "\"params\": %lld, \"median_ms\": %.3f, \"min_ms\": %.3f}\n",
          variant.c_str(), model.c_str(), size, static_cast<long long>(params),
          times[times.size() / 2], times.front());
      std::fflush(stdout);
    }
    dopt.reset();
    if (distributed) dist::Shutdown();
  } catch (const std::exception& e) {
    std::cerr << "train_step_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
