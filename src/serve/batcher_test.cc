// The dynamic batcher against a fake backend that doubles FP32 values, records every forward and
// can be held inside a forward (a gate), so that queues fill deterministically.
#include "serve/batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <thread>

#include "common/mutex.h"

namespace trainyard::serve {
namespace {

using std::chrono::milliseconds;

Clock::time_point In(int ms) { return Clock::now() + milliseconds(ms); }

Tensor Floats(std::vector<int64_t> shape, std::vector<float> values) {
  Tensor t;
  t.name = "x";
  t.dtype = DType::kFP32;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(float));
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

std::vector<float> FloatsOf(const Tensor& t) {
  std::vector<float> out(t.data.size() / sizeof(float));
  std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

// What every instance of the fake saw, and the gate that holds forwards.
struct Record {
  Mutex mu;
  CondVar cv;
  bool open TY_GUARDED_BY(mu) = true;
  int running TY_GUARDED_BY(mu) = 0;
  int most_running TY_GUARDED_BY(mu) = 0;
  int entered TY_GUARDED_BY(mu) = 0;
  std::vector<std::vector<int64_t>> shapes TY_GUARDED_BY(mu);  // input 0's shape per forward
  int64_t refuse_items_of_size = -1;  // item size (dimension 1) the model refuses

  void SetOpen(bool value) {
    MutexLock lock(mu);
    open = value;
    cv.NotifyAll();
  }
  void WaitEntered(int n) {
    MutexLock lock(mu);
    cv.Wait(lock, [&]() TY_REQUIRES(mu) { return entered >= n; });
  }
  std::vector<std::vector<int64_t>> Shapes() {
    MutexLock lock(mu);
    return shapes;
  }
};

class FakeBackend : public Backend {
 public:
  explicit FakeBackend(Record* record) : record_(record) {}

  Result<std::vector<Tensor>> Forward(std::vector<Tensor> inputs) override {
    {
      MutexLock lock(record_->mu);
      ++record_->entered;
      ++record_->running;
      record_->most_running = std::max(record_->most_running, record_->running);
      record_->shapes.push_back(inputs[0].shape);
      record_->cv.NotifyAll();
      record_->cv.Wait(lock, [&]() TY_REQUIRES(record_->mu) { return record_->open; });
      --record_->running;
    }
    if (inputs[0].shape.size() > 1 && inputs[0].shape[1] == record_->refuse_items_of_size) {
      return InvalidArgument("size-" + std::to_string(record_->refuse_items_of_size) +
                             " items do not fit");
    }
    Tensor& x = inputs[0];
    float* p = reinterpret_cast<float*>(x.data.data());
    for (size_t i = 0; i < x.data.size() / sizeof(float); ++i) p[i] *= 2;
    x.name = "";
    return std::vector<Tensor>{std::move(x)};
  }

  std::vector<std::string> InputNames() const override { return {"x"}; }

 private:
  Record* record_;
};

BackendLoader FakeLoader(Record* record) {
  return [record](int) -> Result<std::unique_ptr<Backend>> {
    return std::unique_ptr<Backend>(std::make_unique<FakeBackend>(record));
  };
}

BatcherOptions Options(int batch_size, int delay_ms = 5, int instances = 1, int queue = 1024) {
  BatcherOptions o;
  o.name = "fake";
  o.version = "1";
  o.platform = "test";
  o.batch_size = batch_size;
  o.max_batch_delay_ms = delay_ms;
  o.instances = instances;
  o.queue_size = queue;
  return o;
}

std::unique_ptr<ModelService> Start(BatcherOptions options, BackendLoader loader,
                                    Metrics* metrics = nullptr) {
  auto service = MakeBatchedService(std::move(options), std::move(loader), metrics);
  EXPECT_TRUE(service.ok()) << service.status().ToString();
  auto until = In(10000);
  while (!(*service)->Ready() && (*service)->LoadError().empty() && Clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  return std::move(service).value();
}

// Waits until the metrics show `depth` requests queued for fake:1.
bool WaitQueueDepth(const Metrics& metrics, int depth) {
  const std::string line =
      "trainyard_queue_depth{model=\"fake\",version=\"1\"} " + std::to_string(depth) + "\n";
  auto until = In(10000);
  while (Clock::now() < until) {
    if (metrics.Render().find(line) != std::string::npos) return true;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return false;
}

std::future<Result<std::vector<Tensor>>> InferAsync(ModelService* s, Tensor t,
                                                    int timeout_ms = 30000) {
  return std::async(std::launch::async, [s, t = std::move(t), timeout_ms]() mutable {
    std::vector<Tensor> inputs;
    inputs.push_back(std::move(t));
    return s->Infer(std::move(inputs), In(timeout_ms));
  });
}

TEST(Batcher, CombinesRequestsUpToTheBatchSizeAndSplitsTheAnswers) {
  Record record;
  Metrics metrics;
  auto s = Start(Options(/*batch_size=*/6, /*delay_ms=*/20000), FakeLoader(&record), &metrics);
  ASSERT_TRUE(s->Ready());
  // 1 + 2 + 3 items fill the batch: one forward, without waiting for the delay.
  std::vector<std::future<Result<std::vector<Tensor>>>> answers;
  answers.push_back(InferAsync(s.get(), Floats({1, 2}, {1, 2})));
  answers.push_back(InferAsync(s.get(), Floats({2, 2}, {3, 4, 5, 6})));
  answers.push_back(InferAsync(s.get(), Floats({3, 2}, {7, 8, 9, 10, 11, 12})));
  std::vector<std::vector<float>> got;
  for (auto& a : answers) {
    auto r = a.get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].name, "");
    got.push_back(FloatsOf((*r)[0]));
    EXPECT_EQ((*r)[0].shape[0] * 2, static_cast<int64_t>(got.back().size()));
  }
  EXPECT_EQ(got[0], (std::vector<float>{2, 4}));
  EXPECT_EQ(got[1], (std::vector<float>{6, 8, 10, 12}));
  EXPECT_EQ(got[2], (std::vector<float>{14, 16, 18, 20, 22, 24}));
  EXPECT_EQ(record.Shapes(), (std::vector<std::vector<int64_t>>{{6, 2}}));
  EXPECT_NE(metrics.Render().find(
                "trainyard_batch_size_bucket{model=\"fake\",version=\"1\",le=\"4\"} 0\n"),
            std::string::npos);
  EXPECT_NE(metrics.Render().find("trainyard_batch_size_count{model=\"fake\",version=\"1\"} 1\n"),
            std::string::npos);
}

TEST(Batcher, BatchSizeOneRunsEachRequestAlone) {
  Record record;
  auto s = Start(Options(1), FakeLoader(&record));
  std::vector<std::future<Result<std::vector<Tensor>>>> answers;
  for (int i = 0; i < 6; ++i) answers.push_back(InferAsync(s.get(), Floats({1, 1}, {1.0f * i})));
  for (int i = 0; i < 6; ++i) {
    auto r = answers[i].get();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(FloatsOf((*r)[0]), (std::vector<float>{2.0f * i}));
  }
  for (const auto& shape : record.Shapes()) EXPECT_EQ(shape[0], 1);
  EXPECT_EQ(record.Shapes().size(), 6u);
}

TEST(Batcher, OnlyRequestsOfTheSameItemShapeShareAForward) {
  Record record;
  Metrics metrics;
  auto s = Start(Options(8, /*delay_ms=*/50), FakeLoader(&record), &metrics);
  record.SetOpen(false);
  // The first request holds the only instance; four more queue up meanwhile (no shape is learned
  // before a forward succeeds, so all are accepted).
  auto first = InferAsync(s.get(), Floats({1, 5}, {1, 1, 1, 1, 1}));
  record.WaitEntered(1);
  std::vector<std::future<Result<std::vector<Tensor>>>> answers;
  answers.push_back(InferAsync(s.get(), Floats({1, 2}, {1, 2})));
  answers.push_back(InferAsync(s.get(), Floats({1, 3}, {1, 2, 3})));
  answers.push_back(InferAsync(s.get(), Floats({1, 2}, {3, 4})));
  answers.push_back(InferAsync(s.get(), Floats({1, 3}, {4, 5, 6})));
  ASSERT_TRUE(WaitQueueDepth(metrics, 4));
  record.SetOpen(true);
  EXPECT_TRUE(first.get().ok());
  for (auto& a : answers) EXPECT_TRUE(a.get().ok());
  auto shapes = record.Shapes();  // the [1, 2] and [1, 3] pairs arrive in any order
  std::sort(shapes.begin() + 1, shapes.end());
  EXPECT_EQ(shapes, (std::vector<std::vector<int64_t>>{{1, 5}, {2, 2}, {2, 3}}));
  // The first success fixed the item shape: [1, 2] is refused now, before queueing.
  std::vector<Tensor> late;
  late.push_back(Floats({1, 2}, {1, 2}));
  auto refused = s->Infer(std::move(late), In(1000));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(), "expected shape [-1, 5] (FP32), got [1, 2]");
}

TEST(Batcher, FullQueueAnswersUnavailable) {
  Record record;
  Metrics metrics;
  auto s = Start(Options(1, 5, 1, /*queue=*/2), FakeLoader(&record), &metrics);
  record.SetOpen(false);
  auto running = InferAsync(s.get(), Floats({1, 1}, {1}));
  record.WaitEntered(1);
  auto queued1 = InferAsync(s.get(), Floats({1, 1}, {2}));
  auto queued2 = InferAsync(s.get(), Floats({1, 1}, {3}));
  ASSERT_TRUE(WaitQueueDepth(metrics, 2));
  std::vector<Tensor> one;
  one.push_back(Floats({1, 1}, {4}));
  auto full = s->Infer(std::move(one), In(1000));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(full.status().message(), "queue full (2 waiting)");
  record.SetOpen(true);
  EXPECT_TRUE(running.get().ok());
  EXPECT_TRUE(queued1.get().ok());
  EXPECT_TRUE(queued2.get().ok());
}

TEST(Batcher, DeadlineWhileQueuedAnswersTimeoutWithoutRunning) {
  Record record;
  Metrics metrics;
  auto s = Start(Options(1), FakeLoader(&record), &metrics);
  record.SetOpen(false);
  auto running = InferAsync(s.get(), Floats({1, 1}, {1}));
  record.WaitEntered(1);
  std::vector<Tensor> late;
  late.push_back(Floats({1, 1}, {2}));
  auto r = s->Infer(std::move(late), In(50));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  EXPECT_NE(r.status().message().find("still queued"), std::string::npos);
  EXPECT_TRUE(WaitQueueDepth(metrics, 0));
  record.SetOpen(true);
  EXPECT_TRUE(running.get().ok());
  EXPECT_EQ(record.Shapes().size(), 1u);  // the timed-out request never ran
  // The service goes on answering.
  std::vector<Tensor> next;
  next.push_back(Floats({1, 1}, {3}));
  EXPECT_TRUE(s->Infer(std::move(next), In(10000)).ok());
}

TEST(Batcher, DeadlineDuringTheForwardAnswersTimeout) {
  Record record;
  auto s = Start(Options(1), FakeLoader(&record));
  record.SetOpen(false);
  std::vector<Tensor> in;
  in.push_back(Floats({1, 1}, {1}));
  auto r = s->Infer(std::move(in), In(50));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  record.SetOpen(true);
}

TEST(Batcher, ARefusedForwardDoesNotFixTheShapeAndTheServiceKeepsServing) {
  Record record;
  record.refuse_items_of_size = 4;
  auto s = Start(Options(1), FakeLoader(&record));
  std::vector<Tensor> bad;
  bad.push_back(Floats({1, 4}, {1, 2, 3, 4}));
  auto r = s->Infer(std::move(bad), In(10000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "size-4 items do not fit");
  EXPECT_TRUE(s->Info().inputs.empty());
  std::vector<Tensor> good;
  good.push_back(Floats({2, 3}, {1, 2, 3, 4, 5, 6}));
  ASSERT_TRUE(s->Infer(std::move(good), In(10000)).ok());
  ModelInfo info = s->Info();
  ASSERT_EQ(info.inputs.size(), 1u);
  EXPECT_EQ(info.inputs[0].name, "x");  // from the backend's InputNames()
  EXPECT_EQ(info.inputs[0].shape, (std::vector<int64_t>{-1, 3}));
  ASSERT_EQ(info.outputs.size(), 1u);
  EXPECT_EQ(info.outputs[0].name, "output__0");
  EXPECT_EQ(info.outputs[0].shape, (std::vector<int64_t>{-1, 3}));
  std::vector<Tensor> again;
  again.push_back(Floats({1, 4}, {1, 2, 3, 4}));
  auto refused = s->Infer(std::move(again), In(10000));
  EXPECT_EQ(refused.status().message(), "expected shape [-1, 3] (FP32), got [1, 4]");
}

TEST(Batcher, DeclaredInputsAreCheckedFromTheFirstRequestAndWarmedUp) {
  Record record;
  BatcherOptions o = Options(1, 5, /*instances=*/2);
  o.declared_inputs = {{"", DType::kFP32, {-1, 3}}};
  auto s = Start(o, FakeLoader(&record));
  ASSERT_TRUE(s->Ready()) << s->LoadError();
  EXPECT_EQ(record.Shapes(), (std::vector<std::vector<int64_t>>(4, {1, 3})));  // 2 per instance
  ModelInfo info = s->Info();
  ASSERT_EQ(info.inputs.size(), 1u);
  EXPECT_EQ(info.inputs[0].name, "x");
  ASSERT_EQ(info.outputs.size(), 1u);  // known from the warm-up
  std::vector<Tensor> wrong;
  wrong.push_back(Floats({2, 2}, {1, 2, 3, 4}));
  EXPECT_EQ(s->Infer(std::move(wrong), In(1000)).status().message(),
            "expected shape [-1, 3] (FP32), got [2, 2]");
  Tensor ints;
  ints.dtype = DType::kInt64;
  ints.shape = {1, 3};
  ints.data.resize(24);
  std::vector<Tensor> typed;
  typed.push_back(std::move(ints));
  EXPECT_EQ(s->Infer(std::move(typed), In(1000)).status().message(),
            "expected shape [-1, 3] (FP32), got [1, 3] (INT64)");
  std::vector<Tensor> two;
  two.push_back(Floats({1, 3}, {1, 2, 3}));
  two.push_back(Floats({1, 3}, {1, 2, 3}));
  EXPECT_EQ(s->Infer(std::move(two), In(1000)).status().message(), "expected 1 input, got 2");
}

TEST(Batcher, AWarmUpThatFailsFailsTheLoad) {
  Record record;
  record.refuse_items_of_size = 4;
  BatcherOptions o = Options(1);
  o.declared_inputs = {{"", DType::kFP32, {-1, 4}}};
  auto s = Start(o, FakeLoader(&record));
  EXPECT_FALSE(s->Ready());
  EXPECT_EQ(s->LoadError(),
            "the declared input (tags input_shape/input_dtype: [-1, 4] (FP32)) does not fit the "
            "model: size-4 items do not fit");
  std::vector<Tensor> in;
  in.push_back(Floats({1, 4}, {1, 2, 3, 4}));
  auto r = s->Infer(std::move(in), In(1000));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("model fake:1 failed to load: the declared input"),
            std::string::npos);
}

TEST(Batcher, LoadingThenLoadedOrFailed) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Record record;
  auto slow = [&record, released](int) -> Result<std::unique_ptr<Backend>> {
    released.wait();
    return std::unique_ptr<Backend>(std::make_unique<FakeBackend>(&record));
  };
  auto made = MakeBatchedService(Options(1), slow, nullptr);
  ASSERT_TRUE(made.ok());
  auto& s = *made;
  EXPECT_FALSE(s->Ready());
  EXPECT_EQ(s->LoadError(), "");
  std::vector<Tensor> in;
  in.push_back(Floats({1, 1}, {1}));
  auto r = s->Infer(std::move(in), In(1000));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "model fake:1 is still loading");
  release.set_value();
  auto until = In(10000);
  while (!s->Ready() && Clock::now() < until) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_TRUE(s->Ready());

  auto failing = [](int instance) -> Result<std::unique_ptr<Backend>> {
    return NotFound("instance " + std::to_string(instance) + ": no such file");
  };
  auto f = Start(Options(1), failing);
  EXPECT_FALSE(f->Ready());
  EXPECT_EQ(f->LoadError(), "instance 0: no such file");
}

TEST(Batcher, InstancesRunForwardsAtTheSameTime) {
  Record record;
  auto s = Start(Options(1, 5, /*instances=*/3), FakeLoader(&record));
  record.SetOpen(false);
  std::vector<std::future<Result<std::vector<Tensor>>>> answers;
  for (int i = 0; i < 3; ++i) answers.push_back(InferAsync(s.get(), Floats({1, 1}, {1})));
  record.WaitEntered(3);
  {
    MutexLock lock(record.mu);
    EXPECT_EQ(record.running, 3);
  }
  record.SetOpen(true);
  for (auto& a : answers) EXPECT_TRUE(a.get().ok());
}

TEST(Batcher, MalformedRequestsAreRefusedBeforeQueueing) {
  Record record;
  auto s = Start(Options(4), FakeLoader(&record));
  auto refuse = [&](std::vector<Tensor> inputs) {
    return s->Infer(std::move(inputs), In(1000)).status().message();
  };
  EXPECT_EQ(refuse({}), "the request has no inputs");
  std::vector<Tensor> scalar;
  scalar.push_back(Floats({}, {1}));
  EXPECT_EQ(refuse(std::move(scalar)), "expected a batch of items (a dimension 0), got a scalar");
  std::vector<Tensor> empty;
  empty.push_back(Floats({0, 2}, {}));
  EXPECT_EQ(refuse(std::move(empty)), "the request holds no items (dimension 0 is 0)");
  std::vector<Tensor> short_data;
  short_data.push_back(Floats({2, 2}, {1, 2, 3}));
  EXPECT_EQ(refuse(std::move(short_data)), "shape [2, 2] needs 4 values, the data holds 3");
  std::vector<Tensor> uneven;
  uneven.push_back(Floats({2, 1}, {1, 2}));
  uneven.push_back(Floats({3, 1}, {1, 2, 3}));
  EXPECT_EQ(refuse(std::move(uneven)), "the inputs hold different numbers of items: 2 and 3");
  EXPECT_TRUE(record.Shapes().empty());
}

TEST(Batcher, BadOptionsAreRefused) {
  Record record;
  EXPECT_FALSE(MakeBatchedService(Options(0), FakeLoader(&record), nullptr).ok());
  EXPECT_FALSE(MakeBatchedService(Options(1, -1), FakeLoader(&record), nullptr).ok());
  EXPECT_FALSE(MakeBatchedService(Options(1, 5, 0), FakeLoader(&record), nullptr).ok());
  EXPECT_FALSE(MakeBatchedService(Options(1, 5, 1, 0), FakeLoader(&record), nullptr).ok());
  BatcherOptions o = Options(1);
  o.declared_inputs = {{"x", DType::kFP32, {3}}};
  EXPECT_FALSE(MakeBatchedService(o, FakeLoader(&record), nullptr).ok());
}

}  // namespace
}  // namespace trainyard::serve
