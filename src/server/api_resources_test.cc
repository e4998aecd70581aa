// Experiments, sweeps, targets, models, deployments and cancel over a real server, in the CLI's
// JSON shapes.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/clock.h"
#include "models/json.h"
#include "models/registry.h"
#include "runner/records_json.h"
#include "runner/sweep.h"
#include "server/api.h"
#include "server/route_test_server.h"
#include "spec/sweep_spec.h"
#include "store/metrics.h"
#include "store/models.h"

namespace trainyard::server {
namespace {

class ResourcesTest : public testing::RouteTestServer {
 protected:
  void SetUp() override { Start({AddResourceRoutes}); }

  nlohmann::json GetJson(const std::string& path, int want_status = 200) {
    httplib::Client c = Client();
    auto res = c.Get(path.c_str());
    EXPECT_TRUE(res) << path;
    if (!res) return nullptr;
    EXPECT_EQ(res->status, want_status) << path << ": " << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << path;
    return nlohmann::json::parse(res->body, nullptr, false);
  }

  void Log(const store::RunRecord& run, const std::string& metric,
           const std::vector<double>& values) {
    tracking::Batch b;
    b.client = "test-" + run.id;
    b.seq = 1;
    for (size_t i = 0; i < values.size(); ++i) {
      b.points.push_back({metric, static_cast<int64_t>(i), NowMicros(), values[i]});
    }
    auto applied = store::ApplyBatch(ws_->db(), run.seq, b);
    ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  }
};

TEST_F(ResourcesTest, ExperimentsAndTargetsInTheCliShapes) {
  NewRun("alpha");
  NewRun("alpha");
  NewRun("beta");
  nlohmann::json j = GetJson("/api/v1/experiments");
  auto cli = runner::ExperimentsToJson(ws_.get());
  ASSERT_TRUE(cli.ok());
  EXPECT_EQ(j["experiments"], *cli);
  ASSERT_EQ(j["experiments"].size(), 2u);

  j = GetJson("/api/v1/targets");
  ASSERT_TRUE(j["targets"].is_array());
  EXPECT_EQ(j["targets"][0]["name"], "local");
}

TEST_F(ResourcesTest, SweepWithTrialsBestFirstAndBestSoFar) {
  auto spec = spec::ParseSweepText(R"(
type: sweep
trial:
  command: python train.py --lr ${{search_space.lr}}
  code: .
sampling_algorithm: random
search_space:
  lr: {type: uniform, min_value: 0.001, max_value: 0.1}
objective: {goal: minimize, primary_metric: loss}
early_termination: {type: bandit, slack_factor: 0.1, evaluation_interval: 1}
limits: {max_total_trials: 4, max_concurrent_trials: 2}
)",
                                   "sweep.yml", "/base");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  store::RunRecord sweep;
  sweep.experiment = "exp";
  sweep.target = "local";
  sweep.kind = "sweep";
  sweep.spec_json = spec::SweepToJson(*spec);
  ASSERT_TRUE(ws_->CreateRun(&sweep, {}).ok());
  // Trial i's loss values; trial 2 was stopped by the policy.
  const std::vector<std::vector<double>> losses = {{0.9, 0.5}, {0.8, 0.3}, {1.5}, {0.7, 0.4}};
  std::vector<store::RunRecord> trials;
  for (int64_t i = 0; i < 4; ++i) {
    store::RunRecord t;
    t.experiment = "exp";
    t.target = "local";
    t.parent_id = sweep.id;
    t.trial_index = i;
    t.spec_json =
        nlohmann::json{{"search_space_values", {{"lr", std::to_string(0.01 * (i + 1))}}}}.dump();
    ASSERT_TRUE(ws_->CreateRun(&t, {}).ok());
    Log(t, "loss", losses[static_cast<size_t>(i)]);
    store::StatusUpdate u;
    u.ended_at = NowMicros();
    if (i == 2) u.error = "stopped by early termination: bandit: 1.5 is worse than 0.33";
    ASSERT_TRUE(
        ws_->SetStatus(t.id, i == 2 ? store::RunStatus::kCanceled : store::RunStatus::kCompleted, u)
            .ok());
    trials.push_back(t);
  }

  nlohmann::json j = GetJson("/api/v1/sweeps/" + sweep.id);
  auto summary = runner::ReadSweep(ws_.get(), sweep.id);
  ASSERT_TRUE(summary.ok());
  nlohmann::json cli = runner::SweepToJson(*summary);
  // Everything `sweep show --json` prints is there, as it prints it.
  for (const auto& [key, value] : cli.items()) {
    if (key != "trials") {
      EXPECT_EQ(j[key], value) << key;
    }
  }
  EXPECT_EQ(j["best_run_id"], trials[1].id);
  ASSERT_EQ(j["trials"].size(), 4u);
  std::vector<int64_t> order;
  for (const auto& t : j["trials"]) order.push_back(t["trial_index"].get<int64_t>());
  EXPECT_EQ(order, (std::vector<int64_t>{1, 3, 0, 2}));
  const nlohmann::json& best = j["trials"][0];
  EXPECT_EQ(best["id"], trials[1].id);
  EXPECT_EQ(best["run_id"], trials[1].id);
  EXPECT_EQ(best["status"], "Completed");
  EXPECT_DOUBLE_EQ(best["primary_metric"].get<double>(), 0.3);
  EXPECT_EQ(best["params"], (nlohmann::json{{"lr", "0.020000"}}));
  EXPECT_TRUE(best["stopped_by"].is_null());
  EXPECT_TRUE(best["stop_reason"].is_null());
  const nlohmann::json& stopped = j["trials"][3];
  EXPECT_EQ(stopped["trial_index"], 2);
  EXPECT_EQ(stopped["stopped_by"], "bandit");
  EXPECT_EQ(stopped["stop_reason"], "bandit: 1.5 is worse than 0.33");
  // In trial order: 0.5, then 0.3 from trial 1 on.
  EXPECT_EQ(j["best_so_far"], (nlohmann::json::parse(R"([{"trial_index":0,"value":0.5},
      {"trial_index":1,"value":0.3},{"trial_index":2,"value":0.3},
      {"trial_index":3,"value":0.3}])")));

  GetJson("/api/v1/sweeps/nope", 404);
  GetJson("/api/v1/sweeps/" + trials[0].id, 409);  // a run that is not a sweep
}

TEST_F(ResourcesTest, ModelsAndDeployments) {
  trainyard::testing::TempDir src;
  std::ofstream(src / "model.pt") << "weights";
  models::RegisterRequest req;
  req.name = "digits";
  req.path = src / "model.pt";
  for (int i = 0; i < 2; ++i) {
    std::ofstream(src / "model.pt") << "weights " << i;
    auto r = models::Register(ws_.get(), req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  req.name = "other";
  ASSERT_TRUE(models::Register(ws_.get(), req).ok());

  nlohmann::json j = GetJson("/api/v1/models");
  ASSERT_EQ(j["models"].size(), 3u);
  EXPECT_EQ(j["models"][0]["id"], "digits:1");
  j = GetJson("/api/v1/models/digits");
  ASSERT_EQ(j["models"].size(), 2u);
  EXPECT_EQ(j["models"][1]["version"], 2);
  j = GetJson("/api/v1/models/digits/latest");
  EXPECT_EQ(j["model"]["id"], "digits:2");
  EXPECT_EQ(j["model"]["deployments"], nlohmann::json::array());
  j = GetJson("/api/v1/models/digits/1");
  EXPECT_EQ(j["model"]["id"], "digits:1");
  auto record = store::GetModel(ws_.get(), "digits", 1);
  ASSERT_TRUE(record.ok());
  nlohmann::json expected = models::ModelToJson(*record);
  expected["deployments"] = nlohmann::json::array();
  EXPECT_EQ(j["model"], expected);
  GetJson("/api/v1/models/nope", 404);
  GetJson("/api/v1/models/digits/9", 404);
  GetJson("/api/v1/models/digits/x", 400);

  j = GetJson("/api/v1/deployments");
  EXPECT_EQ(j, (nlohmann::json{{"deployments", nlohmann::json::array()}}));
  GetJson("/api/v1/deployments/nope", 404);
  httplib::Client c = Client();
  auto res = c.Get("/api/v1/deployments/nope/logs");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST_F(ResourcesTest, CancelNeedsRoleSubmitAndGivesTheRun) {
  store::RunRecord run = NewRun();  // Queued, no supervisor: canceled at once
  httplib::Client c = Client();
  const std::string path = "/api/v1/runs/" + run.id + "/cancel";
  auto res = c.Post(path.c_str(), httplib::Headers{{"Authorization", "Bearer reader"}}, "",
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  EXPECT_EQ(ws_->GetRun(run.id)->status, store::RunStatus::kQueued);
  res = c.Post(path.c_str(), httplib::Headers{{"Authorization", "Bearer submitter"}}, "",
               "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  nlohmann::json j = nlohmann::json::parse(res->body);
  EXPECT_EQ(j["id"], run.id);
  EXPECT_EQ(j["status"], "Canceled");
  EXPECT_EQ(ws_->GetRun(run.id)->status, store::RunStatus::kCanceled);
  // Again: nothing more to do, the same answer.
  res = c.Post(path.c_str(), "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = c.Post("/api/v1/runs/nope/cancel", "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  res = c.Post(("/api/v1/runs/" + run.id + "/cancel?wait=x").c_str(), "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
}

}  // namespace
}  // namespace trainyard::server
