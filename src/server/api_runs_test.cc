#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/api.h"
#include "store/metrics.h"
#include "store/workspace.h"
#include "testing/temp_dir.h"

namespace trainyard::server {
namespace {

// A real HTTP server on a free port with the run routes, admitting every request as a reader.
class ApiRunsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_ = std::move(store::Workspace::Open(dir_.path()).value());
    ctx_ = std::make_unique<ServerContext>(dir_.path());
    routes_ = std::make_unique<Routes>(&http_, [](const httplib::Request&) {
      return AuthResult{Caller{"test", Role::kRead}, 200, ""};
    });
    AddRunRoutes(*routes_, *ctx_);
    port_ = http_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    // The socket listens already: requests wait in its backlog until the loop accepts them.
    thread_ = std::thread([this] { http_.listen_after_bind(); });
  }
  void TearDown() override {
    http_.stop();
    if (thread_.joinable()) thread_.join();
  }

  store::RunRecord NewRun(const std::string& experiment, const std::vector<std::string>& argv) {
    store::RunRecord run;
    run.experiment = experiment;
    run.target = "local";
    run.spec_json = "{}";
    run.plan_json = nlohmann::json{{"processes", {{{"argv", argv}}}}}.dump();
    EXPECT_TRUE(ws_->CreateRun(&run, {}).ok());
    return run;
  }
  void Log(const store::RunRecord& run, int64_t seq, const std::vector<tracking::Point>& points) {
    tracking::Batch b;
    b.client = "c";
    b.seq = seq;
    b.points = points;
    ASSERT_TRUE(store::ApplyBatch(ws_->db(), run.seq, b).ok());
  }
  // GET `path`: (status, parsed body).
  std::pair<int, nlohmann::json> Get(const std::string& path) {
    httplib::Client client("127.0.0.1", port_);
    auto res = client.Get(path);
    if (!res) return {0, nullptr};
    return {res->status, nlohmann::json::parse(res->body, nullptr, false)};
  }

  testing::TempDir dir_;
  std::unique_ptr<store::Workspace> ws_;
  std::unique_ptr<ServerContext> ctx_;
  httplib::Server http_;
  std::unique_ptr<Routes> routes_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(ApiRunsTest, ListSortsByMetricFiltersAndPages) {
  std::vector<store::RunRecord> runs;
  for (int i = 0; i < 12; ++i) {
    runs.push_back(NewRun(i < 10 ? "exp" : "other",
                          {"python", "t.py", "--lr", std::to_string(0.1 * (i + 1))}));
    if (i != 3) Log(runs.back(), 1, {{"loss", 0, 1, static_cast<double>(i % 5) + 0.5 * i}});
  }
  auto [status, body] = Get("/api/v1/runs?experiment=exp&sort=metrics.loss&order=asc&limit=4");
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["total"], 10);
  EXPECT_EQ(body["limit"], 4);
  ASSERT_EQ(body["runs"].size(), 4u);
  // loss(i) = i % 5 + i / 2: 0, 1.5, 3, -, 6, 2.5, 4, 5.5, 7, 8.5 → 0, 1, 5, 2
  EXPECT_EQ(body["runs"][0]["id"], runs[0].id);
  EXPECT_EQ(body["runs"][1]["id"], runs[1].id);
  EXPECT_EQ(body["runs"][2]["id"], runs[5].id);
  EXPECT_EQ(body["runs"][3]["id"], runs[2].id);
  EXPECT_EQ(body["runs"][2]["metrics"]["loss"]["last"], 2.5);
  EXPECT_EQ(body["runs"][2]["metrics"]["loss"]["count"], 1);
  EXPECT_EQ(body["runs"][2]["params"]["lr"], std::to_string(0.6));
  EXPECT_EQ(body["runs"][2]["experiment"], "exp");
  EXPECT_EQ(body["runs"][2]["status"], "Queued");
  EXPECT_TRUE(body["runs"][2]["created_at"].is_number_integer());
  EXPECT_TRUE(body["runs"][2]["duration_s"].is_null());
  EXPECT_EQ(body["columns"]["params"], nlohmann::json({"lr"}));
  EXPECT_EQ(body["columns"]["metrics"], nlohmann::json({"loss"}));

  std::tie(status, body) = Get("/api/v1/runs?experiment=exp&sort=metrics.loss&order=desc&offset=8");
  ASSERT_EQ(status, 200);
  ASSERT_EQ(body["runs"].size(), 2u);
  EXPECT_EQ(body["runs"][0]["id"], runs[0].id);
  EXPECT_EQ(body["runs"][1]["id"], runs[3].id);  // no loss: last either way

  std::tie(status, body) =
      Get("/api/v1/runs?filter=params.lr%3E%3D0.5&filter=metrics.loss%3C6&sort=params.lr");
  ASSERT_EQ(status, 200) << body.dump();
  // lr >= 0.5: i >= 4; loss < 6: i = 5 (2.5), 6 (4), 7 (5.5), 10 (5), 11 (6.5 no) → by lr desc
  ASSERT_EQ(body["total"], 4);
  EXPECT_EQ(body["runs"][0]["id"], runs[10].id);
  EXPECT_EQ(body["runs"][3]["id"], runs[5].id);

  std::tie(status, body) = Get("/api/v1/runs?filter=status%3DQueued&experiment=other");
  EXPECT_EQ(body["total"], 2);
  std::tie(status, body) = Get("/api/v1/runs?q=" + runs[7].id.substr(runs[7].id.size() - 8));
  EXPECT_EQ(body["total"], 1);
}

TEST_F(ApiRunsTest, BadParametersAre400NamingThem) {
  auto [status, body] = Get("/api/v1/runs?sort=colour");
  EXPECT_EQ(status, 400);
  EXPECT_NE(body["error"].get<std::string>().find("sort"), std::string::npos) << body.dump();
  std::tie(status, body) = Get("/api/v1/runs?filter=metrics.loss%3Cabc");
  EXPECT_EQ(status, 400);
  EXPECT_NE(body["error"].get<std::string>().find("filter"), std::string::npos) << body.dump();
  std::tie(status, body) = Get("/api/v1/runs?filter=nonsense");
  EXPECT_EQ(status, 400);
  EXPECT_NE(body["error"].get<std::string>().find("filter"), std::string::npos);
  std::tie(status, body) = Get("/api/v1/runs?limit=5000");
  EXPECT_EQ(status, 400);
  EXPECT_NE(body["error"].get<std::string>().find("limit"), std::string::npos);
  std::tie(status, body) = Get("/api/v1/runs?order=up");
  EXPECT_EQ(status, 400);
  EXPECT_NE(body["error"].get<std::string>().find("order"), std::string::npos);
  std::tie(status, body) = Get("/api/v1/runs/nosuchrun");
  EXPECT_EQ(status, 404);
  store::RunRecord run = NewRun("e", {});
  Log(run, 1, {{"loss", 0, 0, 1.0}});
  std::tie(status, body) = Get("/api/v1/runs/" + run.id + "/metrics/loss?points=0");
  EXPECT_EQ(status, 400);
  EXPECT_NE(body["error"].get<std::string>().find("points"), std::string::npos);
  std::tie(status, body) = Get("/api/v1/runs/" + run.id + "/metrics/loss?min_step=5&max_step=1");
  EXPECT_EQ(status, 400);
  std::tie(status, body) = Get("/api/v1/runs/" + run.id + "/metrics/nope");
  EXPECT_EQ(status, 404);
}

TEST_F(ApiRunsTest, RunByPrefixWithHistoryParamsAndMetrics) {
  store::RunRecord run = NewRun("detail", {"python", "t.py", "--lr=0.5", "--opt", "adam"});
  Log(run, 1,
      {{"loss", 0, 0, 2.0},
       {"loss", 1, 1, std::numeric_limits<double>::quiet_NaN()},
       {"acc", 0, 0, std::numeric_limits<double>::infinity()},
       {"train/loss", 3, 3, 7.0}});
  ASSERT_TRUE(ws_->SetStatus(run.id, store::RunStatus::kRunning).ok());
  auto [status, body] = Get("/api/v1/runs/" + run.id.substr(0, run.id.size() - 3));
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["id"], run.id);
  EXPECT_EQ(body["status"], "Running");
  ASSERT_EQ(body["status_history"].size(), 2u);
  EXPECT_EQ(body["status_history"][0]["status"], "Queued");
  EXPECT_EQ(body["status_history"][1]["status"], "Running");
  EXPECT_TRUE(body["status_history"][1]["at"].is_number_integer());
  EXPECT_EQ(body["params"], (nlohmann::json{{"lr", "0.5"}, {"opt", "adam"}}));
  EXPECT_EQ(body["argv"], (nlohmann::json{"python", "t.py", "--lr=0.5", "--opt", "adam"}));
  EXPECT_TRUE(body["metrics"]["loss"]["last"].is_null());  // NaN
  EXPECT_EQ(body["metrics"]["loss"]["min"], 2.0);
  EXPECT_EQ(body["metrics"]["acc"]["max"], "Infinity");

  std::tie(status, body) = Get("/api/v1/runs/" + run.id + "/metrics");
  ASSERT_EQ(status, 200);
  ASSERT_EQ(body["metrics"].size(), 3u);
  EXPECT_EQ(body["metrics"][0]["name"], "acc");
  EXPECT_EQ(body["metrics"][1]["name"], "loss");
  EXPECT_EQ(body["metrics"][1]["count"], 2);
  // A name with a slash.
  std::tie(status, body) = Get("/api/v1/runs/" + run.id + "/metrics/train/loss");
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["step"], nlohmann::json({3}));
  EXPECT_EQ(body["value"], nlohmann::json({7.0}));
}

TEST_F(ApiRunsTest, SeriesDownsamplesKeepingSpikesRawWhenSmallAndZooms) {
  store::RunRecord run = NewRun("series", {});
  std::vector<tracking::Point> points;
  for (int i = 0; i < 50000; ++i) points.push_back({"loss", i, i, std::sin(i / 100.0)});
  points[31337].value = 50;  // a spike up
  points[4242].value = -50;  // and one down
  Log(run, 1, points);
  auto [status, body] = Get("/api/v1/runs/" + run.id + "/metrics/loss?points=500");
  ASSERT_EQ(status, 200) << body.dump();
  EXPECT_EQ(body["total"], 50000);
  EXPECT_EQ(body["downsampled"], true);
  size_t n = body["step"].size();
  EXPECT_LE(n, 500u);
  EXPECT_GT(n, 250u);
  ASSERT_EQ(body["value"].size(), n);
  ASSERT_EQ(body["min"].size(), n);
  ASSERT_EQ(body["max"].size(), n);
  double mx = -1e9, mn = 1e9;
  for (size_t i = 0; i < n; ++i) {
    mx = std::max(mx, body["max"][i].get<double>());
    mn = std::min(mn, body["min"][i].get<double>());
    if (i > 0) {
      EXPECT_LT(body["step"][i - 1].get<int64_t>(), body["step"][i].get<int64_t>());
    }
  }
  EXPECT_EQ(mx, 50);
  EXPECT_EQ(mn, -50);
  // Zoom: 300 points in [31200, 31499] are sent raw.
  std::tie(status, body) =
      Get("/api/v1/runs/" + run.id + "/metrics/loss?points=500&min_step=31200&max_step=31499");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(body["total"], 300);
  EXPECT_EQ(body["downsampled"], false);
  EXPECT_FALSE(body.contains("min"));
  ASSERT_EQ(body["step"].size(), 300u);
  EXPECT_EQ(body["step"][137], 31337);
  EXPECT_EQ(body["value"][137], 50.0);
}

}  // namespace
}  // namespace trainyard::server
