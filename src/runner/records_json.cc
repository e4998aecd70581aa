// RunToJson: one rendering of a run for the CLI and the APIs.
#include "runner/records_json.h"

#include <map>

#include "common/clock.h"
#include "common/json_number.h"
#include "common/strings.h"
#include "runner/sweep.h"
#include "store/metrics.h"
#include "targets/target.h"

namespace trainyard::runner {

nlohmann::ordered_json TrialParameters(const store::RunRecord& run) {
  if (run.parent_id.empty()) return nlohmann::ordered_json::object();
  auto spec = nlohmann::ordered_json::parse(run.spec_json, nullptr, false);
  if (spec.is_discarded() || !spec.contains("search_space_values")) {
    return nlohmann::ordered_json::object();
  }
  return spec["search_space_values"];
}

nlohmann::json RunToJson(store::Workspace* ws, const store::RunRecord& run, bool detailed) {
  auto ts = [](const std::optional<int64_t>& v) -> nlohmann::json {
    return v ? nlohmann::json(FormatIso8601(*v)) : nlohmann::json(nullptr);
  };
  nlohmann::json j = {
      {"id", run.id},
      {"experiment", run.experiment},
      {"display_name", run.display_name},
      {"status", store::RunStatusName(run.status)},
      {"status_detail", run.status_detail},
      {"target", run.target},
      {"created_at", FormatIso8601(run.created_at)},
      {"started_at", ts(run.started_at)},
      {"ended_at", ts(run.ended_at)},
      {"exit_code", run.exit_code ? nlohmann::json(*run.exit_code) : nlohmann::json(nullptr)},
      {"error", run.error},
      {"kind", run.kind},
  };
  // A sweep's trial names its sweep, its index and the parameter values it received.
  if (!run.parent_id.empty()) {
    j["parent_id"] = run.parent_id;
    j["parameters"] = TrialParameters(run);
  }
  if (run.trial_index) j["trial_index"] = *run.trial_index;
  if (run.started_at) {
    int64_t end = run.ended_at.value_or(NowMicros());
    j["duration_seconds"] = static_cast<double>(end - *run.started_at) / 1e6;
  }
  auto plan = nlohmann::json::parse(run.plan_json, nullptr, false);
  if (!plan.is_discarded() && plan.contains("processes") && !plan["processes"].empty()) {
    j["argv"] = plan["processes"][0]["argv"];
    j["world_size"] = plan.value("world_size", 1);
  } else {
    j["argv"] = nlohmann::json::array();
  }
  j["failed_rank"] = run.failed_rank ? nlohmann::json(*run.failed_rank) : nlohmann::json(nullptr);
  // What the run logged but the workspace could not store (a full disk).
  j["lost"] = {{"metric_points", run.lost_metric_points}, {"log_bytes", run.lost_log_bytes}};
  nlohmann::json snap = {{"id", run.snapshot_id}};
  if (auto s = ws->GetSnapshot(run.snapshot_id); s.ok()) {
    snap["files"] = s->files;
    snap["bytes"] = s->bytes;
    snap["source_dir"] = s->source_dir;
    snap["git_commit"] = s->in_git && !s->git_commit.empty() ? nlohmann::json(s->git_commit)
                                                             : nlohmann::json(nullptr);
    snap["git_dirty"] = s->git_dirty;
  }
  j["snapshot"] = snap;
  if (detailed) {
    j["interpreter"] = run.interpreter;
    j["torch_version"] = run.torch_version;
    nlohmann::json tags = nlohmann::json::object();
    if (auto t = ws->Tags(run.id); t.ok()) {
      for (const auto& [k, v] : *t) tags[k] = v;
    }
    j["tags"] = tags;
    nlohmann::json props = nlohmann::json::object();
    if (auto p = store::ReadProperties(ws->db(), run.seq); p.ok()) {
      for (const auto& [k, v] : *p) props[k] = v;
    }
    j["properties"] = props;
    nlohmann::json metrics = nlohmann::json::object();
    if (auto sums = store::SummarizeMetrics(ws->db(), run.seq); sums.ok()) {
      for (const auto& m : *sums) {
        metrics[m.name] = {{"last", JsonNumber(m.last)},
                           {"step", m.last_step},
                           {"count", m.count},
                           {"min", JsonNumber(m.min)},
                           {"max", JsonNumber(m.max)}};
      }
    }
    j["metrics"] = metrics;
    nlohmann::json history = nlohmann::json::array();
    if (auto h = ws->StatusHistory(run.id); h.ok()) {
      for (const auto& [st, at] : *h) {
        history.push_back({{"status", store::RunStatusName(st)}, {"at", FormatIso8601(at)}});
      }
    }
    j["status_history"] = history;
    j["spec"] = nlohmann::json::parse(run.spec_json, nullptr, false);
    j["plan"] = plan.is_discarded() ? nlohmann::json(nullptr) : plan;
    j["run_dir"] = ws->RunDir(run.id);
    j["supervisor_pid"] = run.supervisor_pid;
  }
  return j;
}

Result<nlohmann::json> ExperimentsToJson(store::Workspace* ws) {
  ASSIGN_OR_RETURN(std::vector<store::ExperimentSummary> exps, ws->ListExperiments());
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& e : exps) {
    arr.push_back({{"name", e.name},
                   {"created_at", FormatIso8601(e.created_at)},
                   {"runs", e.runs},
                   {"active_runs", e.active},
                   {"last_run_at", e.last_run_at ? nlohmann::json(FormatIso8601(*e.last_run_at))
                                                 : nlohmann::json(nullptr)}});
  }
  return arr;
}

nlohmann::json TargetToJson(const store::TargetRecord& t, int capacity) {
  nlohmann::json j = {{"name", t.name}, {"type", t.type}, {"capacity", capacity}};
  j["config"] = nlohmann::json::parse(t.config_json, nullptr, false);
  return j;
}

Result<nlohmann::json> TargetsToJson(store::Workspace* ws) {
  ASSIGN_OR_RETURN(std::vector<store::TargetRecord> all, ws->ListTargets());
  bool has_local = false;
  for (const auto& t : all) has_local |= t.name == "local";
  if (!has_local) all.insert(all.begin(), {"local", "local", "{}"});
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& t : all) {
    auto impl = targets::MakeTarget(t);
    if (impl.ok()) arr.push_back(TargetToJson(t, (*impl)->capacity()));
  }
  return arr;
}

Result<nlohmann::json> LookupTargetJson(store::Workspace* ws, const std::string& name) {
  ASSIGN_OR_RETURN(auto impl, targets::LookupTarget(ws, name));
  auto rec = ws->GetTarget(name);
  store::TargetRecord t = rec.ok() && *rec ? **rec : store::TargetRecord{name, "local", "{}"};
  return TargetToJson(t, impl->capacity());
}

Status AddTarget(store::Workspace* ws, const std::string& name, const std::string& type,
                 const std::map<std::string, std::string>& options) {
  if (name.empty()) return InvalidArgument("target name: must not be empty");
  RETURN_IF_ERROR(CheckUtf8("target name", name));
  for (const auto& [k, v] : options) {
    RETURN_IF_ERROR(CheckUtf8("target option " + EscapeBytes(k), k + "=" + v));
  }
  ASSIGN_OR_RETURN(std::string config, targets::MakeTargetConfig(type, options));
  return ws->PutTarget({name, type, config});
}

namespace {

const char* AlgorithmName(sweep::Algorithm a) {
  switch (a) {
    case sweep::Algorithm::kRandom: return "random";
    case sweep::Algorithm::kGrid: return "grid";
    case sweep::Algorithm::kBayesian: return "bayesian";
  }
  return "?";
}

const char* PolicyName(sweep::PolicyType p) {
  switch (p) {
    case sweep::PolicyType::kNone: return "none";
    case sweep::PolicyType::kBandit: return "bandit";
    case sweep::PolicyType::kMedianStopping: return "median_stopping";
    case sweep::PolicyType::kTruncationSelection: return "truncation_selection";
    case sweep::PolicyType::kAsha: return "asha";
  }
  return "?";
}

nlohmann::json LimitsJson(const sweep::Limits& l) {
  return {{"max_total_trials", l.max_total_trials},
          {"max_concurrent_trials", l.max_concurrent_trials},
          {"timeout", l.timeout_seconds},
          {"trial_timeout", l.trial_timeout_seconds}};
}

}  // namespace

nlohmann::json SweepSamplingJson(const spec::SweepSpec& spec, uint64_t seed) {
  nlohmann::json j = {{"type", AlgorithmName(spec.sampling.algorithm)}};
  if (spec.sampling.algorithm == sweep::Algorithm::kRandom) {
    j["rule"] = spec.sampling.rule == sweep::RandomRule::kSobol ? "sobol" : "random";
  }
  j["seed"] = seed;
  return j;
}

nlohmann::json SweepPolicyJson(const sweep::EarlyTermination& e) {
  nlohmann::json j = {{"type", PolicyName(e.type)}};
  switch (e.type) {
    case sweep::PolicyType::kNone: return j;
    case sweep::PolicyType::kAsha:
      j["grace_period"] = e.grace_period;
      j["reduction_factor"] = e.reduction_factor;
      j["max_t"] = e.max_t;
      return j;
    case sweep::PolicyType::kBandit:
      if (e.slack_factor) j["slack_factor"] = *e.slack_factor;
      if (e.slack_amount) j["slack_amount"] = *e.slack_amount;
      break;
    case sweep::PolicyType::kTruncationSelection:
      j["truncation_percentage"] = e.truncation_percentage;
      break;
    case sweep::PolicyType::kMedianStopping: break;
  }
  j["evaluation_interval"] = e.evaluation_interval;
  j["delay_evaluation"] = e.delay_evaluation;
  return j;
}

nlohmann::json SweepToJson(const SweepSummary& s) {
  nlohmann::json j = {
      {"id", s.run.id},
      {"kind", "sweep"},
      {"experiment", s.run.experiment},
      {"display_name", s.run.display_name},
      {"status", store::RunStatusName(s.run.status)},
      {"objective",
       {{"primary_metric", s.spec.objective.primary_metric},
        {"goal", s.spec.objective.goal == sweep::Goal::kMaximize ? "maximize" : "minimize"}}},
      {"sampling_algorithm", SweepSamplingJson(s.spec, s.seed)},
      {"early_termination", SweepPolicyJson(s.spec.early_termination)},
      {"limits", LimitsJson(s.spec.limits)},
      {"search_space", nlohmann::json::array()},
      {"best_run_id", s.best_run_id ? nlohmann::json(*s.best_run_id) : nlohmann::json()},
      {"created_at", FormatIso8601(s.run.created_at)},
  };
  for (const auto& p : s.spec.search_space) j["search_space"].push_back(p.name);
  if (s.run.started_at) j["started_at"] = FormatIso8601(*s.run.started_at);
  if (s.run.ended_at) j["ended_at"] = FormatIso8601(*s.run.ended_at);
  if (!s.run.error.empty()) j["error"] = s.run.error;
  if (!s.run.status_detail.empty()) j["status_detail"] = s.run.status_detail;
  nlohmann::json counts = nlohmann::json::object();
  std::map<store::RunStatus, int> by_status;  // in the statuses' lifecycle order
  for (const auto& t : s.trials) ++by_status[t.run.status];
  for (const auto& [status, n] : by_status) counts[store::RunStatusName(status)] = n;
  j["counts"] = counts;
  nlohmann::json trials = nlohmann::json::array();
  for (const auto& t : s.trials) {
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [k, v] : t.parameters) params[k] = v;
    nlohmann::json primary = nlohmann::json::array();
    for (double v : t.primary) primary.push_back(JsonNumber(v));
    trials.push_back({
        {"index", t.index},
        {"run_id", t.run.id},
        {"status", store::RunStatusName(t.run.status)},
        {"best", t.best ? JsonNumber(*t.best) : nlohmann::json()},
        {"intervals", t.primary.size()},
        {"primary", primary},
        {"parameters", params},
        {"stopped_by", t.stopped_by.empty() ? nlohmann::json() : nlohmann::json(t.stopped_by)},
    });
  }
  j["trials"] = trials;
  return j;
}

}  // namespace trainyard::runner
