// The digits example (examples/digits/train.py) as a libtorch program: a small MLP on the 8x8
// handwritten digits (1,797 images) that ship with scikit-learn.
//
// Reads digits.csv.gz (64 pixel values 0..16 and the label per line) with zlib, splits it 80/20
// with a fixed seed, trains with Adam and a cosine learning-rate decay, prints one line per epoch
// and the final test accuracy, logs the metrics through trainyard::Run::Context(), and writes
// outputs/model.pt (a TorchScript module: torch.jit.load in Python runs it) and
// outputs/metrics.json.
//
//   train --epochs 20 --lr 0.003 --batch-size 64 --hidden 128 --seed 0 [--data-dir DIR]
#include <torch/script.h>
#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "trainyard/trainyard.h"

namespace {

const double kPi = std::acos(-1.0);

struct Args {
  int epochs = 20;
  double lr = 0.003;
  int batch_size = 64;
  int hidden = 128;
  int seed = 0;
  std::string data_dir;
  std::string output_dir = "outputs";
};

[[noreturn]] void Usage(const std::string& problem) {
  std::fprintf(stderr,
               "error: %s\nusage: train [--epochs N] [--lr X] [--batch-size N] [--hidden N] "
               "[--seed N] [--data-dir DIR] [--output-dir DIR]\n",
               problem.c_str());
  std::exit(2);
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) Usage(flag + " needs a value");
    std::string value = argv[++i];
    try {
      if (flag == "--epochs") {
        a.epochs = std::stoi(value);
      } else if (flag == "--lr" || flag == "--learning-rate") {
        a.lr = std::stod(value);
      } else if (flag == "--batch-size") {
        a.batch_size = std::stoi(value);
      } else if (flag == "--hidden") {
        a.hidden = std::stoi(value);
      } else if (flag == "--seed") {
        a.seed = std::stoi(value);
      } else if (flag == "--data-dir") {
        a.data_dir = value;
      } else if (flag == "--output-dir") {
        a.output_dir = value;
      } else {
        Usage("unknown flag " + flag);
      }
    } catch (const std::exception&) {
      Usage("bad value for " + flag + ": " + value);
    }
  }
  if (a.epochs < 1 || a.batch_size < 1 || a.hidden < 1) Usage("counts must be >= 1");
  return a;
}

// Returns (features float32 [n, 64] scaled to 0..1, labels int64 [n]).
std::pair<torch::Tensor, torch::Tensor> LoadDigits(const std::string& data_dir) {
  std::string path =
      (data_dir.empty() ? std::string("/usr/lib/python3/dist-packages/sklearn/datasets/data")
                        : data_dir) +
      "/digits.csv.gz";
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) {
    std::fprintf(stderr, "error: cannot open %s (install python3-sklearn, or pass --data-dir)\n",
                 path.c_str());
    std::exit(1);
  }
  std::vector<float> pixels;
  std::vector<int64_t> labels;
  char line[4096];
  while (gzgets(f, line, sizeof line) != nullptr) {
    std::vector<float> row;
    char* p = line;
    while (*p != '\0' && *p != '\n') {
      char* end = nullptr;
      row.push_back(std::strtof(p, &end));
      if (end == p) break;
      p = *end == ',' ? end + 1 : end;
    }
    if (row.size() != 65) continue;  // blank or malformed line
    pixels.insert(pixels.end(), row.begin(), row.begin() + 64);
    labels.push_back(static_cast<int64_t>(row[64]));
  }
  gzclose(f);
  auto n = static_cast<int64_t>(labels.size());
  torch::Tensor x = torch::from_blob(pixels.data(), {n, 64}, torch::kFloat32).clone() / 16.0;
  torch::Tensor y = torch::from_blob(labels.data(), {n}, torch::kInt64).clone();
  return {x, y};
}

struct MlpImpl : torch::nn::Module {
  explicit MlpImpl(int hidden)
      : fc1(register_module("fc1", torch::nn::Linear(64, hidden))),
        fc2(register_module("fc2", torch::nn::Linear(hidden, hidden))),
        fc3(register_module("fc3", torch::nn::Linear(hidden, 10))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return fc3(torch::relu(fc2(torch::relu(fc1(x)))));
  }
  torch::nn::Linear fc1, fc2, fc3;
};
TORCH_MODULE(Mlp);

double Accuracy(Mlp& model, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  return model(x).argmax(1).eq(y).to(torch::kFloat32).mean().item<double>();
}

// The trained weights as a TorchScript module with the same forward, so that Python's
// torch.jit.load(path)(x) gives the logits (libtorch cannot script a C++ nn::Module, but it can
// compile TorchScript source into a module that holds the tensors).
void SaveTorchScript(Mlp& model, const std::string& path) {
  torch::jit::Module m("DigitsMlp");
  for (const auto& p : model->named_parameters()) {
    std::string name = p.key();
    std::replace(name.begin(), name.end(), '.', '_');  // fc1.weight -> fc1_weight
    m.register_parameter(name, p.value().detach().clone(), /*is_buffer=*/false);
  }
  m.define(R"(
def forward(self, x):
    h = torch.relu(torch.addmm(self.fc1_bias, x, self.fc1_weight.t()))
    h = torch.relu(torch.addmm(self.fc2_bias, h, self.fc2_weight.t()))
    return torch.addmm(self.fc3_bias, h, self.fc3_weight.t())
)");
  m.save(path);
}

int ThreadCount() {
  const char* v = std::getenv("OMP_NUM_THREADS");
  int n = v != nullptr ? std::atoi(v) : 1;
  return n > 0 ? n : 1;
}

void Log(trainyard::Run& run, const std::string& name, double value) {
  if (auto s = run.Log(name, value); !s.ok()) std::fprintf(stderr, "%s\n", s.message().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  auto start = std::chrono::steady_clock::now();
  torch::set_num_threads(ThreadCount());
  torch::manual_seed(args.seed);
  trainyard::Run& run = trainyard::Run::Context();

  auto [x, y] = LoadDigits(args.data_dir);
  auto split = at::detail::createCPUGenerator(static_cast<uint64_t>(args.seed));
  torch::Tensor order = torch::randperm(x.size(0), split);
  int64_t n_train = static_cast<int64_t>(0.8 * static_cast<double>(x.size(0)));
  torch::Tensor train_idx = order.slice(0, 0, n_train), test_idx = order.slice(0, n_train);
  torch::Tensor x_train = x.index_select(0, train_idx), y_train = y.index_select(0, train_idx);
  torch::Tensor x_test = x.index_select(0, test_idx), y_test = y.index_select(0, test_idx);
  std::printf("digits: %lld train, %lld test, %d threads\n", static_cast<long long>(n_train),
              static_cast<long long>(x_test.size(0)), torch::get_num_threads());
  std::fflush(stdout);

  Mlp model(args.hidden);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(args.lr));
  auto shuffle = at::detail::createCPUGenerator(static_cast<uint64_t>(args.seed + 1));
  double loss_avg = NAN, train_acc = NAN, test_acc = NAN;
  int64_t steps = 0;
  double train_seconds = 0;
  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    model->train();
    double total = 0;
    int64_t seen = 0;
    torch::Tensor perm = torch::randperm(n_train, shuffle);
    for (int64_t b = 0; b < n_train; b += args.batch_size) {
      torch::Tensor batch = perm.slice(0, b, std::min(n_train, b + args.batch_size));
      torch::Tensor xb = x_train.index_select(0, batch), yb = y_train.index_select(0, batch);
      optimizer.zero_grad();
      torch::Tensor loss = torch::nn::functional::cross_entropy(model(xb), yb);
      loss.backward();
      optimizer.step();
      total += loss.item<double>() * static_cast<double>(batch.size(0));
      seen += batch.size(0);
      ++steps;
    }
    train_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Cosine decay to zero over the run (torch.optim.lr_scheduler.CosineAnnealingLR).
    double lr = args.lr * (1 + std::cos(kPi * epoch / args.epochs)) / 2;
    for (auto& group : optimizer.param_groups()) {
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    }
    model->eval();
    loss_avg = total / static_cast<double>(seen);
    train_acc = Accuracy(model, x_train, y_train);
    test_acc = Accuracy(model, x_test, y_test);
    std::printf("epoch %d/%d loss %.4f train_acc %.4f test_acc %.4f\n", epoch, args.epochs,
                loss_avg, train_acc, test_acc);
    std::fflush(stdout);
    Log(run, "loss", loss_avg);
    Log(run, "train_acc", train_acc);
    Log(run, "test_acc", test_acc);
  }
  double steps_per_second = static_cast<double>(steps) / train_seconds;
  std::printf("test_accuracy %.4f\n", test_acc);
  std::printf("train_steps %lld in %.3f s: %.1f steps/s\n", static_cast<long long>(steps),
              train_seconds, steps_per_second);
  Log(run, "test_accuracy", test_acc);
  Log(run, "steps_per_second", steps_per_second);

  std::filesystem::create_directories(args.output_dir);
  model->eval();
  SaveTorchScript(model, args.output_dir + "/model.pt");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ofstream(args.output_dir + "/metrics.json")
      << "{\n  \"test_accuracy\": " << test_acc << ",\n  \"train_accuracy\": " << train_acc
      << ",\n  \"final_loss\": " << loss_avg << ",\n  \"epochs\": " << args.epochs
      << ",\n  \"lr\": " << args.lr << ",\n  \"batch_size\": " << args.batch_size
      << ",\n  \"hidden\": " << args.hidden << ",\n  \"seed\": " << args.seed
      << ",\n  \"train_examples\": " << n_train << ",\n  \"test_examples\": " << x_test.size(0)
      << ",\n  \"steps_per_second\": " << steps_per_second << ",\n  \"seconds\": " << seconds
      << "\n}\n";
  if (auto s = run.Flush(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    return 1;
  }
  return 0;
}
