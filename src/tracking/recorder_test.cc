#include "tracking/recorder.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/files.h"
#include "testing/temp_dir.h"

namespace trainyard::tracking {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// What the fake endpoint does with one batch request.
enum class Fault {
  kNone,
  kFailBefore,         // 503 without applying
  kDelay,              // applies and answers after 50 ms
  kFailAfterApply,     // applies, then answers 500 (the acknowledgement is lost)
  kTimeoutAfterApply,  // applies, then answers after the client's request timeout
};

// An in-process ingestion endpoint that follows protocol.h: it decodes batches, applies each
// (client, seq) once, stores files, and serves the metrics back. Faults are chosen per request.
class FakeEndpoint {
 public:
  explicit FakeEndpoint(std::function<Fault(int request)> faults = nullptr)
      : faults_(std::move(faults)) {
    server_.Post(
        R"(/v1/runs/([^/]+)/batch)", [this](const httplib::Request& req, httplib::Response& res) {
          int n = ++requests_;
          Fault fault = faults_ ? faults_(n) : Fault::kNone;
          last_pending_ = std::stoll("0" + req.get_header_value("X-Trainyard-Pending"));
          if (full_) {  // what the real endpoint answers when the workspace disk is full
            res.status = 507;
            res.set_content("{\"error\":\"not stored: workspace disk is full (/ws)\"}",
                            "application/json");
            return;
          }
          if (down_ || fault == Fault::kFailBefore) {
            res.status = 503;
            return;
          }
          if (req.get_header_value("Authorization") != "Bearer secret" ||
              req.get_header_value("Content-Type") != "application/x-trainyard-batch") {
            res.status = 401;
            return;
          }
          Result<Batch> batch = DecodeBatch(req.body);
          if (!batch.ok()) {
            res.status = 400;
            res.set_content(batch.status().message(), "text/plain");
            return;
          }
          Apply(req.matches[1], *batch);
          if (fault == Fault::kDelay) std::this_thread::sleep_for(std::chrono::milliseconds(50));
          if (fault == Fault::kFailAfterApply) {
            res.status = 500;
            return;
          }
          if (fault == Fault::kTimeoutAfterApply) {
            std::this_thread::sleep_for(std::chrono::milliseconds(700));
          }
          res.set_content("{\"acked_seq\":" + std::to_string(batch->seq) + "}", "application/json");
        });
    server_.Put(R"(/v1/runs/([^/]+)/files)",
                [this](const httplib::Request& req, httplib::Response& res) {
                  if (down_) {
                    res.status = 503;
                    return;
                  }
                  std::lock_guard<std::mutex> lock(mu_);
                  files_[req.get_param_value("name")] = req.body;
                  res.set_content("{}", "application/json");
                });
    server_.Get(R"(/v1/runs/([^/]+)/metrics)",
                [this](const httplib::Request& req, httplib::Response& res) {
                  std::lock_guard<std::mutex> lock(mu_);
                  MetricSeries out;
                  for (const auto& [name, points] : metrics_) {
                    if (!req.has_param("name") || req.get_param_value("name") == name)
                      out[name] = points;
                  }
                  res.set_content(EncodeMetricsJson(out), "application/json");
                });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeEndpoint() {
    server_.stop();
    thread_.join();
  }

  std::string uri() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void set_down(bool down) { down_ = down; }
  void set_full(bool full) { full_ = full; }
  int requests() const { return requests_; }
  // The X-Trainyard-Pending header of the last batch request.
  int64_t last_pending() const { return last_pending_; }

  struct Stored {
    std::map<std::string, std::vector<MetricPoint>> metrics;
    std::vector<Row> rows;
    std::vector<Image> images;
    std::vector<KeyValue> tags, properties;
    std::map<std::string, std::string> files;
    int duplicates = 0;
    std::set<std::string> runs;
  };
  Stored stored() const {
    std::lock_guard<std::mutex> lock(mu_);
    return Stored{metrics_, rows_, images_, tags_, properties_, files_, duplicates_, runs_};
  }

 private:
  void Apply(const std::string& run, const Batch& batch) {
    std::lock_guard<std::mutex> lock(mu_);
    runs_.insert(run);
    if (!applied_[batch.client].insert(batch.seq).second) {
      ++duplicates_;
      return;
    }
    for (const Point& p : batch.points) {
      metrics_[p.name].push_back(MetricPoint{p.step, p.ts_us, batch.rank, p.value});
    }
    for (const Row& r : batch.rows) rows_.push_back(r);
    for (const Image& i : batch.images) images_.push_back(i);
    for (const KeyValue& kv : batch.tags) tags_.push_back(kv);
    for (const KeyValue& kv : batch.properties) properties_.push_back(kv);
  }

  std::function<Fault(int)> faults_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<bool> down_{false};
  std::atomic<bool> full_{false};
  std::atomic<int64_t> last_pending_{-1};
  mutable std::mutex mu_;
  std::map<std::string, std::set<int64_t>> applied_;
  std::map<std::string, std::vector<MetricPoint>> metrics_;
  std::vector<Row> rows_;
  std::vector<Image> images_;
  std::vector<KeyValue> tags_, properties_;
  std::map<std::string, std::string> files_;
  std::set<std::string> runs_;
  int duplicates_ = 0;
};

RecorderOptions Online(const FakeEndpoint& endpoint) {
  RecorderOptions options;
  options.uri = endpoint.uri();
  options.run_id = "run-1";
  options.token = "secret";
  options.experiment = "exp";
  options.rank = 2;
  options.flush_interval_s = 0.05;
  options.request_timeout_s = 0.4;
  options.max_backoff_s = 0.1;
  return options;
}

std::unique_ptr<Recorder> MustCreate(RecorderOptions options) {
  Result<std::unique_ptr<Recorder>> recorder = Recorder::Create(std::move(options));
  EXPECT_TRUE(recorder.ok()) << recorder.status().ToString();
  return std::move(recorder).value();
}

TEST(Recorder, HundredThousandPointsFromFourThreadsArriveOnceInOrderDespiteFaults) {
  FakeEndpoint endpoint([](int n) {
    if (n % 3 == 0) return Fault::kFailBefore;
    if (n % 5 == 0) return Fault::kFailAfterApply;
    if (n % 7 == 0) return Fault::kDelay;
    if (n == 4) return Fault::kTimeoutAfterApply;
    return Fault::kNone;
  });
  RecorderOptions options = Online(endpoint);
  options.flush_threshold_records = 3000;
  options.max_batch_records = 5000;
  std::unique_ptr<Recorder> recorder = MustCreate(options);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string name = "thread" + std::to_string(t);
      for (int i = 0; i < kPerThread; ++i) {
        ASSERT_TRUE(recorder->Log(name, i * 0.5).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  Status flushed = recorder->Flush(120);
  ASSERT_TRUE(flushed.ok()) << flushed.ToString();

  FakeEndpoint::Stored stored = endpoint.stored();
  EXPECT_GT(stored.duplicates, 0) << "the faults should have caused resends";
  EXPECT_EQ(stored.runs, std::set<std::string>{"run-1"});
  ASSERT_EQ(stored.metrics.size(), static_cast<size_t>(kThreads));
  for (int t = 0; t < kThreads; ++t) {
    const std::vector<MetricPoint>& points = stored.metrics["thread" + std::to_string(t)];
    ASSERT_EQ(points.size(), static_cast<size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) {
      ASSERT_EQ(points[i].step, i) << "thread " << t;
      ASSERT_EQ(points[i].value, i * 0.5);
      ASSERT_EQ(points[i].rank, 2);
    }
  }
}

TEST(Recorder, StepsDefaultToTheNextIndexPerName) {
  FakeEndpoint endpoint;
  std::unique_ptr<Recorder> recorder = MustCreate(Online(endpoint));
  ASSERT_TRUE(recorder->Log("a", 1).ok());
  ASSERT_TRUE(recorder->Log("b", 1).ok());
  ASSERT_TRUE(recorder->Log("a", 2).ok());
  ASSERT_TRUE(recorder->Log("a", 3, 10).ok());
  ASSERT_TRUE(recorder->Log("a", 4).ok());
  ASSERT_TRUE(recorder->LogList("b", {5, 6}).ok());
  Result<MetricSeries> metrics = recorder->GetMetrics();
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  std::vector<int64_t> a_steps, b_steps;
  for (const MetricPoint& p : metrics->at("a")) a_steps.push_back(p.step);
  for (const MetricPoint& p : metrics->at("b")) b_steps.push_back(p.step);
  EXPECT_EQ(a_steps, (std::vector<int64_t>{0, 1, 10, 11}));
  EXPECT_EQ(b_steps, (std::vector<int64_t>{0, 1, 2}));
  const int64_t now = NowMicros();
  EXPECT_LE(metrics->at("a")[0].ts_us, now);
  EXPECT_GT(metrics->at("a")[0].ts_us, now - 60'000'000);
}

TEST(Recorder, NanAndInfinityRoundTrip) {
  FakeEndpoint endpoint;
  std::unique_ptr<Recorder> recorder = MustCreate(Online(endpoint));
  ASSERT_TRUE(recorder->Log("x", std::nan("")).ok());
  ASSERT_TRUE(recorder->Log("x", kInf).ok());
  ASSERT_TRUE(recorder->Log("x", -kInf).ok());
  ASSERT_TRUE(recorder->Log("y", 1).ok());
  Result<MetricSeries> metrics = recorder->GetMetrics("x");
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  ASSERT_EQ(metrics->size(), 1u);
  const std::vector<MetricPoint>& x = metrics->at("x");
  ASSERT_EQ(x.size(), 3u);
  EXPECT_TRUE(std::isnan(x[0].value));
  EXPECT_EQ(x[1].value, kInf);
  EXPECT_EQ(x[2].value, -kInf);
}

TEST(Recorder, FlushWaitsForAcknowledgementAndReportsTimeouts) {
  FakeEndpoint endpoint;
  RecorderOptions options = Online(endpoint);
  options.flush_interval_s = 30;  // only Flush sends
  std::unique_ptr<Recorder> recorder = MustCreate(options);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(recorder->Log("m", i).ok());
  ASSERT_TRUE(recorder->Flush(10).ok());
  EXPECT_EQ(endpoint.stored().metrics["m"].size(), 10u);  // stored when Flush returns

  endpoint.set_down(true);
  ASSERT_TRUE(recorder->Log("m", 10).ok());
  Status timeout = recorder->Flush(0.3);
  EXPECT_EQ(timeout.code(), StatusCode::kTimeout);
  EXPECT_NE(timeout.message().find("1 records not acknowledged"), std::string::npos)
      << timeout.message();
  EXPECT_NE(timeout.message().find("HTTP 503"), std::string::npos) << timeout.message();

  endpoint.set_down(false);
  ASSERT_TRUE(recorder->Flush(10).ok());
  EXPECT_EQ(endpoint.stored().metrics["m"].size(), 11u);
}

TEST(Recorder, FullEndpointKeepsEverythingSaysWhatWaitsAndRecovers) {
  FakeEndpoint endpoint;
  RecorderOptions options = Online(endpoint);
  options.flush_interval_s = 30;  // only Flush sends
  std::unique_ptr<Recorder> recorder = MustCreate(options);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(recorder->Log("m", i).ok());
  ASSERT_TRUE(recorder->Flush(10).ok());

  endpoint.set_full(true);
  for (int i = 100; i < 600; ++i) ASSERT_TRUE(recorder->Log("m", i).ok());
  Status timeout = recorder->Flush(0.3);  // the batch of 500 is now in flight, refused
  EXPECT_EQ(timeout.code(), StatusCode::kTimeout);
  EXPECT_NE(timeout.message().find("500 records not acknowledged"), std::string::npos)
      << timeout.message();
  EXPECT_NE(timeout.message().find("HTTP 507"), std::string::npos) << timeout.message();
  EXPECT_NE(timeout.message().find("workspace disk is full"), std::string::npos)
      << timeout.message();
  EXPECT_EQ(endpoint.last_pending(), 0);
  // Records logged meanwhile wait behind the refused batch; the next try says how many.
  for (int i = 600; i < 900; ++i) ASSERT_TRUE(recorder->Log("m", i).ok());
  int before = endpoint.requests();
  for (int i = 0; i < 200 && endpoint.requests() < before + 2; ++i) SleepMicros(10'000);
  ASSERT_GE(endpoint.requests(), before + 2) << "the client stopped retrying";
  EXPECT_EQ(endpoint.last_pending(), 300);
  EXPECT_EQ(endpoint.stored().metrics["m"].size(), 100u);

  endpoint.set_full(false);
  ASSERT_TRUE(recorder->Flush(10).ok());
  std::vector<MetricPoint> stored = endpoint.stored().metrics["m"];
  ASSERT_EQ(stored.size(), 900u);
  for (size_t i = 0; i < stored.size(); ++i) EXPECT_EQ(stored[i].step, static_cast<int64_t>(i));
  EXPECT_EQ(endpoint.stored().duplicates, 0);
}

TEST(Recorder, SendsWithinTheFlushIntervalWithoutFlush) {
  FakeEndpoint endpoint;
  RecorderOptions options = Online(endpoint);
  options.flush_interval_s = 0.5;
  std::unique_ptr<Recorder> recorder = MustCreate(options);
  ASSERT_TRUE(recorder->Log("live", 1).ok());
  const int64_t start = MonotonicMicros();
  while (endpoint.stored().metrics["live"].empty() && MonotonicMicros() - start < 5'000'000) {
    SleepMicros(10'000);
  }
  int64_t waited_ms = (MonotonicMicros() - start) / 1000;
  EXPECT_LE(waited_ms, 1000) << "a point took " << waited_ms << " ms to reach the endpoint";
}

TEST(Recorder, DestructorFlushes) {
  FakeEndpoint endpoint;
  RecorderOptions options = Online(endpoint);
  options.flush_interval_s = 30;
  {
    std::unique_ptr<Recorder> recorder = MustCreate(options);
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(recorder->Log("m", i).ok());
  }
  EXPECT_EQ(endpoint.stored().metrics["m"].size(), 1000u);
}

TEST(Recorder, UnreachableEndpointBuffersThenFailsClearlyWithoutDropping) {
  FakeEndpoint endpoint;
  endpoint.set_down(true);
  RecorderOptions options = Online(endpoint);
  options.max_pending_bytes = 100'000;
  std::unique_ptr<Recorder> recorder = MustCreate(options);
  ASSERT_TRUE(recorder->Log("m", 0).ok());
  SleepMicros(300'000);  // the sender has tried and failed by now
  int accepted = 1;
  Status status;
  while ((status = recorder->Log("m", accepted)).ok()) ++accepted;
  EXPECT_GT(accepted, 100);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("tracking endpoint unreachable for"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find(std::to_string(accepted) + " points pending"), std::string::npos)
      << status.message();
  endpoint.set_down(false);
  ASSERT_TRUE(recorder->Flush(10).ok());
  EXPECT_EQ(endpoint.stored().metrics["m"].size(), static_cast<size_t>(accepted));
  EXPECT_TRUE(recorder->Log("m", 0).ok());
}

TEST(Recorder, RowsTablesTagsPropertiesImagesAndFiles) {
  testing::TempDir dir;
  FakeEndpoint endpoint;
  std::unique_ptr<Recorder> recorder = MustCreate(Online(endpoint));
  ASSERT_TRUE(recorder->LogRow("row", R"({"epoch": 1, "lr": 0.1})").ok());
  ASSERT_TRUE(recorder
                  ->LogRow("row", RowColumns{{"epoch", int64_t{2}},
                                             {"lr", std::nan("")},
                                             {"name", "x"},
                                             {"ok", true},
                                             {"none", nullptr}})
                  .ok());
  ASSERT_TRUE(
      recorder->LogTable("table", TableColumns{{"a", {int64_t{1}, int64_t{2}}}, {"b", {"x", "y"}}})
          .ok());
  Status ragged = recorder->LogTable("table", TableColumns{{"a", {1.0}}, {"b", {}}});
  EXPECT_NE(ragged.message().find("column 'b' has 0 values"), std::string::npos)
      << ragged.message();
  ASSERT_TRUE(recorder->Tag("mode", "fast").ok());
  ASSERT_TRUE(recorder->Tag("flag").ok());
  ASSERT_TRUE(recorder->SetTags({{"a", "1"}, {"b", std::nullopt}}).ok());
  EXPECT_FALSE(recorder->SetTags({{"ok", "1"}, {"bad\tkey", "2"}}).ok());
  ASSERT_TRUE(recorder->AddProperties({{"commit", "abc"}}).ok());

  std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + "pixels";
  ASSERT_TRUE(WriteFileAtomic(dir / "plot.png", png).ok());
  ASSERT_TRUE(recorder->LogImage("loss plot", dir / "plot.png").ok());
  ASSERT_TRUE(recorder->LogImage("loss plot", dir / "plot.png").ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "not.png", "GIF89a").ok());
  Status not_png = recorder->LogImage("x", dir / "not.png");
  EXPECT_NE(not_png.message().find("is not a PNG file"), std::string::npos) << not_png.message();

  ASSERT_TRUE(WriteFileAtomic(dir / "model.pt", std::string(3 << 20, 'w')).ok());
  ASSERT_TRUE(recorder->UploadFile("outputs/model.pt", dir / "model.pt").ok());
  ASSERT_TRUE(MakeDirs(dir / "folder/sub").ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "folder/a.txt", "a").ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "folder/sub/b.txt", "b").ok());
  ASSERT_TRUE(recorder->UploadFolder("logs", dir / "folder").ok());
  EXPECT_EQ(recorder->UploadFile("../x", dir / "model.pt").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(recorder->UploadFile("x", dir / "missing").code(), StatusCode::kNotFound);
  ASSERT_TRUE(recorder->Flush(10).ok());

  FakeEndpoint::Stored stored = endpoint.stored();
  ASSERT_EQ(stored.rows.size(), 4u);
  EXPECT_EQ(stored.rows[0].columns_json, R"({"epoch":1,"lr":0.1})");
  EXPECT_EQ(stored.rows[1].columns_json,
            R"({"epoch":2,"lr":"NaN","name":"x","ok":true,"none":null})");
  EXPECT_EQ(stored.rows[1].step, 1);
  EXPECT_EQ(stored.rows[2].columns_json, R"({"a":1,"b":"x"})");
  EXPECT_EQ(stored.rows[3].columns_json, R"({"a":2,"b":"y"})");
  ASSERT_EQ(stored.tags.size(), 4u);
  EXPECT_EQ(stored.tags[0].key, "mode");
  EXPECT_EQ(stored.tags[0].value_json, R"("fast")");
  EXPECT_EQ(stored.tags[1].value_json, "null");
  ASSERT_EQ(stored.properties.size(), 1u);
  EXPECT_EQ(stored.properties[0].value_json, R"("abc")");
  TagMap tags = recorder->GetTags();
  EXPECT_EQ(tags.size(), 4u);
  EXPECT_EQ(tags["mode"], "fast");
  EXPECT_EQ(tags["flag"], std::nullopt);

  ASSERT_EQ(stored.images.size(), 2u);
  EXPECT_EQ(stored.images[0].path, "images/loss plot/0.png");
  EXPECT_EQ(stored.images[1].path, "images/loss plot/1.png");
  EXPECT_EQ(stored.files["images/loss plot/1.png"], png);
  EXPECT_EQ(stored.files["outputs/model.pt"].size(), size_t{3} << 20);
  EXPECT_EQ(stored.files["logs/a.txt"], "a");
  EXPECT_EQ(stored.files["logs/sub/b.txt"], "b");
}

TEST(Recorder, BadNamesFailAtTheCall) {
  FakeEndpoint endpoint;
  std::unique_ptr<Recorder> recorder = MustCreate(Online(endpoint));
  Status tab = recorder->Log("a\tb", 1);
  EXPECT_EQ(tab.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tab.message().find("metric name 'a\\tb'"), std::string::npos) << tab.message();
  EXPECT_FALSE(recorder->Log(std::string(256, 'x'), 1).ok());
  EXPECT_FALSE(recorder->Log("", 1).ok());
  EXPECT_FALSE(recorder->LogRow("r", "[1]").ok());
  EXPECT_FALSE(recorder->Tag("k\n").ok());
}

TEST(Recorder, OfflinePrintsAndKeepsValuesAndNeverFails) {
  RecorderOptions options;  // no URI
  std::unique_ptr<Recorder> recorder = MustCreate(options);
  EXPECT_TRUE(recorder->offline());
  EXPECT_EQ(recorder->run_id().rfind("OfflineRun_", 0), 0u) << recorder->run_id();
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(recorder->Log("loss", 0.5).ok());
  ASSERT_TRUE(recorder->Log("loss", 0.25, 3).ok());
  ASSERT_TRUE(recorder->Log("loss", std::nan("")).ok());
  ASSERT_TRUE(recorder->LogRow("r", R"({"a":1})").ok());
  ASSERT_TRUE(recorder->Tag("k", "v").ok());
  ASSERT_TRUE(recorder->Flush().ok());
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("[trainyard offline] loss=0.25 (step 3)\n"), std::string::npos) << err;
  EXPECT_NE(err.find("[trainyard offline] loss=nan (step 4)\n"), std::string::npos) << err;
  EXPECT_NE(err.find("[trainyard offline] row r {\"a\":1} (step 0)\n"), std::string::npos) << err;
  EXPECT_NE(err.find("[trainyard offline] tag k=\"v\"\n"), std::string::npos) << err;
  Result<MetricSeries> metrics = recorder->GetMetrics();
  ASSERT_TRUE(metrics.ok());
  ASSERT_EQ(metrics->at("loss").size(), 3u);
  EXPECT_EQ(metrics->at("loss")[1].value, 0.25);
  EXPECT_TRUE(std::isnan(metrics->at("loss")[2].value));
  EXPECT_EQ(recorder->GetTags()["k"], "v");
  EXPECT_FALSE(recorder->Log("bad\tname", 1).ok());  // bad input is still an error

  options.offline_quiet = true;
  std::unique_ptr<Recorder> quiet = MustCreate(options);
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(quiet->Log("loss", 1).ok());
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST(Recorder, EnvironmentSelectsOnlineOrOffline) {
  FakeEndpoint endpoint;
  setenv("TRAINYARD_TRACKING_URI", endpoint.uri().c_str(), 1);
  setenv("TRAINYARD_RUN_ID", "run-env", 1);
  setenv("TRAINYARD_TRACKING_TOKEN", "secret", 1);
  setenv("TRAINYARD_EXPERIMENT", "mnist", 1);
  setenv("OMPI_COMM_WORLD_RANK", "3", 1);
  unsetenv("RANK");
  {
    std::unique_ptr<Recorder> recorder = Recorder::FromEnvironment();
    EXPECT_FALSE(recorder->offline());
    EXPECT_EQ(recorder->run_id(), "run-env");
    EXPECT_EQ(recorder->experiment(), "mnist");
    EXPECT_EQ(recorder->rank(), 3);
    ASSERT_TRUE(recorder->Log("m", 1).ok());
    ASSERT_TRUE(recorder->Flush(10).ok());
    EXPECT_EQ(endpoint.stored().metrics["m"].at(0).rank, 3);
  }
  setenv("TRAINYARD_TRACKING_URI", "ftp://nope", 1);
  ::testing::internal::CaptureStderr();
  std::unique_ptr<Recorder> bad = Recorder::FromEnvironment();
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(bad->offline());
  EXPECT_NE(err.find("tracking is offline"), std::string::npos) << err;
  for (const char* var : {"TRAINYARD_TRACKING_URI", "TRAINYARD_RUN_ID", "TRAINYARD_TRACKING_TOKEN",
                          "TRAINYARD_EXPERIMENT", "OMPI_COMM_WORLD_RANK"}) {
    unsetenv(var);
  }
  EXPECT_TRUE(Recorder::FromEnvironment()->offline());
}

// A program that logs through Recorder::Current() and calls std::exit without flushing still
// delivers everything (the std::atexit handler). The child is forked, so it reaches this
// process's fake endpoint.
TEST(RecorderDeathTest, CurrentIsFlushedAtExit) {
  FakeEndpoint endpoint;
  setenv("TRAINYARD_TRACKING_URI", endpoint.uri().c_str(), 1);
  setenv("TRAINYARD_RUN_ID", "run-exit", 1);
  setenv("TRAINYARD_TRACKING_TOKEN", "secret", 1);
  setenv("TRAINYARD_FLUSH_INTERVAL", "30", 1);  // nothing is sent before exit
  GTEST_FLAG_SET(death_test_style, "fast");
  EXPECT_EXIT(
      {
        for (int i = 0; i < 1000; ++i) Recorder::Current().Log("exit", i).IgnoreError();
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  for (const char* var : {"TRAINYARD_TRACKING_URI", "TRAINYARD_RUN_ID", "TRAINYARD_TRACKING_TOKEN",
                          "TRAINYARD_FLUSH_INTERVAL"}) {
    unsetenv(var);
  }
  EXPECT_EQ(endpoint.stored().metrics["exit"].size(), 1000u);
}

}  // namespace
}  // namespace trainyard::tracking
