// ParseSweepText / ParseSweepFile: a `type: sweep` document -> SweepSpec. The sweep's own fields
// are read here; the trial (with the sweep's inputs, outputs, compute, ... merged into it) by the
// job reader, its problems named `trial.FIELD`.
#include <charconv>
#include <cmath>
#include <limits>
#include <map>

#include "common/files.h"
#include "common/strings.h"
#include "spec/fields.h"
#include "spec/overrides.h"
#include "spec/read_spec.h"
#include "spec/sweep_spec.h"
#include "sweep/policy.h"

namespace trainyard::spec {
namespace {

using sweep::Kind;

const std::vector<std::string> kSweepKeys = {"$schema",
                                             "type",
                                             "name",
                                             "display_name",
                                             "experiment_name",
                                             "description",
                                             "tags",
                                             "properties",
                                             "sampling_algorithm",
                                             "search_space",
                                             "objective",
                                             "early_termination",
                                             "limits",
                                             "compute",
                                             "trial",
                                             "inputs",
                                             "outputs",
                                             "identity",
                                             "queue_settings",
                                             "resume_from"};
// The sweep's fields that are the trial's: merged into the trial before it is read.
const std::vector<std::string> kMergedKeys = {"inputs",          "outputs",  "compute",
                                              "experiment_name", "identity", "queue_settings"};

// The keys each distribution takes besides `type`.
const std::map<Kind, std::vector<std::string>>& DistributionKeys() {
  static const auto* kKeys = new std::map<Kind, std::vector<std::string>>{
      {Kind::kChoice, {"values"}},
      {Kind::kRandint, {"upper"}},
      {Kind::kUniform, {"min_value", "max_value"}},
      {Kind::kQUniform, {"min_value", "max_value", "q"}},
      {Kind::kLogUniform, {"min_value", "max_value"}},
      {Kind::kQLogUniform, {"min_value", "max_value", "q"}},
      {Kind::kNormal, {"mu", "sigma"}},
      {Kind::kQNormal, {"mu", "sigma", "q"}},
      {Kind::kLogNormal, {"mu", "sigma"}},
      {Kind::kQLogNormal, {"mu", "sigma", "q"}},
  };
  return *kKeys;
}

const std::map<std::string, std::vector<std::string>>& PolicyKeys() {
  static const auto* kKeys = new std::map<std::string, std::vector<std::string>>{
      {"bandit",
       {"type", "slack_factor", "slack_amount", "evaluation_interval", "delay_evaluation"}},
      {"median_stopping", {"type", "evaluation_interval", "delay_evaluation"}},
      {"truncation_selection",
       {"type", "truncation_percentage", "evaluation_interval", "delay_evaluation"}},
      {"asha", {"type", "grace_period", "reduction_factor", "max_t"}},
  };
  return *kKeys;
}

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// A parameter name: an identifier, optionally after one or two dashes (the Python SDK's
// {"--lr": ...}); '.' and '-' may follow the first character.
bool IsParameterName(const std::string& name) {
  size_t i = 0;
  while (i < 2 && i < name.size() && name[i] == '-') ++i;
  if (i == name.size()) return false;
  const char first = name[i];
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '_')) {
    return false;
  }
  for (++i; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A scalar as a JSON value: an integer, else a finite number, else the text.
nlohmann::json ScalarValue(const std::string& text) {
  if (auto i = ParseInteger(text)) return *i;
  if (auto d = ParseNumber(text)) return *d;
  return text;
}

class SweepReader {
 public:
  SweepReader(std::string base_dir, Problems* p) : base_dir_(std::move(base_dir)), p_(p) {}

  SweepSpec Read(const Node& root, const Overrides& overrides) {
    spec_ = SweepSpec{};
    for (const MapEntry& e : root.entries) ReadField(e);
    for (const char* required : {"search_space", "objective", "trial"}) {
      if (!root.Find(required)) p_->Add(root.where, required, "required field is missing");
    }
    CheckSampling();
    ReadTrial(root, overrides);
    return spec_;
  }

 private:
  void ReadField(const MapEntry& e) {
    const Node& v = e.value;
    const std::string& k = e.key;
    if (k == "$schema" || k == "trial" || Contains(kMergedKeys, k)) return;  // later / merged
    if (k == "type") {
      auto t = ReadString(v, k, *p_);
      if (t && *t != "sweep") {
        p_->Add(v.where, k, "expected sweep, got " + Quote(*t));
      }
    } else if (k == "name") {
      if (auto s = ReadString(v, k, *p_)) spec_.job_name = *s;
    } else if (k == "display_name") {
      if (auto s = ReadString(v, k, *p_)) spec_.display_name = *s;
    } else if (k == "description") {
      if (auto s = ReadString(v, k, *p_)) spec_.description = *s;
    } else if (k == "tags" || k == "properties") {
      ReadPairs(v, k, k == "tags" ? &spec_.tags : &spec_.properties);
    } else if (k == "sampling_algorithm") {
      ReadSampling(v);
    } else if (k == "search_space") {
      ReadSearchSpace(v);
    } else if (k == "objective") {
      ReadObjective(v);
    } else if (k == "early_termination") {
      ReadEarlyTermination(v);
    } else if (k == "limits") {
      ReadLimits(v);
    } else if (k == "resume_from") {
      ReadResumeFrom(v);
    } else {
      ReportUnknownField(e, "", kSweepKeys, *p_);
    }
  }

  static bool Contains(const std::vector<std::string>& list, const std::string& s) {
    for (const auto& x : list) {
      if (x == s) return true;
    }
    return false;
  }

  void ReadPairs(const Node& n, const std::string& field,
                 std::vector<std::pair<std::string, std::string>>* out) {
    if (!ExpectMap(n, field, *p_)) return;
    for (const MapEntry& e : n.entries) {
      if (auto s = ReadString(e.value, Child(field, e.key), *p_)) out->emplace_back(e.key, *s);
    }
  }

  std::optional<double> Number(const Node& n, const std::string& field) {
    auto text = ReadString(n, field, *p_);
    if (!text) return std::nullopt;
    auto v = ParseNumber(*text);
    if (!v) p_->Add(n.where, field, "expected a number, got " + Describe(n));
    return v;
  }

  std::optional<int64_t> Integer(const Node& n, const std::string& field, int64_t min,
                                 int64_t max = std::numeric_limits<int64_t>::max()) {
    auto text = ReadString(n, field, *p_);
    if (!text) return std::nullopt;
    auto v = ParseInteger(*text);
    if (!v) {
      p_->Add(n.where, field, "expected an integer, got " + Describe(n));
      return std::nullopt;
    }
    if (*v < min || *v > max) {
      std::string range = max == std::numeric_limits<int64_t>::max()
                              ? "at least " + std::to_string(min)
                              : "from " + std::to_string(min) + " to " + std::to_string(max);
      p_->Add(n.where, field, "must be " + range + ", got " + *text);
      return std::nullopt;
    }
    return *v;
  }

  // --- search_space -------------------------------------------------------------------------

  void ReadSearchSpace(const Node& n) {
    if (!ExpectMap(n, "search_space", *p_)) return;
    if (n.entries.empty()) {
      p_->Add(n.where, "search_space", "must name at least one parameter");
    }
    for (const MapEntry& e : n.entries) ReadParameter(e);
  }

  void ReadParameter(const MapEntry& e) {
    const std::string field = Child("search_space", e.key);
    if (!IsParameterName(e.key)) {
      p_->Add(e.key_where, field,
              "invalid parameter name (letters, digits, '_', '.' and '-', starting with a letter "
              "or '_', optionally after \"-\" or \"--\")");
    }
    search_space_names_.push_back(e.key);
    const Node& v = e.value;
    if (!v.IsMap()) {
      p_->Add(v.where, field,
              "expected a parameter expression such as {type: uniform, min_value: 0.01, "
              "max_value: 0.1}, got " +
                  Describe(v));
      return;
    }
    const MapEntry* type = v.Find("type");
    if (!type) {
      p_->Add(v.where, Child(field, "type"),
              "required field is missing (one of " + Join(sweep::KindNames(), ", ") + ")");
      return;
    }
    auto name = ReadString(type->value, Child(field, "type"), *p_);
    if (!name) return;
    auto kind = sweep::KindFromName(*name);
    if (!kind) {
      p_->Add(type->value.where, Child(field, "type"),
              "unknown distribution " + Quote(*name) + " (expected one of " +
                  Join(sweep::KindNames(), ", ") + ")" +
                  DidYouMeanSuffix(*name, sweep::KindNames()));
      return;
    }
    sweep::Parameter param;
    param.name = e.key;
    sweep::Distribution& d = param.distribution;
    d.kind = *kind;
    const std::vector<std::string>& keys = DistributionKeys().at(*kind);
    std::vector<std::string> known = keys;
    known.emplace_back("type");
    size_t before = p_->Count();
    for (const MapEntry& f : v.entries) {
      if (f.key == "type") continue;
      const std::string sub = Child(field, f.key);
      if (!Contains(keys, f.key)) {
        p_->Add(f.key_where, sub,
                std::string("unknown field for ") + sweep::KindName(*kind) + " (it takes " +
                    Join(keys, ", ") + ")" + DidYouMeanSuffix(f.key, known));
        continue;
      }
      if (f.key == "values") {
        ReadChoiceValues(f.value, sub, &d);
      } else if (f.key == "upper") {
        if (auto u = Integer(f.value, sub, 1)) d.upper = *u;
      } else {
        auto x = Number(f.value, sub);
        if (!x) continue;
        if (f.key == "min_value") d.min_value = *x;
        if (f.key == "max_value") d.max_value = *x;
        if (f.key == "mu") d.mu = *x;
        if (f.key == "sigma") d.sigma = *x;
        if (f.key == "q") d.q = *x;
      }
    }
    for (const std::string& key : keys) {
      if (!v.Find(key)) p_->Add(v.where, Child(field, key), "required field is missing");
    }
    if (p_->Count() == before) CheckRanges(v, field, d);
    spec_.search_space.push_back(std::move(param));
  }

  void ReadChoiceValues(const Node& n, const std::string& field, sweep::Distribution* d) {
    if (!n.IsList()) {
      p_->Add(n.where, field, "expected a list of values, got " + Describe(n));
      return;
    }
    if (n.items.empty()) p_->Add(n.where, field, "must hold at least one value");
    for (size_t i = 0; i < n.items.size(); ++i) {
      const Node& item = n.items[i];
      if (!item.IsScalar()) {
        p_->Add(item.where, Index(field, i),
                "expected a number or a string, got " + Describe(item));
        continue;
      }
      d->values.push_back(ScalarValue(item.text));
    }
  }

  void CheckRanges(const Node& v, const std::string& field, const sweep::Distribution& d) {
    switch (d.kind) {
      case Kind::kUniform:
      case Kind::kQUniform:
      case Kind::kLogUniform:
      case Kind::kQLogUniform:
        if (!(d.min_value < d.max_value)) {
          p_->Add(v.Find("max_value")->value.where, Child(field, "max_value"),
                  "must be greater than min_value (" + ValueText(d.min_value) + "), got " +
                      ValueText(d.max_value));
        }
        if ((d.kind == Kind::kLogUniform || d.kind == Kind::kQLogUniform) &&
            !std::isfinite(std::exp(d.max_value))) {
          p_->Add(v.Find("max_value")->value.where, Child(field, "max_value"),
                  "is an exponent: exp(" + ValueText(d.max_value) +
                      ") is not a finite number (loguniform(a, b) = exp(uniform(a, b)))");
        }
        break;
      case Kind::kNormal:
      case Kind::kQNormal:
      case Kind::kLogNormal:
      case Kind::kQLogNormal:
        if (!(d.sigma > 0)) {
          p_->Add(v.Find("sigma")->value.where, Child(field, "sigma"),
                  "must be greater than 0, got " + ValueText(d.sigma));
        }
        break;
      default: break;
    }
    const bool quantized = d.kind == Kind::kQUniform || d.kind == Kind::kQLogUniform ||
                           d.kind == Kind::kQNormal || d.kind == Kind::kQLogNormal;
    if (quantized && !(d.q > 0)) {
      p_->Add(v.Find("q")->value.where, Child(field, "q"),
              "must be greater than 0, got " + ValueText(d.q));
    }
  }

  // --- sampling_algorithm, objective, early_termination, limits -------------------------------

  void ReadSampling(const Node& n) {
    const std::string field = "sampling_algorithm";
    sampling_where_ = n.where;
    const Node* type_node = &n;
    if (n.IsMap()) {
      const MapEntry* type = n.Find("type");
      if (!type) {
        p_->Add(n.where, Child(field, "type"),
                "required field is missing (random, grid or bayesian)");
        return;
      }
      type_node = &type->value;
    }
    auto type = ReadString(*type_node, n.IsMap() ? Child(field, "type") : field, *p_);
    if (!type) return;
    const std::vector<std::string> kTypes = {"random", "grid", "bayesian"};
    const std::string t = Lower(*type);
    if (t == "random") {
      spec_.sampling.algorithm = sweep::Algorithm::kRandom;
    } else if (t == "grid") {
      spec_.sampling.algorithm = sweep::Algorithm::kGrid;
    } else if (t == "bayesian") {
      spec_.sampling.algorithm = sweep::Algorithm::kBayesian;
    } else {
      p_->Add(type_node->where, n.IsMap() ? Child(field, "type") : field,
              "unknown sampling algorithm " + Quote(*type) +
                  " (expected random, grid or bayesian)" + DidYouMeanSuffix(t, kTypes));
      return;
    }
    if (!n.IsMap()) return;
    // Random sampling takes a seed and a rule; model-based search a seed (trainyard's: the hosted
    // service documents none); grid nothing.
    std::vector<std::string> keys = {"type"};
    std::string takes = "no settings";
    if (spec_.sampling.algorithm == sweep::Algorithm::kRandom) {
      keys = {"type", "seed", "rule"};
      takes = "seed and rule";
    } else if (spec_.sampling.algorithm == sweep::Algorithm::kBayesian) {
      keys = {"type", "seed"};
      takes = "a seed";
    }
    for (const MapEntry& e : n.entries) {
      const std::string sub = Child(field, e.key);
      if (e.key == "type") continue;
      if (!Contains(keys, e.key)) {
        p_->Add(e.key_where, sub,
                "unknown field (" + t + " sampling takes " + takes + ")" +
                    (keys.size() > 1 ? DidYouMeanSuffix(e.key, keys) : std::string()));
      } else if (e.key == "seed") {
        if (auto s = Integer(e.value, sub, 0)) spec_.sampling.seed = static_cast<uint64_t>(*s);
      } else if (e.key == "rule") {
        auto rule = ReadString(e.value, sub, *p_);
        if (!rule) continue;
        if (Lower(*rule) == "random") {
          spec_.sampling.rule = sweep::RandomRule::kRandom;
        } else if (Lower(*rule) == "sobol") {
          spec_.sampling.rule = sweep::RandomRule::kSobol;
        } else {
          p_->Add(e.value.where, sub, "expected random or sobol, got " + Quote(*rule));
        }
      }
    }
  }

  void CheckSampling() {
    if (spec_.sampling.algorithm != sweep::Algorithm::kGrid) return;
    for (const sweep::Parameter& param : spec_.search_space) {
      if (param.distribution.kind == Kind::kChoice) continue;
      p_->Add(sampling_where_, "sampling_algorithm",
              "grid sampling takes only choice parameters; search_space." + param.name + " is " +
                  sweep::KindName(param.distribution.kind) + " (use random or bayesian sampling)");
    }
  }

  void ReadObjective(const Node& n) {
    const std::string field = "objective";
    if (!ExpectMap(n, field, *p_)) return;
    const std::vector<std::string> keys = {"primary_metric", "goal"};
    for (const MapEntry& e : n.entries) {
      const std::string sub = Child(field, e.key);
      if (e.key == "primary_metric") {
        auto m = ReadString(e.value, sub, *p_);
        if (m && m->empty()) p_->Add(e.value.where, sub, "must not be empty");
        if (m) spec_.objective.primary_metric = *m;
      } else if (e.key == "goal") {
        auto g = ReadString(e.value, sub, *p_);
        if (!g) continue;
        if (Lower(*g) == "maximize") {
          spec_.objective.goal = sweep::Goal::kMaximize;
        } else if (Lower(*g) == "minimize") {
          spec_.objective.goal = sweep::Goal::kMinimize;
        } else {
          p_->Add(e.value.where, sub, "expected maximize or minimize, got " + Quote(*g));
        }
      } else {
        ReportUnknownField(e, field, keys, *p_);
      }
    }
    for (const auto& key : keys) {
      if (!n.Find(key)) p_->Add(n.where, Child(field, key), "required field is missing");
    }
  }

  void ReadEarlyTermination(const Node& n) {
    const std::string field = "early_termination";
    if (!ExpectMap(n, field, *p_)) return;
    const MapEntry* type = n.Find("type");
    std::vector<std::string> types;
    for (const auto& [name, keys] : PolicyKeys()) types.push_back(name);
    if (!type) {
      p_->Add(n.where, Child(field, "type"),
              "required field is missing (one of " + Join(types, ", ") + ")");
      return;
    }
    auto t = ReadString(type->value, Child(field, "type"), *p_);
    if (!t) return;
    auto it = PolicyKeys().find(Lower(*t));
    if (it == PolicyKeys().end()) {
      p_->Add(type->value.where, Child(field, "type"),
              "unknown policy " + Quote(*t) + " (expected one of " + Join(types, ", ") + ")" +
                  DidYouMeanSuffix(Lower(*t), types));
      return;
    }
    sweep::EarlyTermination& et = spec_.early_termination;
    const std::string& name = it->first;
    et.type = name == "bandit"            ? sweep::PolicyType::kBandit
              : name == "median_stopping" ? sweep::PolicyType::kMedianStopping
              : name == "asha"            ? sweep::PolicyType::kAsha
                                          : sweep::PolicyType::kTruncationSelection;
    const size_t before = p_->Count();
    constexpr int64_t kAny = std::numeric_limits<int64_t>::min();
    for (const MapEntry& e : n.entries) {
      const std::string sub = Child(field, e.key);
      if (e.key == "type") continue;
      if (!Contains(it->second, e.key)) {
        p_->Add(e.key_where, sub,
                "unknown field for " + name + DidYouMeanSuffix(e.key, it->second));
        continue;
      }
      // Types here; ranges below, by the policies' own validation.
      const Node& v = e.value;
      if (e.key == "slack_factor") {
        et.slack_factor = Number(v, sub);
      } else if (e.key == "slack_amount") {
        et.slack_amount = Number(v, sub);
      } else if (auto x = Integer(v, sub, kAny)) {
        if (e.key == "evaluation_interval") et.evaluation_interval = *x;
        if (e.key == "delay_evaluation") et.delay_evaluation = *x;
        if (e.key == "truncation_percentage") et.truncation_percentage = *x;
        if (e.key == "grace_period") et.grace_period = *x;
        if (e.key == "reduction_factor") et.reduction_factor = *x;
        if (e.key == "max_t") et.max_t = *x;
      }
    }
    if (et.type == sweep::PolicyType::kTruncationSelection && !n.Find("truncation_percentage")) {
      p_->Add(n.where, Child(field, "truncation_percentage"), "required field is missing");
    }
    if (p_->Count() != before) return;
    for (const sweep::PolicyProblem& problem : sweep::EarlyTerminationProblems(et)) {
      const std::string key =
          problem.field.substr(std::min(problem.field.size(), field.size() + 1));
      const MapEntry* at = key.empty() ? nullptr : n.Find(key);
      p_->Add(at ? at->value.where : n.where, problem.field, problem.message);
    }
  }

  void ReadLimits(const Node& n) {
    const std::string field = "limits";
    if (!ExpectMap(n, field, *p_)) return;
    const std::vector<std::string> keys = {"max_total_trials", "max_concurrent_trials", "timeout",
                                           "trial_timeout"};
    for (const MapEntry& e : n.entries) {
      const std::string sub = Child(field, e.key);
      if (e.key == "max_total_trials") {
        if (auto x = Integer(e.value, sub, 1, kMaxTotalTrials)) max_total_ = *x;
      } else if (e.key == "max_concurrent_trials") {
        if (auto x = Integer(e.value, sub, 1, kMaxTotalTrials)) max_concurrent_ = *x;
      } else if (e.key == "timeout") {
        if (auto x = ReadSeconds(e.value, sub, *p_)) spec_.limits.timeout_seconds = *x;
      } else if (e.key == "trial_timeout") {
        if (auto x = ReadSeconds(e.value, sub, *p_)) spec_.limits.trial_timeout_seconds = *x;
      } else {
        ReportUnknownField(e, field, keys, *p_);
      }
    }
  }

  void ReadResumeFrom(const Node& n) {
    const std::string field = "resume_from";
    if (n.IsScalar()) {
      spec_.resume_from.push_back(n.text);
    } else if (auto ids = ReadStringList(n, field, *p_)) {
      spec_.resume_from = *ids;
    }
    for (const std::string& id : spec_.resume_from) {
      if (id.empty()) p_->Add(n.where, field, "a run id must not be empty");
    }
  }

  // --- the trial ------------------------------------------------------------------------------

  void ReadTrial(const Node& root, const Overrides& overrides) {
    const MapEntry* entry = root.Find("trial");
    if (!entry) return;
    if (!entry->value.IsMap()) {
      p_->Add(
          entry->value.where, "trial",
          "expected a job (a map with command, or entry_script), got " + Describe(entry->value));
      return;
    }
    Node trial = entry->value;
    const Form form = DetectForm(trial);
    std::vector<std::string> merged;
    for (const std::string& key : kMergedKeys) {
      const MapEntry* top = root.Find(key);
      if (!top) continue;
      // The sweep's `compute` is an estimator-form trial's compute_target.
      const std::string as = form == Form::kEstimator && key == "compute" ? "compute_target" : key;
      if (const MapEntry* inner = trial.Find(as)) {
        p_->Add(
            inner->key_where, Child("trial", as),
            "given both here and at the sweep's top level (" + top->key_where + "): give it once");
        continue;
      }
      Node value = top->value;
      if (as == "compute_target" && value.IsScalar() && StartsWith(value.text, "azureml:")) {
        value.text.erase(0, std::string("azureml:").size());  // as the command form reads it
      }
      trial.Set(as, top->key_where, std::move(value));
      merged.push_back(as);
    }
    p_->SetFieldPrefix("trial", merged);
    ApplyFlags(overrides, form, trial, *p_);
    CheckNoNul(trial, p_);
    SpecReader reader(base_dir_, p_);
    reader.SetSearchSpaceNames(search_space_names_);
    spec_.trial = reader.Read(trial, form);
    p_->SetFieldPrefix("");
    spec_.trial.origin = root.where;

    if (spec_.limits.trial_timeout_seconds > 0) {
      if (spec_.trial.max_run_duration_seconds > 0) {
        p_->Add(root.where, "limits.trial_timeout",
                "the trial also sets its own time limit: give one of them");
      }
      spec_.trial.max_run_duration_seconds = spec_.limits.trial_timeout_seconds;
    }
    // The hosted defaults: 1000 trials, all of them at once, 60 days.
    spec_.limits.max_total_trials = max_total_.value_or(kDefaultMaxTotalTrials);
    spec_.limits.max_concurrent_trials = std::min(
        max_concurrent_.value_or(spec_.limits.max_total_trials), spec_.limits.max_total_trials);
    if (spec_.limits.timeout_seconds == 0) {
      spec_.limits.timeout_seconds = kDefaultSweepTimeoutSeconds;
    }
  }

  std::string base_dir_;
  Problems* p_;
  SweepSpec spec_;
  std::vector<std::string> search_space_names_;
  std::string sampling_where_;
  std::optional<int64_t> max_total_;
  std::optional<int64_t> max_concurrent_;
};

}  // namespace

bool IsSweepText(const std::string& text, const std::string& origin) {
  Problems p;
  Node root = LoadDocument(text, origin, &p);
  if (!root.IsMap()) return false;
  const MapEntry* type = root.Find("type");
  return type && type->value.IsScalar() && type->value.text == "sweep";
}

Result<SweepSpec> ParseSweepText(const std::string& text, const std::string& origin,
                                 const std::string& base_dir, const Overrides& overrides) {
  Problems p;
  Node root = LoadTopLevelMap(text, origin, "sweep", &p);
  if (root.IsNull()) return p.ToStatus();
  ApplySets(overrides.sets, root, p);
  CheckNoNul(root, &p);
  SweepReader reader(AbsolutePath(base_dir), &p);
  Overrides trial_overrides = overrides;
  trial_overrides.sets.clear();
  SweepSpec spec = reader.Read(root, trial_overrides);
  spec.origin = origin;
  RETURN_IF_ERROR(p.ToStatus());
  return spec;
}

Result<SweepSpec> ParseSweepFile(const std::string& path, const Overrides& overrides) {
  std::string base_dir;
  ASSIGN_OR_RETURN(std::string text, ReadJobFile(path, &base_dir));
  return ParseSweepText(text, path, base_dir, overrides);
}

}  // namespace trainyard::spec
