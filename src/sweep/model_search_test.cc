#include "sweep/model_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sweep/sampling.h"
#include "sweep/test_functions.h"

namespace trainyard::sweep {
namespace {

namespace tf = test_functions;
using nlohmann::json;
using Loss = std::function<double(const json&)>;

Parameter Param(const std::string& name, Kind kind) {
  Parameter p;
  p.name = name;
  p.distribution.kind = kind;
  return p;
}

Parameter Uniform(const std::string& name, double lo, double hi) {
  Parameter p = Param(name, Kind::kUniform);
  p.distribution.min_value = lo;
  p.distribution.max_value = hi;
  return p;
}

// Runs `budget` trials one after another, each seeing every earlier one; returns every trial's
// assignment, and in `best` the lowest loss.
std::vector<json> RunSequential(Sampler& sampler, const Loss& loss, int budget,
                                double* best = nullptr) {
  std::vector<Observation> history;
  std::vector<json> assignments;
  double lowest = INFINITY;
  for (int i = 0; i < budget; ++i) {
    const std::optional<json> params = sampler.Next(i, history);
    EXPECT_TRUE(params.has_value());
    if (!params) break;
    const double y = loss(*params);
    lowest = std::min(lowest, y);
    history.push_back({i, *params, y});
    assignments.push_back(*params);
  }
  if (best) *best = lowest;
  return assignments;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

TEST(TestFunctions, KnownMinima) {
  EXPECT_NEAR(tf::Branin(-M_PI, 12.275), tf::kBraninMin, 1e-6);
  EXPECT_NEAR(tf::Branin(M_PI, 2.275), tf::kBraninMin, 1e-6);
  EXPECT_NEAR(tf::Branin(9.42478, 2.475), tf::kBraninMin, 1e-6);
  EXPECT_NEAR(tf::Hartmann6({0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573}),
              tf::kHartmann6Min, 1e-5);
  EXPECT_GT(tf::Branin(0, 0), 1);
  EXPECT_GT(tf::Hartmann6({0.5, 0.5, 0.5, 0.5, 0.5, 0.5}), -1);
}

// The acceptance test: 50 trials, 20 seeds, median simple regret (best loss found minus
// the global minimum) of model-based search below random search's. Seeds 0..19 for model-based
// search, 1000..1019 for random search, chosen before the first run and never changed.
TEST(ModelSearch, BeatsRandomSearchOnBraninAndHartmann6) {
  constexpr int kBudget = 50;
  constexpr int kSeeds = 20;
  struct Problem {
    const char* name;
    SearchSpace space;
    Loss loss;
    double minimum;
  };
  const char* const kNames[6] = {"x1", "x2", "x3", "x4", "x5", "x6"};
  SearchSpace hartmann_space;
  for (const char* name : kNames) hartmann_space.push_back(Uniform(name, 0, 1));
  const std::vector<Problem> problems = {
      {"Branin",
       {Uniform("x1", -5, 10), Uniform("x2", 0, 15)},
       [](const json& x) { return tf::Branin(x["x1"].get<double>(), x["x2"].get<double>()); },
       tf::kBraninMin},
      {"Hartmann-6", hartmann_space,
       [&kNames](const json& x) {
         std::array<double, 6> v{};
         for (size_t i = 0; i < 6; ++i) v[i] = x[kNames[i]].get<double>();
         return tf::Hartmann6(v);
       },
       tf::kHartmann6Min},
  };
  ModelSearchOptions univariate;
  univariate.multivariate = false;
  for (const Problem& problem : problems) {
    std::vector<double> model_regret;
    std::vector<double> univariate_regret;
    std::vector<double> random_regret;
    for (int s = 0; s < kSeeds; ++s) {
      double best = 0;
      auto model = MakeModelSearch(problem.space, s);
      RunSequential(*model, problem.loss, kBudget, &best);
      model_regret.push_back(best - problem.minimum);
      auto model_univariate = MakeModelSearch(problem.space, s, univariate);
      RunSequential(*model_univariate, problem.loss, kBudget, &best);
      univariate_regret.push_back(best - problem.minimum);
      auto random = MakeRandomSampler(problem.space, 1000 + s);
      RunSequential(*random, problem.loss, kBudget, &best);
      random_regret.push_back(best - problem.minimum);
      EXPECT_GE(model_regret.back(), -1e-5);
      EXPECT_GE(random_regret.back(), -1e-5);
    }
    const double model_median = Median(model_regret);
    const double random_median = Median(random_regret);
    std::printf(
        "%s, %d trials, median simple regret over %d seeds: model-based %.4f (univariate "
        "%.4f), random %.4f\n",
        problem.name, kBudget, kSeeds, model_median, Median(univariate_regret), random_median);
    EXPECT_LT(model_median, random_median) << problem.name;
  }
}

// One parameter of every kind.
SearchSpace EveryKind() {
  SearchSpace space;
  Parameter p = Param("choice", Kind::kChoice);
  p.distribution.values = {16, "b", true, 2.5};
  space.push_back(p);
  p = Param("randint", Kind::kRandint);
  p.distribution.upper = 7;
  space.push_back(p);
  space.push_back(Uniform("uniform", -1, 3));
  p = Param("quniform", Kind::kQUniform);
  p.distribution.min_value = 0;
  p.distribution.max_value = 10;
  p.distribution.q = 4;  // values 0, 4, 8 and 12 (round(10 / 4) = 3)
  space.push_back(p);
  p = Param("loguniform", Kind::kLogUniform);
  p.distribution.min_value = std::log(1e-4);
  p.distribution.max_value = std::log(1e-1);
  space.push_back(p);
  p = Param("qloguniform", Kind::kQLogUniform);
  p.distribution.min_value = 0;
  p.distribution.max_value = std::log(100.0);
  p.distribution.q = 5;
  space.push_back(p);
  p = Param("normal", Kind::kNormal);
  p.distribution.mu = 2;
  p.distribution.sigma = 3;
  space.push_back(p);
  p = Param("qnormal", Kind::kQNormal);
  p.distribution.mu = 0;
  p.distribution.sigma = 5;
  p.distribution.q = 2;
  space.push_back(p);
  p = Param("lognormal", Kind::kLogNormal);
  p.distribution.mu = 0;
  p.distribution.sigma = 1;
  space.push_back(p);
  p = Param("qlognormal", Kind::kQLogNormal);
  p.distribution.mu = 1;
  p.distribution.sigma = 0.5;
  p.distribution.q = 0.5;
  space.push_back(p);
  return space;
}

// A loss that every parameter affects, smallest near one corner of the space.
double EveryKindLoss(const json& x) {
  double loss = x["choice"] == "b" ? 0 : 1;
  loss += x["randint"].get<double>() / 7;
  loss += std::abs(x["uniform"].get<double>() - 2.5);
  loss += x["quniform"].get<double>() / 12;
  loss += std::abs(std::log10(x["loguniform"].get<double>()) + 3);
  loss += x["qloguniform"].get<double>() / 100;
  loss += std::abs(x["normal"].get<double>() - 4) / 3;
  loss += std::abs(x["qnormal"].get<double>() + 6) / 5;
  loss += x["lognormal"].get<double>();
  loss += std::abs(x["qlognormal"].get<double>() - 3);
  return loss;
}

bool IsMultiple(double value, double q) {
  return std::abs(value / q - std::round(value / q)) < 1e-9;
}

void ExpectInSupport(const SearchSpace& space, const json& x) {
  ASSERT_TRUE(x.is_object());
  ASSERT_EQ(x.size(), space.size()) << x;
  for (const Parameter& p : space) {
    ASSERT_TRUE(x.contains(p.name)) << x;
    const json& v = x[p.name];
    const Distribution& d = p.distribution;
    if (d.kind == Kind::kChoice) {
      EXPECT_TRUE(std::any_of(d.values.begin(), d.values.end(),
                              [&](const json& c) { return c == v && c.type() == v.type(); }))
          << p.name << " = " << v;
      continue;
    }
    if (d.kind == Kind::kRandint) {
      ASSERT_TRUE(v.is_number_integer()) << p.name << " = " << v;
      EXPECT_GE(v.get<int64_t>(), 0);
      EXPECT_LT(v.get<int64_t>(), d.upper);
      continue;
    }
    ASSERT_TRUE(v.is_number_float()) << p.name << " = " << v;
    const double value = v.get<double>();
    ASSERT_TRUE(std::isfinite(value)) << p.name;
    switch (d.kind) {
      case Kind::kUniform:
        EXPECT_GE(value, d.min_value);
        EXPECT_LE(value, d.max_value);
        break;
      case Kind::kQUniform:
      case Kind::kQLogUniform: {
        const bool log = d.kind == Kind::kQLogUniform;
        const double lo = log ? std::exp(d.min_value) : d.min_value;
        const double hi = log ? std::exp(d.max_value) : d.max_value;
        EXPECT_TRUE(IsMultiple(value, d.q)) << p.name << " = " << value;
        EXPECT_GE(value, std::round(lo / d.q) * d.q) << p.name;
        EXPECT_LE(value, std::round(hi / d.q) * d.q) << p.name;
        break;
      }
      case Kind::kLogUniform:
        EXPECT_GE(value, std::exp(d.min_value) * (1 - 1e-12));
        EXPECT_LE(value, std::exp(d.max_value) * (1 + 1e-12));
        break;
      case Kind::kQNormal: EXPECT_TRUE(IsMultiple(value, d.q)) << p.name << " = " << value; break;
      case Kind::kLogNormal: EXPECT_GT(value, 0); break;
      case Kind::kQLogNormal:
        EXPECT_TRUE(IsMultiple(value, d.q)) << p.name << " = " << value;
        EXPECT_GE(value, 0);
        break;
      default: break;
    }
  }
}

TEST(ModelSearch, EveryKindStaysInSupportAndType) {
  const SearchSpace space = EveryKind();
  for (const bool multivariate : {true, false}) {
    ModelSearchOptions options;
    options.multivariate = multivariate;
    for (uint64_t seed = 0; seed < 3; ++seed) {
      auto sampler = MakeModelSearch(space, seed, options);
      const std::vector<json> trials = RunSequential(*sampler, EveryKindLoss, 60);
      std::map<std::string, std::set<std::string>> distinct;
      for (size_t i = 0; i < trials.size(); ++i) {
        SCOPED_TRACE("multivariate " + std::to_string(multivariate) + ", seed " +
                     std::to_string(seed) + ", trial " + std::to_string(i));
        ExpectInSupport(space, trials[i]);
        for (const Parameter& p : space) {
          if (i >= 10) distinct[p.name].insert(trials[i][p.name].dump());
        }
      }
      // The model keeps proposing different values, not one point over and over.
      for (const Parameter& p : space) EXPECT_GE(distinct[p.name].size(), 2u) << p.name;
    }
  }
}

TEST(ModelSearch, StartupTrialsAreRandomSearch) {
  const SearchSpace space = EveryKind();
  auto random = MakeRandomSampler(space, 42);
  auto model = MakeModelSearch(space, 42);
  std::vector<Observation> history;
  for (int64_t i = 0; i < 10; ++i) {
    const json expected = *random->Next(i, {});
    EXPECT_EQ(*model->Next(i, history), expected) << i;
    history.push_back({i, expected, EveryKindLoss(expected)});
  }
  // Past the startup trials, but with fewer than two ended trials: random search still.
  EXPECT_EQ(*model->Next(12, {}), *random->Next(12, {}));
  EXPECT_EQ(*model->Next(13, {history[3]}), *random->Next(13, {}));
  // With the history: the model's own proposal.
  EXPECT_NE(*model->Next(10, history), *random->Next(10, {}));
  EXPECT_FALSE(model->Next(-1, history).has_value());

  ModelSearchOptions options;
  options.n_startup = 3;
  auto short_startup = MakeModelSearch(space, 42, options);
  EXPECT_EQ(*short_startup->Next(2, history), *random->Next(2, {}));
  EXPECT_NE(*short_startup->Next(3, history), *random->Next(3, {}));
}

TEST(ModelSearch, DeterministicWhateverTheHistorysOrder) {
  const SearchSpace space = EveryKind();
  auto first = MakeModelSearch(space, 7);
  std::vector<Observation> history;
  for (int64_t i = 0; i < 20; ++i) {
    const json x = *first->Next(i, history);
    history.push_back({i, x, EveryKindLoss(x)});
  }
  const json answer = *first->Next(20, history);
  // Asked again, by the same sampler after other questions, or by a new one (a restarted
  // controller), with the history in another order: the same answer.
  EXPECT_EQ(*first->Next(25, history), *first->Next(25, history));
  std::vector<Observation> reversed(history.rbegin(), history.rend());
  std::vector<Observation> rotated = history;
  std::rotate(rotated.begin(), rotated.begin() + 7, rotated.end());
  auto second = MakeModelSearch(space, 7);
  EXPECT_EQ(*second->Next(20, reversed), answer);
  EXPECT_EQ(*second->Next(20, rotated), answer);
  EXPECT_EQ(*first->Next(20, history), answer);
  // Another seed, another index (a concurrent trial asked for with the same history) or another
  // history: another proposal.
  EXPECT_NE(*MakeModelSearch(space, 8)->Next(20, history), answer);
  EXPECT_NE(*first->Next(21, history), answer);
  std::vector<Observation> changed = history;  // the worst trial becomes the best
  std::max_element(changed.begin(), changed.end(), [](const Observation& a, const Observation& b) {
    return a.loss < b.loss;
  })->loss = -100;
  EXPECT_NE(*first->Next(20, changed), answer);
}

TEST(ModelSearch, IgnoresObservationsItCannotUse) {
  const SearchSpace space = EveryKind();
  auto sampler = MakeModelSearch(space, 3);
  std::vector<Observation> history;
  for (int64_t i = 0; i < 15; ++i) {
    const json x = *sampler->Next(i, history);
    history.push_back({i, x, EveryKindLoss(x)});
  }
  const json answer = *sampler->Next(15, history);
  std::vector<Observation> noisy = history;
  json missing = history[0].params;
  missing.erase("uniform");
  json wrong_choice = history[1].params;
  wrong_choice["choice"] = "zzz";
  json wrong_randint = history[2].params;
  wrong_randint["randint"] = 7;
  json wrong_type = history[3].params;
  wrong_type["normal"] = "two";
  json negative_log = history[4].params;
  negative_log["lognormal"] = -1.0;
  noisy.push_back({100, missing, -50});
  noisy.push_back({101, wrong_choice, -50});
  noisy.push_back({102, wrong_randint, -50});
  noisy.push_back({103, wrong_type, -50});
  noisy.push_back({104, negative_log, -50});
  noisy.push_back({105, history[5].params, NAN});
  noisy.push_back({106, json::array(), -50});
  EXPECT_EQ(*sampler->Next(15, noisy), answer);
}

// Degenerate spaces and losses: one category, a randint of 2^40 values, a q coarser than the
// range, an unbounded q-log kind whose values are mostly 0, every loss equal or infinite, and an
// empty space. Every proposal stays in support.
TEST(ModelSearch, DegenerateSpacesAndLosses) {
  SearchSpace space;
  Parameter one = Param("one", Kind::kChoice);
  one.distribution.values = {"only"};
  space.push_back(one);
  Parameter single = Param("single", Kind::kRandint);
  single.distribution.upper = 1;
  space.push_back(single);
  Parameter huge = Param("huge", Kind::kRandint);
  huge.distribution.upper = int64_t{1} << 40;
  space.push_back(huge);
  Parameter coarse = Param("coarse", Kind::kQUniform);
  coarse.distribution.min_value = 0;
  coarse.distribution.max_value = 1;
  coarse.distribution.q = 5;  // always 0
  space.push_back(coarse);
  Parameter zeros = Param("zeros", Kind::kQLogNormal);
  zeros.distribution.mu = -3;
  zeros.distribution.sigma = 1;
  zeros.distribution.q = 1;  // 0 but for exp(N(-3, 1)) >= 0.5, about 2%
  space.push_back(zeros);
  const std::vector<Loss> losses = {
      [](const json&) { return 1.0; },
      [](const json& x) { return x["huge"].get<int64_t>() % 2 ? INFINITY : -INFINITY; },
      [](const json& x) { return static_cast<double>(x["huge"].get<int64_t>() % 1000); },
  };
  for (const bool multivariate : {true, false}) {
    ModelSearchOptions options;
    options.multivariate = multivariate;
    for (size_t k = 0; k < losses.size(); ++k) {
      auto sampler = MakeModelSearch(space, k, options);
      const std::vector<json> trials = RunSequential(*sampler, losses[k], 30);
      ASSERT_EQ(trials.size(), 30u);
      for (const json& x : trials) {
        ExpectInSupport(space, x);
        EXPECT_EQ(x["one"], "only");
        EXPECT_EQ(x["single"], 0);
        EXPECT_EQ(x["coarse"].get<double>(), 0.0);
      }
    }
  }
  auto empty = MakeModelSearch({}, 1);
  std::vector<Observation> history = {{0, json::object(), 1.0}, {1, json::object(), 2.0}};
  EXPECT_EQ(*empty->Next(0, {}), json::object());
  EXPECT_EQ(*empty->Next(20, history), json::object());
}

// After the startup trials, values from a region with a clearly lower loss are proposed far more
// often than random search proposes them: for each kind, the share of trials 10..59 (5 seeds) in
// the good region, against random search's share over the same trials.
TEST(ModelSearch, SamplesTheBetterRegionMoreAfterStartup) {
  struct Case {
    Parameter parameter;
    std::function<bool(const json&)> good;
  };
  std::vector<Case> cases;
  cases.push_back({Uniform("x", 0, 1), [](const json& v) { return v.get<double>() < 0.2; }});
  Parameter choice = Param("x", Kind::kChoice);
  choice.distribution.values = {"a", "b", "c", "d", "e"};
  cases.push_back({choice, [](const json& v) { return v == "c"; }});
  Parameter randint = Param("x", Kind::kRandint);
  randint.distribution.upper = 10;
  cases.push_back({randint, [](const json& v) { return v.get<int64_t>() >= 8; }});
  Parameter loguniform = Param("x", Kind::kLogUniform);
  loguniform.distribution.min_value = std::log(1e-5);
  loguniform.distribution.max_value = std::log(1e-1);
  cases.push_back({loguniform, [](const json& v) { return v.get<double>() < 1e-4; }});
  Parameter qnormal = Param("x", Kind::kQNormal);
  qnormal.distribution.mu = 0;
  qnormal.distribution.sigma = 5;
  qnormal.distribution.q = 2;
  cases.push_back({qnormal, [](const json& v) { return v.get<double>() >= 6; }});
  Parameter qlognormal = Param("x", Kind::kQLogNormal);
  qlognormal.distribution.mu = 0;
  qlognormal.distribution.sigma = 1;
  qlognormal.distribution.q = 0.5;
  cases.push_back({qlognormal, [](const json& v) { return v.get<double>() >= 2.5; }});

  for (const Case& c : cases) {
    const SearchSpace space = {c.parameter};
    const Loss loss = [&c](const json& x) { return c.good(x["x"]) ? 0.0 : 1.0; };
    int model_good = 0;
    int random_good = 0;
    int total = 0;
    for (uint64_t seed = 0; seed < 5; ++seed) {
      auto model = MakeModelSearch(space, seed);
      auto random = MakeRandomSampler(space, seed);
      const std::vector<json> model_trials = RunSequential(*model, loss, 60);
      const std::vector<json> random_trials = RunSequential(*random, loss, 60);
      for (size_t i = 10; i < 60; ++i) {
        model_good += c.good(model_trials[i]["x"]);
        random_good += c.good(random_trials[i]["x"]);
        ++total;
      }
    }
    const double model_share = static_cast<double>(model_good) / total;
    const double random_share = static_cast<double>(random_good) / total;
    std::printf("%s: share of trials 10..59 in the good region: model %.2f, random %.2f\n",
                KindName(c.parameter.distribution.kind), model_share, random_share);
    EXPECT_GT(random_share, 0.1) << "the good region should not be rare for random search";
    EXPECT_GT(model_share, 2 * random_share) << KindName(c.parameter.distribution.kind);
    EXPECT_GT(model_share, 0.5) << KindName(c.parameter.distribution.kind);
  }
}

}  // namespace
}  // namespace trainyard::sweep
