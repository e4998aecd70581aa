// Prometheus metrics of one server (GET /metrics, text exposition format 0.0.4), per model:
//   trainyard_requests_total{model,version,endpoint,code}          counter
//   trainyard_request_duration_seconds{model,version}               histogram (HTTP in to out)
//   trainyard_inference_duration_seconds{model,version}             histogram (one forward)
//   trainyard_batch_size{model,version}                             histogram (items per forward)
//   trainyard_queue_depth{model,version}                            gauge (requests waiting)
// plus process-wide trainyard_up 1. Safe to use from any thread; recording is a few atomic
// adds under a short lock per series.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace trainyard::serve {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void CountRequest(const std::string& model, const std::string& version,
                    const std::string& endpoint, int http_status);
  void ObserveRequestSeconds(const std::string& model, const std::string& version, double seconds);
  void ObserveInferenceSeconds(const std::string& model, const std::string& version,
                               double seconds);
  void ObserveBatchSize(const std::string& model, const std::string& version, int64_t items);
  void SetQueueDepth(const std::string& model, const std::string& version, int64_t depth);

  // The whole exposition text.
  std::string Render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainyard::serve
