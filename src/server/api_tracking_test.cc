// /api/v1/tracking: the tracking protocol through the workspace server, with its credentials (run
// tokens for their own run, API tokens with role submit or admin), exactly once, and each request
// on its own pooled connection.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "runner/ingest_server.h"
#include "server/api.h"
#include "server/tracking.h"
#include "store/metrics.h"
#include "store/workspace.h"
#include "testing/temp_dir.h"
#include "tracking/endpoint.h"
#include "tracking/protocol.h"

namespace trainyard::server {
namespace {

// A server with only the tracking routes; tokens "reader", "submitter" and "admin" have the roles
// of their names.
class TrackingRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ws = store::Workspace::Open(dir_.path());
    ASSERT_TRUE(ws.ok()) << ws.status().ToString();
    ws_ = std::move(*ws);
    run_a_ = NewRun();
    run_b_ = NewRun();
    ctx_ = std::make_unique<ServerContext>(dir_.path());
    routes_ = std::make_unique<Routes>(&http_, [](const httplib::Request& req) {
      static const std::map<std::string, Role> kTokens = {{"Bearer reader", Role::kRead},
                                                          {"Bearer submitter", Role::kSubmit},
                                                          {"Bearer admin", Role::kAdmin}};
      AuthResult auth;
      auto it = kTokens.find(req.get_header_value("Authorization"));
      if (it == kTokens.end()) {
        auth.message = "missing or unknown API token";
        return auth;
      }
      auth.caller = Caller{it->first.substr(7), it->second};
      return auth;
    });
    AddTrackingRoutes(*routes_, *ctx_);
    port_ = http_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    while (!http_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    url_ = "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/tracking";
  }
  void TearDown() override {
    http_.stop();
    if (thread_.joinable()) thread_.join();
  }

  store::RunRecord NewRun() {
    store::RunRecord r;
    r.experiment = "exp";
    r.target = "local";
    r.spec_json = "{}";
    EXPECT_TRUE(ws_->CreateRun(&r, {}).ok());
    return r;
  }

  std::unique_ptr<tracking::Endpoint> Endpoint(const std::string& run_id,
                                               const std::string& token) {
    auto e = tracking::Endpoint::Create(url_, run_id, token, 10);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(*e) : nullptr;
  }

  static std::string Batch(const std::string& client, int64_t seq, int first_step, int n) {
    tracking::Batch b;
    b.client = client;
    b.seq = seq;
    for (int i = 0; i < n; ++i) b.points.push_back({"loss", first_step + i, 1000 + i, 0.5 * i});
    return tracking::EncodeBatch(b);
  }

  int64_t Points(const store::RunRecord& run) {
    auto m = store::ReadMetrics(ws_->db(), run.seq, "loss");
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() && m->count("loss") ? static_cast<int64_t>(m->at("loss").size()) : 0;
  }

  // A raw POST of a batch: the HTTP status and the body.
  std::pair<int, std::string> Post(const std::string& run_id, const std::string& authorization,
                                   const std::string& body) {
    httplib::Client c("127.0.0.1", port_);
    httplib::Headers headers;
    if (!authorization.empty()) headers.emplace("Authorization", authorization);
    auto res = c.Post("/api/v1/tracking/v1/runs/" + run_id + "/batch", headers, body, "text/plain");
    if (!res) return {0, "no answer"};
    return {res->status, res->body};
  }

  testing::TempDir dir_;
  std::unique_ptr<store::Workspace> ws_;
  store::RunRecord run_a_, run_b_;
  std::unique_ptr<ServerContext> ctx_;
  httplib::Server http_;
  std::unique_ptr<Routes> routes_;
  std::thread thread_;
  int port_ = 0;
  std::string url_;
};

TEST_F(TrackingRoutesTest, RunTokenLogsIntoItsRunExactlyOnce) {
  auto token = runner::MintRunToken(*ws_, run_a_.seq);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(token->rfind(runner::kRunTokenPrefix, 0), 0u);
  auto endpoint = Endpoint(run_a_.id, *token);
  ASSERT_TRUE(endpoint);
  const std::string body = Batch("client-1", 1, 0, 100);
  auto acked = endpoint->PostBatch(body);
  ASSERT_TRUE(acked.ok()) << acked.status().ToString();
  EXPECT_EQ(*acked, 1);
  // The client sends a batch again when it missed the answer: stored once.
  acked = endpoint->PostBatch(body);
  ASSERT_TRUE(acked.ok()) << acked.status().ToString();
  EXPECT_EQ(*acked, 1);
  ASSERT_TRUE(endpoint->PostBatch(Batch("client-1", 2, 100, 50)).ok());
  EXPECT_EQ(Points(run_a_), 150);
  EXPECT_EQ(Points(run_b_), 0);

  // Reading back through the same routes.
  auto metrics = endpoint->GetMetricsJson("loss");
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  auto json = nlohmann::json::parse(*metrics);
  ASSERT_EQ(json["loss"].size(), 150u);
  EXPECT_EQ(json["loss"][149]["step"], 149);

  // Files land in the run's folder.
  ASSERT_TRUE(endpoint->PutBytes("out/model.txt", "weights").ok());
  std::ifstream in(ws_->RunDir(run_a_.id) + "/out/model.txt");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "weights");
  EXPECT_FALSE(endpoint->PutBytes("logs/x", "no").ok());  // the run's own folders stay its own
}

TEST_F(TrackingRoutesTest, RunTokenOfAnotherRunIsRefused) {
  auto token = runner::MintRunToken(*ws_, run_b_.seq);
  ASSERT_TRUE(token.ok());
  auto [code, body] = Post(run_a_.id, "Bearer " + *token, Batch("c", 1, 0, 3));
  EXPECT_EQ(code, 403) << body;
  EXPECT_NE(body.find("its own run only"), std::string::npos) << body;
  EXPECT_EQ(Points(run_a_), 0);
  // The endpoint says it is a refusal a retry will not change.
  auto endpoint = Endpoint(run_a_.id, *token);
  ASSERT_TRUE(endpoint);
  auto acked = endpoint->PostBatch(Batch("c", 1, 0, 3));
  ASSERT_FALSE(acked.ok());
  EXPECT_NE(acked.status().code(), StatusCode::kUnavailable) << acked.status().ToString();
}

TEST_F(TrackingRoutesTest, RemovedOrUnknownRunTokenIs401) {
  auto token = runner::MintRunToken(*ws_, run_a_.seq);
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(runner::DeleteRunTokens(*ws_, run_a_.seq).ok());
  auto [code, body] = Post(run_a_.id, "Bearer " + *token, Batch("c", 1, 0, 3));
  EXPECT_EQ(code, 401) << body;
  std::tie(code, body) =
      Post(run_a_.id, std::string("Bearer ") + runner::kRunTokenPrefix + "0000", "");
  EXPECT_EQ(code, 401) << body;
  std::tie(code, body) = Post(run_a_.id, "", Batch("c", 1, 0, 3));
  EXPECT_EQ(code, 401) << body;
  std::tie(code, body) = Post(run_a_.id, "Bearer nonsense", Batch("c", 1, 0, 3));
  EXPECT_EQ(code, 401) << body;
  EXPECT_EQ(Points(run_a_), 0);
}

TEST_F(TrackingRoutesTest, RunTokenOfAnEndedRunIs401) {
  // Its supervisor died before removing the token; the run was reaped.
  auto token = runner::MintRunToken(*ws_, run_a_.seq);
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(ws_->SetStatus(run_a_.id, store::RunStatus::kFailed, {.ended_at = NowMicros()}).ok());
  auto [code, body] = Post(run_a_.id, "Bearer " + *token, Batch("c", 1, 0, 3));
  EXPECT_EQ(code, 401) << body;
  EXPECT_NE(body.find("has ended"), std::string::npos) << body;
  // An API token with role submit may still log into it (a late upload by hand).
  std::tie(code, body) = Post(run_a_.id, "Bearer submitter", Batch("c", 1, 0, 3));
  EXPECT_EQ(code, 200) << body;
}

TEST_F(TrackingRoutesTest, ApiTokensNeedSubmit) {
  auto [code, body] = Post(run_a_.id, "Bearer reader", Batch("c", 1, 0, 3));
  EXPECT_EQ(code, 403) << body;
  EXPECT_NE(body.find("needs submit"), std::string::npos) << body;
  EXPECT_EQ(Points(run_a_), 0);
  std::tie(code, body) = Post(run_a_.id, "Bearer submitter", Batch("c", 1, 0, 3));
  EXPECT_EQ(code, 200) << body;
  std::tie(code, body) = Post(run_b_.id, "Bearer admin", Batch("c", 1, 0, 4));
  EXPECT_EQ(code, 200) << body;
  EXPECT_EQ(Points(run_a_), 3);
  EXPECT_EQ(Points(run_b_), 4);
}

TEST_F(TrackingRoutesTest, UnknownRunIs404AfterCredentials) {
  auto [code, body] = Post("exp_nosuchrun", "Bearer submitter", Batch("c", 1, 0, 3));
  EXPECT_EQ(code, 404) << body;
  // A prefix of a run's id is not that run.
  std::tie(code, body) =
      Post(run_a_.id.substr(0, run_a_.id.size() - 2), "Bearer submitter", Batch("c", 1, 0, 3));
  EXPECT_EQ(code, 404) << body;
  // Without credentials the caller learns nothing about which runs exist.
  std::tie(code, body) = Post("exp_nosuchrun", "", Batch("c", 1, 0, 3));
  EXPECT_EQ(code, 401) << body;
}

TEST_F(TrackingRoutesTest, ConcurrentClientsOnPooledConnections) {
  // Eight clients (ranks) at once, each with batches of its own: every point once.
  auto token = runner::MintRunToken(*ws_, run_a_.seq);
  ASSERT_TRUE(token.ok());
  std::vector<std::thread> ranks;
  std::atomic<int> failures{0};
  for (int r = 0; r < 8; ++r) {
    ranks.emplace_back([&, r] {
      auto e = tracking::Endpoint::Create(url_, run_a_.id, *token, 30);
      if (!e.ok()) {
        ++failures;
        return;
      }
      for (int seq = 1; seq <= 10; ++seq) {
        std::string body = Batch("rank-" + std::to_string(r), seq, r * 1000 + seq * 10, 10);
        if (!(*e)->PostBatch(body).ok()) ++failures;
      }
    });
  }
  for (auto& t : ranks) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Points(run_a_), 8 * 10 * 10);
}

TEST(ExportServerTrackingUri, SetsTheVariableSupervisorsRead) {
  ASSERT_TRUE(ExportServerTrackingUri("https://ml.example.com:8470/").ok());
  const char* value = std::getenv(runner::kServerTrackingUriEnv);
  ASSERT_NE(value, nullptr);
  EXPECT_STREQ(value, "https://ml.example.com:8470/api/v1/tracking");
  EXPECT_FALSE(ExportServerTrackingUri("ml.example.com:8470").ok());
  unsetenv(runner::kServerTrackingUriEnv);
}

}  // namespace
}  // namespace trainyard::server
