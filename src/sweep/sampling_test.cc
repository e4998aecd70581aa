#include "sweep/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sweep/sobol.h"

namespace trainyard::sweep {
namespace {

const std::vector<Observation> kNoHistory;

Parameter Choice(const std::string& name, std::vector<nlohmann::json> values) {
  Parameter p;
  p.name = name;
  p.distribution.kind = Kind::kChoice;
  p.distribution.values = std::move(values);
  return p;
}

Parameter Uniform(const std::string& name, double lo, double hi) {
  Parameter p;
  p.name = name;
  p.distribution.kind = Kind::kUniform;
  p.distribution.min_value = lo;
  p.distribution.max_value = hi;
  return p;
}

Parameter Of(const std::string& name, Kind kind) {
  Parameter p;
  p.name = name;
  p.distribution.kind = kind;
  return p;
}

std::unique_ptr<Sampler> Grid(const SearchSpace& space) {
  auto sampler = MakeGridSampler(space);
  EXPECT_TRUE(sampler.ok()) << sampler.status().ToString();
  return sampler.ok() ? std::move(sampler).value() : nullptr;
}

std::unique_ptr<Sampler> Sobol(const SearchSpace& space, uint64_t seed) {
  auto sampler = MakeSobolSampler(space, seed);
  EXPECT_TRUE(sampler.ok()) << sampler.status().ToString();
  return sampler.ok() ? std::move(sampler).value() : nullptr;
}

// ---- grid -----------------------------------------------------------------------------------

TEST(GridSampler, LastParameterVariesFastest) {
  auto grid = Grid({Choice("a", {1, 2}), Choice("b", {"x", "y", "z"})});
  ASSERT_NE(grid, nullptr);
  ASSERT_EQ(grid->Size(), 6);
  const std::vector<nlohmann::json> expected = {
      {{"a", 1}, {"b", "x"}}, {{"a", 1}, {"b", "y"}}, {{"a", 1}, {"b", "z"}},
      {{"a", 2}, {"b", "x"}}, {{"a", 2}, {"b", "y"}}, {{"a", 2}, {"b", "z"}},
  };
  for (int64_t i = 0; i < 6; ++i) {
    auto params = grid->Next(i, kNoHistory);
    ASSERT_TRUE(params.has_value()) << i;
    EXPECT_EQ(*params, expected[static_cast<size_t>(i)]) << i;
  }
  EXPECT_FALSE(grid->Next(6, kNoHistory).has_value());
  EXPECT_FALSE(grid->Next(7, kNoHistory).has_value());
  EXPECT_FALSE(grid->Next(-1, kNoHistory).has_value());
  // Any order, any number of times: the same answers.
  EXPECT_EQ(grid->Next(4, kNoHistory), expected[4]);
  EXPECT_EQ(grid->Next(0, kNoHistory), expected[0]);
  EXPECT_EQ(grid->Next(4, kNoHistory), expected[4]);
}

TEST(GridSampler, ThreeParametersAreAnOdometer) {
  // Radices 2, 3, 2: index = 6 a + 2 b + c.
  auto grid = Grid({Choice("a", {0, 1}), Choice("b", {0, 1, 2}), Choice("c", {false, true})});
  ASSERT_NE(grid, nullptr);
  ASSERT_EQ(grid->Size(), 12);
  std::vector<nlohmann::json> seen;
  for (int64_t i = 0; i < 12; ++i) {
    auto p = grid->Next(i, kNoHistory);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ((*p)["a"].get<int>() * 6 + (*p)["b"].get<int>() * 2 + ((*p)["c"].get<bool>() ? 1 : 0),
              i);
    seen.push_back(*p);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end()) << "every combination once";
}

TEST(GridSampler, ValuesKeepTheirJsonTypes) {
  auto grid = Grid({Choice("opt", {"adam", nlohmann::json{{"name", "sgd"}}, 0.5, nullptr})});
  ASSERT_NE(grid, nullptr);
  EXPECT_EQ(grid->Next(0, kNoHistory)->at("opt"), "adam");
  EXPECT_EQ(grid->Next(1, kNoHistory)->at("opt"), (nlohmann::json{{"name", "sgd"}}));
  EXPECT_EQ(grid->Next(2, kNoHistory)->at("opt"), 0.5);
  EXPECT_TRUE(grid->Next(3, kNoHistory)->at("opt").is_null());
}

TEST(GridSampler, EmptySpaceHasOneEmptyCombination) {
  auto grid = Grid({});
  ASSERT_NE(grid, nullptr);
  EXPECT_EQ(grid->Size(), 1);
  EXPECT_EQ(grid->Next(0, kNoHistory), nlohmann::json::object());
  EXPECT_FALSE(grid->Next(1, kNoHistory).has_value());
}

TEST(GridSampler, RefusesEveryKindButChoice) {
  for (const std::string& name : KindNames()) {
    const Kind kind = *KindFromName(name);
    if (kind == Kind::kChoice) continue;
    auto grid = MakeGridSampler({Choice("batch", {16, 32}), Of("learning_rate", kind)});
    ASSERT_FALSE(grid.ok()) << name;
    EXPECT_EQ(grid.status().code(), StatusCode::kInvalidArgument);
    const std::string message = grid.status().message();
    EXPECT_NE(message.find("'learning_rate'"), std::string::npos) << message;
    EXPECT_NE(message.find(" is " + name + " "), std::string::npos) << message;
    EXPECT_NE(message.find("only choice"), std::string::npos) << message;
  }
  auto empty = MakeGridSampler({Choice("batch", {})});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("'batch'"), std::string::npos);
}

TEST(GridSampler, RefusesMoreThanTenMillionCombinations) {
  std::vector<nlohmann::json> ten = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  SearchSpace space;
  for (int j = 0; j < 7; ++j) space.push_back(Choice("p" + std::to_string(j), ten));
  // 10^7: the limit itself is accepted; its last combination is all nines.
  auto at_limit = Grid(space);
  ASSERT_NE(at_limit, nullptr);
  EXPECT_EQ(at_limit->Size(), 10'000'000);
  auto last = at_limit->Next(9'999'999, kNoHistory);
  ASSERT_TRUE(last.has_value());
  for (int j = 0; j < 7; ++j) EXPECT_EQ((*last)["p" + std::to_string(j)], 9);
  // 1234567 in decimal: p0 (the slowest) is the top digit.
  auto mid = at_limit->Next(1'234'567, kNoHistory);
  for (int j = 0; j < 7; ++j) EXPECT_EQ((*mid)["p" + std::to_string(j)], j + 1);
  EXPECT_FALSE(at_limit->Next(10'000'000, kNoHistory).has_value());

  space.push_back(Choice("p7", {1, 2}));
  auto over = MakeGridSampler(space);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("10000000"), std::string::npos) << over.status().message();

  // Far past int64: refused, not overflowed.
  std::vector<nlohmann::json> thousand(1000, 1);
  SearchSpace huge;
  for (int j = 0; j < 30; ++j) huge.push_back(Choice("h" + std::to_string(j), thousand));
  EXPECT_FALSE(MakeGridSampler(huge).ok());
  std::vector<nlohmann::json> many(4000, 0);
  EXPECT_FALSE(MakeGridSampler({Choice("m0", many), Choice("m1", many)}).ok());  // 1.6e7
}

// ---- random ---------------------------------------------------------------------------------

// SplitMix64's published test vector: seeded with 1234567 its first outputs are these three.
// RandomBits(seed, index, draw) is output draw + 1 of a SplitMix64 stream whose state is
// Mix64(Mix64(seed + golden) ^ index); this index makes that state 1234567 for seed 0 (found by
// inverting Mix64, in Python). The other values are the documented formula evaluated in Python.
TEST(RandomBits, IsSplitMix64AsDocumented) {
  const uint64_t index = 11624729099037681676ULL;
  EXPECT_EQ(RandomBits(0, index, 0), 6457827717110365317ULL);
  EXPECT_EQ(RandomBits(0, index, 1), 3203168211198807973ULL);
  EXPECT_EQ(RandomBits(0, index, 2), 9817491932198370423ULL);
  EXPECT_EQ(RandomBits(0, 0, 0), 6235967106033911276ULL);
  EXPECT_EQ(RandomBits(42, 7, 3), 6987235850182335258ULL);
  EXPECT_EQ(RandomBits(UINT64_MAX, INT64_MAX, 5), 7424163873905289394ULL);
  EXPECT_DOUBLE_EQ(RandomUnit(42, 7, 3), 0.3787788144218144);
}

TEST(RandomBits, UnitsAreFiftyThreeBitFractions) {
  for (uint64_t i = 0; i < 1000; ++i) {
    const double u = RandomUnit(5, i, 0);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    const double scaled = u * 9007199254740992.0;  // 2^53
    ASSERT_EQ(scaled, std::floor(scaled));
  }
}

SearchSpace EveryKind() {
  SearchSpace space;
  space.push_back(Choice("choice", {"a", 2, true}));
  Parameter p = Of("randint", Kind::kRandint);
  p.distribution.upper = 7;
  space.push_back(p);
  space.push_back(Uniform("uniform", -2, 3));
  p = Of("quniform", Kind::kQUniform);
  p.distribution.min_value = 0;
  p.distribution.max_value = 10;
  p.distribution.q = 2.5;
  space.push_back(p);
  p = Of("loguniform", Kind::kLogUniform);
  p.distribution.min_value = std::log(1e-4);
  p.distribution.max_value = std::log(1e-1);
  space.push_back(p);
  p = Of("qloguniform", Kind::kQLogUniform);
  p.distribution.min_value = 0;
  p.distribution.max_value = std::log(100.0);
  p.distribution.q = 4;
  space.push_back(p);
  for (Kind kind : {Kind::kNormal, Kind::kQNormal, Kind::kLogNormal, Kind::kQLogNormal}) {
    p = Of(KindName(kind), kind);
    p.distribution.mu = 1;
    p.distribution.sigma = 0.5;
    p.distribution.q = 0.25;
    space.push_back(p);
  }
  return space;
}

bool IsMultiple(double x, double q) { return std::abs(x / q - std::round(x / q)) < 1e-9; }

// Each value inside its distribution's support, for both random samplers.
void ExpectInSupport(const nlohmann::json& p) {
  EXPECT_TRUE(p["choice"] == "a" || p["choice"] == 2 || p["choice"] == true) << p;
  ASSERT_TRUE(p["randint"].is_number_integer()) << p;
  EXPECT_GE(p["randint"].get<int64_t>(), 0);
  EXPECT_LT(p["randint"].get<int64_t>(), 7);
  const double uniform = p["uniform"];
  EXPECT_GE(uniform, -2);
  EXPECT_LT(uniform, 3);
  const double quniform = p["quniform"];
  EXPECT_TRUE(IsMultiple(quniform, 2.5)) << quniform;
  EXPECT_GE(quniform, 0);
  EXPECT_LE(quniform, 10);
  const double loguniform = p["loguniform"];
  EXPECT_GE(loguniform, 1e-4 * (1 - 1e-12));
  EXPECT_LE(loguniform, 1e-1);
  const double qloguniform = p["qloguniform"];
  EXPECT_TRUE(IsMultiple(qloguniform, 4)) << qloguniform;
  EXPECT_GE(qloguniform, 0);
  EXPECT_LE(qloguniform, 100);
  EXPECT_TRUE(std::isfinite(p["normal"].get<double>()));
  EXPECT_TRUE(IsMultiple(p["qnormal"], 0.25)) << p;
  EXPECT_GT(p["lognormal"].get<double>(), 0);
  EXPECT_TRUE(IsMultiple(p["qlognormal"], 0.25)) << p;
  EXPECT_GE(p["qlognormal"].get<double>(), 0);
  EXPECT_EQ(p.size(), 10u);
}

TEST(RandomSampler, ValuesStayInsideEachSupport) {
  auto random = MakeRandomSampler(EveryKind(), 11);
  auto sobol = Sobol(EveryKind(), 11);
  ASSERT_NE(sobol, nullptr);
  for (int64_t i = 0; i < 2000; ++i) {
    ExpectInSupport(*random->Next(i, kNoHistory));
    ExpectInSupport(*sobol->Next(i, kNoHistory));
  }
}

TEST(RandomSampler, SameSeedAndIndexGiveTheSameValuesInAnyOrder) {
  auto forward = MakeRandomSampler(EveryKind(), 1234);
  auto backward = MakeRandomSampler(EveryKind(), 1234);
  std::vector<nlohmann::json> in_order;
  for (int64_t i = 0; i < 100; ++i) in_order.push_back(*forward->Next(i, kNoHistory));
  std::vector<Observation> history = {{.index = 3, .params = in_order[3], .loss = 0.5}};
  for (int64_t i = 99; i >= 0; --i) {
    EXPECT_EQ(*backward->Next(i, history), in_order[static_cast<size_t>(i)]) << i;
  }
  // Asked again (a restarted controller), by a fresh sampler.
  EXPECT_EQ(*MakeRandomSampler(EveryKind(), 1234)->Next(57, kNoHistory), in_order[57]);
  EXPECT_FALSE(forward->Next(-1, kNoHistory).has_value());
  EXPECT_FALSE(forward->Size().has_value());
}

TEST(RandomSampler, DifferentSeedsAndIndicesDiffer) {
  const SearchSpace space = {Uniform("x", 0, 1)};
  auto a = MakeRandomSampler(space, 1);
  auto b = MakeRandomSampler(space, 2);
  std::vector<double> seen;
  int same_across_seeds = 0;
  for (int64_t i = 0; i < 1000; ++i) {
    const double x = (*a->Next(i, kNoHistory))["x"];
    const double y = (*b->Next(i, kNoHistory))["x"];
    same_across_seeds += x == y ? 1 : 0;
    seen.push_back(x);
  }
  EXPECT_EQ(same_across_seeds, 0);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end()) << "1000 distinct draws";
}

constexpr int kDraws = 10000;

std::vector<double> Draws(const Parameter& parameter, uint64_t seed) {
  auto sampler = MakeRandomSampler({parameter}, seed);
  std::vector<double> values;
  for (int64_t i = 0; i < kDraws; ++i) {
    values.push_back((*sampler->Next(i, kNoHistory))[parameter.name].get<double>());
  }
  return values;
}

double Mean(const std::vector<double>& x) {
  double sum = 0;
  for (double v : x) sum += v;
  return sum / static_cast<double>(x.size());
}

double Variance(const std::vector<double>& x) {
  const double m = Mean(x);
  double sum = 0;
  for (double v : x) sum += (v - m) * (v - m);
  return sum / static_cast<double>(x.size() - 1);
}

// Kolmogorov-Smirnov distance between the sample and the uniform distribution on [lo, hi].
double KsUniform(std::vector<double> x, double lo, double hi) {
  std::sort(x.begin(), x.end());
  const auto n = static_cast<double>(x.size());
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double f = (x[i] - lo) / (hi - lo);
    d = std::max({d, f - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - f});
  }
  return d;
}

// The statistical checks use fixed seeds, so they are deterministic; their bounds are the
// distributions' own 5-standard-error (or p = 0.001) limits, which a wrong formula (a shifted
// range, a missing exp, a biased integer map) exceeds by far.
TEST(RandomSampler, UniformHasItsMeanVarianceAndShape) {
  for (uint64_t seed : {1, 2, 3}) {
    const std::vector<double> x = Draws(Uniform("u", 2, 5), seed);
    // Mean 3.5, variance 9 / 12 = 0.75; standard errors 0.0087 and 0.0067.
    EXPECT_NEAR(Mean(x), 3.5, 0.043) << seed;
    EXPECT_NEAR(Variance(x), 0.75, 0.034) << seed;
    // KS critical value at p = 0.001: 1.95 / sqrt(n).
    EXPECT_LT(KsUniform(x, 2, 5), 1.95 / std::sqrt(kDraws)) << seed;
  }
}

TEST(RandomSampler, RandintCountsPassChiSquare) {
  Parameter p = Of("r", Kind::kRandint);
  p.distribution.upper = 10;
  for (uint64_t seed : {1, 2, 3}) {
    auto sampler = MakeRandomSampler({p}, seed);
    std::vector<int> count(10, 0);
    for (int64_t i = 0; i < kDraws; ++i) {
      const nlohmann::json v = (*sampler->Next(i, kNoHistory))["r"];
      ASSERT_TRUE(v.is_number_integer());
      ++count[v.get<size_t>()];
    }
    double chi2 = 0;
    for (int c : count) chi2 += (c - 1000.0) * (c - 1000.0) / 1000.0;
    EXPECT_LT(chi2, 27.88) << seed;  // 9 degrees of freedom, p = 0.001
  }
}

TEST(RandomSampler, ChoiceCountsPassChiSquare) {
  auto sampler = MakeRandomSampler({Choice("c", {"a", "b", "c", "d"})}, 9);
  std::map<std::string, int> count;
  for (int64_t i = 0; i < kDraws; ++i) {
    ++count[(*sampler->Next(i, kNoHistory))["c"].get<std::string>()];
  }
  ASSERT_EQ(count.size(), 4u);
  double chi2 = 0;
  for (const auto& [value, c] : count) chi2 += (c - 2500.0) * (c - 2500.0) / 2500.0;
  EXPECT_LT(chi2, 16.27);  // 3 degrees of freedom, p = 0.001
}

TEST(RandomSampler, LogUniformHasAUniformLogarithm) {
  Parameter p = Of("lr", Kind::kLogUniform);
  p.distribution.min_value = std::log(1e-5);
  p.distribution.max_value = std::log(1e-1);
  std::vector<double> logs;
  for (double v : Draws(p, 7)) logs.push_back(std::log(v));
  EXPECT_LT(KsUniform(logs, std::log(1e-5), std::log(1e-1)), 1.95 / std::sqrt(kDraws));
  // Half the values below the geometric middle 1e-3, not the arithmetic one.
  std::vector<double> values = Draws(p, 7);
  const auto below = std::count_if(values.begin(), values.end(), [](double v) { return v < 1e-3; });
  EXPECT_NEAR(static_cast<double>(below) / kDraws, 0.5, 0.025);
}

TEST(RandomSampler, NormalAndLogNormalHaveTheirMoments) {
  Parameter p = Of("n", Kind::kNormal);
  p.distribution.mu = 1;
  p.distribution.sigma = 2;
  for (uint64_t seed : {4, 5}) {
    const std::vector<double> x = Draws(p, seed);
    // Standard errors: 2 / 100 for the mean, about 2 / sqrt(2 n) = 0.014 for the deviation.
    EXPECT_NEAR(Mean(x), 1.0, 0.1) << seed;
    EXPECT_NEAR(std::sqrt(Variance(x)), 2.0, 0.071) << seed;
    // The fraction within one sigma: 0.6827 (standard error 0.0047).
    const auto within =
        std::count_if(x.begin(), x.end(), [](double v) { return std::abs(v - 1) < 2; });
    EXPECT_NEAR(static_cast<double>(within) / kDraws, 0.6827, 0.0235) << seed;
  }
  p.name = "ln";
  p.distribution.kind = Kind::kLogNormal;
  std::vector<double> logs;
  for (double v : Draws(p, 6)) logs.push_back(std::log(v));
  EXPECT_NEAR(Mean(logs), 1.0, 0.1);
  EXPECT_NEAR(std::sqrt(Variance(logs)), 2.0, 0.071);
}

TEST(RandomSampler, ParametersAndTrialsAreUncorrelated) {
  auto sampler = MakeRandomSampler({Uniform("x", 0, 1), Uniform("y", 0, 1)}, 21);
  std::vector<double> x;
  std::vector<double> y;
  for (int64_t i = 0; i < kDraws; ++i) {
    const nlohmann::json p = *sampler->Next(i, kNoHistory);
    x.push_back(p["x"]);
    y.push_back(p["y"]);
  }
  auto correlation = [](const std::vector<double>& a, const std::vector<double>& b) {
    const double ma = Mean(a);
    const double mb = Mean(b);
    double sab = 0;
    double saa = 0;
    double sbb = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      sab += (a[i] - ma) * (b[i] - mb);
      saa += (a[i] - ma) * (a[i] - ma);
      sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / std::sqrt(saa * sbb);
  };
  // Standard error of a correlation of independent samples: 1 / sqrt(n) = 0.01.
  EXPECT_LT(std::abs(correlation(x, y)), 0.05);
  const std::vector<double> x0(x.begin(), x.end() - 1);
  const std::vector<double> x1(x.begin() + 1, x.end());
  EXPECT_LT(std::abs(correlation(x0, x1)), 0.05);
}

// ---- sobol ----------------------------------------------------------------------------------

// With uniform(0, 1) parameters the sampler's values are its quantiles u themselves.
SearchSpace UnitCube(int dimensions) {
  SearchSpace space;
  for (int j = 0; j < dimensions; ++j) space.push_back(Uniform("x" + std::to_string(j), 0, 1));
  return space;
}

std::vector<std::vector<double>> Points(Sampler& sampler, int dimensions, int64_t n) {
  std::vector<std::vector<double>> points;
  for (int64_t i = 0; i < n; ++i) {
    const nlohmann::json p = *sampler.Next(i, kNoHistory);
    std::vector<double> point;
    for (int j = 0; j < dimensions; ++j) point.push_back(p["x" + std::to_string(j)]);
    points.push_back(point);
  }
  return points;
}

TEST(SobolSampler, ShiftedPrefixesStayStratified) {
  constexpr int kDims = 8;
  for (uint64_t seed : {0, 1, 77}) {
    auto sobol = Sobol(UnitCube(kDims), seed);
    ASSERT_NE(sobol, nullptr);
    const auto points = Points(*sobol, kDims, 1024);
    for (int j = 0; j < kDims; ++j) {
      for (int k = 0; k <= 10; ++k) {
        const int n = 1 << k;
        std::vector<int> count(static_cast<size_t>(n), 0);
        for (int i = 0; i < n; ++i) {
          ++count[static_cast<size_t>(std::floor(points[static_cast<size_t>(i)][j] * n))];
        }
        for (int c : count) ASSERT_EQ(c, 1) << "seed " << seed << " dim " << j << " 2^" << k;
      }
    }
    // Shifted: point 0 is not the origin, and point 1 is not (0.5, ...).
    EXPECT_NE(points[0][0], 0.0);
    EXPECT_NE(points[1][0], 0.5);
  }
}

TEST(SobolSampler, IsTheDigitallyShiftedSequence) {
  // Coordinate j of trial i is (Sobol point i, coordinate j) XOR the seed's 53 shift bits.
  const SobolSequence sequence = std::move(SobolSequence::Make(3)).value();
  auto sobol = Sobol(UnitCube(3), 99);
  ASSERT_NE(sobol, nullptr);
  for (uint32_t i = 0; i < 64; ++i) {
    const nlohmann::json p = *sobol->Next(i, kNoHistory);
    for (int j = 0; j < 3; ++j) {
      const uint64_t shift = RandomBits(99, UINT64_MAX, static_cast<uint64_t>(j)) >> 11;
      const uint64_t bits = (uint64_t{sequence.Coordinate(i, j)} << 21) ^ shift;
      EXPECT_EQ(p["x" + std::to_string(j)].get<double>(),
                static_cast<double>(bits) / 9007199254740992.0);
    }
  }
}

TEST(SobolSampler, DeterministicAndSeedDependent) {
  auto a = Sobol(EveryKind(), 5);
  auto b = Sobol(EveryKind(), 5);
  auto c = Sobol(EveryKind(), 6);
  ASSERT_TRUE(a && b && c);
  const nlohmann::json a7 = *a->Next(7, kNoHistory);
  EXPECT_EQ(*b->Next(3, kNoHistory), *a->Next(3, kNoHistory));
  EXPECT_EQ(*b->Next(7, kNoHistory), a7);
  EXPECT_NE((*c->Next(7, kNoHistory))["uniform"], a7["uniform"]);
  EXPECT_FALSE(a->Next(-1, kNoHistory).has_value());
  EXPECT_FALSE(a->Next(int64_t{1} << 32, kNoHistory).has_value());
  EXPECT_TRUE(a->Next((int64_t{1} << 32) - 1, kNoHistory).has_value());
  EXPECT_FALSE(a->Size().has_value());
}

// The error of integrating f(x) = prod_j (pi / 2) sin(pi x_j) (integral 1) over [0, 1]^5 with
// 1024 points: the shifted Sobol points beat independent draws by far, seed after seed.
TEST(SobolSampler, IntegratesASmoothFunctionBetterThanRandom) {
  constexpr int kDims = 5;
  auto estimate = [](Sampler& sampler) {
    double sum = 0;
    for (const auto& point : Points(sampler, kDims, 1024)) {
      double f = 1;
      for (double x : point) f *= M_PI / 2 * std::sin(M_PI * x);
      sum += f;
    }
    return sum / 1024;
  };
  double sobol_error = 0;
  double random_error = 0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    auto sobol = Sobol(UnitCube(kDims), seed);
    ASSERT_NE(sobol, nullptr);
    sobol_error += std::abs(estimate(*sobol) - 1);
    random_error += std::abs(estimate(*MakeRandomSampler(UnitCube(kDims), seed)) - 1);
  }
  // Random: standard deviation of f is about 0.78, so the mean error is about 0.02.
  EXPECT_GT(random_error / 10, 0.005);
  EXPECT_LT(sobol_error, random_error / 5) << sobol_error / 10 << " vs. " << random_error / 10;
}

TEST(SobolSampler, RefusesMoreParametersThanTheTableHasDimensions) {
  EXPECT_NE(Sobol(UnitCube(SobolMaxDimensions()), 1), nullptr);
  auto too_many = MakeSobolSampler(UnitCube(SobolMaxDimensions() + 1), 1);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.status().code(), StatusCode::kInvalidArgument);
  const std::string message = too_many.status().message();
  EXPECT_NE(message.find("at most " + std::to_string(SobolMaxDimensions())), std::string::npos)
      << message;
  EXPECT_NE(message.find("rule: random"), std::string::npos) << message;
}

}  // namespace
}  // namespace trainyard::sweep
