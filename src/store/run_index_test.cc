#include "store/run_index.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "store/metrics.h"
#include "store/workspace.h"
#include "testing/temp_dir.h"

namespace trainyard::store {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string PlanWithArgv(const std::vector<std::string>& argv) {
  nlohmann::json a = argv;
  return nlohmann::json{{"processes", {{{"argv", a}}}}}.dump();
}

class RunIndexTest : public ::testing::Test {
 protected:
  void SetUp() override { ws_ = std::move(Workspace::Open(dir_.path()).value()); }
  RunRecord NewRun(const std::string& experiment, const std::vector<std::string>& argv = {},
                   const std::string& spec_json = "{}") {
    RunRecord run;
    run.experiment = experiment;
    run.target = "local";
    run.spec_json = spec_json;
    run.plan_json = PlanWithArgv(argv);
    EXPECT_TRUE(ws_->CreateRun(&run, {}).ok());
    return run;
  }
  void Log(const RunRecord& run, const std::string& client, int64_t seq,
           const std::vector<tracking::Point>& points) {
    tracking::Batch b;
    b.client = client;
    b.seq = seq;
    b.points = points;
    ASSERT_TRUE(ApplyBatch(ws_->db(), run.seq, b).ok());
  }
  testing::TempDir dir_;
  std::unique_ptr<Workspace> ws_;
};

// Two optional doubles equal, NaN (nullopt) included.
void ExpectSame(const std::optional<double>& got, double want, const std::string& what) {
  if (std::isnan(want)) {
    EXPECT_FALSE(got.has_value()) << what;
  } else {
    ASSERT_TRUE(got.has_value()) << what;
    EXPECT_EQ(*got, want) << what;
  }
}

TEST_F(RunIndexTest, SummaryFollowsBatchesWithNaNAndInfinityAndIgnoresResends) {
  RunRecord run = NewRun("s");
  Log(run, "c", 1, {{"loss", 0, 1, 3.0}, {"loss", 1, 2, kNaN}, {"acc", 0, 1, kNaN}});
  Log(run, "c", 2, {{"loss", 2, 3, -kInf}, {"loss", 3, 4, 2.0}});
  Log(run, "c", 2, {{"loss", 9, 9, 100.0}});                      // a resend of seq 2: not applied
  Log(run, "c", 3, {{"loss", 4, 5, kInf}, {"loss", 1, 6, 1.0}});  // last logged, lower step
  auto rows = RunMetricSummaries(ws_->db(), run.seq).value();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].name, "acc");
  EXPECT_EQ(rows[0].count, 1);
  EXPECT_FALSE(rows[0].last || rows[0].min || rows[0].max);  // every value NaN
  EXPECT_EQ(rows[1].name, "loss");
  EXPECT_EQ(rows[1].count, 6);
  ExpectSame(rows[1].last, 1.0, "last");
  EXPECT_EQ(rows[1].last_step, 1);
  ExpectSame(rows[1].min, -kInf, "min");
  ExpectSame(rows[1].max, kInf, "max");
  // The same as summarizing the points.
  auto from_points = SummarizeMetrics(ws_->db(), run.seq).value();
  ASSERT_EQ(from_points.size(), 2u);
  EXPECT_EQ(from_points[1].count, rows[1].count);
  EXPECT_EQ(from_points[1].min, *rows[1].min);
  EXPECT_EQ(from_points[1].max, *rows[1].max);
  EXPECT_EQ(from_points[1].last, *rows[1].last);
}

TEST(RunParamsOf, ArgvPairsAndTrialValues) {
  auto params = RunParamsOf(
      R"({"search_space_values": {"--lr": "0.25", "batch": "32"}})",
      PlanWithArgv({"/usr/bin/python3", "train.py", "--lr", "0.1", "--epochs=3", "--verbose",
                    "--opt", "adam", "--", "-x", "--neg", "-1e-3", "--empty="}));
  std::map<std::string, std::string> m(params.begin(), params.end());
  EXPECT_EQ(m, (std::map<std::string, std::string>{{"lr", "0.25"},  // the trial's value wins
                                                   {"batch", "32"},
                                                   {"epochs", "3"},
                                                   {"opt", "adam"},
                                                   {"neg", "-1e-3"},
                                                   {"empty", ""}}));
  EXPECT_TRUE(RunParamsOf("not json", "nor this").empty());
}

TEST_F(RunIndexTest, CreateRunIndexesParamsWithNumbers) {
  RunRecord run = NewRun("p", {"python", "t.py", "--lr", "0.01", "--opt=sgd"});
  auto params = RunParams(ws_->db(), run.seq).value();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0], (std::pair<std::string, std::string>{"lr", "0.01"}));
  EXPECT_EQ(params[1], (std::pair<std::string, std::string>{"opt", "sgd"}));
  auto num = ws_->db()->Prepare("SELECT name, num FROM run_params WHERE run_seq = ? ORDER BY name");
  ASSERT_TRUE(num.ok());
  num->Bind(1, run.seq);
  ASSERT_TRUE(num->Step().value());
  EXPECT_DOUBLE_EQ(num->Double(1), 0.01);
  ASSERT_TRUE(num->Step().value());
  EXPECT_TRUE(num->IsNull(1));
}

// The migration to 7 computes the index of runs recorded before it: the same as kept live.
TEST_F(RunIndexTest, MigrationBackfillsTheSameIndex) {
  RunRecord a = NewRun("old", {"python", "t.py", "--lr", "0.5", "--opt=adam"});
  RunRecord b = NewRun("old", {"python", "t.py"}, R"({"search_space_values": {"--wd": "1e-4"}})");
  ASSERT_TRUE(ws_->db()
                  ->Exec("UPDATE runs SET parent_id = 'sweep' WHERE seq = " + std::to_string(b.seq))
                  .ok());
  std::mt19937 gen(7);
  std::vector<tracking::Point> points;
  for (int i = 0; i < 5000; ++i) {
    double v = std::uniform_real_distribution<double>(-1, 1)(gen);
    if (i % 97 == 0) v = kNaN;
    points.push_back({i % 3 ? "loss" : "acc", static_cast<int64_t>(gen() % 3000) - 500, i, v});
  }
  Log(a, "c", 1, points);
  auto dump = [&](const std::string& sql) {
    std::vector<std::string> out;
    auto s = ws_->db()->Prepare(sql);
    EXPECT_TRUE(s.ok()) << s.status().message();
    EXPECT_TRUE(s->ForEachRow([&](const Stmt& row) {
                   std::string line;
                   for (int c = 0; c < 9; ++c) line += (row.IsNull(c) ? "null" : row.Text(c)) + "|";
                   out.push_back(line);
                 }).ok());
    return out;
  };
  const char* kSummary =
      "SELECT run_seq, name, count, last_value, last_step, last_ts, min_value, max_value, 0 FROM "
      "metric_summary ORDER BY run_seq, name";
  const char* kBlocks = "SELECT * FROM metric_blocks ORDER BY name_id, level, block";
  const char* kParams =
      "SELECT run_seq, name, value, num, 0, 0, 0, 0, 0 FROM run_params ORDER BY "
      "run_seq, name";
  auto summary = dump(kSummary), blocks = dump(kBlocks), params = dump(kParams);
  ASSERT_EQ(params.size(), 3u);
  ASSERT_FALSE(blocks.empty());
  // Back to schema 6: drop what 7 created, then open again.
  std::set<std::string> v6 = {"experiments",        "snapshots",        "runs",
                              "run_status_history", "run_arguments",    "run_tags",
                              "run_properties",     "run_files",        "targets",
                              "metric_names",       "metrics",          "metric_rows",
                              "metric_images",      "tracking_clients", "environments",
                              "data_assets",        "models",           "deployments",
                              "deployment_models",  "sqlite_sequence"};
  std::vector<std::string> drop;
  {
    auto s = ws_->db()->Prepare("SELECT name FROM sqlite_master WHERE type = 'table'");
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s->ForEachRow([&](const Stmt& row) {
                   if (!v6.count(row.Text(0))) drop.push_back(row.Text(0));
                 }).ok());
  }
  for (const auto& t : drop) ASSERT_TRUE(ws_->db()->Exec("DROP TABLE " + t).ok()) << t;
  ASSERT_TRUE(ws_->db()->Exec("DROP INDEX metrics_by_step; PRAGMA user_version = 6").ok());
  ws_.reset();
  ws_ = std::move(Workspace::Open(dir_.path()).value());
  EXPECT_EQ(dump(kSummary), summary);
  EXPECT_EQ(dump(kBlocks), blocks);
  EXPECT_EQ(dump(kParams), params);
}

// What ReadSeries must return, computed from the points.
Series Expected(const std::vector<MetricPoint>& points, const SeriesQuery& q) {
  std::vector<std::pair<MetricPoint, size_t>> in;  // with logging order
  for (size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    if ((q.min_step && p.step < *q.min_step) || (q.max_step && p.step > *q.max_step)) continue;
    in.emplace_back(p, i);
  }
  std::stable_sort(in.begin(), in.end(),
                   [](const auto& a, const auto& b) { return a.first.step < b.first.step; });
  Series s;
  s.total = static_cast<int64_t>(in.size());
  auto opt = [](double v) { return std::isnan(v) ? std::nullopt : std::optional<double>(v); };
  if (s.total <= q.points) {
    for (const auto& [p, i] : in) {
      s.step.push_back(p.step);
      s.value.push_back(opt(p.value));
    }
    return s;
  }
  s.downsampled = true;
  int64_t lo = in.front().first.step, hi = in.back().first.step;
  if (q.min_step) lo = std::max(lo, *q.min_step);
  if (q.max_step) hi = std::min(hi, *q.max_step);
  int k = 0;
  while ((hi >> k) - (lo >> k) + 1 > q.points) ++k;
  int64_t cur = 0;
  bool open = false;
  for (const auto& [p, i] : in) {
    int64_t b = p.step >> k;
    if (!open || b != cur) {
      s.step.push_back(p.step);
      s.value.push_back(std::nullopt);
      s.min.push_back(std::nullopt);
      s.max.push_back(std::nullopt);
      cur = b;
      open = true;
    }
    s.value.back() = opt(p.value);  // in step order, ties in logging order: the last wins
    if (!std::isnan(p.value)) {
      s.min.back() = s.min.back() ? std::min(*s.min.back(), p.value) : p.value;
      s.max.back() = s.max.back() ? std::max(*s.max.back(), p.value) : p.value;
    }
  }
  return s;
}

void ExpectSeries(const Series& got, const Series& want, const std::string& what) {
  EXPECT_EQ(got.total, want.total) << what;
  EXPECT_EQ(got.downsampled, want.downsampled) << what;
  EXPECT_EQ(got.step, want.step) << what;
  EXPECT_EQ(got.value, want.value) << what;
  EXPECT_EQ(got.min, want.min) << what;
  EXPECT_EQ(got.max, want.max) << what;
}

TEST_F(RunIndexTest, SeriesMatchesBucketsComputedFromThePoints) {
  RunRecord run = NewRun("series");
  std::mt19937 gen(17);
  // Steps out of order, repeated steps, negative steps, NaN, several batches.
  for (int batch = 0; batch < 20; ++batch) {
    std::vector<tracking::Point> points;
    for (int i = 0; i < 1000; ++i) {
      int64_t step = static_cast<int64_t>(gen() % 40000) - 3000;
      double v = std::normal_distribution<double>(0, 1)(gen);
      if (gen() % 200 == 0) v = kNaN;
      points.push_back({"x", step, batch * 1000 + i, v});
    }
    Log(run, "c", batch + 1, points);
  }
  auto all = ReadMetrics(ws_->db(), run.seq, "x").value()["x"];
  for (SeriesQuery q :
       {SeriesQuery{2000, {}, {}}, SeriesQuery{100, {}, {}}, SeriesQuery{7, {}, {}},
        SeriesQuery{500, 1234, 30001}, SeriesQuery{300, -2999, 77}, SeriesQuery{2000, 17, 4000},
        SeriesQuery{20000, {}, {}}, SeriesQuery{50, 100, 100}}) {
    std::string what = "points=" + std::to_string(q.points) +
                       " min=" + std::to_string(q.min_step.value_or(-1)) +
                       " max=" + std::to_string(q.max_step.value_or(-1));
    ExpectSeries(ReadSeries(ws_->db(), run.seq, "x", q).value(), Expected(all, q), what);
  }
}

TEST_F(RunIndexTest, DownsamplingKeepsSpikesAndSmallSeriesAreRaw) {
  RunRecord run = NewRun("spike");
  std::vector<tracking::Point> points;
  for (int i = 0; i < 100000; ++i) points.push_back({"loss", i, i, 1.0});
  points[54321].value = 1000;
  points[777].value = -5;
  Log(run, "c", 1, points);
  Log(run, "c", 2, {{"small", 5, 1, 1.0}, {"small", 3, 2, 2.0}, {"small", 4, 3, kNaN}});
  Series s = ReadSeries(ws_->db(), run.seq, "loss", {2000, {}, {}}).value();
  EXPECT_TRUE(s.downsampled);
  EXPECT_EQ(s.total, 100000);
  EXPECT_LE(s.step.size(), 2000u);
  EXPECT_GT(s.step.size(), 1000u);
  double mx = -kInf, mn = kInf;
  for (size_t i = 0; i < s.step.size(); ++i) {
    mx = std::max(mx, *s.max[i]);
    mn = std::min(mn, *s.min[i]);
  }
  EXPECT_EQ(mx, 1000);
  EXPECT_EQ(mn, -5);
  // A zoom around the spike: raw points.
  Series z = ReadSeries(ws_->db(), run.seq, "loss", {2000, 54000, 54999}).value();
  EXPECT_FALSE(z.downsampled);
  ASSERT_EQ(z.step.size(), 1000u);
  EXPECT_EQ(z.step[321], 54321);
  EXPECT_EQ(*z.value[321], 1000);
  Series small = ReadSeries(ws_->db(), run.seq, "small", {}).value();
  EXPECT_FALSE(small.downsampled);
  EXPECT_EQ(small.step, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(small.value, (std::vector<std::optional<double>>{2.0, std::nullopt, 1.0}));
  EXPECT_TRUE(small.min.empty());
  EXPECT_EQ(ReadSeries(ws_->db(), run.seq, "nope", {}).status().code(), StatusCode::kNotFound);
}

TEST_F(RunIndexTest, QueryRunsSortsFiltersAndPages) {
  std::vector<RunRecord> runs;
  for (int i = 0; i < 30; ++i) {
    runs.push_back(NewRun(i < 20 ? "a" : "b", {"python", "t.py", "--lr", std::to_string(i * 0.01),
                                               "--opt", i % 2 ? "adam" : "sgd"}));
    // run 5 has no loss; run 6's last loss is NaN.
    if (i == 5) continue;
    Log(runs.back(), "c", 1, {{"loss", 0, 1, 100.0 - i}, {"loss", 1, 2, i == 6 ? kNaN : 50.0 - i}});
  }
  RunQuery q;
  q.experiment = "a";
  q.sort = "metrics.loss";
  q.descending = false;
  q.limit = 5;
  RunPage page = QueryRuns(ws_->db(), q).value();
  EXPECT_EQ(page.total, 20);
  ASSERT_EQ(page.runs.size(), 5u);
  EXPECT_EQ(page.runs[0].id, runs[19].id);  // smallest last loss: 31
  EXPECT_EQ(page.runs[4].id, runs[15].id);
  EXPECT_EQ(page.runs[0].params, (std::vector<std::pair<std::string, std::string>>{
                                     {"lr", std::to_string(19 * 0.01)}, {"opt", "adam"}}));
  ASSERT_EQ(page.runs[0].metrics.size(), 1u);
  EXPECT_EQ(*page.runs[0].metrics[0].last, 31.0);
  EXPECT_EQ(*page.runs[0].metrics[0].max, 81.0);
  EXPECT_EQ(page.param_columns, (std::vector<std::string>{"lr", "opt"}));
  EXPECT_EQ(page.metric_columns, (std::vector<std::string>{"loss"}));
  // The last page: runs without a value come last, in either order.
  q.offset = 15;
  page = QueryRuns(ws_->db(), q).value();
  ASSERT_EQ(page.runs.size(), 5u);
  // No loss (5) and a NaN last loss (6): in the order of the sort's direction applied to seq.
  EXPECT_EQ(page.runs[3].id, runs[5].id);
  EXPECT_EQ(page.runs[4].id, runs[6].id);
  q.descending = true;
  q.offset = 0;
  page = QueryRuns(ws_->db(), q).value();
  EXPECT_EQ(page.runs[0].id, runs[0].id);
  q.offset = 18;
  page = QueryRuns(ws_->db(), q).value();
  ASSERT_EQ(page.runs.size(), 2u);
  EXPECT_EQ(page.runs[1].id, runs[5].id);
  // min of the loss: 100 - i at step 0.
  q.sort = "metrics.loss.max";
  q.offset = 0;
  page = QueryRuns(ws_->db(), q).value();
  EXPECT_EQ(page.runs[0].id, runs[0].id);
  // Filters: numeric parameter, text parameter, metric.
  RunQuery f;
  f.conditions = {ParseRunCondition("params.lr>=0.1").value(),
                  ParseRunCondition("params.opt=adam").value(),
                  ParseRunCondition("metrics.loss.last<30").value()};
  f.sort = "params.lr";
  f.descending = false;
  page = QueryRuns(ws_->db(), f).value();
  // lr >= 0.1: i >= 10; adam: odd; last loss 50 - i < 30: i > 20 → 21, 23, 25, 27, 29.
  EXPECT_EQ(page.total, 5);
  ASSERT_EQ(page.runs.size(), 5u);
  EXPECT_EQ(page.runs[0].id, runs[21].id);
  EXPECT_EQ(page.runs[4].id, runs[29].id);
  EXPECT_EQ(page.metric_columns, (std::vector<std::string>{"loss"}));
  // Text search, status filter.
  RunQuery t;
  t.text = runs[3].id.substr(runs[3].id.size() - 8);
  EXPECT_EQ(QueryRuns(ws_->db(), t).value().total, 1);
  t.text.clear();
  t.conditions = {ParseRunCondition("status!=Queued").value()};
  EXPECT_EQ(QueryRuns(ws_->db(), t).value().total, 0);
  RunQuery none;
  none.experiment = "nope";
  page = QueryRuns(ws_->db(), none).value();
  EXPECT_EQ(page.total, 0);
  EXPECT_TRUE(page.metric_columns.empty());
  // Errors name what is wrong.
  RunQuery bad;
  bad.sort = "color";
  EXPECT_NE(QueryRuns(ws_->db(), bad).status().message().find("sort"), std::string::npos);
  bad.sort = "created_at";
  bad.conditions = {ParseRunCondition("metrics.loss<abc").value()};
  EXPECT_EQ(QueryRuns(ws_->db(), bad).status().code(), StatusCode::kInvalidArgument);
  bad.conditions = {ParseRunCondition("color=red").value()};
  EXPECT_EQ(QueryRuns(ws_->db(), bad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseRunCondition("params.lr").ok());
  EXPECT_FALSE(ParseRunCondition("=1").ok());
}

}  // namespace
}  // namespace trainyard::store
