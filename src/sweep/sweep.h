// The parts of a hyperparameter sweep (issue 15) that are plain data: the search space and its
// distributions, the sampling and early-termination settings, and what the sampler and the
// policies see of the trials. Read from YAML by src/spec (read_sweep.cc), used by the samplers
// (sampling.h, model_search.h), the early-termination policies (policy.h) and the sweep
// controller. No I/O here.
//
// Conventions every part shares:
// - Parameter values are JSON (nlohmann::json): numbers stay numbers (randint gives integers,
//   the rest doubles), `choice` values are whatever the file gave (numbers, strings, booleans).
// - An assignment is a JSON object {name: value} (nlohmann::json sorts its keys: the search
//   space gives the parameters' order).
// - A trial's primary metric is the sequence of values it logged under that name, in order;
//   "interval k" is the k-th value (1-based), as on the hosted service, where each time the
//   script logs the primary metric counts as one interval.
// - Trials are numbered 0, 1, 2, ... in the order the sweep created them (`index`).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace trainyard::sweep {

// The ten distributions of the hosted service's search space. Formulas: docs/sweeps-sampling.md.
enum class Kind {
  kChoice,       // values
  kRandint,      // integer in [0, upper)
  kUniform,      // min_value, max_value
  kQUniform,     // round(uniform(min_value, max_value) / q) * q
  kLogUniform,   // exp(uniform(min_value, max_value))
  kQLogUniform,  // round(exp(uniform(min_value, max_value)) / q) * q
  kNormal,       // mu, sigma
  kQNormal,      // round(normal(mu, sigma) / q) * q
  kLogNormal,    // exp(normal(mu, sigma))
  kQLogNormal,   // round(exp(normal(mu, sigma)) / q) * q
};

// The YAML/Python name of a kind ("choice", "qloguniform", ...), and back (nullopt if unknown).
const char* KindName(Kind kind);
std::optional<Kind> KindFromName(const std::string& name);
// All ten names, in the enum's order (for "did you mean" and error messages).
const std::vector<std::string>& KindNames();

struct Distribution {
  Kind kind = Kind::kChoice;
  std::vector<nlohmann::json> values;  // kChoice: at least one
  int64_t upper = 0;                   // kRandint: > 0
  double min_value = 0;                // uniform family (log kinds: bounds of the exponent)
  double max_value = 0;                //   min_value < max_value
  double mu = 0;                       // normal family (log kinds: of the logarithm)
  double sigma = 0;                    //   > 0
  double q = 0;                        // the q kinds: > 0
  bool operator==(const Distribution&) const = default;
};

// The value of `distribution` at quantile `u` in [0, 1): its inverse cumulative distribution
// function, then the kind's q rounding (round half away from zero, as std::round). Drawing u
// uniformly gives the distribution itself; a Sobol point or a model's proposal in the unit cube
// maps through the same function. kChoice: values[floor(u * n)]; kRandint: floor(u * upper)
// (an integer); the rest are doubles. `u` is clamped into (0, 1) for the unbounded kinds.
nlohmann::json FromUnit(const Distribution& distribution, double u);

// The standard normal's inverse CDF (u in (0, 1)), accurate to about 1e-15.
double NormalQuantile(double u);

struct Parameter {
  std::string name;
  Distribution distribution;
  bool operator==(const Parameter&) const = default;
};

// The parameters in the order the file (or the Python dict) gave them.
using SearchSpace = std::vector<Parameter>;

enum class Goal { kMaximize, kMinimize };

struct Objective {
  std::string primary_metric;
  Goal goal = Goal::kMaximize;
  bool operator==(const Objective&) const = default;
};

enum class Algorithm {
  kRandom,    // independent draws (rule kRandom) or a scrambled Sobol sequence (rule kSobol)
  kGrid,      // the cartesian product of `choice` values, in order; every parameter a choice
  kBayesian,  // model-based search (model_search.h)
};

enum class RandomRule { kRandom, kSobol };

struct Sampling {
  Algorithm algorithm = Algorithm::kRandom;
  std::optional<uint64_t> seed;  // none: chosen when the sweep is created, then recorded
  RandomRule rule = RandomRule::kRandom;
  bool operator==(const Sampling&) const = default;
};

enum class PolicyType { kNone, kBandit, kMedianStopping, kTruncationSelection, kAsha };

// Early termination. Intervals count the primary metric's logged values (see above).
struct EarlyTermination {
  PolicyType type = PolicyType::kNone;
  int64_t evaluation_interval = 1;  // apply the policy every this many intervals
  int64_t delay_evaluation = 0;     // and not before this many
  // kBandit: exactly one of the two.
  std::optional<double> slack_factor;
  std::optional<double> slack_amount;
  // kTruncationSelection: percentage (1..99) of the lowest-performing trials to stop.
  int64_t truncation_percentage = 5;
  // kAsha: rungs at grace_period * reduction_factor^k intervals, up to max_t.
  int64_t grace_period = 1;
  int64_t reduction_factor = 3;
  int64_t max_t = 0;  // 0: no top rung
  bool operator==(const EarlyTermination&) const = default;
};

struct Limits {
  int64_t max_total_trials = 0;       // 0: the grid's size (grid), else required
  int64_t max_concurrent_trials = 0;  // 0: max_total_trials
  double timeout_seconds = 0;         // whole sweep; 0: none
  double trial_timeout_seconds = 0;   // each trial; 0: none
  bool operator==(const Limits&) const = default;
};

// What a sampler is told about a trial that has ended with a value of the primary metric
// (completed, or stopped by a policy: its last logged value). `loss` is the value to minimize:
// the metric itself for kMinimize, its negation for kMaximize.
struct Observation {
  int64_t index = 0;
  nlohmann::json params;  // the trial's assignment
  double loss = 0;
};

// Proposes trials' parameters. Implementations: sampling.h (random, Sobol, grid) and
// model_search.h. Not thread-safe; one per sweep controller.
class Sampler {
 public:
  virtual ~Sampler() = default;
  // The assignment of trial `index` (0, 1, ... in creation order), given the trials that have
  // ended so far; nullopt when the space is exhausted (grid). The answer depends only on the
  // sampler's settings (seed included), `index` and `history`, so that a restarted controller
  // asking again for the same trial gets the same parameters.
  virtual std::optional<nlohmann::json> Next(int64_t index,
                                             const std::vector<Observation>& history) = 0;
  // How many distinct trials the space has (grid), or nullopt when unbounded.
  virtual std::optional<int64_t> Size() const { return std::nullopt; }
};

enum class TrialState { kRunning, kCompleted, kFailed, kCanceled };

// What a policy sees of a trial.
struct TrialView {
  int64_t index = 0;
  TrialState state = TrialState::kRunning;
  std::vector<double> primary;  // the primary metric's values, in logged order
};

}  // namespace trainyard::sweep
