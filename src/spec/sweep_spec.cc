// SweepToJson, ValueText, TrialJob: a sweep spec as JSON, a parameter value as text, a trial's
// job.
#include "spec/sweep_spec.h"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace trainyard::spec {
namespace {

using sweep::Kind;

using Json = nlohmann::ordered_json;

Json PairsJson(const std::vector<std::pair<std::string, std::string>>& pairs) {
  Json j = Json::object();
  for (const auto& [k, v] : pairs) j[k] = v;
  return j;
}

Json DistributionJson(const sweep::Distribution& d) {
  Json j = {{"type", sweep::KindName(d.kind)}};
  switch (d.kind) {
    case Kind::kChoice: j["values"] = d.values; break;
    case Kind::kRandint: j["upper"] = d.upper; break;
    case Kind::kNormal:
    case Kind::kQNormal:
    case Kind::kLogNormal:
    case Kind::kQLogNormal:
      j["mu"] = d.mu;
      j["sigma"] = d.sigma;
      break;
    default:
      j["min_value"] = d.min_value;
      j["max_value"] = d.max_value;
      break;
  }
  if (d.kind == Kind::kQUniform || d.kind == Kind::kQLogUniform || d.kind == Kind::kQNormal ||
      d.kind == Kind::kQLogNormal) {
    j["q"] = d.q;
  }
  return j;
}

Json EarlyTerminationJson(const sweep::EarlyTermination& et) {
  using sweep::PolicyType;
  switch (et.type) {
    case PolicyType::kNone: return nullptr;
    case PolicyType::kAsha:
      return {{"type", "asha"},
              {"grace_period", et.grace_period},
              {"reduction_factor", et.reduction_factor},
              {"max_t", et.max_t}};
    default: break;
  }
  Json j = {{"type", et.type == PolicyType::kBandit           ? "bandit"
                     : et.type == PolicyType::kMedianStopping ? "median_stopping"
                                                              : "truncation_selection"},
            {"evaluation_interval", et.evaluation_interval},
            {"delay_evaluation", et.delay_evaluation}};
  if (et.slack_factor) j["slack_factor"] = *et.slack_factor;
  if (et.slack_amount) j["slack_amount"] = *et.slack_amount;
  if (et.type == PolicyType::kTruncationSelection) {
    j["truncation_percentage"] = et.truncation_percentage;
  }
  return j;
}

}  // namespace

std::string SweepToJson(const SweepSpec& spec) {
  Json space = Json::object();
  for (const sweep::Parameter& p : spec.search_space)
    space[p.name] = DistributionJson(p.distribution);
  Json sampling = {{"type", spec.sampling.algorithm == sweep::Algorithm::kGrid       ? "grid"
                            : spec.sampling.algorithm == sweep::Algorithm::kBayesian ? "bayesian"
                                                                                     : "random"}};
  if (spec.sampling.algorithm == sweep::Algorithm::kRandom) {
    sampling["rule"] = spec.sampling.rule == sweep::RandomRule::kSobol ? "sobol" : "random";
  }
  if (spec.sampling.algorithm != sweep::Algorithm::kGrid && spec.sampling.seed) {
    sampling["seed"] = *spec.sampling.seed;
  }
  Json limits = {{"max_total_trials", spec.limits.max_total_trials},
                 {"max_concurrent_trials", spec.limits.max_concurrent_trials},
                 {"timeout", spec.limits.timeout_seconds}};
  // The trial's time limit is written once, as limits.trial_timeout.
  JobSpec trial = spec.trial;
  if (spec.limits.trial_timeout_seconds > 0) {
    limits["trial_timeout"] = spec.limits.trial_timeout_seconds;
    trial.max_run_duration_seconds = 0;
  }
  Json j = {
      {"type", "sweep"},
      {"search_space", space},
      {"sampling_algorithm", sampling},
      {"objective",
       {{"primary_metric", spec.objective.primary_metric},
        {"goal", spec.objective.goal == sweep::Goal::kMaximize ? "maximize" : "minimize"}}},
      {"early_termination", EarlyTerminationJson(spec.early_termination)},
      {"limits", limits},
      {"trial", Json::parse(ToJson(trial))},
      {"tags", PairsJson(spec.tags)},
      {"properties", PairsJson(spec.properties)},
  };
  if (!spec.job_name.empty()) j["name"] = spec.job_name;
  if (!spec.display_name.empty()) j["display_name"] = spec.display_name;
  if (!spec.description.empty()) j["description"] = spec.description;
  if (!spec.resume_from.empty()) j["resume_from"] = spec.resume_from;
  return j.dump(2, ' ', false, Json::error_handler_t::replace);
}

std::string ValueText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
  if (value.is_number_integer()) return value.dump();
  if (!value.is_number()) return value.dump();
  const double v = value.get<double>();
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // The shortest digits that round-trip, then Python's repr layout: fixed notation for decimal
  // exponents from -4 to 15, else d.ddde+XX.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  if (ec != std::errc()) return value.dump();
  std::string s(buf, end);
  std::string sign;
  if (s[0] == '-') {
    sign = "-";
    s.erase(0, 1);
  }
  const size_t e_at = s.find('e');
  const int exponent = std::stoi(s.substr(e_at + 1));
  std::string digits = s.substr(0, e_at);
  if (digits.size() > 1) digits.erase(1, 1);  // drop the '.'
  if (exponent >= -4 && exponent < 16) {
    const int point = exponent + 1;  // digits before the decimal point
    const int n = static_cast<int>(digits.size());
    if (point <= 0) return sign + "0." + std::string(-point, '0') + digits;
    if (point >= n) return sign + digits + std::string(point - n, '0') + ".0";
    return sign + digits.substr(0, point) + "." + digits.substr(point);
  }
  std::string mantissa = digits.substr(0, 1);
  if (digits.size() > 1) mantissa += "." + digits.substr(1);
  const std::string exp_digits = std::to_string(std::abs(exponent));
  return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (exp_digits.size() < 2 ? "0" : "") +
         exp_digits;
}

JobSpec TrialJob(const SweepSpec& spec, const nlohmann::json& assignment) {
  JobSpec job = spec.trial;
  for (const sweep::Parameter& param : spec.search_space) {
    auto it = assignment.find(param.name);
    if (it == assignment.end()) continue;
    const std::string text = ValueText(*it);
    job.search_space_values.emplace_back(param.name, text);
    // As on the hosted service, every parameter is also the variable AZUREML_SWEEP_<name>.
    std::string var = param.name;
    var.erase(0, var.find_first_not_of('-'));
    job.environment_variables.emplace_back("AZUREML_SWEEP_" + var, text);
    if (job.form != "estimator") continue;
    const std::string flag = StartsWith(param.name, "-") ? param.name : "--" + param.name;
    bool replaced = false;
    for (ScriptParam& sp : job.script_params) {
      if (sp.flag == flag) {
        sp.value = text;
        replaced = true;
      }
    }
    if (!replaced) job.script_params.push_back({flag, text});
  }
  return job;
}

}  // namespace trainyard::spec
