// The workspace's other records over the API (docs/api.md, "Experiments, sweeps, targets, models,
// deployments"), in the shapes the CLI's --json prints (one rendering: runner/records_json.h,
// models/json.h, runner/deployment.h), and cancelling a run.
#include <httplib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/json_number.h"
#include "models/json.h"
#include "models/usage.h"
#include "runner/deployment.h"
#include "runner/records_json.h"
#include "runner/runner.h"
#include "runner/sweep.h"
#include "server/api.h"
#include "store/deployments.h"
#include "store/models.h"

namespace trainyard::server {

namespace {

// Runs `fn` with a pooled workspace connection, replying with its error if it fails.
template <typename Fn>
void WithWorkspace(ServerContext& ctx, httplib::Response& res, Fn fn) {
  Result<WorkspacePool::Lease> ws = ctx.pool.Acquire();
  if (!ws.ok()) return ReplyStatus(res, ws.status());
  Result<nlohmann::json> body = fn(ws->get());
  if (!body.ok()) return ReplyStatus(res, body.status());
  ReplyJson(res, *body);
}

// The name of the policy that stopped a trial, from the spec's early-termination settings.
std::string PolicyOf(const runner::SweepSummary& s) {
  return runner::SweepPolicyJson(s.spec.early_termination).value("type", std::string());
}

// `trainyard sweep show --json`, with each trial also given the contract's fields (id,
// trial_index, params, primary_metric, stopped_by = the policy's name, stop_reason = its
// reason), and best_so_far: the best primary value after each trial, in trial order.
Result<nlohmann::json> SweepBody(store::Workspace* ws, const std::string& id) {
  ASSIGN_OR_RETURN(runner::SweepSummary s, runner::ReadSweep(ws, id));
  nlohmann::json j = runner::SweepToJson(s);
  const std::string policy = PolicyOf(s);
  nlohmann::json& trials = j["trials"];
  for (size_t i = 0; i < s.trials.size() && i < trials.size(); ++i) {
    const runner::TrialSummary& t = s.trials[i];
    nlohmann::json& out = trials[i];
    out["id"] = t.run.id;
    out["trial_index"] = t.index;
    out["params"] = out["parameters"];
    out["primary_metric"] = t.best ? JsonNumber(*t.best) : nlohmann::json();
    const bool stopped = !t.stopped_by.empty();
    out["stopped_by"] = stopped ? nlohmann::json(policy) : nlohmann::json();
    out["stop_reason"] = stopped ? nlohmann::json(t.stopped_by) : nlohmann::json();
  }
  std::vector<const runner::TrialSummary*> by_index;
  for (const auto& t : s.trials) by_index.push_back(&t);
  std::sort(by_index.begin(), by_index.end(),
            [](const auto* a, const auto* b) { return a->index < b->index; });
  const bool maximize = s.spec.objective.goal == sweep::Goal::kMaximize;
  std::optional<double> best;
  nlohmann::json best_so_far = nlohmann::json::array();
  for (const auto* t : by_index) {
    if (!t->best || std::isnan(*t->best)) continue;
    if (!best || (maximize ? *t->best > *best : *t->best < *best)) best = *t->best;
    best_so_far.push_back({{"trial_index", t->index}, {"value", JsonNumber(*best)}});
  }
  j["best_so_far"] = best_so_far;
  return j;
}

// "3" or "latest" (also "" ) as a model version.
Result<std::optional<int64_t>> ParseVersion(const std::string& text) {
  if (text.empty() || text == "latest") return std::optional<int64_t>();
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 1) {
    return InvalidArgument("model version must be a number from 1 or \"latest\", got \"" + text +
                           "\"");
  }
  return std::optional<int64_t>(v);
}

Result<nlohmann::json> ModelVersionBody(store::Workspace* ws, const std::string& name,
                                        const std::string& version_text) {
  ASSIGN_OR_RETURN(std::optional<int64_t> version, ParseVersion(version_text));
  ASSIGN_OR_RETURN(store::ModelRecord m, store::GetModel(ws, name, version));
  ASSIGN_OR_RETURN(std::vector<std::string> users, models::DeploymentsUsing(ws, m.name, m.version));
  nlohmann::json j = models::ModelToJson(m);
  j["deployments"] = users;
  return nlohmann::json{{"model", j}};
}

void AddGetRoutes(Routes& routes, ServerContext& ctx) {
  routes.Get("/api/v1/experiments", Role::kRead,
             [&ctx](const httplib::Request&, httplib::Response& res, const Caller&) {
               WithWorkspace(ctx, res, [](store::Workspace* ws) -> Result<nlohmann::json> {
                 ASSIGN_OR_RETURN(nlohmann::json all, runner::ExperimentsToJson(ws));
                 return nlohmann::json{{"experiments", all}};
               });
             });
  routes.Get(R"(/api/v1/sweeps/([^/]+))", Role::kRead,
             [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
               WithWorkspace(ctx, res, [&req](store::Workspace* ws) {
                 return SweepBody(ws, PathParam(req, 1));
               });
             });
  routes.Get("/api/v1/targets", Role::kRead,
             [&ctx](const httplib::Request&, httplib::Response& res, const Caller&) {
               WithWorkspace(ctx, res, [](store::Workspace* ws) -> Result<nlohmann::json> {
                 ASSIGN_OR_RETURN(nlohmann::json all, runner::TargetsToJson(ws));
                 return nlohmann::json{{"targets", all}};
               });
             });
  routes.Get("/api/v1/models", Role::kRead,
             [&ctx](const httplib::Request&, httplib::Response& res, const Caller&) {
               WithWorkspace(ctx, res, [](store::Workspace* ws) -> Result<nlohmann::json> {
                 ASSIGN_OR_RETURN(auto all, store::ListModels(ws));
                 nlohmann::json out = nlohmann::json::array();
                 for (const auto& m : all) out.push_back(models::ModelToJson(m));
                 return nlohmann::json{{"models", out}};
               });
             });
  routes.Get(R"(/api/v1/models/([^/]+))", Role::kRead,
             [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
               WithWorkspace(ctx, res, [&req](store::Workspace* ws) -> Result<nlohmann::json> {
                 const std::string name = PathParam(req, 1);
                 ASSIGN_OR_RETURN(auto all, store::ListModels(ws, name));
                 if (all.empty()) return NotFound("no model named " + name);
                 nlohmann::json out = nlohmann::json::array();
                 for (const auto& m : all) out.push_back(models::ModelToJson(m));
                 return nlohmann::json{{"models", out}};
               });
             });
  routes.Get(R"(/api/v1/models/([^/]+)/([^/]+))", Role::kRead,
             [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
               WithWorkspace(ctx, res, [&req](store::Workspace* ws) {
                 return ModelVersionBody(ws, PathParam(req, 1), PathParam(req, 2));
               });
             });
  routes.Get("/api/v1/deployments", Role::kRead,
             [&ctx](const httplib::Request&, httplib::Response& res, const Caller&) {
               WithWorkspace(ctx, res, [](store::Workspace* ws) -> Result<nlohmann::json> {
                 (void)runner::ReapDeployments(ws);  // like `deployment list`
                 ASSIGN_OR_RETURN(auto all, store::ListDeployments(ws));
                 nlohmann::json out = nlohmann::json::array();
                 for (const auto& d : all) out.push_back(runner::DeploymentToJson(*ws, d));
                 return nlohmann::json{{"deployments", out}};
               });
             });
  routes.Get(R"(/api/v1/deployments/([^/]+))", Role::kRead,
             [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
               WithWorkspace(ctx, res, [&req](store::Workspace* ws) -> Result<nlohmann::json> {
                 (void)runner::ReapDeployments(ws);
                 ASSIGN_OR_RETURN(store::DeploymentRecord d,
                                  store::GetDeployment(ws, PathParam(req, 1)));
                 return nlohmann::json{{"deployment", runner::DeploymentToJson(*ws, d)}};
               });
             });
  routes.Get(R"(/api/v1/deployments/([^/]+)/logs)", Role::kRead,
             [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
               Result<int64_t> tail = QueryInt(req, "tail", 0, 0, 1 << 30);
               if (!tail.ok()) return ReplyStatus(res, tail.status());
               Result<WorkspacePool::Lease> ws = ctx.pool.Acquire();
               if (!ws.ok()) return ReplyStatus(res, ws.status());
               Result<std::string> text =
                   runner::DeploymentLogText(ws->get(), PathParam(req, 1), static_cast<int>(*tail));
               if (!text.ok()) return ReplyStatus(res, text.status());
               res.set_content(*text, "text/plain; charset=utf-8");
             });
}

}  // namespace

void AddResourceRoutes(Routes& routes, ServerContext& ctx) {
  AddGetRoutes(routes, ctx);
  // POST /api/v1/runs/{id}/cancel?wait=5: cancels a run (or a sweep and its trials) and waits up
  // to `wait` seconds for it to end; replies with the run as it is then (detailed run JSON).
  routes.Post(R"(/api/v1/runs/([^/]+)/cancel)", Role::kSubmit,
              [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
                Result<int64_t> wait = QueryInt(req, "wait", 5, 0, 60);
                if (!wait.ok()) return ReplyStatus(res, wait.status());
                WithWorkspace(ctx, res, [&](store::Workspace* ws) -> Result<nlohmann::json> {
                  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(PathParam(req, 1)));
                  // runner::Cancel waits forever for 0: the shortest wait it knows instead.
                  const double seconds = std::max(0.001, static_cast<double>(*wait));
                  ASSIGN_OR_RETURN(store::RunRecord after,
                                   run.kind == "sweep" ? runner::CancelSweep(ws, run.id, seconds)
                                                       : runner::Cancel(ws, run.id, seconds));
                  return runner::RunToJson(ws, after, /*detailed=*/true);
                });
              });
}

}  // namespace trainyard::server
