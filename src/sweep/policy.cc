#include "sweep/policy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "common/strings.h"

namespace trainyard::sweep {
namespace {

// Shortest-ish text for a value in a reason: 6 significant digits ("0.718182", "1e-05").
std::string Num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", x);
  return buf;
}

// Whether `a` is strictly better than `b` under `goal` (neither NaN).
bool Better(Goal goal, double a, double b) { return goal == Goal::kMaximize ? a > b : a < b; }

// "below" a maximized threshold, "above" a minimized one.
const char* WorseWord(Goal goal) { return goal == Goal::kMaximize ? "below" : "above"; }

// Whether a trial's values count as comparisons (running, completed or canceled).
bool Counts(const TrialView& t) { return t.state != TrialState::kFailed; }

int64_t Size(const TrialView& t) { return static_cast<int64_t>(t.primary.size()); }

// The value at interval k (1-based); the trial has reached k.
double At(const TrialView& t, int64_t k) { return t.primary[static_cast<size_t>(k - 1)]; }

// The best non-NaN value over intervals 1..k, or nullopt when all are NaN.
std::optional<double> BestUpTo(const TrialView& t, Goal goal, int64_t k) {
  std::optional<double> best;
  for (int64_t i = 1; i <= k; ++i) {
    const double v = At(t, i);
    if (std::isnan(v)) continue;
    if (!best || Better(goal, v, *best)) best = v;
  }
  return best;
}

// The mean of the non-NaN values over intervals 1..k, or nullopt when all are NaN.
std::optional<double> MeanUpTo(const TrialView& t, int64_t k) {
  double sum = 0;
  int64_t n = 0;
  for (int64_t i = 1; i <= k; ++i) {
    const double v = At(t, i);
    if (std::isnan(v)) continue;
    sum += v;
    ++n;
  }
  if (n == 0) return std::nullopt;
  return sum / static_cast<double>(n);
}

// The latest interval k <= n with k % evaluation_interval == 0 and k >= delay_evaluation, or 0
// when there is none yet.
int64_t GatedInterval(const EarlyTermination& p, int64_t n) {
  if (p.evaluation_interval < 1) return 0;
  const int64_t k = n / p.evaluation_interval * p.evaluation_interval;
  return (k >= 1 && k >= p.delay_evaluation) ? k : 0;
}

// The linear-interpolation quantile (numpy's default) of sorted, non-empty `xs` at q in [0, 1].
double Quantile(const std::vector<double>& xs, double q) {
  const double h = q * static_cast<double>(xs.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, xs.size() - 1);
  return xs[lo] + (h - static_cast<double>(lo)) * (xs[hi] - xs[lo]);
}

std::optional<std::string> Bandit(const EarlyTermination& p, Goal goal,
                                  const std::vector<TrialView>& trials, const TrialView& t,
                                  int64_t k) {
  const std::optional<double> y = BestUpTo(t, goal, k);
  if (!y) return std::nullopt;
  std::optional<double> b;
  for (const TrialView& u : trials) {
    if (!Counts(u) || Size(u) < k) continue;
    const std::optional<double> v = BestUpTo(u, goal, k);
    if (v && (!b || Better(goal, *v, *b))) b = v;
  }
  // b exists: t itself counts.
  double threshold;
  std::string how;
  if (p.slack_factor) {
    const double f = 1 + *p.slack_factor;
    // On the worse side of b: a maximized b >= 0 shrinks (b / f), a negative one grows more
    // negative (b * f); the other way round when minimizing.
    const bool divide = (goal == Goal::kMaximize) == (*b >= 0);
    threshold = divide ? *b / f : *b * f;
    how = Num(*b) + (divide ? " / (1 + " : " * (1 + ") + Num(*p.slack_factor) + ")";
  } else {
    const double a = p.slack_amount.value_or(0);
    threshold = goal == Goal::kMaximize ? *b - a : *b + a;
    how = Num(*b) + (goal == Goal::kMaximize ? " - " : " + ") + Num(a);
  }
  if (!Better(goal, threshold, *y)) return std::nullopt;
  return "bandit: at interval " + std::to_string(k) + " the best value " + Num(*y) + " is " +
         WorseWord(goal) + " " + Num(threshold) + " (best " + how + ")";
}

std::optional<std::string> Median(Goal goal, const std::vector<TrialView>& trials,
                                  const TrialView& t, int64_t k) {
  const std::optional<double> y = BestUpTo(t, goal, k);
  if (!y) return std::nullopt;
  std::vector<double> means;
  for (const TrialView& u : trials) {
    if (!Counts(u) || Size(u) < k) continue;
    if (const std::optional<double> m = MeanUpTo(u, k)) means.push_back(*m);
  }
  // Not empty: t has a non-NaN value in 1..k, so its own mean counts.
  std::sort(means.begin(), means.end());
  const size_t n = means.size();
  const double median = n % 2 == 1 ? means[n / 2] : (means[n / 2 - 1] + means[n / 2]) / 2;
  if (!Better(goal, median, *y)) return std::nullopt;
  return "median_stopping: at interval " + std::to_string(k) + " the best value " + Num(*y) +
         " is " + WorseWord(goal) + " " + Num(median) + " (the median of the running averages of " +
         std::to_string(n) + " trials over intervals 1.." + std::to_string(k) + ")";
}

std::optional<std::string> Truncation(const EarlyTermination& p, Goal goal,
                                      const std::vector<TrialView>& trials, const TrialView& t,
                                      int64_t k) {
  const double y = At(t, k);
  if (std::isnan(y)) return std::nullopt;
  std::vector<double> values;  // at k, worst first
  for (const TrialView& u : trials) {
    if (!Counts(u) || Size(u) < k) continue;
    const double v = At(u, k);
    if (!std::isnan(v)) values.push_back(v);
  }
  std::sort(values.begin(), values.end(),
            [goal](double a, double b) { return Better(goal, b, a); });
  const auto n = static_cast<int64_t>(values.size());
  const int64_t cut = n * p.truncation_percentage / 100;
  if (cut == 0) return std::nullopt;
  // How many are worse than or equal to y (y itself included).
  const auto rank = std::count_if(values.begin(), values.end(),
                                  [goal, y](double v) { return !Better(goal, v, y); });
  if (rank > cut) return std::nullopt;
  return "truncation_selection: at interval " + std::to_string(k) + " the value " + Num(y) +
         " is among the lowest " + std::to_string(p.truncation_percentage) + "% of the " +
         std::to_string(n) + " trials at that interval (the lowest " + std::to_string(cut) +
         ", up to " + Num(values[static_cast<size_t>(cut - 1)]) + ")";
}

// The rungs below max_t (or below the largest interval any trial reached, when max_t is 0).
std::vector<int64_t> Rungs(const EarlyTermination& p, int64_t longest) {
  std::vector<int64_t> rungs;
  if (p.grace_period < 1 || p.reduction_factor < 2) return rungs;
  const int64_t limit = p.max_t > 0 ? p.max_t - 1 : longest;
  for (int64_t r = p.grace_period; r <= limit;) {
    rungs.push_back(r);
    if (r > limit / p.reduction_factor) break;  // the next would pass the limit (or overflow)
    r *= p.reduction_factor;
  }
  return rungs;
}

std::optional<std::string> Asha(const EarlyTermination& p, Goal goal,
                                const std::vector<TrialView>& trials, const TrialView& t,
                                const std::vector<int64_t>& rungs) {
  // Judged at the highest rung it has reached. The controller sees metrics in batches (every
  // 200 ms, as the ranks flush them), so a trial is often past a rung by the time its value there
  // is seen: it is still judged there, until it reaches the next rung.
  auto rung = std::upper_bound(rungs.begin(), rungs.end(), Size(t));
  if (rung == rungs.begin()) return std::nullopt;
  --rung;
  const int64_t r = *rung;
  const auto rung_index = rung - rungs.begin();
  const double y = At(t, r);
  if (std::isnan(y)) return std::nullopt;
  // Scores: larger is better for both goals.
  const double sign = goal == Goal::kMaximize ? 1.0 : -1.0;
  std::vector<double> recorded;
  for (const TrialView& u : trials) {
    if (u.index == t.index || !Counts(u) || Size(u) < r) continue;
    const double v = At(u, r);
    if (!std::isnan(v)) recorded.push_back(sign * v);
  }
  if (recorded.empty()) return std::nullopt;
  std::sort(recorded.begin(), recorded.end());
  const double q = 1.0 - 1.0 / static_cast<double>(p.reduction_factor);
  const double cutoff = sign * Quantile(recorded, q);
  if (!Better(goal, cutoff, y)) return std::nullopt;
  return "asha: at rung " + std::to_string(rung_index) + " (interval " + std::to_string(r) +
         ") the value " + Num(y) + " is " + WorseWord(goal) + " " + Num(cutoff) + " (the top 1/" +
         std::to_string(p.reduction_factor) + " cutoff of " + std::to_string(recorded.size()) +
         " other trials at that interval)";
}

}  // namespace

const char* PolicyTypeName(PolicyType type) {
  switch (type) {
    case PolicyType::kNone: return "none";
    case PolicyType::kBandit: return "bandit";
    case PolicyType::kMedianStopping: return "median_stopping";
    case PolicyType::kTruncationSelection: return "truncation_selection";
    case PolicyType::kAsha: return "asha";
  }
  return "none";
}

std::vector<StopDecision> Evaluate(const EarlyTermination& policy, Goal goal,
                                   const std::vector<TrialView>& trials) {
  std::vector<StopDecision> stops;
  if (policy.type == PolicyType::kNone) return stops;
  std::vector<int64_t> rungs;
  if (policy.type == PolicyType::kAsha) {
    int64_t longest = 0;
    for (const TrialView& t : trials) longest = std::max(longest, Size(t));
    rungs = Rungs(policy, longest);
  }
  for (const TrialView& t : trials) {
    if (t.state != TrialState::kRunning) continue;
    std::optional<std::string> reason;
    if (policy.type == PolicyType::kAsha) {
      reason = Asha(policy, goal, trials, t, rungs);
    } else {
      const int64_t k = GatedInterval(policy, Size(t));
      if (k == 0) continue;
      switch (policy.type) {
        case PolicyType::kBandit:
          if (policy.slack_factor || policy.slack_amount) {
            reason = Bandit(policy, goal, trials, t, k);
          }
          break;
        case PolicyType::kMedianStopping: reason = Median(goal, trials, t, k); break;
        case PolicyType::kTruncationSelection:
          reason = Truncation(policy, goal, trials, t, k);
          break;
        default: break;
      }
    }
    if (reason) stops.push_back({t.index, std::move(*reason)});
  }
  std::sort(stops.begin(), stops.end(),
            [](const StopDecision& a, const StopDecision& b) { return a.index < b.index; });
  return stops;
}

std::vector<PolicyProblem> EarlyTerminationProblems(const EarlyTermination& p) {
  std::vector<PolicyProblem> problems;
  auto add = [&problems](const std::string& field, std::string message) {
    problems.push_back({"early_termination." + field, std::move(message)});
  };
  if (p.type == PolicyType::kNone) return problems;
  const std::string type = PolicyTypeName(p.type);
  const bool bandit = p.type == PolicyType::kBandit;
  const bool asha = p.type == PolicyType::kAsha;

  if (bandit && !p.slack_factor && !p.slack_amount) {
    problems.push_back(
        {"early_termination", "bandit needs one of slack_factor (a ratio) or slack_amount"});
  }
  if (p.slack_factor) {
    if (!bandit) {
      add("slack_factor", "only for type bandit, not " + type);
    } else if (!(*p.slack_factor > 0) || !std::isfinite(*p.slack_factor)) {
      add("slack_factor", "must be a number > 0, got " + Num(*p.slack_factor));
    }
  }
  if (p.slack_amount) {
    if (!bandit) {
      add("slack_amount", "only for type bandit, not " + type);
    } else if (p.slack_factor) {
      add("slack_amount", "give one of slack_factor or slack_amount, not both");
    } else if (!(*p.slack_amount >= 0) || !std::isfinite(*p.slack_amount)) {
      add("slack_amount", "must be a number >= 0, got " + Num(*p.slack_amount));
    }
  }
  if (asha) {
    if (p.evaluation_interval != 1) {
      add("evaluation_interval",
          "not used by asha (it decides at its rungs, grace_period * reduction_factor^k); "
          "leave it out");
    }
    if (p.delay_evaluation != 0) {
      add("delay_evaluation", "not used by asha (its first rung is grace_period); leave it out");
    }
  } else {
    if (p.evaluation_interval < 1) {
      add("evaluation_interval",
          "must be an integer >= 1, got " + std::to_string(p.evaluation_interval));
    }
    if (p.delay_evaluation < 0) {
      add("delay_evaluation", "must be an integer >= 0, got " + std::to_string(p.delay_evaluation));
    }
  }
  if (p.type == PolicyType::kTruncationSelection &&
      (p.truncation_percentage < 1 || p.truncation_percentage > 99)) {
    add("truncation_percentage",
        "must be an integer from 1 to 99, got " + std::to_string(p.truncation_percentage));
  }
  if (asha) {
    if (p.grace_period < 1) {
      add("grace_period", "must be an integer >= 1, got " + std::to_string(p.grace_period));
    }
    if (p.reduction_factor < 2) {
      add("reduction_factor", "must be an integer >= 2, got " + std::to_string(p.reduction_factor));
    }
    if (p.max_t != 0 && p.max_t < std::max<int64_t>(p.grace_period, 1)) {
      add("max_t", "must be 0 (no limit) or >= grace_period (" + std::to_string(p.grace_period) +
                       "), got " + std::to_string(p.max_t));
    }
  } else {
    if (p.grace_period != 1) add("grace_period", "only for type asha, not " + type);
    if (p.reduction_factor != 3) add("reduction_factor", "only for type asha, not " + type);
    if (p.max_t != 0) add("max_t", "only for type asha, not " + type);
  }
  return problems;
}

Status ValidateEarlyTermination(const EarlyTermination& policy) {
  const std::vector<PolicyProblem> problems = EarlyTerminationProblems(policy);
  if (problems.empty()) return Status::Ok();
  std::vector<std::string> lines;
  lines.reserve(problems.size());
  for (const PolicyProblem& p : problems) lines.push_back(p.field + ": " + p.message);
  return InvalidArgument(Join(lines, "; "));
}

}  // namespace trainyard::sweep
