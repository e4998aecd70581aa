// Prometheus metrics (metrics.h). One Series per (model, version): found under the map's lock,
// then recorded under the series' own lock, so that models do not contend with each other.
// Series are never removed, so a pointer to one stays valid for the Metrics' life.
#include "serve/metrics.h"

#include <array>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <utility>

#include "common/mutex.h"

namespace trainyard::serve {
namespace {

// Seconds: 0.5 ms .. 10 s. Items: 1 .. 256.
constexpr std::array<double, 14> kSecondsBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,    0.25,  0.5,    1,     2.5,  5,     10};
constexpr std::array<double, 9> kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256};

template <size_t N>
struct Histogram {
  const std::array<double, N>* bounds;
  std::array<uint64_t, N> counts{};  // per bucket (not cumulative); the rest is +Inf
  uint64_t count = 0;
  double sum = 0;

  void Observe(double v) {
    for (size_t i = 0; i < N; ++i) {
      if (v <= (*bounds)[i]) {
        ++counts[i];
        break;
      }
    }
    ++count;
    sum += v;
  }
};

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// A label value escaped as the exposition format asks (\\, \", \n).
std::string Escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

template <size_t N>
void RenderHistogram(std::string* out, const std::string& name, const std::string& labels,
                     const Histogram<N>& h) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < N; ++i) {
    cumulative += h.counts[i];
    *out += name + "_bucket{" + labels + ",le=\"" + Number((*h.bounds)[i]) + "\"} " +
            std::to_string(cumulative) + "\n";
  }
  *out += name + "_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(h.count) + "\n";
  *out += name + "_sum{" + labels + "} " + Number(h.sum) + "\n";
  *out += name + "_count{" + labels + "} " + std::to_string(h.count) + "\n";
}

}  // namespace

struct Metrics::Impl {
  struct Series {
    mutable Mutex mu;
    std::map<std::pair<std::string, int>, uint64_t> requests TY_GUARDED_BY(mu);  // endpoint, code
    Histogram<kSecondsBuckets.size()> request_seconds TY_GUARDED_BY(mu){&kSecondsBuckets};
    Histogram<kSecondsBuckets.size()> inference_seconds TY_GUARDED_BY(mu){&kSecondsBuckets};
    Histogram<kBatchBuckets.size()> batch_size TY_GUARDED_BY(mu){&kBatchBuckets};
    int64_t queue_depth TY_GUARDED_BY(mu) = 0;
    bool has_queue TY_GUARDED_BY(mu) = false;
  };

  mutable Mutex mu;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Series>> series TY_GUARDED_BY(mu);

  Series& Get(const std::string& model, const std::string& version) {
    MutexLock lock(mu);
    auto& slot = series[{model, version}];
    if (!slot) slot = std::make_unique<Series>();
    return *slot;
  }
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::CountRequest(const std::string& model, const std::string& version,
                           const std::string& endpoint, int http_status) {
  auto& s = impl_->Get(model, version);
  MutexLock lock(s.mu);
  ++s.requests[{endpoint, http_status}];
}

void Metrics::ObserveRequestSeconds(const std::string& model, const std::string& version,
                                    double seconds) {
  auto& s = impl_->Get(model, version);
  MutexLock lock(s.mu);
  s.request_seconds.Observe(seconds);
}

void Metrics::ObserveInferenceSeconds(const std::string& model, const std::string& version,
                                      double seconds) {
  auto& s = impl_->Get(model, version);
  MutexLock lock(s.mu);
  s.inference_seconds.Observe(seconds);
}

void Metrics::ObserveBatchSize(const std::string& model, const std::string& version,
                               int64_t items) {
  auto& s = impl_->Get(model, version);
  MutexLock lock(s.mu);
  s.batch_size.Observe(static_cast<double>(items));
}

void Metrics::SetQueueDepth(const std::string& model, const std::string& version, int64_t depth) {
  auto& s = impl_->Get(model, version);
  MutexLock lock(s.mu);
  s.queue_depth = depth;
  s.has_queue = true;
}

std::string Metrics::Render() const {
  std::string requests, request_seconds, inference_seconds, batch_size, queue_depth;
  {
    MutexLock lock(impl_->mu);
    for (const auto& [key, series] : impl_->series) {
      const std::string labels =
          "model=\"" + Escape(key.first) + "\",version=\"" + Escape(key.second) + "\"";
      MutexLock series_lock(series->mu);
      for (const auto& [request, count] : series->requests) {
        requests += "trainyard_requests_total{" + labels + ",endpoint=\"" + Escape(request.first) +
                    "\",code=\"" + std::to_string(request.second) + "\"} " + std::to_string(count) +
                    "\n";
      }
      if (series->request_seconds.count) {
        RenderHistogram(&request_seconds, "trainyard_request_duration_seconds", labels,
                        series->request_seconds);
      }
      if (series->inference_seconds.count) {
        RenderHistogram(&inference_seconds, "trainyard_inference_duration_seconds", labels,
                        series->inference_seconds);
      }
      if (series->batch_size.count) {
        RenderHistogram(&batch_size, "trainyard_batch_size", labels, series->batch_size);
      }
      if (series->has_queue) {
        queue_depth +=
            "trainyard_queue_depth{" + labels + "} " + std::to_string(series->queue_depth) + "\n";
      }
    }
  }
  std::string out;
  out +=
      "# HELP trainyard_up Whether the server is up.\n# TYPE trainyard_up gauge\ntrainyard_up 1\n";
  out +=
      "# HELP trainyard_requests_total Requests answered, by model, endpoint and HTTP status.\n"
      "# TYPE trainyard_requests_total counter\n" +
      requests;
  out +=
      "# HELP trainyard_request_duration_seconds Time from a request's arrival to its answer.\n"
      "# TYPE trainyard_request_duration_seconds histogram\n" +
      request_seconds;
  out +=
      "# HELP trainyard_inference_duration_seconds Time of one forward pass (one batch).\n"
      "# TYPE trainyard_inference_duration_seconds histogram\n" +
      inference_seconds;
  out +=
      "# HELP trainyard_batch_size Items per forward pass.\n"
      "# TYPE trainyard_batch_size histogram\n" +
      batch_size;
  out +=
      "# HELP trainyard_queue_depth Requests waiting for a model instance.\n"
      "# TYPE trainyard_queue_depth gauge\n" +
      queue_depth;
  return out;
}

}  // namespace trainyard::serve
