#include "serve/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace trainyard::serve {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(Metrics, EmptyServerSaysItIsUp) {
  Metrics m;
  std::string text = m.Render();
  EXPECT_TRUE(Has(text, "trainyard_up 1"));
  EXPECT_TRUE(Has(text, "# TYPE trainyard_requests_total counter"));
  EXPECT_TRUE(Has(text, "# TYPE trainyard_batch_size histogram"));
  EXPECT_EQ(text.find("trainyard_requests_total{"), std::string::npos);
}

TEST(Metrics, CountsRequestsPerModelEndpointAndCode) {
  Metrics m;
  m.CountRequest("digits", "1", "infer", 200);
  m.CountRequest("digits", "1", "infer", 200);
  m.CountRequest("digits", "1", "infer", 400);
  m.CountRequest("digits", "2", "score", 200);
  std::string text = m.Render();
  EXPECT_TRUE(
      Has(text,
          R"(trainyard_requests_total{model="digits",version="1",endpoint="infer",code="200"} 2)"));
  EXPECT_TRUE(
      Has(text,
          R"(trainyard_requests_total{model="digits",version="1",endpoint="infer",code="400"} 1)"));
  EXPECT_TRUE(
      Has(text,
          R"(trainyard_requests_total{model="digits",version="2",endpoint="score",code="200"} 1)"));
}

TEST(Metrics, HistogramsAreCumulative) {
  Metrics m;
  m.ObserveRequestSeconds("m", "1", 0.0003);
  m.ObserveRequestSeconds("m", "1", 0.002);
  m.ObserveRequestSeconds("m", "1", 60);
  std::string text = m.Render();
  const std::string l = R"(model="m",version="1")";
  EXPECT_TRUE(Has(text, "trainyard_request_duration_seconds_bucket{" + l + R"(,le="0.0005"} 1)"));
  EXPECT_TRUE(Has(text, "trainyard_request_duration_seconds_bucket{" + l + R"(,le="0.001"} 1)"));
  EXPECT_TRUE(Has(text, "trainyard_request_duration_seconds_bucket{" + l + R"(,le="0.0025"} 2)"));
  EXPECT_TRUE(Has(text, "trainyard_request_duration_seconds_bucket{" + l + R"(,le="10"} 2)"));
  EXPECT_TRUE(Has(text, "trainyard_request_duration_seconds_bucket{" + l + R"(,le="+Inf"} 3)"));
  EXPECT_TRUE(Has(text, "trainyard_request_duration_seconds_count{" + l + "} 3"));
  EXPECT_TRUE(Has(text, "trainyard_request_duration_seconds_sum{" + l + "} 60.0023"));

  m.ObserveBatchSize("m", "1", 1);
  m.ObserveBatchSize("m", "1", 3);
  m.ObserveBatchSize("m", "1", 300);
  m.ObserveInferenceSeconds("m", "1", 0.004);
  text = m.Render();
  EXPECT_TRUE(Has(text, "trainyard_batch_size_bucket{" + l + R"(,le="1"} 1)"));
  EXPECT_TRUE(Has(text, "trainyard_batch_size_bucket{" + l + R"(,le="2"} 1)"));
  EXPECT_TRUE(Has(text, "trainyard_batch_size_bucket{" + l + R"(,le="4"} 2)"));
  EXPECT_TRUE(Has(text, "trainyard_batch_size_bucket{" + l + R"(,le="256"} 2)"));
  EXPECT_TRUE(Has(text, "trainyard_batch_size_bucket{" + l + R"(,le="+Inf"} 3)"));
  EXPECT_TRUE(Has(text, "trainyard_inference_duration_seconds_bucket{" + l + R"(,le="0.005"} 1)"));
}

TEST(Metrics, QueueDepthIsAGauge) {
  Metrics m;
  m.SetQueueDepth("m", "1", 5);
  m.SetQueueDepth("m", "1", 2);
  EXPECT_TRUE(Has(m.Render(), R"(trainyard_queue_depth{model="m",version="1"} 2)"));
}

TEST(Metrics, LabelValuesAreEscaped) {
  Metrics m;
  m.CountRequest("a\"b\\c\nd", "1", "score", 200);
  EXPECT_TRUE(Has(
      m.Render(),
      R"(trainyard_requests_total{model="a\"b\\c\nd",version="1",endpoint="score",code="200"} 1)"));
}

TEST(Metrics, RecordsFromManyThreads) {
  Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < 1000; ++i) {
        m.CountRequest("m", std::to_string(t % 2), "score", 200);
        m.ObserveBatchSize("m", std::to_string(t % 2), 2);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::string text = m.Render();
  EXPECT_TRUE(Has(
      text, R"(trainyard_requests_total{model="m",version="0",endpoint="score",code="200"} 4000)"));
  EXPECT_TRUE(Has(text, R"(trainyard_batch_size_count{model="m",version="1"} 4000)"));
}

}  // namespace
}  // namespace trainyard::serve
