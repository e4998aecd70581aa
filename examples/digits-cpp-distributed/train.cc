// The digits example (examples/digits/train.py) in C++, data-parallel over the ranks of an mpirun
// job with trainyard::dist: each rank trains on its own shard of the training set, gradients are
// averaged by DistributedOptimizer while backward runs, and rank 0 reports the test accuracy.
//
//   mpirun -np 2 ./digits_cpp_distributed --epochs 20 --lr 0.003 --batch-size 64
//
// Reads scikit-learn's digits.csv.gz (8x8 images, 64 values 0..16 and the label per line) with
// zlib, splits it 80/20 with a fixed seed (the same split on every rank), and trains a
// 64-128-128-10 MLP with Adam and a cosine learning-rate decay. --batch-size is the global batch:
// each rank takes batch-size / ranks rows per step, so the number of steps and the averaged
// gradient are those of one process with the whole batch. Rank 0 prints one line per epoch and
// "test_accuracy 0.97xx" at the end, and writes outputs/model.pt.
#include <torch/torch.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include "trainyard/dist.h"

namespace dist = trainyard::dist;

namespace {

struct Args {
  int epochs = 20;
  double lr = 0.003;
  int batch_size = 64;
  int hidden = 128;
  uint64_t seed = 0;
  std::string data_dir;
  std::string output_dir = "outputs";
};

[[noreturn]] void Usage(const std::string& error) {
  std::cerr << "error: " << error << "\n"
            << "usage: digits_cpp_distributed [--epochs N] [--lr X] [--batch-size N] "
               "[--hidden N] [--seed N] [--data-dir DIR] [--output-dir DIR]\n";
  std::exit(2);
}

Args ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) Usage("missing value for " + flag);
    std::string value = argv[++i];
    try {
      if (flag == "--epochs") {
        args.epochs = std::stoi(value);
      } else if (flag == "--lr" || flag == "--learning-rate") {
        args.lr = std::stod(value);
      } else if (flag == "--batch-size") {
        args.batch_size = std::stoi(value);
      } else if (flag == "--hidden") {
        args.hidden = std::stoi(value);
      } else if (flag == "--seed") {
        args.seed = std::stoull(value);
      } else if (flag == "--data-dir") {
        args.data_dir = value;
      } else if (flag == "--output-dir") {
        args.output_dir = value;
      } else {
        Usage("unknown flag " + flag);
      }
    } catch (const std::logic_error&) {
      Usage("bad value for " + flag + ": " + value);
    }
  }
  if (args.epochs < 1 || args.batch_size < 1 || args.hidden < 1) Usage("values must be >= 1");
  return args;
}

// digits.csv.gz: --data-dir, else the copy inside scikit-learn (Debian's python3-sklearn).
std::string FindDataFile(const std::string& data_dir) {
  namespace fs = std::filesystem;
  if (!data_dir.empty()) {
    fs::path path = fs::path(data_dir) / "digits.csv.gz";
    if (!fs::is_regular_file(path)) {
      throw std::runtime_error(path.string() +
                               " does not exist (--data-dir must hold digits.csv.gz)");
    }
    return path.string();
  }
  std::vector<fs::path> roots = {"/usr/lib/python3/dist-packages",
                                 "/usr/local/lib/python3/dist-packages"};
  for (const fs::path& root : roots) {
    fs::path path = root / "sklearn" / "datasets" / "data" / "digits.csv.gz";
    if (fs::is_regular_file(path)) return path.string();
  }
  throw std::runtime_error(
      "digits data not found: install scikit-learn (Debian: apt-get install python3-sklearn) or "
      "pass --data-dir with digits.csv.gz");
}

std::string Gunzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw std::runtime_error("cannot open " + path);
  std::string text;
  std::vector<char> chunk(1 << 16);
  int n = 0;
  while ((n = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()))) > 0) {
    text.append(chunk.data(), static_cast<size_t>(n));
  }
  int err = 0;
  std::string message = n < 0 ? gzerror(file, &err) : "";
  gzclose(file);
  if (n < 0) throw std::runtime_error("decompressing " + path + ": " + message);
  return text;
}

// Features float32 [n, 64] scaled to 0..1, labels int64 [n].
std::pair<torch::Tensor, torch::Tensor> LoadDigits(const std::string& data_dir) {
  std::string path = FindDataFile(data_dir);
  std::istringstream in(Gunzip(path));
  std::vector<float> values;
  std::vector<int64_t> labels;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line == "\r") continue;
    std::istringstream fields(line);
    std::string field;
    std::vector<float> row;
    while (std::getline(fields, field, ',')) row.push_back(std::stof(field));
    if (row.size() != 65) {
      throw std::runtime_error(path + ": expected 65 values per line, got " +
                               std::to_string(row.size()));
    }
    values.insert(values.end(), row.begin(), row.begin() + 64);
    labels.push_back(static_cast<int64_t>(row[64]));
  }
  auto n = static_cast<int64_t>(labels.size());
  torch::Tensor x = torch::from_blob(values.data(), {n, 64}, torch::kFloat).clone() / 16.0;
  torch::Tensor y = torch::from_blob(labels.data(), {n}, torch::kLong).clone();
  return {x, y};
}

struct MlpImpl : torch::nn::Module {
  explicit MlpImpl(int hidden)
      : net(register_module(
            "net", torch::nn::Sequential(torch::nn::Linear(64, hidden), torch::nn::ReLU(),
                                         torch::nn::Linear(hidden, hidden), torch::nn::ReLU(),
                                         torch::nn::Linear(hidden, 10)))) {}
  torch::Tensor forward(const torch::Tensor& x) { return net->forward(x); }
  torch::nn::Sequential net;
};
TORCH_MODULE(Mlp);

double Accuracy(Mlp& model, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  return model->forward(x).argmax(1).eq(y).to(torch::kFloat).mean().item<double>();
}

int Run(const Args& args) {
  const int rank = dist::Rank();
  const int size = dist::Size();
  auto [x, y] = LoadDigits(args.data_dir);

  // The same split on every rank (fixed seed), then each rank's shard: every size-th example.
  // The shard sizes are made equal (at most size-1 examples dropped) so that every rank runs
  // the same number of steps, hence the same collectives.
  torch::manual_seed(args.seed);
  torch::Tensor order = torch::randperm(x.size(0));
  const int64_t n_train = static_cast<int64_t>(0.8 * static_cast<double>(x.size(0)));
  torch::Tensor train_idx = order.slice(0, 0, n_train);
  torch::Tensor test_idx = order.slice(0, n_train);
  const int64_t shard = n_train / size;
  torch::Tensor my_idx = train_idx.slice(0, rank, shard * size, size);
  torch::Tensor x_train = x.index_select(0, my_idx);
  torch::Tensor y_train = y.index_select(0, my_idx);
  torch::Tensor x_test = x.index_select(0, test_idx);
  torch::Tensor y_test = y.index_select(0, test_idx);
  const int64_t local_batch = std::max<int64_t>(1, args.batch_size / size);
  if (rank == 0) {
    std::printf(
        "digits: %lld train (%lld per rank), %lld test, %d ranks, batch %lld per rank, "
        "%d threads\n",
        static_cast<long long>(shard * size), static_cast<long long>(shard),
        static_cast<long long>(test_idx.size(0)), size, static_cast<long long>(local_batch),
        torch::get_num_threads());
    std::fflush(stdout);
  }

  // Different initial weights per rank on purpose: BroadcastParameters makes them rank 0's.
  torch::manual_seed(args.seed + 100 + static_cast<uint64_t>(rank));
  Mlp model(args.hidden);
  dist::BroadcastParameters(*model, 0);
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(args.lr));
  dist::BroadcastOptimizerState(adam, 0);
  dist::DistributedOptimizer optimizer(adam, model->named_parameters());

  torch::manual_seed(args.seed + 1 + static_cast<uint64_t>(rank));  // each rank shuffles its shard
  double test_acc = 0.0;
  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    model->train();
    double loss_sum = 0.0;
    int64_t seen = 0;
    torch::Tensor perm = torch::randperm(shard);
    for (int64_t start = 0; start < shard; start += local_batch) {
      torch::Tensor batch = perm.slice(0, start, std::min(start + local_batch, shard));
      torch::Tensor xb = x_train.index_select(0, batch);
      torch::Tensor yb = y_train.index_select(0, batch);
      optimizer.zero_grad();
      torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(xb), yb);
      loss.backward();
      optimizer.step();
      loss_sum += loss.item<double>() * static_cast<double>(batch.size(0));
      seen += batch.size(0);
    }
    // Cosine decay to zero over the run (the Python example's CosineAnnealingLR, per epoch).
    const double lr = args.lr * 0.5 *
                      (1.0 + std::cos(std::numbers::pi * epoch / static_cast<double>(args.epochs)));
    for (auto& group : adam.param_groups()) group.options().set_lr(lr);

    // The mean training loss over all ranks; every rank holds the same weights.
    torch::Tensor stats = torch::tensor({loss_sum, static_cast<double>(seen)}, torch::kFloat64);
    dist::Allreduce_(stats, dist::Sum, "epoch.loss");
    model->eval();
    if (rank == 0) {
      test_acc = Accuracy(model, x_test, y_test);
      std::printf("epoch %d/%d loss %.4f train_acc %.4f test_acc %.4f\n", epoch, args.epochs,
                  stats[0].item<double>() / stats[1].item<double>(),
                  Accuracy(model, x_train, y_train), test_acc);
      std::fflush(stdout);
    }
  }
  if (rank == 0) {
    std::printf("test_accuracy %.4f\n", test_acc);
    std::fflush(stdout);
    std::filesystem::create_directories(args.output_dir);
    torch::save(model, (std::filesystem::path(args.output_dir) / "model.pt").string());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  try {
    // One thread per rank unless OMP_NUM_THREADS says otherwise (trainyard sets it per rank).
    const char* threads = std::getenv("OMP_NUM_THREADS");
    torch::set_num_threads(threads != nullptr ? std::max(1, std::atoi(threads)) : 1);
    dist::Init();
    int rc = Run(args);
    dist::Shutdown();
    return rc;
  } catch (const std::exception& e) {
    std::cerr << "digits_cpp_distributed: " << e.what() << "\n";
    return 1;
  }
}
