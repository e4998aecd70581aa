// Benchmarks for tracking from inside runs (issue 3), measured side by side in one run:
//  (a) cost of one Log() call on the training thread (online, against the real endpoint), also
//      with 4 threads logging at once (per call, on each thread);
//  (b) sustained ingestion, points/s from Log() into the workspace (the real ingestion endpoint
//      of a supervisor, over HTTP on loopback), next to a plain batched SQLite insert of the same
//      rows (1000 per transaction, prepared statement, WAL) — goal ≥ 50%;
//  (c) delay from Log() to visible in the workspace (what `trainyard metrics` reads) — goal ≤ 1 s.
// Usage: tracking_bench [POINTS]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "runner/ingest_server.h"
#include "store/metrics.h"
#include "store/workspace.h"
#include "testing/temp_dir.h"
#include "tracking/recorder.h"

namespace {

using trainyard::MonotonicMicros;
namespace store = trainyard::store;
namespace tracking = trainyard::tracking;

void Check(const trainyard::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

store::RunRecord NewRun(store::Workspace* ws) {
  store::RunRecord r;
  r.experiment = "bench";
  r.target = "local";
  r.spec_json = "{}";
  Check(ws->CreateRun(&r, {}), "create run");
  return r;
}

// Plain batched insert of the same rows into the same schema: the reference for (b).
double PlainInsertPointsPerSecond(store::Workspace* ws, int64_t run_seq, int points) {
  auto* db = ws->db();
  Check(db->Exec("INSERT INTO metric_names(run_seq, name) VALUES(" + std::to_string(run_seq) +
                 ", 'plain')"),
        "name");
  int64_t name_id = db->LastInsertId();
  auto ins = db->Prepare("INSERT INTO metrics(name_id, step, ts, rank, value) VALUES(?,?,?,?,?)");
  Check(ins.status(), "prepare");
  int64_t t0 = MonotonicMicros();
  for (int i = 0; i < points; i += 1000) {
    Check(db->Exec("BEGIN"), "begin");
    for (int j = i; j < std::min(points, i + 1000); ++j) {
      ins->Bind(1, name_id).Bind(2, int64_t{j}).Bind(3, trainyard::NowMicros()).Bind(4, int64_t{0});
      ins->Bind(5, j * 0.5);
      Check(ins->Run(), "insert");
      Check(ins->Reset(), "reset");
    }
    Check(db->Exec("COMMIT"), "commit");
  }
  return points / (static_cast<double>(MonotonicMicros() - t0) / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  int points = argc > 1 ? std::atoi(argv[1]) : 1'000'000;
  trainyard::testing::TempDir dir;
  auto ws = std::move(store::Workspace::Open(dir.path()).value());
  store::RunRecord run = NewRun(ws.get());
  trainyard::runner::IngestServer server(ws->dir(), run.id, run.seq);
  Check(server.Start(), "start endpoint");

  tracking::RecorderOptions opts;
  opts.uri = server.uri();
  opts.run_id = run.id;
  opts.token = server.token();
  auto recorder = std::move(tracking::Recorder::Create(opts).value());

  // (a) + (b): log `points` values as fast as a training loop could, then flush.
  int64_t t0 = MonotonicMicros();
  for (int i = 0; i < points; ++i) Check(recorder->Log("loss", i * 0.5), "log");
  int64_t t_logged = MonotonicMicros();
  Check(recorder->Flush(120), "flush");
  int64_t t_stored = MonotonicMicros();
  double ns_per_log = static_cast<double>(t_logged - t0) * 1000.0 / points;
  double ours = points / (static_cast<double>(t_stored - t0) / 1e6);
  auto stored = store::ReadMetrics(ws->db(), run.seq, "loss");
  size_t count = stored.ok() ? (*stored)["loss"].size() : 0;

  // (a) with 4 threads logging at once, `points` calls together.
  const int threads = 4;
  const int per_thread = points / threads;
  std::atomic<int64_t> thread_us{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const std::string name = "threads/loss" + std::to_string(t);
      const int64_t start = MonotonicMicros();
      for (int i = 0; i < per_thread; ++i) Check(recorder->Log(name, i * 0.5), "log");
      thread_us += MonotonicMicros() - start;
    });
  }
  for (std::thread& t : pool) t.join();
  Check(recorder->Flush(120), "flush");
  const double ns_per_log_threads =
      static_cast<double>(thread_us.load()) * 1000.0 / static_cast<double>(threads * per_thread);

  store::RunRecord plain_run = NewRun(ws.get());
  double plain = PlainInsertPointsPerSecond(ws.get(), plain_run.seq, points);

  // (c): one point at a time, time until another connection sees it.
  auto reader = std::move(store::Workspace::Open(dir.path()).value());
  std::vector<double> delays_ms;
  for (int i = 0; i < 20; ++i) {
    int64_t start = MonotonicMicros();
    Check(recorder->Log("probe", i), "log probe");
    while (true) {
      auto m = store::ReadMetrics(reader->db(), run.seq, "probe");
      if (m.ok() && (*m)["probe"].size() > static_cast<size_t>(i)) break;
      trainyard::SleepMicros(2000);
    }
    delays_ms.push_back(static_cast<double>(MonotonicMicros() - start) / 1000.0);
  }
  std::sort(delays_ms.begin(), delays_ms.end());
  server.Stop();

  std::printf("## tracking (%d points, one process, loopback HTTP into SQLite WAL)\n\n", points);
  std::printf("| case | trainyard | reference | ratio |\n|---|---|---|---|\n");
  std::printf("| (a) Log() on the training thread | %.0f ns/call | 1000 ns (goal) | %.2f |\n",
              ns_per_log, ns_per_log / 1000.0);
  std::printf(
      "| (a) Log() from %d threads at once, per call on each | %.0f ns/call | 1000 ns (goal) | "
      "%.2f |\n",
      threads, ns_per_log_threads, ns_per_log_threads / 1000.0);
  std::printf(
      "| (b) sustained ingestion, Log() to stored | %.0f points/s | %.0f points/s (plain "
      "batched insert) | %.2f (goal >= 0.5) |\n",
      ours, plain, ours / plain);
  std::printf(
      "| (c) Log() to visible, median / max of 20 | %.0f / %.0f ms | 1000 ms (goal) | "
      "%.2f |\n",
      delays_ms[delays_ms.size() / 2], delays_ms.back(), delays_ms.back() / 1000.0);
  std::printf("\nstored %zu of %d points\n", count, points);
  return count == static_cast<size_t>(points) ? 0 : 1;
}
