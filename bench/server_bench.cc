// The workspace server's runs list and metric series (issue 17), measured in one run:
//  (a) the first page (50 runs) of the runs list sorted by a metric, over RUNS runs x METRICS
//      metrics (goal: <= 50 ms server time), also sorted by a parameter, filtered, and by date;
//  (b) one series of SERIES points downsampled to 2,000 points (goal: <= 100 ms), next to what
//      reading its points would cost (the store's ReadMetrics, and one GROUP BY over the points);
//  (c) what keeping the index costs the ingestion: ApplyBatch (points + summaries + blocks) next
//      to a plain batched insert of the same points.
// Each is timed in-process (the store functions the handlers call) and over real HTTP (a started
// server with the run routes, loopback, one keep-alive client; the reply's JSON included). The
// workspace is built through the store API (CreateRun, ApplyBatch), as runs would have built it.
// Usage: server_bench [RUNS] [METRICS] [POINTS_PER_METRIC] [SERIES_POINTS]
#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/http_bind.h"
#include "server/api.h"
#include "store/metrics.h"
#include "store/run_index.h"
#include "store/workspace.h"
#include "testing/temp_dir.h"

namespace {

using trainyard::MonotonicMicros;
namespace store = trainyard::store;
namespace server = trainyard::server;
namespace tracking = trainyard::tracking;

void Check(const trainyard::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "server_bench: %s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

struct Timing {
  double median_ms = 0, p95_ms = 0;
};

// Runs `fn` `reps` times (after one warm-up call); median and 95th percentile in ms.
Timing Time(int reps, const std::function<void()>& fn) {
  fn();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    int64_t t0 = MonotonicMicros();
    fn();
    ms.push_back(static_cast<double>(MonotonicMicros() - t0) / 1000.0);
  }
  std::sort(ms.begin(), ms.end());
  size_t p95 = std::min(ms.size() - 1, static_cast<size_t>(std::lround(0.95 * (ms.size() - 1))));
  return {ms[ms.size() / 2], ms[p95]};
}

std::string PlanJson(int i) {
  nlohmann::json argv = {"/usr/bin/python3",
                         "train.py",
                         "--lr",
                         std::to_string(0.0001 * (1 + i % 97)),
                         "--batch",
                         std::to_string(16 << (i % 4)),
                         "--opt",
                         i % 3 ? "adam" : "sgd"};
  return nlohmann::json{{"processes", {{{"argv", argv}}}}}.dump();
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 10'000;
  const int metrics = argc > 2 ? std::atoi(argv[2]) : 20;
  const int per_metric = argc > 3 ? std::atoi(argv[3]) : 5;
  const int series_points = argc > 4 ? std::atoi(argv[4]) : 1'000'000;
  trainyard::testing::TempDir temp;
  // $SERVER_BENCH_WORKSPACE keeps the workspace (a new folder) for a look at it afterwards.
  const char* keep = std::getenv("SERVER_BENCH_WORKSPACE");
  const std::string dir = keep && *keep ? std::string(keep) : temp.path();
  auto ws = std::move(store::Workspace::Open(dir).value());

  // The workspace: RUNS runs in two experiments, each with 3 parameters and METRICS metrics.
  int64_t t0 = MonotonicMicros();
  for (int i = 0; i < runs; ++i) {
    store::RunRecord run;
    run.experiment = i % 2 ? "resnet" : "bert";
    run.target = "local";
    run.spec_json = "{}";
    run.plan_json = PlanJson(i);
    Check(ws->CreateRun(&run, {}), "create run");
    tracking::Batch b;
    b.client = "fill";
    b.seq = 1;
    for (int m = 0; m < metrics; ++m) {
      char name[16];
      std::snprintf(name, sizeof name, "m%02d", m);
      for (int s = 0; s < per_metric; ++s) {
        double v = std::fmod(i * 0.6180339887 + m * 0.1 + s * 0.01, 1.0);
        b.points.push_back({name, s, s, v});
      }
    }
    Check(store::ApplyBatch(ws->db(), run.seq, b).status(), "apply batch");
  }
  const double fill_s = static_cast<double>(MonotonicMicros() - t0) / 1e6;

  // One run with a long series, logged in batches of 10,000 points (ApplyBatch keeps the index).
  store::RunRecord big;
  big.experiment = "long";
  big.target = "local";
  big.spec_json = "{}";
  big.plan_json = PlanJson(0);
  Check(ws->CreateRun(&big, {}), "create run");
  t0 = MonotonicMicros();
  for (int i = 0, seq = 1; i < series_points; i += 10'000, ++seq) {
    tracking::Batch b;
    b.client = "fill";
    b.seq = seq;
    for (int j = i; j < std::min(series_points, i + 10'000); ++j) {
      double v = std::exp(-j / 200000.0) + 0.05 * std::sin(j * 0.37);
      if (j % 99991 == 0) v += 5;  // spikes a chart must not lose
      b.points.push_back({"loss", j, j, v});
    }
    Check(store::ApplyBatch(ws->db(), big.seq, b).status(), "apply batch");
  }
  const double ingest_pps = series_points / (static_cast<double>(MonotonicMicros() - t0) / 1e6);
  // The reference: the same points by a plain batched insert (10,000 per transaction).
  double plain_pps = 0;
  {
    auto* db = ws->db();
    Check(db->Exec("INSERT INTO metric_names(run_seq, name) VALUES(" + std::to_string(big.seq) +
                   ", 'plain')"),
          "name");
    int64_t name_id = db->LastInsertId();
    auto ins = db->Prepare("INSERT INTO metrics(name_id, step, ts, rank, value) VALUES(?,?,?,?,?)");
    Check(ins.status(), "prepare");
    t0 = MonotonicMicros();
    for (int i = 0; i < series_points; i += 10'000) {
      Check(db->Exec("BEGIN"), "begin");
      for (int j = i; j < std::min(series_points, i + 10'000); ++j) {
        ins->Bind(1, name_id).Bind(2, int64_t{j}).Bind(3, int64_t{j}).Bind(4, int64_t{0});
        ins->Bind(5, std::exp(-j / 200000.0));
        Check(ins->Run(), "insert");
        Check(ins->Reset(), "reset");
      }
      Check(db->Exec("COMMIT"), "commit");
    }
    plain_pps = series_points / (static_cast<double>(MonotonicMicros() - t0) / 1e6);
  }

  // (a) + (b) in-process.
  const int reps = 15;
  auto query = [&](store::RunQuery q) {
    return Time(reps, [&] { Check(store::QueryRuns(ws->db(), q).status(), "query runs"); });
  };
  store::RunQuery by_metric;
  by_metric.sort = "metrics.m07";
  by_metric.descending = false;
  store::RunQuery by_param;
  by_param.sort = "params.lr";
  store::RunQuery filtered = by_metric;
  filtered.conditions = {store::ParseRunCondition("metrics.m03<0.5").value(),
                         store::ParseRunCondition("params.opt=adam").value()};
  store::RunQuery by_date;
  Timing t_metric = query(by_metric), t_param = query(by_param), t_filter = query(filtered),
         t_date = query(by_date);
  store::RunQuery no_columns = by_metric;
  no_columns.with_columns = false;
  Timing t_metric_nocol = query(no_columns);
  store::SeriesQuery sq;
  sq.points = 2000;
  size_t buckets = 0;
  Timing t_series = Time(reps, [&] {
    auto s = store::ReadSeries(ws->db(), big.seq, "loss", sq);
    Check(s.status(), "series");
    buckets = s->step.size();
  });
  Timing t_read_points = Time(
      3, [&] { Check(store::ReadMetrics(ws->db(), big.seq, "loss").status(), "read metrics"); });
  int64_t loss_id = 0;
  {
    auto s = ws->db()->Prepare("SELECT id FROM metric_names WHERE run_seq = ? AND name = 'loss'");
    Check(s.status(), "prepare");
    s->Bind(1, big.seq);
    Check(s->Step().status(), "name id");
    loss_id = s->Int(0);
  }
  Timing t_group_by = Time(3, [&] {
    auto s = ws->db()->Prepare(
        "SELECT step * 2000 / ?2 AS b, MIN(step), MIN(value), MAX(value), COUNT(*) FROM "
        "metrics INDEXED BY metrics_by_step WHERE name_id = ?1 GROUP BY b");
    Check(s.status(), "prepare");
    s->Bind(1, loss_id).Bind(2, int64_t{series_points});
    Check(s->ForEachRow([](const store::Stmt&) {}), "group by");
  });

  // The same over HTTP.
  server::ServerContext ctx(dir);
  httplib::Server http;
  server::Routes routes(&http, [](const httplib::Request&) {
    return server::AuthResult{server::Caller{"bench", server::Role::kRead}, 200, ""};
  });
  server::AddRunRoutes(routes, ctx);
  int port = trainyard::BindHttpServer(http, "127.0.0.1", 0);
  std::thread loop([&] { http.listen_after_bind(); });
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  size_t page_bytes = 0, series_bytes = 0;
  auto get = [&](const std::string& path, size_t* bytes) {
    return Time(reps, [&] {
      auto res = client.Get(path);
      if (!res || res->status != 200) {
        std::fprintf(stderr, "server_bench: GET %s failed\n", path.c_str());
        std::exit(1);
      }
      *bytes = res->body.size();
    });
  };
  Timing h_metric = get("/api/v1/runs?sort=metrics.m07&order=asc&limit=50", &page_bytes);
  size_t ignored = 0;
  Timing h_filter = get(
      "/api/v1/runs?sort=metrics.m07&order=asc&filter=metrics.m03%3C0.5&filter=params.opt%3Dadam",
      &ignored);
  Timing h_series = get("/api/v1/runs/" + big.id + "/metrics/loss?points=2000", &series_bytes);
  http.stop();
  loop.join();

  std::printf(
      "## workspace server (%d runs x %d metrics x %d points, params 3 per run; one run "
      "with %d points)\n\n",
      runs, metrics, per_metric, series_points);
  std::printf(
      "filled in %.1f s; ingestion of the long series through ApplyBatch (with the "
      "index): %.0f points/s; plain batched insert of the same points: %.0f points/s "
      "(%.0f%%)\n\n",
      fill_s, ingest_pps, plain_pps, 100.0 * ingest_pps / plain_pps);
  std::printf("| case | in-process median (p95) | HTTP median (p95) | goal | reference |\n");
  std::printf("|---|---|---|---|---|\n");
  auto row = [](const char* what, const Timing& in, const Timing* over, const char* goal,
                const std::string& ref) {
    char h[64] = "-";
    if (over) std::snprintf(h, sizeof h, "%.1f ms (%.1f)", over->median_ms, over->p95_ms);
    std::printf("| %s | %.1f ms (%.1f) | %s | %s | %s |\n", what, in.median_ms, in.p95_ms, h, goal,
                ref.c_str());
  };
  const std::string mlflow =
      "MLflow: about a minute to show 500 runs in its UI (mlflow#1517); its runs search slows "
      "past 10,000 metric rows per run (mlflow#1571)";
  row("first page, sorted by a metric", t_metric, &h_metric, "<= 50 ms", mlflow);
  row("  same, without the column names", t_metric_nocol, nullptr, "", "");
  row("first page, sorted by a parameter", t_param, nullptr, "<= 50 ms", "");
  row("first page, 2 filters, sorted by a metric", t_filter, &h_filter, "<= 50 ms", "");
  row("first page, newest first", t_date, nullptr, "<= 50 ms", "");
  row(("series of " + std::to_string(series_points) + " points to " + std::to_string(buckets) +
       " buckets")
          .c_str(),
      t_series, &h_series, "<= 100 ms",
      "MLflow's UI fetches every point of a metric (mlflow#1571)");
  row("  reference: read the points (ReadMetrics)", t_read_points, nullptr, "", "");
  row("  reference: one GROUP BY over the points (index on step)", t_group_by, nullptr, "", "");
  std::printf("\nreply sizes: runs page %zu bytes, series %zu bytes\n", page_bytes, series_bytes);
  return 0;
}
