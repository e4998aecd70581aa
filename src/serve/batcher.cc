// The dynamic batcher (batcher.h).
#include "serve/batcher.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <future>
#include <iterator>
#include <thread>
#include <utility>

#include "common/mutex.h"

namespace trainyard::serve {
namespace {

using Answer = Result<std::vector<Tensor>>;

struct Request {
  std::vector<Tensor> inputs;
  int64_t items = 0;
  Clock::time_point deadline;
  std::promise<Answer> promise;
};
using RequestPtr = std::shared_ptr<Request>;

bool SameSignature(const Request& a, const Request& b) {
  if (a.inputs.size() != b.inputs.size()) return false;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const Tensor& x = a.inputs[i];
    const Tensor& y = b.inputs[i];
    if (x.dtype != y.dtype || x.shape.size() != y.shape.size() ||
        !std::equal(x.shape.begin() + 1, x.shape.end(), y.shape.begin() + 1)) {
      return false;
    }
  }
  return true;
}

bool ShapeFits(const std::vector<int64_t>& spec, const std::vector<int64_t>& shape) {
  if (spec.size() != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (spec[i] != -1 && spec[i] != shape[i]) return false;
  }
  return true;
}

std::vector<int64_t> WithBatchDimension(const std::vector<int64_t>& shape) {
  std::vector<int64_t> out = shape;
  if (!out.empty()) out[0] = -1;
  return out;
}

size_t Elements(const Tensor& t) {
  return t.dtype == DType::kBytes ? t.strings.size() : t.data.size() / DTypeSize(t.dtype);
}

// The inputs of `batch` concatenated along dimension 0 (same signature; moved out of them).
std::vector<Tensor> Concatenate(const std::vector<RequestPtr>& batch, int64_t items) {
  std::vector<Tensor> out;
  const size_t count = batch[0]->inputs.size();
  out.reserve(count);
  for (size_t k = 0; k < count; ++k) {
    const Tensor& first = batch[0]->inputs[k];
    Tensor t;
    t.name = first.name;
    t.dtype = first.dtype;
    t.shape = first.shape;
    t.shape[0] = items;
    if (t.dtype == DType::kBytes) {
      t.strings.reserve(static_cast<size_t>(t.elements()));
      for (const auto& r : batch) {
        auto& s = r->inputs[k].strings;
        std::move(s.begin(), s.end(), std::back_inserter(t.strings));
      }
    } else {
      t.data.resize(static_cast<size_t>(t.elements()) * DTypeSize(t.dtype));
      uint8_t* p = t.data.data();
      for (const auto& r : batch) {
        const auto& d = r->inputs[k].data;
        if (!d.empty()) std::memcpy(p, d.data(), d.size());
        p += d.size();
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

// Rows [begin, begin + rows) of `t` (dimension 0).
Tensor Rows(const Tensor& t, int64_t begin, int64_t rows) {
  Tensor out;
  out.name = t.name;
  out.dtype = t.dtype;
  out.shape = t.shape;
  out.shape[0] = rows;
  const size_t per_row = t.shape[0] ? Elements(t) / static_cast<size_t>(t.shape[0]) : 0;
  const size_t first = per_row * static_cast<size_t>(begin),
               n = per_row * static_cast<size_t>(rows);
  if (t.dtype == DType::kBytes) {
    out.strings.assign(t.strings.begin() + static_cast<ptrdiff_t>(first),
                       t.strings.begin() + static_cast<ptrdiff_t>(first + n));
  } else {
    const size_t size = DTypeSize(t.dtype);
    out.data.assign(t.data.begin() + static_cast<ptrdiff_t>(first * size),
                    t.data.begin() + static_cast<ptrdiff_t>((first + n) * size));
  }
  return out;
}

Tensor Zeros(const TensorSpec& spec) {
  Tensor t;
  t.name = spec.name;
  t.dtype = spec.dtype;
  t.shape = spec.shape;
  t.shape[0] = 1;
  if (spec.dtype == DType::kBytes)
    t.strings.resize(static_cast<size_t>(t.elements()));
  else
    t.data.assign(static_cast<size_t>(t.elements()) * DTypeSize(spec.dtype), 0);
  return t;
}

std::string SpecText(const TensorSpec& spec) {
  return ShapeText(spec.shape) + " (" + std::string(DTypeName(spec.dtype)) + ")";
}

class BatchedService : public ModelService {
 public:
  BatchedService(BatcherOptions options, BackendLoader loader, Metrics* metrics)
      : options_(std::move(options)), loader_(std::move(loader)), metrics_(metrics) {
    if (!options_.declared_inputs.empty()) {
      inputs_ = std::make_shared<const std::vector<TensorSpec>>(options_.declared_inputs);
      learned_inputs_ = true;
    }
    loading_ = std::thread([this] { Load(); });
  }

  ~BatchedService() override {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    work_cv_.NotifyAll();
    collect_cv_.NotifyAll();
    loading_.join();
    for (auto& w : workers_) w.join();
    std::deque<RequestPtr> left;
    {
      MutexLock lock(mu_);
      left.swap(queue_);
    }
    for (auto& r : left) r->promise.set_value(Unavailable(Id() + " is shutting down"));
  }

  ModelInfo Info() const override {
    ModelInfo info{options_.name, options_.version, options_.platform, {}, {}};
    MutexLock lock(info_mu_);
    if (inputs_) info.inputs = *inputs_;
    if (outputs_) info.outputs = *outputs_;
    return info;
  }

  bool Ready() const override { return state_.load() == State::kReady; }

  std::string LoadError() const override {
    MutexLock lock(info_mu_);
    return load_error_;
  }

  Answer Infer(std::vector<Tensor> inputs, Clock::time_point deadline) override {
    switch (state_.load()) {
      case State::kLoading: return Unavailable(Id() + " is still loading");
      case State::kFailed: return Unavailable(Id() + " failed to load: " + LoadError());
      case State::kReady: break;
    }
    auto request = std::make_shared<Request>();
    ASSIGN_OR_RETURN(request->items, Check(inputs));
    request->inputs = std::move(inputs);
    request->deadline = deadline;
    std::future<Answer> answer = request->promise.get_future();
    size_t depth;
    {
      MutexLock lock(mu_);
      if (stopping_) return Unavailable(Id() + " is shutting down");
      if (queue_.size() >= static_cast<size_t>(options_.queue_size)) {
        return Unavailable("queue full (" + std::to_string(queue_.size()) + " waiting)");
      }
      queue_.push_back(request);
      depth = queue_.size();
      if (collecting_)
        collect_cv_.NotifyOne();
      else
        work_cv_.NotifyOne();
    }
    SetQueueDepth(depth);
    if (answer.wait_until(deadline) == std::future_status::timeout) {
      bool was_queued = false;
      {
        MutexLock lock(mu_);
        auto it = std::find(queue_.begin(), queue_.end(), request);
        if (it != queue_.end()) {
          queue_.erase(it);
          was_queued = true;
          depth = queue_.size();
        }
      }
      if (was_queued) SetQueueDepth(depth);
      return Timeout(Id() + " did not answer before the request's deadline" +
                     (was_queued ? " (it was still queued)" : ""));
    }
    return answer.get();
  }

 private:
  enum class State { kLoading, kReady, kFailed };

  std::string Id() const { return "model " + options_.name + ":" + options_.version; }

  void SetQueueDepth(size_t depth) {
    if (metrics_) {
      metrics_->SetQueueDepth(options_.name, options_.version, static_cast<int64_t>(depth));
    }
  }

  // Checks a request's inputs against each other and the specs; returns its number of items.
  Result<int64_t> Check(const std::vector<Tensor>& inputs) const {
    if (inputs.empty()) return InvalidArgument("the request has no inputs");
    std::shared_ptr<const std::vector<TensorSpec>> specs;
    {
      MutexLock lock(info_mu_);
      specs = inputs_;
    }
    if (specs && specs->size() != inputs.size()) {
      return InvalidArgument("expected " + std::to_string(specs->size()) + " input" +
                             (specs->size() == 1 ? "" : "s") + ", got " +
                             std::to_string(inputs.size()));
    }
    int64_t items = -1;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& t = inputs[i];
      const std::string which =
          inputs.size() == 1 ? "" : "input " + std::to_string(i) + " (" + t.name + "): ";
      if (specs) {
        const TensorSpec& spec = (*specs)[i];
        if (t.dtype != spec.dtype || !ShapeFits(spec.shape, t.shape)) {
          std::string got = ShapeText(t.shape);
          if (t.dtype != spec.dtype) got += " (" + std::string(DTypeName(t.dtype)) + ")";
          return InvalidArgument(which + "expected shape " + SpecText(spec) + ", got " + got);
        }
      }
      if (t.shape.empty()) {
        return InvalidArgument(which + "expected a batch of items (a dimension 0), got a scalar");
      }
      if (static_cast<int64_t>(Elements(t)) != t.elements() ||
          (t.dtype != DType::kBytes && t.data.size() % DTypeSize(t.dtype) != 0)) {
        return InvalidArgument(which + "shape " + ShapeText(t.shape) + " needs " +
                               std::to_string(t.elements()) + " values, the data holds " +
                               std::to_string(Elements(t)));
      }
      if (items >= 0 && t.shape[0] != items) {
        return InvalidArgument("the inputs hold different numbers of items: " +
                               std::to_string(items) + " and " + std::to_string(t.shape[0]));
      }
      items = t.shape[0];
    }
    if (items == 0) return InvalidArgument("the request holds no items (dimension 0 is 0)");
    return items;
  }

  void Load() {
    std::vector<std::unique_ptr<Backend>> backends;
    for (int i = 0; i < options_.instances; ++i) {
      {
        MutexLock lock(mu_);
        if (stopping_) return;
      }
      auto backend = loader_(i);
      if (!backend.ok()) return Fail(backend.status().message());
      backends.push_back(std::move(backend).value());
    }
    input_names_ = backends[0]->InputNames();
    if (!options_.declared_inputs.empty()) {
      std::vector<TensorSpec> declared = options_.declared_inputs;
      for (size_t i = 0; i < declared.size(); ++i) {
        if (declared[i].name.empty()) declared[i].name = InputName(i);
      }
      {
        MutexLock lock(info_mu_);
        inputs_ = std::make_shared<const std::vector<TensorSpec>>(declared);
      }
      Status warm = WarmUp(declared, backends);
      if (!warm.ok()) return Fail(warm.message());
    }
    backends_ = std::move(backends);
    for (auto& b : backends_) workers_.emplace_back([this, backend = b.get()] { Work(backend); });
    state_ = State::kReady;
  }

  // Two forwards of zeros per instance (TorchScript optimizes on the first runs), when every
  // declared dimension but the batch's is known.
  Status WarmUp(const std::vector<TensorSpec>& declared,
                const std::vector<std::unique_ptr<Backend>>& backends) {
    for (const auto& spec : declared) {
      if (std::count(spec.shape.begin(), spec.shape.end(), -1) > 1) return Status::Ok();
    }
    for (const auto& backend : backends) {
      for (int pass = 0; pass < 2; ++pass) {
        std::vector<Tensor> zeros;
        for (const auto& spec : declared) zeros.push_back(Zeros(spec));
        auto out = backend->Forward(std::move(zeros));
        if (!out.ok()) {
          std::string what;
          for (const auto& spec : declared) what += (what.empty() ? "" : ", ") + SpecText(spec);
          return InvalidArgument("the declared input (tags input_shape/input_dtype: " + what +
                                 ") does not fit the model: " + out.status().message());
        }
        if (pass == 0 && &backend == &backends.front()) LearnOutputs(*out);
      }
    }
    return Status::Ok();
  }

  void Fail(const std::string& message) {
    {
      MutexLock lock(info_mu_);
      load_error_ = message.empty() ? "unknown error" : message;
    }
    state_ = State::kFailed;
  }

  std::string InputName(size_t i) const {
    return i < input_names_.size() ? input_names_[i] : "input__" + std::to_string(i);
  }

  void LearnOutputs(const std::vector<Tensor>& outputs) {
    MutexLock lock(info_mu_);
    if (outputs_) return;
    std::vector<TensorSpec> specs;
    for (size_t i = 0; i < outputs.size(); ++i) {
      const Tensor& t = outputs[i];
      specs.push_back({t.name.empty() ? "output__" + std::to_string(i) : t.name, t.dtype,
                       WithBatchDimension(t.shape)});
    }
    outputs_ = std::make_shared<const std::vector<TensorSpec>>(std::move(specs));
  }

  void LearnInputs(const std::vector<TensorSpec>& seen) {
    MutexLock lock(info_mu_);
    if (!inputs_) inputs_ = std::make_shared<const std::vector<TensorSpec>>(seen);
  }

  void Work(Backend* backend) {
    for (;;) {
      std::vector<RequestPtr> batch;
      int64_t items = 0;
      size_t depth;
      {
        MutexLock lock(mu_);
        work_cv_.Wait(lock, [&]() TY_REQUIRES(mu_) {
          return stopping_ || (!collecting_ && !queue_.empty());
        });
        if (stopping_) return;
        collecting_ = true;
        items = Collect(lock, &batch);
        collecting_ = false;
        if (!queue_.empty()) work_cv_.NotifyOne();
        depth = queue_.size();
      }
      SetQueueDepth(depth);
      if (!batch.empty()) Run(backend, batch, items);
    }
  }

  // Forms a batch (the collector's job; see batcher.h). Returns its number of items.
  int64_t Collect(MutexLock& lock, std::vector<RequestPtr>* batch) TY_REQUIRES(mu_) {
    auto now = Clock::now();
    int64_t items = 0;
    while (!queue_.empty() && batch->empty()) {
      RequestPtr r = std::move(queue_.front());
      queue_.pop_front();
      if (r->deadline <= now) {
        Expire(*r);
        continue;
      }
      items = r->items;
      batch->push_back(std::move(r));
    }
    if (batch->empty() || options_.batch_size <= 1) return items;
    const auto until = now + std::chrono::milliseconds(options_.max_batch_delay_ms);
    const Request& first = *batch->front();
    for (;;) {
      for (auto it = queue_.begin(); it != queue_.end() && items < options_.batch_size;) {
        Request& r = **it;
        if (r.deadline <= now) {
          Expire(r);
          it = queue_.erase(it);
        } else if (items + r.items <= options_.batch_size && SameSignature(first, r)) {
          items += r.items;
          batch->push_back(std::move(*it));
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      if (items >= options_.batch_size || stopping_) break;
      now = Clock::now();
      if (now >= until) break;
      collect_cv_.WaitFor(lock, until - now);
      now = Clock::now();
    }
    return items;
  }

  void Expire(Request& r) {
    r.promise.set_value(Timeout(Id() + " did not answer before the request's deadline (it was "
                                       "still queued)"));
  }

  void Run(Backend* backend, std::vector<RequestPtr>& batch, int64_t items) {
    std::vector<TensorSpec> seen;
    if (!learned_inputs_) {
      for (size_t i = 0; i < batch[0]->inputs.size(); ++i) {
        const Tensor& t = batch[0]->inputs[i];
        seen.push_back({InputName(i), t.dtype, WithBatchDimension(t.shape)});
      }
    }
    std::vector<Tensor> inputs =
        batch.size() == 1 ? std::move(batch[0]->inputs) : Concatenate(batch, items);
    const auto start = Clock::now();
    Answer out = backend->Forward(std::move(inputs));
    if (metrics_) {
      metrics_->ObserveInferenceSeconds(
          options_.name, options_.version,
          std::chrono::duration<double>(Clock::now() - start).count());
      metrics_->ObserveBatchSize(options_.name, options_.version, items);
    }
    if (out.ok() && batch.size() > 1) {
      for (size_t k = 0; k < out->size(); ++k) {
        const Tensor& t = (*out)[k];
        if (t.shape.empty() || t.shape[0] != items) {
          out = Internal("output " + std::to_string(k) + " has shape " + ShapeText(t.shape) +
                         ", which does not start with the batch's " + std::to_string(items) +
                         " items: this model cannot be batched (serve it with batch size 1)");
          break;
        }
      }
    }
    if (!out.ok()) {
      for (auto& r : batch) r->promise.set_value(out.status());
      return;
    }
    if (!learned_inputs_) {
      LearnInputs(seen);
      learned_inputs_ = true;
    }
    LearnOutputs(*out);
    if (batch.size() == 1) {
      batch[0]->promise.set_value(std::move(out).value());
      return;
    }
    int64_t begin = 0;
    for (auto& r : batch) {
      std::vector<Tensor> mine;
      mine.reserve(out->size());
      for (const Tensor& t : *out) mine.push_back(Rows(t, begin, r->items));
      begin += r->items;
      r->promise.set_value(std::move(mine));
    }
  }

  const BatcherOptions options_;
  const BackendLoader loader_;
  Metrics* const metrics_;

  std::thread loading_;
  // Written by the loading thread before the workers start; read-only after.
  std::vector<std::string> input_names_;
  std::vector<std::unique_ptr<Backend>> backends_;
  std::vector<std::thread> workers_;

  std::atomic<State> state_{State::kLoading};
  std::atomic<bool> learned_inputs_{false};

  mutable Mutex info_mu_;
  std::shared_ptr<const std::vector<TensorSpec>> inputs_ TY_GUARDED_BY(info_mu_);
  std::shared_ptr<const std::vector<TensorSpec>> outputs_ TY_GUARDED_BY(info_mu_);
  std::string load_error_ TY_GUARDED_BY(info_mu_);

  Mutex mu_;
  std::deque<RequestPtr> queue_ TY_GUARDED_BY(mu_);
  bool collecting_ TY_GUARDED_BY(mu_) = false;
  bool stopping_ TY_GUARDED_BY(mu_) = false;
  CondVar work_cv_;     // a free worker: the collector's role is free and the queue has requests
  CondVar collect_cv_;  // the collector: a request arrived
};

}  // namespace

Result<std::unique_ptr<ModelService>> MakeBatchedService(BatcherOptions options,
                                                         BackendLoader loader, Metrics* metrics) {
  if (options.batch_size < 1) return InvalidArgument("batch size must be at least 1");
  if (options.instances < 1) return InvalidArgument("instances must be at least 1");
  if (options.queue_size < 1) return InvalidArgument("queue size must be at least 1");
  if (options.max_batch_delay_ms < 0) return InvalidArgument("max batch delay must be >= 0 ms");
  for (const auto& spec : options.declared_inputs) {
    if (spec.shape.empty() || spec.shape[0] != -1) {
      return InvalidArgument("a declared input's shape must start with the batch dimension -1");
    }
  }
  return std::unique_ptr<ModelService>(
      std::make_unique<BatchedService>(std::move(options), std::move(loader), metrics));
}

}  // namespace trainyard::serve
