// trainyard::dist under mpirun (ctest collective.torch.mpi.N) and as one process
// (collective.torch.single): N ranks training on their slices of a batch reach the same weights
// as one process training on the whole batch (python/tests/test_hvd_optimizer.py in C++), the
// operations on torch tensors, the broadcasts, and the errors. Every rank makes the same
// collective calls in the same order.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "trainyard/dist.h"

namespace trainyard::dist {
namespace {

constexpr int64_t kRowsPerRank = 4;

torch::nn::Sequential MakeModel(uint64_t seed) {
  torch::manual_seed(seed);
  return torch::nn::Sequential(torch::nn::Linear(5, 8), torch::nn::Tanh(), torch::nn::Linear(8, 2));
}

torch::nn::Sequential Copy(const torch::nn::Sequential& model) {
  return torch::nn::Sequential(
      std::dynamic_pointer_cast<torch::nn::SequentialImpl>(model->clone()));
}

// The whole batch of a step: the same on every rank.
std::pair<torch::Tensor, torch::Tensor> FullBatch(int step) {
  torch::manual_seed(1000 + step);
  torch::Tensor x = torch::randn({Size() * kRowsPerRank, 5});
  torch::Tensor y = torch::randn({Size() * kRowsPerRank, 2});
  return {x, y};
}

torch::Tensor SliceOf(const torch::Tensor& t, int rank) {
  return t.slice(0, rank * kRowsPerRank, (rank + 1) * kRowsPerRank);
}

void ExpectSameWeights(const torch::nn::Module& a, const torch::nn::Module& b, double atol) {
  auto pa = a.named_parameters();
  auto pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    double diff = (pa[i].value() - pb[i].value()).abs().max().item<double>();
    EXPECT_LE(diff, atol) << pa[i].key();
  }
}

// Every rank holds bit-identical parameters.
void ExpectEqualOnAllRanks(const torch::nn::Module& model, const std::string& tag) {
  torch::NoGradGuard no_grad;
  for (const auto& item : model.named_parameters()) {
    torch::Tensor mine = item.value().detach();
    torch::Tensor all = Allgather(mine.unsqueeze(0), "check." + tag + "." + item.key());
    ASSERT_EQ(all.size(0), Size());
    for (int k = 0; k < Size(); ++k) {
      EXPECT_TRUE(torch::equal(all[k], mine)) << item.key() << " differs on rank " << k;
    }
  }
}

using OptimizerFactory =
    std::function<std::unique_ptr<torch::optim::Optimizer>(std::vector<torch::Tensor>)>;

// Trains 5 steps with `factory`'s optimizer wrapped, against the single-process reference, and
// returns the model. `drop_grads`: clear the gradients between steps (what zero_grad does with
// set_to_none) instead of zero_grad().
torch::nn::Sequential TrainAndCompare(const OptimizerFactory& factory,
                                      DistributedOptimizerOptions options, double atol,
                                      const std::string& tag, bool drop_grads = false) {
  const int steps = 5;
  torch::nn::Sequential model = MakeModel(0);
  torch::nn::Sequential reference = Copy(model);
  std::unique_ptr<torch::optim::Optimizer> inner = factory(model->parameters());
  DistributedOptimizer opt(*inner, model->named_parameters(), options);
  std::unique_ptr<torch::optim::Optimizer> ref_opt = factory(reference->parameters());
  const int passes = options.backward_passes_per_step;
  for (int step = 0; step < steps; ++step) {
    auto [x, y] = FullBatch(step);
    if (drop_grads) {
      for (torch::Tensor& p : model->parameters()) p.mutable_grad().reset();
    } else {
      opt.zero_grad();
    }
    ref_opt->zero_grad();
    // `passes` micro-batches per step: each rank's slice split in `passes` parts.
    auto xs = SliceOf(x, Rank()).chunk(passes);
    auto ys = SliceOf(y, Rank()).chunk(passes);
    for (int m = 0; m < passes; ++m) {
      torch::mse_loss(model->forward(xs[m]), ys[m]).backward();
    }
    opt.step();
    // Reference: mean over ranks of the sum over micro-batches of each micro-batch's mean.
    for (int k = 0; k < Size(); ++k) {
      auto rx = SliceOf(x, k).chunk(passes);
      auto ry = SliceOf(y, k).chunk(passes);
      for (int m = 0; m < passes; ++m) {
        (torch::mse_loss(reference->forward(rx[m]), ry[m]) / Size()).backward();
      }
    }
    ref_opt->step();
  }
  ExpectSameWeights(*model, *reference, atol);
  ExpectEqualOnAllRanks(*model, tag);
  return model;
}

std::unique_ptr<torch::optim::Optimizer> SgdMomentum(std::vector<torch::Tensor> params) {
  return std::make_unique<torch::optim::SGD>(std::move(params),
                                             torch::optim::SGDOptions(0.1).momentum(0.9));
}

std::unique_ptr<torch::optim::Optimizer> PlainSgd(std::vector<torch::Tensor> params) {
  return std::make_unique<torch::optim::SGD>(std::move(params), torch::optim::SGDOptions(0.1));
}

TEST(DistributedOptimizer, SgdMomentumMatchesSingleProcess) {
  TrainAndCompare(SgdMomentum, {}, 1e-5, "sgd");
}

TEST(DistributedOptimizer, GradientsAreLaidOutInOneBufferAfterTheFirstStep) {
  for (bool drop_grads : {false, true}) {
    torch::nn::Sequential model =
        TrainAndCompare(PlainSgd, {}, 1e-5, drop_grads ? "layout.dropped" : "layout", drop_grads);
    if (Size() == 1) continue;  // no hooks, nothing to lay out
    // Back to back in one buffer (in the order the hooks fired).
    std::vector<torch::Tensor> grads;
    for (const torch::Tensor& p : model->parameters()) grads.push_back(p.grad());
    std::sort(grads.begin(), grads.end(), [](const torch::Tensor& a, const torch::Tensor& b) {
      return a.data_ptr() < b.data_ptr();
    });
    for (size_t i = 1; i < grads.size(); ++i) {
      EXPECT_EQ(grads[i].data_ptr(), static_cast<char*>(grads[i - 1].data_ptr()) +
                                         grads[i - 1].numel() * grads[i - 1].element_size())
          << i;
    }
  }
}

TEST(DistributedOptimizer, AdamMatchesSingleProcess) {
  TrainAndCompare(
      [](std::vector<torch::Tensor> params) -> std::unique_ptr<torch::optim::Optimizer> {
        return std::make_unique<torch::optim::Adam>(std::move(params),
                                                    torch::optim::AdamOptions(0.01));
      },
      {}, 1e-5, "adam");
}

TEST(DistributedOptimizer, Fp16Compression) {
  DistributedOptimizerOptions options;
  options.compression = Compression::kFp16;
  TrainAndCompare(PlainSgd, options, 2e-3, "fp16");
}

TEST(DistributedOptimizer, BackwardPassesPerStep) {
  DistributedOptimizerOptions options;
  options.backward_passes_per_step = 2;
  TrainAndCompare(PlainSgd, options, 1e-5, "passes");
}

TEST(DistributedOptimizer, GradientPredivideFactor) {
  DistributedOptimizerOptions options;
  options.gradient_predivide_factor = 4.0;
  TrainAndCompare(SgdMomentum, options, 1e-5, "predivide");
}

// Parameters without a gradient on this step are reduced as zeros (every rank reduces the same
// names); unnamed parameters get "allreduce.noname.<group>.<index>"; Sum adds the ranks' gradients.
TEST(DistributedOptimizer, SumOpUnnamedAndUnusedParameters) {
  torch::nn::Sequential model = MakeModel(0);
  torch::nn::Linear unused(3, 3);
  torch::nn::Sequential reference = Copy(model);
  std::vector<torch::Tensor> params = model->parameters();
  for (const auto& p : unused->parameters()) params.push_back(p);
  torch::optim::SGD inner(params, torch::optim::SGDOptions(0.0));
  DistributedOptimizerOptions options;
  options.op = ReduceOp::kSum;
  DistributedOptimizer opt(inner, options);
  auto [x, y] = FullBatch(0);
  // The local gradient comes from a copy: the hooks reduce into p.grad() in place while
  // backward() returns, so reading p.grad() before step() could already see the sum.
  torch::mse_loss(reference->forward(x), y).backward();
  torch::mse_loss(model->forward(x), y).backward();  // the same full batch on every rank
  opt.step();
  auto mine = model->parameters();
  auto local = reference->parameters();
  for (size_t i = 0; i < mine.size(); ++i) {
    EXPECT_TRUE(torch::allclose(mine[i].grad(), local[i].grad() * Size(), 1e-5, 1e-6)) << i;
  }
  if (Size() == 1) return;  // no hooks, nothing reduced: the unused gradients stay undefined
  for (const auto& p : unused->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().abs().sum().item<float>(), 0.0F);
  }
}

TEST(DistributedOptimizer, WorksThroughClosureAndSharedOptimizer) {
  torch::nn::Sequential model = MakeModel(0);
  torch::nn::Sequential reference = Copy(model);
  auto inner = std::make_shared<torch::optim::SGD>(model->parameters(),
                                                   torch::optim::SGDOptions(0.1).momentum(0.5));
  DistributedOptimizer opt(inner, model->named_parameters());
  torch::optim::SGD ref_opt(reference->parameters(), torch::optim::SGDOptions(0.1).momentum(0.5));
  for (int step = 0; step < 3; ++step) {
    auto [x, y] = FullBatch(step);
    opt.step([&] {
      opt.zero_grad();
      torch::Tensor loss = torch::mse_loss(model->forward(SliceOf(x, Rank())), SliceOf(y, Rank()));
      loss.backward();
      return loss;
    });
    ref_opt.zero_grad();
    for (int k = 0; k < Size(); ++k) {
      (torch::mse_loss(reference->forward(SliceOf(x, k)), SliceOf(y, k)) / Size()).backward();
    }
    ref_opt.step();
  }
  ExpectSameWeights(*model, *reference, 1e-5);
}

TEST(DistributedOptimizer, TooManyBackwardPassesIsAnError) {
  if (Size() == 1) GTEST_SKIP() << "no hooks with one rank";
  torch::nn::Sequential model = MakeModel(0);
  torch::optim::SGD inner(model->parameters(), torch::optim::SGDOptions(0.1));
  DistributedOptimizer opt(inner, model->named_parameters());
  auto [x, y] = FullBatch(0);
  torch::mse_loss(model->forward(x), y).backward();
  try {
    torch::mse_loss(model->forward(x), y).backward();
    ADD_FAILURE() << "a second backward pass before step() was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("more than backward_passes_per_step (1)"),
              std::string::npos)
        << e.what();
  }
  opt.step();  // the reductions started by the first pass complete normally
  opt.zero_grad();
  torch::mse_loss(model->forward(x), y).backward();
  opt.step();
}

TEST(DistributedOptimizer, ZeroGradBetweenBackwardAndStepIsAnError) {
  if (Size() == 1) GTEST_SKIP() << "no hooks with one rank";
  torch::nn::Sequential model = MakeModel(0);
  torch::optim::SGD inner(model->parameters(), torch::optim::SGDOptions(0.1));
  DistributedOptimizerOptions options;
  options.backward_passes_per_step = 2;
  DistributedOptimizer opt(inner, model->named_parameters(), options);
  auto [x, y] = FullBatch(0);
  torch::mse_loss(model->forward(x), y).backward();  // one of two passes: nothing started yet
  try {
    opt.zero_grad();
    ADD_FAILURE() << "zero_grad() between backward() and step() was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("zero_grad() was called after backward()"),
              std::string::npos)
        << e.what();
  }
  opt.step();
  opt.zero_grad();  // fine after step()
}

TEST(DistributedOptimizer, RefusesBadOptions) {
  torch::nn::Sequential model = MakeModel(0);
  torch::optim::SGD inner(model->parameters(), torch::optim::SGDOptions(0.1));
  DistributedOptimizerOptions sum_with_factor;
  sum_with_factor.op = ReduceOp::kSum;
  sum_with_factor.gradient_predivide_factor = 2.0;
  EXPECT_THROW(DistributedOptimizer(inner, model->named_parameters(), sum_with_factor), Error);
  DistributedOptimizerOptions no_passes;
  no_passes.backward_passes_per_step = 0;
  EXPECT_THROW(DistributedOptimizer(inner, model->named_parameters(), no_passes), Error);
  // Named parameters that miss one of the optimizer's parameters.
  auto named = model->named_parameters();
  torch::OrderedDict<std::string, torch::Tensor> partial;
  partial.insert(named[0].key(), named[0].value());
  try {
    DistributedOptimizer opt(inner, partial);
    ADD_FAILURE() << "missing names were accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("is not in it"), std::string::npos) << e.what();
  }
}

TEST(Ops, AllreduceEveryDtype) {
  const int n = Size();
  const int r = Rank();
  for (torch::ScalarType type : {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16,
                                 torch::kInt, torch::kLong, torch::kByte, torch::kChar}) {
    torch::Tensor t = torch::full({3, 2}, r + 1, torch::TensorOptions().dtype(type));
    torch::Tensor sum = Allreduce(t, ReduceOp::kSum, std::string("sum.") + c10::toString(type));
    EXPECT_EQ(sum.scalar_type(), type);
    EXPECT_EQ(sum.sizes(), t.sizes());
    EXPECT_TRUE(torch::all(sum.to(torch::kDouble) == n * (n + 1) / 2).item<bool>())
        << c10::toString(type);
    EXPECT_TRUE(torch::all(t == r + 1).item<bool>()) << "out-of-place modified its input";
    torch::Tensor mx = Allreduce(t, ReduceOp::kMax, std::string("max.") + c10::toString(type));
    EXPECT_TRUE(torch::all(mx.to(torch::kDouble) == n).item<bool>()) << c10::toString(type);
  }
  torch::Tensor flags = torch::tensor({r == 0, false, true});
  torch::Tensor any = Allreduce(flags, ReduceOp::kMax, "bool.any");
  EXPECT_TRUE(torch::equal(any, torch::tensor({true, false, true})));
  // Average, in place, and prescale/postscale.
  torch::Tensor v = torch::full({5}, static_cast<float>(r), torch::kFloat);
  Allreduce_(v, ReduceOp::kAverage, "avg.inplace");
  EXPECT_TRUE(torch::allclose(v, torch::full({5}, (n - 1) / 2.0F)));
  AllreduceOptions scaled;
  scaled.op = ReduceOp::kSum;
  scaled.prescale_factor = 2.0;
  scaled.postscale_factor = 0.5;
  torch::Tensor s = Allreduce(torch::ones({4}), scaled, "scaled");
  EXPECT_TRUE(torch::allclose(s, torch::full({4}, static_cast<float>(n))));
}

TEST(Ops, AsyncAllgatherBroadcastBarrier) {
  const int n = Size();
  const int r = Rank();
  // Async handles complete in any order of Wait.
  std::vector<Handle> handles;
  std::vector<torch::Tensor> tensors;
  for (int i = 0; i < 4; ++i) {
    tensors.push_back(torch::full({1000}, static_cast<float>(i)));
    handles.push_back(
        AllreduceAsync_(tensors.back(), ReduceOp::kSum, "async." + std::to_string(i)));
  }
  for (int i = 3; i >= 0; --i) {
    torch::Tensor out = handles[i].Wait();
    EXPECT_TRUE(out.is_same(tensors[i]));
    EXPECT_TRUE(torch::allclose(out, torch::full({1000}, static_cast<float>(i * n))));
    EXPECT_TRUE(handles[i].Poll());
  }
  // Allgather with a first dimension that differs per rank (rank k sends k+1 rows of k).
  torch::Tensor rows = torch::full({r + 1, 2}, r, torch::kLong);
  torch::Tensor all = Allgather(rows, "gather.rows");
  ASSERT_EQ(all.size(0), n * (n + 1) / 2);
  int64_t row = 0;
  for (int k = 0; k < n; ++k) {
    for (int j = 0; j <= k; ++j, ++row) EXPECT_EQ(all[row][0].item<int64_t>(), k);
  }
  // Broadcast: out of place from the last rank, in place from rank 0, a non-contiguous input.
  torch::Tensor mine = torch::arange(6, torch::kFloat).reshape({2, 3}) + r;
  torch::Tensor got = Broadcast(mine.t(), n - 1, "bcast.t");
  EXPECT_TRUE(torch::equal(got, (torch::arange(6, torch::kFloat).reshape({2, 3}) + n - 1).t()));
  EXPECT_TRUE(torch::equal(mine, torch::arange(6, torch::kFloat).reshape({2, 3}) + r));
  Broadcast_(mine, 0, "bcast.inplace");
  EXPECT_TRUE(torch::equal(mine, torch::arange(6, torch::kFloat).reshape({2, 3})));
  Barrier();
  EXPECT_GE(LocalRank(), 0);
  EXPECT_EQ(LocalSize() * CrossSize(), Size());
}

TEST(Ops, GroupedAllreduceAlltoallReducescatter) {
  const int n = Size();
  const int r = Rank();
  // Grouped: new tensors (inputs untouched), then in place.
  std::vector<torch::Tensor> group = {torch::full({3}, r + 1.0F), torch::full({2, 2}, 2.0 * r),
                                      torch::full({1}, r, torch::kLong)};
  AllreduceOptions sum;
  sum.op = ReduceOp::kSum;
  std::vector<torch::Tensor> out = GroupedAllreduce(group, sum, "grouped");
  ASSERT_EQ(out.size(), 3U);
  EXPECT_TRUE(torch::all(out[0] == n * (n + 1) / 2.0).item<bool>());
  EXPECT_TRUE(torch::all(out[1] == n * (n - 1.0)).item<bool>());
  EXPECT_EQ(out[2].item<int64_t>(), n * (n - 1) / 2);
  EXPECT_TRUE(torch::all(group[0] == r + 1.0F).item<bool>()) << "out-of-place modified its input";
  GroupedAllreduce_(group, {}, "grouped.avg");  // Average
  EXPECT_TRUE(torch::allclose(group[0], torch::full({3}, (n + 1) / 2.0F)));
  EXPECT_TRUE(torch::allclose(group[1], torch::full({2, 2}, n - 1.0F)));
  std::vector<torch::Tensor> all = GroupedAllreduceAsync_(group, sum, "grouped.async").WaitAll();
  ASSERT_EQ(all.size(), 3U);
  EXPECT_TRUE(all[1].is_same(group[1]));
  EXPECT_THROW(GroupedAllreduce({}, sum, "grouped.empty"), Error);

  // Alltoall: rank r sends k + 1 rows to rank k, each row holding 100 r + k; it receives r + 1 rows
  // from each rank k, holding 100 k + r.
  std::vector<int64_t> splits;
  std::vector<torch::Tensor> rows;
  for (int k = 0; k < n; ++k) {
    splits.push_back(k + 1);
    rows.push_back(torch::full({k + 1, 2}, 100 * r + k, torch::kInt));
  }
  torch::Tensor got = Alltoall(torch::cat(rows), splits, "alltoall");
  ASSERT_EQ(got.size(0), n * (r + 1));
  for (int k = 0; k < n; ++k) {
    EXPECT_TRUE(
        torch::all(got.slice(0, k * (r + 1), (k + 1) * (r + 1)) == 100 * k + r).item<bool>())
        << "rows from rank " << k;
  }
  // Equal parts when no splits are given.
  torch::Tensor even = Alltoall(torch::full({n, 1}, r, torch::kLong), {}, "alltoall.even");
  EXPECT_TRUE(torch::equal(even.flatten(), torch::arange(n, torch::kLong)));

  // Reducescatter: 2n + 1 rows; rank 0 gets 3 rows, the others 2, each the sum over ranks.
  torch::Tensor block = Reducescatter(torch::full({2 * n + 1, 3}, r + 1.0F), sum, "rs");
  EXPECT_EQ(block.size(0), r == 0 ? 3 : 2);
  EXPECT_TRUE(torch::all(block == n * (n + 1) / 2.0F).item<bool>());
  torch::Tensor mean = Reducescatter(torch::full({n, 2}, r + 1.0F), ReduceOp::kAverage, "rs.avg");
  EXPECT_EQ(mean.size(0), 1);
  EXPECT_TRUE(torch::allclose(mean, torch::full({1, 2}, (n + 1) / 2.0F)));
}

TEST(ProcessSets, OperationsOnASubsetAndTheOptimizer) {
  if (Size() < 2) GTEST_SKIP() << "needs 2 ranks";
  // Ranks 1 and 2 with 3 ranks or more; rank 0 alone with 2 (the pair would be the global set).
  const std::vector<int> members = Size() >= 3 ? std::vector<int>{1, 2} : std::vector<int>{0};
  const ProcessSetId set = AddProcessSet(members);  // collective over all ranks
  EXPECT_NE(set, kGlobalProcessSet);
  EXPECT_EQ(ProcessSetRanks(set), members);
  const auto me = std::find(members.begin(), members.end(), Rank());
  const bool member = me != members.end();
  EXPECT_EQ(ProcessSetRank(set), member ? static_cast<int>(me - members.begin()) : -1);
  if (member) {
    AllreduceOptions sum;
    sum.op = ReduceOp::kSum;
    sum.process_set = set;
    float expected = 0;
    for (int m : members) expected += m + 1.0F;
    EXPECT_EQ(Allreduce(torch::full({2}, Rank() + 1.0F), sum, "set.sum")[0].item<float>(),
              expected);
    torch::Tensor gathered = Allgather(torch::full({1}, Rank(), torch::kLong), "set.gather", set);
    EXPECT_TRUE(torch::equal(gathered,
                             torch::tensor(std::vector<int64_t>(members.begin(), members.end()))));
    EXPECT_EQ(
        Broadcast(torch::full({1}, Rank() + 5.0F), members.back(), "set.bcast", set).item<float>(),
        members.back() + 5.0F);
    Barrier(set);
    // A DistributedOptimizer over the set: its members end with the same weights.
    torch::nn::Sequential model = MakeModel(0);  // the same start on every member
    torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.1));
    DistributedOptimizerOptions options;
    options.process_set = set;
    DistributedOptimizer opt(sgd, model->named_parameters(), options);
    for (int step = 0; step < 2; ++step) {
      opt.zero_grad();
      torch::mse_loss(model->forward(torch::full({2, 5}, Rank() + step * 1.0F)),
                      torch::zeros({2, 2}))
          .backward();
      opt.step();
    }
    for (const auto& item : model->named_parameters()) {
      torch::Tensor all = Allgather(item.value().detach().unsqueeze(0), "set.w." + item.key(), set);
      EXPECT_TRUE(torch::equal(all[0], all[all.size(0) - 1])) << item.key();
    }
  } else {
    // Outside the set (as in Horovod): the optimizer is built, registers no hooks, does not
    // communicate, and steps on this rank's own gradients.
    torch::nn::Sequential model = MakeModel(0);
    torch::nn::Sequential local = MakeModel(0);
    torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.1));
    torch::optim::SGD local_sgd(local->parameters(), torch::optim::SGDOptions(0.1));
    DistributedOptimizerOptions options;
    options.process_set = set;
    DistributedOptimizer opt(sgd, model->named_parameters(), options);
    EXPECT_FALSE(opt.reducer().hooks());
    for (int step = 0; step < 2; ++step) {
      opt.zero_grad();
      local_sgd.zero_grad();
      const torch::Tensor x = torch::full({2, 5}, Rank() + step * 1.0F);
      torch::mse_loss(model->forward(x), torch::zeros({2, 2})).backward();
      torch::mse_loss(local->forward(x), torch::zeros({2, 2})).backward();
      opt.Synchronize();  // nothing to wait for
      {
        auto guard = opt.SkipSynchronize();
        opt.step();
      }
      local_sgd.step();
    }
    EXPECT_EQ(opt.reducer().operations(), 0);
    const std::vector<torch::Tensor> mine = model->parameters();
    const std::vector<torch::Tensor> alone = local->parameters();
    for (size_t i = 0; i < mine.size(); ++i) EXPECT_TRUE(torch::equal(mine[i], alone[i])) << i;
  }
  RemoveProcessSet(set);  // collective over all ranks
  EXPECT_THROW(ProcessSetRanks(set), Error);
  EXPECT_THROW(RemoveProcessSet(kGlobalProcessSet), Error);
}

TEST(DistributedOptimizer, GroupsAndSparseGradientsMatchTheAveragedGradients) {
  if (Size() < 2) GTEST_SKIP() << "needs 2 ranks";
  for (const bool sparse_as_dense : {false, true}) {
    torch::manual_seed(0);
    torch::nn::Embedding emb(torch::nn::EmbeddingOptions(7, 3).sparse(true));
    torch::nn::Linear lin(3, 2);
    // The reference: plain tensors, every rank's loss divided by the number of ranks.
    const torch::Tensor ref_emb = emb->weight.detach().clone().requires_grad_(true);
    const torch::Tensor ref_w = lin->weight.detach().clone().requires_grad_(true);
    const torch::Tensor ref_b = lin->bias.detach().clone().requires_grad_(true);
    torch::optim::SGD sgd(std::vector<torch::Tensor>{emb->weight, lin->weight, lin->bias},
                          torch::optim::SGDOptions(0.5));
    torch::OrderedDict<std::string, torch::Tensor> named;
    named.insert("emb", emb->weight);
    named.insert("w", lin->weight);
    named.insert("b", lin->bias);
    DistributedOptimizerOptions options;
    options.num_groups = 1;  // one group of three: the sparse one apart unless sparse_as_dense
    options.sparse_as_dense = sparse_as_dense;
    DistributedOptimizer opt(sgd, named, options);
    auto ids_of = [](int rank) { return torch::tensor({rank % 7, (rank + 3) % 7, 6}); };
    opt.zero_grad();
    lin->forward(emb->forward(ids_of(Rank()))).pow(2).sum().backward();
    opt.step();
    EXPECT_TRUE(emb->weight.grad().is_sparse());
    EXPECT_EQ(opt.reducer().operations(), sparse_as_dense ? 1 : 3);
    for (int k = 0; k < Size(); ++k) {
      (torch::nn::functional::linear(torch::embedding(ref_emb, ids_of(k)), ref_w, ref_b)
           .pow(2)
           .sum() /
       Size())
          .backward();
    }
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::allclose(emb->weight, ref_emb - 0.5 * ref_emb.grad(), 1e-5, 1e-6))
        << sparse_as_dense;
    EXPECT_TRUE(torch::allclose(lin->weight, ref_w - 0.5 * ref_w.grad(), 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(lin->bias, ref_b - 0.5 * ref_b.grad(), 1e-5, 1e-6));
  }
}

TEST(Join, RanksWithFewerBatchesContributeZerosUntilAllJoined) {
  // Rank 0 has one batch more than the others: its last allreduce sums its own tensor only.
  const int batches = Rank() == 0 ? 3 : 2;
  for (int b = 0; b < batches; ++b) {
    torch::Tensor t = torch::ones({4});
    Allreduce_(t, ReduceOp::kSum, "join.batch." + std::to_string(b));
    EXPECT_EQ(t[0].item<float>(), b < 2 ? Size() : 1.0F) << "batch " << b;
  }
  EXPECT_EQ(Join(), 0);  // rank 0 joined last
}

TEST(Ops, Errors) {
  // Unsupported dtype: at the call, with a clear message.
  try {
    Allreduce(torch::ones({2}, torch::kComplexFloat), ReduceOp::kSum, "complex");
    ADD_FAILURE() << "complex64 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("ComplexFloat is not supported"), std::string::npos)
        << e.what();
  }
  // In place on a non-contiguous tensor: a contiguous copy is reduced and written back.
  torch::Tensor m = torch::ones({3, 2});
  torch::Tensor mt = m.t();
  EXPECT_TRUE(Allreduce_(mt, ReduceOp::kSum, "noncontig").is_same(mt));
  EXPECT_TRUE(torch::equal(m, torch::full({3, 2}, static_cast<float>(Size()))));
  EXPECT_THROW(Allreduce(torch::Tensor(), ReduceOp::kSum, "undefined"), Error);
  // A shape mismatch between ranks fails on every rank, naming the tensor.
  if (Size() > 1) {
    try {
      Allreduce(torch::ones({Rank() + 1}), ReduceOp::kSum, "mismatch");
      ADD_FAILURE() << "mismatched shapes accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("'mismatch'"), std::string::npos) << e.what();
    }
  }
  // Average on bool is refused by the runtime.
  EXPECT_THROW(Allreduce(torch::ones({2}, torch::kBool), ReduceOp::kAverage, "bool.avg"), Error);
}

// Refusals are raised at the call (Horovod's behaviour for argument errors and duplicate names),
// and a refusal on one rank only fails the other ranks' operation instead of leaving it waiting.
TEST(Ops, RefusalsAtTheCallAndOnOneRankOnly) {
  const int r = Rank();
  // A second in-flight operation of one name, for every kind of operation: at the call.
  const std::vector<std::pair<std::string, std::function<Handle()>>> ops = {
      {"ar", [] { return AllreduceAsync(torch::ones({2}), ReduceOp::kSum, "dup.ar"); }},
      {"ag",
       [] {
         return AllgatherAsync(torch::ones({1, 2}), "dup.ag");
       }},
      {"bc", [] { return BroadcastAsync(torch::ones({2}), 0, "dup.bc"); }},
      {"a2a", [] { return AlltoallAsync(torch::ones({Size()}), {}, "dup.a2a"); }},
      {"rs",
       [] { return ReducescatterAsync(torch::ones({Size()}), AllreduceOptions{}, "dup.rs"); }},
      {"grouped",
       [] {
         return GroupedAllreduceAsync({torch::ones({2}), torch::ones({3})}, {}, "dup.g");
       }},
  };
  for (const auto& [what, start] : ops) {
    // Rank 0 goes first: the others enqueue only after Barrier, so its first one is in flight.
    Handle first;
    if (r == 0) {
      first = start();
      if (Size() == 1) {  // alone, the first one may be done already
        EXPECT_NO_THROW(first.Wait()) << what;
        continue;
      }
      try {
        start();
        ADD_FAILURE() << what << ": a duplicate name was accepted at the call";
      } catch (const Error& e) {
        EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << e.what();
        EXPECT_NE(std::string(e.what()).find("same name"), std::string::npos) << e.what();
      }
    }
    Barrier();
    if (r != 0) first = start();
    EXPECT_NO_THROW(first.Wait()) << what;
  }
  // One rank passes a dtype the runtime lacks: it raises at the call, the others at Wait, naming
  // it; unnamed operations after it stay in step.
  for (const std::string& name : {std::string("onesided.complex"), std::string()}) {
    if (r == 0 && Size() > 1) {
      EXPECT_THROW(AllreduceAsync(torch::ones({2}, torch::kComplexFloat), ReduceOp::kSum, name),
                   Error);
    } else if (Size() > 1) {
      Handle h = AllreduceAsync(torch::ones({2}), ReduceOp::kSum, name);
      try {
        h.Wait();
        ADD_FAILURE() << "the other rank's refusal was not reported";
      } catch (const Error& e) {
        EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << e.what();
        EXPECT_NE(std::string(e.what()).find("rank 0 refused it"), std::string::npos) << e.what();
      }
    }
    EXPECT_EQ(Allreduce(torch::ones({2}), ReduceOp::kSum)[0].item<float>(), Size());
  }
}

TEST(Broadcast, ParametersMakeRanksEqual) {
  torch::nn::Sequential model = MakeModel(Rank() + 7);  // different weights per rank
  BroadcastParameters(*model, 0);
  ExpectSameWeights(*model, *MakeModel(7), 0.0);
  model = MakeModel(Rank() + 7);
  BroadcastParameters(model->named_parameters(), Size() - 1);
  ExpectSameWeights(*model, *MakeModel(Size() - 1 + 7), 0.0);
  // Buffers too (the module form): BatchNorm's running statistics.
  torch::nn::BatchNorm1d bn(3);
  bn->running_mean.fill_(static_cast<float>(Rank()));
  BroadcastParameters(*bn, 0);
  EXPECT_TRUE(torch::equal(bn->running_mean, torch::zeros({3})));
  // Still trainable: the in-place writes did not touch autograd.
  torch::mse_loss(model->forward(torch::ones({1, 5})), torch::zeros({1, 2})).backward();
  EXPECT_TRUE(model->parameters()[0].grad().defined());
}

TEST(Broadcast, AdamStateAndHyperparameters) {
  const int r = Rank();
  torch::nn::Sequential model = MakeModel(0);
  torch::optim::Adam opt(
      model->parameters(),
      torch::optim::AdamOptions(0.01 * (r + 1)).betas(std::make_tuple(0.8 + 0.05 * r, 0.999)));
  // Rank r takes r + 1 steps on its own data: different state everywhere.
  for (int step = 0; step <= r; ++step) {
    auto [x, y] = FullBatch(r * 10 + step);
    opt.zero_grad();
    torch::mse_loss(model->forward(x), y).backward();
    opt.step();
  }
  BroadcastOptimizerState(opt, 0);
  const auto& options =
      static_cast<const torch::optim::AdamOptions&>(opt.param_groups()[0].options());
  EXPECT_EQ(options.lr(), 0.01);
  EXPECT_EQ(std::get<0>(options.betas()), 0.8);
  auto params = model->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    std::ostringstream key;
    key << params[i].unsafeGetTensorImpl();
    auto& st = static_cast<torch::optim::AdamParamState&>(*opt.state().at(key.str()));
    EXPECT_EQ(st.step(), 1);
    for (const torch::Tensor* t : {&st.exp_avg(), &st.exp_avg_sq()}) {
      torch::Tensor all = Allgather(t->unsqueeze(0), "adam.state." + std::to_string(i));
      for (int k = 0; k < Size(); ++k) EXPECT_TRUE(torch::equal(all[k], *t));
    }
  }
}

TEST(Broadcast, SgdStateIsCreatedOrDroppedLikeRoot) {
  const int r = Rank();
  torch::nn::Sequential model = MakeModel(0);
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.5 + r).momentum(0.9));
  // Only root has momentum buffers: the others must create them (zeros, then root's values).
  if (r == 0) {
    auto [x, y] = FullBatch(3);
    torch::mse_loss(model->forward(x), y).backward();
    opt.step();
  }
  BroadcastOptimizerState(opt, 0);
  EXPECT_EQ(opt.param_groups()[0].options().get_lr(), 0.5);
  ASSERT_EQ(opt.state().size(), model->parameters().size());
  // In parameter order (the state map's order differs between processes).
  auto params = model->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    std::ostringstream key;
    key << params[i].unsafeGetTensorImpl();
    const torch::Tensor& buf =
        static_cast<torch::optim::SGDParamState&>(*opt.state().at(key.str())).momentum_buffer();
    ASSERT_TRUE(buf.defined());
    torch::Tensor all = Allgather(buf.reshape({1, -1}), "sgd.buf." + std::to_string(i));
    for (int k = 0; k < Size(); ++k) EXPECT_TRUE(torch::equal(all[k], buf.reshape({-1})));
    EXPECT_GT(buf.abs().sum().item<float>(), 0.0F);
  }
  // A fresh optimizer on root: state elsewhere is dropped.
  torch::optim::SGD fresh(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  if (r != 0) {
    auto [x, y] = FullBatch(4);
    torch::mse_loss(model->forward(x), y).backward();
    fresh.step();
  }
  BroadcastOptimizerState(fresh, 0);
  EXPECT_TRUE(fresh.state().empty());
}

TEST(Lifecycle, ShutdownAndInitAgain) {
  Shutdown();
  EXPECT_FALSE(IsInitialized());
  try {
    Rank();
    ADD_FAILURE() << "Rank() after Shutdown() did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kFailedPrecondition);
  }
  Init();
  torch::Tensor t = Allreduce(torch::ones({2}), ReduceOp::kSum, "after.reinit");
  EXPECT_TRUE(torch::allclose(t, torch::full({2}, static_cast<float>(Size()))));
}

}  // namespace
}  // namespace trainyard::dist

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  torch::set_num_threads(1);
  trainyard::dist::Init();
  int rc = RUN_ALL_TESTS();
  trainyard::dist::Shutdown();
  return rc;
}
