// web_fill WORKSPACE [METRICS] [POINTS]: records one finished run with METRICS metrics (default
// 20) of POINTS points each (default 100,000) straight through the store API, and prints its id:
// the run page that bench/web_charts.mjs opens in chromium (issue 17: 20 charts of 100,000
// points, first chart drawn in at most 1.5 s). Logging 2,000,000 points through a training
// script's tracking client would take minutes; ApplyBatch is what the ingestion endpoint calls,
// so the points, their summaries and the run look exactly as if a run had logged them.
//
// web_fill WORKSPACE --runs N [METRICS] [POINTS]: N finished runs of the experiment "web-runs"
// (parameters --lr and --batch, METRICS metrics of POINTS points each; defaults 20 and 5), for
// the runs table at 10,000 runs (bench/web_charts.mjs --runs).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/clock.h"
#include "spec/parse.h"
#include "store/metrics.h"
#include "store/workspace.h"
#include "tracking/protocol.h"

namespace trainyard {
namespace {

constexpr char kJob[] = R"(
command: python train.py --lr 0.01 --batch 100
code: .
experiment_name: web-bench
)";

// Points per ApplyBatch (one transaction each): large enough that the commit cost vanishes,
// small enough to keep the batch's memory modest.
constexpr int kBatchPoints = 200'000;

int Fail(const Status& s) {
  std::fprintf(stderr, "web_fill: %s\n", s.ToString().c_str());
  return 1;
}

// A noisy decaying curve with a few spikes, so that a downsampled chart has something to lose.
double Value(int metric, int64_t step, int64_t points) {
  const double x = static_cast<double>(step) / static_cast<double>(points);
  double v = (1.0 + metric * 0.1) * std::exp(-4.0 * x) + 0.05 * std::sin(step * 0.37 + metric);
  if (step % 9973 == 0) v += 1.0;
  return v;
}

// A launch plan with its rank-0 argv: where the runs table's parameters and the run page's argv
// come from.
std::string PlanJson(double lr, int batch) {
  char plan[256];
  std::snprintf(plan, sizeof(plan),
                R"({"processes":[{"argv":["/usr/bin/python3","train.py","--lr","%.4f",)"
                R"("--batch","%d"]}]})",
                lr, batch);
  return plan;
}

// N runs with parameters and a few points per metric; prints the experiment's name.
int FillRuns(store::Workspace* ws, int64_t runs, int metrics, int64_t points) {
  const int64_t t0 = NowMicros();
  for (int64_t i = 0; i < runs; ++i) {
    // Parameters that do not follow the creation order, so that sorting by them reorders.
    const double lr = 0.0001 * static_cast<double>(1 + (i * 7919) % 1000);
    const int batch = 16 << (i % 4);
    char job[256];
    std::snprintf(job, sizeof(job),
                  "command: python train.py --lr %.4f --batch %d\ncode: .\n"
                  "experiment_name: web-runs\n",
                  lr, batch);
    auto spec = spec::ParseJobText(job, "job.yml", "/tmp");
    if (!spec.ok()) return Fail(spec.status());
    store::RunRecord run;
    run.experiment = "web-runs";
    run.target = "local";
    run.spec_json = spec::ToJson(*spec);
    run.plan_json = PlanJson(lr, batch);  // CreateRun indexes the parameters from its argv
    if (Status s = ws->CreateRun(&run, {}); !s.ok()) return Fail(s);
    tracking::Batch batch_of_points;
    batch_of_points.client = "web_fill";
    batch_of_points.seq = 1;
    for (int m = 0; m < metrics; ++m) {
      char name[32];
      std::snprintf(name, sizeof(name), "metric_%02d", m);
      for (int64_t step = 0; step < points; ++step) {
        batch_of_points.points.push_back(
            {name, step, t0 + step,
             Value(m, step, points) * lr * 1000 + static_cast<double>(i % 97)});
      }
    }
    if (auto r = store::ApplyBatch(ws->db(), run.seq, batch_of_points); !r.ok()) {
      return Fail(r.status());
    }
    if (Status s = ws->SetStatus(run.id, store::RunStatus::kCompleted,
                                 {.started_at = t0, .ended_at = t0 + 1'000'000, .exit_code = 0});
        !s.ok()) {
      return Fail(s);
    }
  }
  std::printf("web-runs\n");
  return 0;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: web_fill WORKSPACE [METRICS] [POINTS]\n"
                 "       web_fill WORKSPACE --runs N [METRICS] [POINTS]\n");
    return 2;
  }
  if (argc > 3 && std::string(argv[2]) == "--runs") {
    auto ws = store::Workspace::Open(argv[1]);
    if (!ws.ok()) return Fail(ws.status());
    const int64_t runs = std::atoll(argv[3]);
    const int metrics = argc > 4 ? std::atoi(argv[4]) : 20;
    const int64_t points = argc > 5 ? std::atoll(argv[5]) : 5;
    if (runs < 1 || metrics < 1 || points < 1) {
      std::fprintf(stderr, "web_fill: N, METRICS and POINTS must be positive\n");
      return 2;
    }
    return FillRuns(ws->get(), runs, metrics, points);
  }
  const int metrics = argc > 2 ? std::atoi(argv[2]) : 20;
  const int64_t points = argc > 3 ? std::atoll(argv[3]) : 100'000;
  if (metrics < 1 || points < 1) {
    std::fprintf(stderr, "web_fill: METRICS and POINTS must be positive\n");
    return 2;
  }
  auto ws = store::Workspace::Open(argv[1]);
  if (!ws.ok()) return Fail(ws.status());
  auto spec = spec::ParseJobText(kJob, "job.yml", "/tmp");
  if (!spec.ok()) return Fail(spec.status());

  store::RunRecord run;
  run.experiment = "web-bench";
  run.display_name = "20 charts";
  run.target = "local";
  run.spec_json = spec::ToJson(*spec);
  run.plan_json = PlanJson(0.01, 100);
  if (Status s = (*ws)->CreateRun(&run, {}); !s.ok()) return Fail(s);
  const int64_t t0 = NowMicros();
  if (Status s = (*ws)->SetStatus(run.id, store::RunStatus::kRunning, {.started_at = t0});
      !s.ok()) {
    return Fail(s);
  }

  tracking::Batch batch;
  batch.client = "web_fill";
  auto flush = [&]() -> Status {
    if (batch.points.empty()) return Status::Ok();
    ++batch.seq;
    ASSIGN_OR_RETURN(bool applied, store::ApplyBatch((*ws)->db(), run.seq, batch));
    (void)applied;
    batch.points.clear();
    return Status::Ok();
  };
  batch.points.reserve(kBatchPoints);
  for (int m = 0; m < metrics; ++m) {
    char name[32];
    std::snprintf(name, sizeof(name), "metric_%02d", m);
    for (int64_t step = 0; step < points; ++step) {
      batch.points.push_back({name, step, t0 + step * 1000, Value(m, step, points)});
      if (batch.points.size() >= kBatchPoints) {
        if (Status s = flush(); !s.ok()) return Fail(s);
      }
    }
  }
  if (Status s = flush(); !s.ok()) return Fail(s);
  if (Status s = (*ws)->SetStatus(run.id, store::RunStatus::kCompleted,
                                  {.ended_at = t0 + points * 1000, .exit_code = 0});
      !s.ok()) {
    return Fail(s);
  }
  std::printf("%s\n", run.id.c_str());
  return 0;
}

}  // namespace
}  // namespace trainyard

int main(int argc, char** argv) { return trainyard::Main(argc, argv); }
