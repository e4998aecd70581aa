// Live streams of a run (docs/api.md, "Streams"): server-sent events of its status and metric
// summaries, and of its log lines, plus the logs as plain text.
//
// A stream occupies one of the server's threads while it is open, so waiting must be cheap: it
// holds no workspace connection between polls (a WorkspacePool lease only while reading), and the
// status of a run is read at most once per kStatusMaxAgeMicros for all the streams of that run
// together (RunStatusCache), so that 200 followers of one run cost about as much as one. Log files
// are read by each stream from where it left off (runner::LogFollower: bounded memory).
//
// A client that goes away is noticed at the next write (a line, an event, or the ping every 15 s);
// the stream then ends and its thread is free again. ctx.stopping() ends every stream at once. A
// stream whose token is revoked ends within ctx.recheck_micros with a `refused` event
// (Routes::Recheck).
#include <dirent.h>
#include <httplib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "common/clock.h"
#include "common/json_number.h"
#include "common/mutex.h"
#include "runner/log_follow.h"
#include "server/api.h"
#include "store/run_index.h"
#include "store/run_status.h"

namespace trainyard::server {

namespace {

constexpr int64_t kPollMicros = 100'000;           // how often a stream looks for news
constexpr int64_t kStatusMaxAgeMicros = 100'000;   // a run's status read once per this, shared
constexpr int64_t kPingMicros = 15'000'000;        // a comment line, so proxies keep it open
constexpr int64_t kMetricsMinGapMicros = 500'000;  // `metrics` events at most 2 per second
constexpr size_t kTextChunk = 64 << 10;            // logs (text and events) go out in chunks

// What the streams need of a run's record, read once per kStatusMaxAgeMicros for every stream of
// that run. Entries of runs nobody asked about for a minute are dropped.
struct RunState {
  std::string id;
  int64_t seq = 0;
  store::RunStatus status = store::RunStatus::kQueued;
  std::string status_detail;
  bool terminal = false;
};

// Single flight: when an entry is stale, one stream reads it again while the others go on with
// the value they have (a stampede of 200 streams on the workspace pool would open a connection
// each and wait on SQLite's locks).
class RunStatusCache {
 public:
  Result<RunState> Get(WorkspacePool& pool, const std::string& id) {
    const int64_t now = NowMicros();
    {
      MutexLock lock(mu_);
      auto it = entries_.find(id);
      if (it != entries_.end()) {
        it->second.used_at = now;
        if (now - it->second.read_at < kStatusMaxAgeMicros || it->second.refreshing) {
          return it->second.state;
        }
        it->second.refreshing = true;
      }
    }
    Result<RunState> state = Read(pool, id);
    MutexLock lock(mu_);
    if (!state.ok()) {
      auto it = entries_.find(id);
      if (it != entries_.end()) it->second.refreshing = false;
      return state;
    }
    if (entries_.size() > 1000) {  // forget runs no stream follows any more
      for (auto it = entries_.begin(); it != entries_.end();) {
        it = now - it->second.used_at > 60'000'000 && !it->second.refreshing ? entries_.erase(it)
                                                                             : std::next(it);
      }
    }
    entries_[id] = {*state, now, now, false};
    return state;
  }

 private:
  static Result<RunState> Read(WorkspacePool& pool, const std::string& id) {
    ASSIGN_OR_RETURN(WorkspacePool::Lease ws, pool.Acquire());
    ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(id));
    return RunState{run.id, run.seq, run.status, run.status_detail, store::IsTerminal(run.status)};
  }
  struct Entry {
    RunState state;
    int64_t read_at = 0, used_at = 0;
    bool refreshing = false;  // a stream is reading it again
  };
  Mutex mu_;
  std::map<std::string, Entry> entries_ TY_GUARDED_BY(mu_);
};

// A fingerprint of a run's log files (the folder's mtime, each rank file's name, size and
// mtime), computed at most once per kStatusMaxAgeMicros for every stream of the run together: a
// stream reads the files only when it changed since its last read, so that idle followers cost a
// lookup, not a folder scan and a read each (LogFollower::Pump allocates its read blocks).
class LogVersionCache {
 public:
  uint64_t Get(const std::string& dir) {
    const int64_t now = NowMicros();
    {
      MutexLock lock(mu_);
      auto it = entries_.find(dir);
      if (it != entries_.end()) {
        it->second.used_at = now;
        if (now - it->second.read_at < kStatusMaxAgeMicros || it->second.refreshing) {
          return it->second.version;
        }
        it->second.refreshing = true;  // single flight, as in RunStatusCache
      }
    }
    const uint64_t version = Compute(dir);
    MutexLock lock(mu_);
    if (entries_.size() > 1000) {
      for (auto it = entries_.begin(); it != entries_.end();) {
        it = now - it->second.used_at > 60'000'000 && !it->second.refreshing ? entries_.erase(it)
                                                                             : std::next(it);
      }
    }
    entries_[dir] = {version, now, now, false};
    return version;
  }

 private:
  static uint64_t Mix(uint64_t h, uint64_t v) {
    return (h ^ v) * 0x100000001b3ULL + (h >> 29);  // order matters; a collision only re-reads
  }
  static uint64_t Compute(const std::string& dir) {
    uint64_t h = 0xcbf29ce484222325ULL;
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) return h;
    h = Mix(h, static_cast<uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000ULL +
                   static_cast<uint64_t>(st.st_mtim.tv_nsec));
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return h;
    while (struct dirent* e = readdir(d)) {
      if (std::strncmp(e->d_name, "rank-", 5) != 0) continue;
      if (fstatat(dirfd(d), e->d_name, &st, 0) != 0) continue;
      h = Mix(h, std::hash<std::string>()(e->d_name));
      h = Mix(h, static_cast<uint64_t>(st.st_size));
      h = Mix(h, static_cast<uint64_t>(st.st_mtim.tv_nsec));
    }
    closedir(d);
    return h;
  }
  struct Entry {
    uint64_t version = 0;
    int64_t read_at = 0, used_at = 0;
    bool refreshing = false;
  };
  Mutex mu_;
  std::map<std::string, Entry> entries_ TY_GUARDED_BY(mu_);
};

// What the stream routes share.
struct StreamCaches {
  RunStatusCache status;
  LogVersionCache logs;
};

std::string Event(const std::string& type, const nlohmann::json& data) {
  return "event: " + type +
         "\ndata: " + data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

void SetStreamHeaders(httplib::Response& res) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // a proxy in front must not hold events back
}

// Resolves the run (an id or unique prefix) before the stream starts, so that an unknown run is a
// plain 404 rather than an empty stream.
Result<RunState> ResolveRun(ServerContext& ctx, RunStatusCache& cache, const std::string& id) {
  return cache.Get(ctx.pool, id);
}

// The rank of a merged line ("[rank N] text"), when it has the prefix.
nlohmann::json LineRank(const std::string& line, int only_rank) {
  if (only_rank >= 0) return only_rank;
  int rank = -1, used = 0;
  if (std::sscanf(line.c_str(), "[rank %d]%n", &rank, &used) == 1 && used > 0) return rank;
  return nullptr;
}

// The metric summaries of a run, as in GET /api/v1/runs/{id}/metrics.
Result<nlohmann::json> MetricSummaries(store::Workspace* ws, int64_t seq) {
  ASSIGN_OR_RETURN(std::vector<store::MetricSummaryRow> rows,
                   store::RunMetricSummaries(ws->db(), seq));
  auto number = [](const std::optional<double>& v) -> nlohmann::json {
    return v ? JsonNumber(*v) : nlohmann::json();  // nullopt: NaN
  };
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : rows) {
    out.push_back({{"name", m.name},
                   {"count", m.count},
                   {"last", number(m.last)},
                   {"min", number(m.min)},
                   {"max", number(m.max)},
                   {"last_step", m.last_step}});
  }
  return out;
}

// A cheap fingerprint of a run's summaries: changes whenever a point is logged.
Result<std::pair<int64_t, int64_t>> MetricsVersion(store::Workspace* ws, int64_t seq) {
  ASSIGN_OR_RETURN(store::Stmt st,
                   ws->db()->Prepare("SELECT COALESCE(SUM(count), 0), COALESCE(MAX(last_ts), 0) "
                                     "FROM metric_summary WHERE run_seq = ?"));
  st.Bind(1, seq);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::pair<int64_t, int64_t>{0, 0};
  return std::pair<int64_t, int64_t>{st.Int(0), st.Int(1)};
}

Result<int64_t> StatusSince(store::Workspace* ws, const std::string& id) {
  ASSIGN_OR_RETURN(auto history, ws->StatusHistory(id));
  return history.empty() ? NowMicros() : history.back().second;
}

// GET /api/v1/runs/{id}/events
void RunEvents(ServerContext& ctx, const std::shared_ptr<StreamCaches>& cache,
               const httplib::Request& req, httplib::Response& res,
               const std::function<std::string()>& recheck) {
  Result<RunState> first = ResolveRun(ctx, cache->status, PathParam(req, 1));
  if (!first.ok()) return ReplyStatus(res, first.status());
  SetStreamHeaders(res);
  const RunState run = *first;
  res.set_chunked_content_provider(
      "text/event-stream", [&ctx, cache, run, recheck](size_t, httplib::DataSink& sink) {
        std::string last_status, last_detail;
        std::pair<int64_t, int64_t> metrics_version{-1, -1};
        int64_t last_metrics_at = 0, last_write_at = NowMicros();
        while (!ctx.stopping()) {
          Result<RunState> state = cache->status.Get(ctx.pool, run.id);
          if (!state.ok()) return false;  // the run is gone, or the workspace unreadable
          std::string out;
          const int64_t now = NowMicros();
          if (std::string why = recheck(); !why.empty()) {
            out = Event("refused", {{"error", why}});
            if (!sink.write(out.data(), out.size())) return false;
            sink.done();
            return true;
          }
          const bool status_changed = store::RunStatusName(state->status) != last_status ||
                                      state->status_detail != last_detail;
          const bool metrics_due = state->terminal || now - last_metrics_at >= kMetricsMinGapMicros;
          if (status_changed || metrics_due) {
            Result<WorkspacePool::Lease> ws = ctx.pool.Acquire();
            if (!ws.ok()) return false;
            // Metrics before the status: the last `metrics` event before `end` holds the final
            // summaries.
            Result<std::pair<int64_t, int64_t>> version =
                metrics_due ? MetricsVersion(ws->get(), run.seq) : metrics_version;
            if (version.ok() && *version != metrics_version && version->first > 0) {
              Result<nlohmann::json> summaries = MetricSummaries(ws->get(), run.seq);
              if (summaries.ok()) {
                out += Event("metrics", {{"metrics", *summaries}});
                metrics_version = *version;
                last_metrics_at = now;
              }
            }
            if (status_changed) {
              Result<int64_t> at = StatusSince(ws->get(), run.id);
              last_status = store::RunStatusName(state->status);
              last_detail = state->status_detail;
              out += Event("status", {{"status", last_status},
                                      {"status_detail", last_detail},
                                      {"at", at.ok() ? *at : now},
                                      {"ended", state->terminal}});
            }
          }
          if (state->terminal) out += Event("end", nlohmann::json::object());
          if (out.empty() && now - last_write_at >= kPingMicros) out = ": ping\n\n";
          if (!out.empty()) {
            if (!sink.write(out.data(), out.size())) return false;
            last_write_at = now;
          }
          if (state->terminal) {
            sink.done();
            return true;
          }
          SleepMicros(kPollMicros);
        }
        return false;
      });
}

// GET /api/v1/runs/{id}/logs/stream?rank=&tail=200
void LogStream(ServerContext& ctx, const std::shared_ptr<StreamCaches>& cache,
               const httplib::Request& req, httplib::Response& res,
               const std::function<std::string()>& recheck) {
  Result<int64_t> rank = QueryInt(req, "rank", -1, -1, 1 << 20);
  if (!rank.ok()) return ReplyStatus(res, rank.status());
  Result<int64_t> tail = QueryInt(req, "tail", 200, 0, 1 << 30);
  if (!tail.ok()) return ReplyStatus(res, tail.status());
  Result<RunState> first = ResolveRun(ctx, cache->status, PathParam(req, 1));
  if (!first.ok()) return ReplyStatus(res, first.status());
  SetStreamHeaders(res);
  const RunState run = *first;
  const int only_rank = static_cast<int>(*rank);
  const int tail_lines = static_cast<int>(*tail);
  res.set_chunked_content_provider("text/event-stream", [&ctx, cache, run, only_rank, tail_lines,
                                                         recheck](size_t, httplib::DataSink& sink) {
    std::string out;
    const std::string dir = ctx.pool.dir() + "/runs/" + run.id + "/logs";
    uint64_t pumped = 0;  // the files' version when last read (0: not yet)
    // One pump hands over every new line (a whole log with tail=0): written out every 64 KiB,
    // never gathered whole in memory.
    bool gone = false;  // a write failed: the client went away
    runner::LogFollower follower(
        dir, only_rank, /*timestamps=*/false,
        [&out, &sink, &gone, only_rank](const std::string& line) {
          if (gone) return;
          out += Event("line", {{"rank", LineRank(line, only_rank)}, {"text", line}});
          if (out.size() >= kTextChunk) {
            gone = !sink.write(out.data(), out.size());
            out.clear();
          }
        });
    if (tail_lines > 0) follower.SkipToLastLines(tail_lines);
    int64_t last_write_at = NowMicros();
    while (!ctx.stopping()) {
      if (std::string why = recheck(); !why.empty()) {
        out += Event("refused", {{"error", why}});
        if (!sink.write(out.data(), out.size())) return false;
        sink.done();
        return true;
      }
      // The status before the files: a run that had ended when its status was read has
      // written every line by then, so this pump hands over the last of them.
      Result<RunState> state = cache->status.Get(ctx.pool, run.id);
      const bool done = !state.ok() || state->terminal;
      const uint64_t version = cache->logs.Get(dir);
      if (done || version != pumped) {
        follower.Pump(done);
        pumped = version;
        if (gone) return false;
      }
      if (done) out += Event("end", nlohmann::json::object());
      const int64_t now = NowMicros();
      if (out.empty() && now - last_write_at >= kPingMicros) out = ": ping\n\n";
      if (!out.empty()) {
        if (!sink.write(out.data(), out.size())) return false;
        out.clear();
        last_write_at = now;
      }
      if (done) {
        sink.done();
        return true;
      }
      SleepMicros(kPollMicros);
    }
    return false;
  });
}

// GET /api/v1/runs/{id}/logs?rank=&tail= (text/plain, the merged view of `trainyard logs`)
void LogText(ServerContext& ctx, const std::shared_ptr<StreamCaches>& cache,
             const httplib::Request& req, httplib::Response& res) {
  Result<int64_t> rank = QueryInt(req, "rank", -1, -1, 1 << 20);
  if (!rank.ok()) return ReplyStatus(res, rank.status());
  Result<int64_t> tail = QueryInt(req, "tail", 0, 0, 1 << 30);
  if (!tail.ok()) return ReplyStatus(res, tail.status());
  Result<RunState> run = ResolveRun(ctx, cache->status, PathParam(req, 1));
  if (!run.ok()) return ReplyStatus(res, run.status());
  const std::string dir = ctx.pool.dir() + "/runs/" + run->id + "/logs";
  const int only_rank = static_cast<int>(*rank);
  const int tail_lines = static_cast<int>(*tail);
  // Written in chunks as the follower reads the files: a run's logs may be hundreds of MB.
  res.set_chunked_content_provider(
      "text/plain; charset=utf-8", [dir, only_rank, tail_lines](size_t, httplib::DataSink& sink) {
        std::string out;
        bool ok = true;
        runner::LogFollower follower(dir, only_rank, /*timestamps=*/false,
                                     [&](const std::string& line) {
                                       out += line;
                                       out += '\n';
                                       if (out.size() >= kTextChunk && ok) {
                                         ok = sink.write(out.data(), out.size());
                                         out.clear();
                                       }
                                     });
        if (tail_lines > 0) follower.SkipToLastLines(tail_lines);
        follower.Pump(/*all=*/true);
        if (ok && !out.empty()) ok = sink.write(out.data(), out.size());
        if (!ok) return false;
        sink.done();
        return true;
      });
}

}  // namespace

void AddStreamRoutes(Routes& routes, ServerContext& ctx) {
  auto cache = std::make_shared<StreamCaches>();
  routes.Get(
      R"(/api/v1/runs/([^/]+)/events)", Role::kRead,
      [&ctx, &routes, cache](const httplib::Request& req, httplib::Response& res, const Caller&) {
        RunEvents(ctx, cache, req, res, routes.Recheck(req, Role::kRead, ctx.recheck_micros));
      });
  routes.Get(
      R"(/api/v1/runs/([^/]+)/logs/stream)", Role::kRead,
      [&ctx, &routes, cache](const httplib::Request& req, httplib::Response& res, const Caller&) {
        LogStream(ctx, cache, req, res, routes.Recheck(req, Role::kRead, ctx.recheck_micros));
      });
  routes.Get(R"(/api/v1/runs/([^/]+)/logs)", Role::kRead,
             [&ctx, cache](const httplib::Request& req, httplib::Response& res, const Caller&) {
               LogText(ctx, cache, req, res);
             });
}

}  // namespace trainyard::server
