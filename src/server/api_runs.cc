// The runs list, one run, and its metric series (docs/api.md, "Runs" and "Metrics").
//
// Everything is read from the run index (store/run_index.h): the list sorts, filters and pages in
// SQL over runs + metric_summary + run_params (user text is only ever a bound value; the sort and
// filter fields are checked against a fixed list), and a long series is downsampled from the
// pre-aggregated blocks, so that neither reads a run's points.
#include <httplib.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "common/clock.h"
#include "runner/records_json.h"
#include "server/api.h"
#include "store/run_index.h"

namespace trainyard::server {

namespace {

// A metric value in JSON: a number, null for NaN, "Infinity"/"-Infinity" (as in tracking JSON).
nlohmann::json ValueJson(const std::optional<double>& v) {
  if (!v || std::isnan(*v)) return nullptr;
  if (std::isinf(*v)) return *v > 0 ? "Infinity" : "-Infinity";
  return *v;
}

nlohmann::json OptInt(const std::optional<int64_t>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json SummaryJson(const store::MetricSummaryRow& m) {
  return {{"last", ValueJson(m.last)},
          {"min", ValueJson(m.min)},
          {"max", ValueJson(m.max)},
          {"last_step", m.last_step},
          {"count", m.count}};
}

nlohmann::json ParamsJson(const std::vector<std::pair<std::string, std::string>>& params) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : params) out[k] = v;
  return out;
}

nlohmann::json MetricsJson(const std::vector<store::MetricSummaryRow>& metrics) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& m : metrics) out[m.name] = SummaryJson(m);
  return out;
}

nlohmann::json RowJson(const store::RunRow& r, int64_t now) {
  nlohmann::json duration = nullptr;
  if (r.started_at) {
    duration = static_cast<double>(r.ended_at.value_or(now) - *r.started_at) / 1e6;
  }
  return {
      {"id", r.id},
      {"experiment", r.experiment},
      {"display_name", r.display_name},
      {"status", r.status},
      {"status_detail", r.status_detail},
      {"target", r.target},
      {"kind", r.kind},
      {"parent_id", r.parent_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.parent_id)},
      {"trial_index", OptInt(r.trial_index)},
      {"created_at", r.created_at},
      {"started_at", OptInt(r.started_at)},
      {"ended_at", OptInt(r.ended_at)},
      {"duration_s", duration},
      {"params", ParamsJson(r.params)},
      {"metrics", MetricsJson(r.metrics)}};
}

// An optional integer query parameter (min_step, max_step).
Result<std::optional<int64_t>> QueryOptInt(const httplib::Request& req, const std::string& name) {
  if (!req.has_param(name.c_str())) return std::optional<int64_t>();
  ASSIGN_OR_RETURN(int64_t v, QueryInt(req, name, 0, std::numeric_limits<int64_t>::min() / 4,
                                       std::numeric_limits<int64_t>::max() / 4));
  return std::optional<int64_t>(v);
}

Result<nlohmann::json> ListRuns(const httplib::Request& req, store::Workspace* ws) {
  store::RunQuery q;
  q.experiment = Query(req, "experiment");
  q.status = Query(req, "status");
  q.kind = Query(req, "kind");
  q.text = Query(req, "q");
  q.parent = Query(req, "parent");
  if (!q.parent.empty()) {
    ASSIGN_OR_RETURN(store::RunRecord parent, ws->GetRun(q.parent));
    q.parent = parent.id;
  }
  q.sort = Query(req, "sort", "created_at");
  std::string order = Query(req, "order", "desc");
  if (order != "asc" && order != "desc") {
    return InvalidArgument("query parameter order must be asc or desc, got \"" + order + "\"");
  }
  q.descending = order == "desc";
  ASSIGN_OR_RETURN(q.offset, QueryInt(req, "offset", 0, 0, std::numeric_limits<int32_t>::max()));
  ASSIGN_OR_RETURN(q.limit, QueryInt(req, "limit", 50, 1, 1000));
  size_t filters = req.get_param_value_count("filter");
  for (size_t i = 0; i < filters; ++i) {
    std::string text = req.get_param_value("filter", i);
    ASSIGN_OR_RETURN(store::RunCondition c, store::ParseRunCondition(text));
    q.conditions.push_back(std::move(c));
  }
  // Errors name the parameter already ("sort: unknown column ...", "filter ...").
  ASSIGN_OR_RETURN(store::RunPage page, store::QueryRuns(ws->db(), q));
  const int64_t now = NowMicros();
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& r : page.runs) runs.push_back(RowJson(r, now));
  return nlohmann::json{
      {"total", page.total},
      {"offset", q.offset},
      {"limit", q.limit},
      {"runs", std::move(runs)},
      {"columns", {{"params", page.param_columns}, {"metrics", page.metric_columns}}}};
}

Result<nlohmann::json> GetRunJson(store::Workspace* ws, const std::string& id) {
  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(id));
  nlohmann::json j = runner::RunToJson(ws, run, /*detailed=*/true);
  ASSIGN_OR_RETURN(auto history, ws->StatusHistory(run.id));
  nlohmann::json h = nlohmann::json::array();
  for (const auto& [status, at] : history) {
    h.push_back({{"status", store::RunStatusName(status)}, {"at", at}});
  }
  j["status_history"] = std::move(h);
  ASSIGN_OR_RETURN(auto params, store::RunParams(ws->db(), run.seq));
  j["params"] = ParamsJson(params);
  ASSIGN_OR_RETURN(auto metrics, store::RunMetricSummaries(ws->db(), run.seq));
  j["metrics"] = MetricsJson(metrics);
  if (!j.contains("argv")) j["argv"] = nlohmann::json::array();
  return j;
}

Result<nlohmann::json> RunMetrics(store::Workspace* ws, const std::string& id) {
  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(id));
  ASSIGN_OR_RETURN(auto metrics, store::RunMetricSummaries(ws->db(), run.seq));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : metrics) {
    nlohmann::json s = SummaryJson(m);
    s["name"] = m.name;
    out.push_back(std::move(s));
  }
  return nlohmann::json{{"metrics", std::move(out)}};
}

Result<nlohmann::json> RunSeries(const httplib::Request& req, store::Workspace* ws,
                                 const std::string& id, const std::string& name) {
  store::SeriesQuery q;
  ASSIGN_OR_RETURN(q.points, QueryInt(req, "points", 2000, 1, 100000));
  ASSIGN_OR_RETURN(q.min_step, QueryOptInt(req, "min_step"));
  ASSIGN_OR_RETURN(q.max_step, QueryOptInt(req, "max_step"));
  if (q.min_step && q.max_step && *q.min_step > *q.max_step) {
    return InvalidArgument("query parameter min_step (" + std::to_string(*q.min_step) +
                           ") is above max_step (" + std::to_string(*q.max_step) + ")");
  }
  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(id));
  Result<store::Series> series = store::ReadSeries(ws->db(), run.seq, name, q);
  if (!series.ok()) return series.status().WithContext("run " + run.id);
  auto values = [](const std::vector<std::optional<double>>& v) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& x : v) out.push_back(ValueJson(x));
    return out;
  };
  nlohmann::json j = {{"name", name},
                      {"total", series->total},
                      {"downsampled", series->downsampled},
                      {"step", series->step},
                      {"value", values(series->value)}};
  if (series->downsampled) {
    j["min"] = values(series->min);
    j["max"] = values(series->max);
  }
  return j;
}

// Runs `fn(workspace)` on a pooled connection and replies with its JSON or its error.
template <typename Fn>
void Reply(ServerContext& ctx, httplib::Response& res, Fn&& fn) {
  Result<WorkspacePool::Lease> ws = ctx.pool.Acquire();
  if (!ws.ok()) return ReplyStatus(res, ws.status());
  Result<nlohmann::json> body = fn(ws->get());
  if (!body.ok()) return ReplyStatus(res, body.status());
  ReplyJson(res, *body);
}

}  // namespace

void AddRunRoutes(Routes& routes, ServerContext& ctx) {
  routes.Get(R"(/api/v1/runs)", Role::kRead,
             [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
               Reply(ctx, res, [&](store::Workspace* ws) { return ListRuns(req, ws); });
             });
  routes.Get(R"(/api/v1/runs/([^/]+))", Role::kRead,
             [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
               Reply(ctx, res,
                     [&](store::Workspace* ws) { return GetRunJson(ws, PathParam(req, 1)); });
             });
  routes.Get(R"(/api/v1/runs/([^/]+)/metrics)", Role::kRead,
             [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
               Reply(ctx, res,
                     [&](store::Workspace* ws) { return RunMetrics(ws, PathParam(req, 1)); });
             });
  // Metric names may hold '/' ("train/loss"): the rest of the path is the name.
  routes.Get(R"(/api/v1/runs/([^/]+)/metrics/(.+))", Role::kRead,
             [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
               Reply(ctx, res, [&](store::Workspace* ws) {
                 return RunSeries(req, ws, PathParam(req, 1), PathParam(req, 2));
               });
             });
}

}  // namespace trainyard::server
