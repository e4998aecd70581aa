#include "sweep/model_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/check.h"
#include "sweep/sampling.h"

namespace trainyard::sweep {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kLogSqrt2Pi = 0.9189385332046727;  // log(sqrt(2 pi))

// ---------------------------------------------------------------------------------------------
// Randomness: the random sampler's streams (sampling.h). Startup trial `index` takes draws 0, 1,
// ... of stream (seed, index), one per parameter, exactly as random search; a model-based trial
// takes its draws from kModelDraws on, so that they never reuse a startup draw.

constexpr uint64_t kModelDraws = uint64_t{1} << 32;

class Stream {
 public:
  Stream(uint64_t seed, int64_t index) : seed_(seed), index_(static_cast<uint64_t>(index)) {}
  // Uniform in [0, 1), from 53 random bits.
  double Unit() { return RandomUnit(seed_, index_, draw_++); }
  // Uniform integer in [0, n), n > 0 (the modulo bias is below 2^-40 for n < 2^24).
  int64_t Below(int64_t n) {
    return static_cast<int64_t>(RandomBits(seed_, index_, draw_++) % static_cast<uint64_t>(n));
  }

 private:
  uint64_t seed_;
  uint64_t index_;
  uint64_t draw_ = kModelDraws;
};

// ---------------------------------------------------------------------------------------------
// The standard normal distribution.

double LogPdf(double z) { return -0.5 * z * z - kLogSqrt2Pi; }
double Cdf(double z) { return 0.5 * std::erfc(-z / kSqrt2); }
double Sf(double z) { return 0.5 * std::erfc(z / kSqrt2); }  // 1 - Cdf(z), accurate for z > 0

// log(Cdf(b) - Cdf(a)) for a < b, computed on the side of zero where it does not cancel. When the
// difference underflows (both ends far in one tail), a bound from the density at the nearer end.
double LogMass(double a, double b) {
  if (!(a < b)) return -kInf;
  double mass;
  if (a > 0) {
    mass = Sf(a) - Sf(b);
  } else if (b < 0) {
    mass = Cdf(b) - Cdf(a);
  } else {
    mass = 1 - Sf(b) - Cdf(a);
  }
  if (mass > 1e-300) return std::log(mass);
  const double nearer = a > 0 ? a : b;
  return LogPdf(nearer) + std::log(std::min(b - a, 1.0));
}

// A draw from the standard normal truncated to [a, b] (a < b; either may be infinite), by the
// inverse CDF, taken in the tail where the ends are accurate.
double TruncatedStandardNormal(double a, double b, double u) {
  double z;
  if (a > 0) {
    const double pa = Sf(a);
    const double pb = Sf(b);
    z = -NormalQuantile(std::clamp(pa + u * (pb - pa), 1e-300, 1 - 1e-16));
  } else {
    const double pa = Cdf(a);
    const double pb = Cdf(b);
    z = NormalQuantile(std::clamp(pa + u * (pb - pa), 1e-300, 1 - 1e-16));
  }
  return std::clamp(z, a, b);
}

double LogSumExp(const std::vector<double>& x) {
  double top = -kInf;
  for (double v : x) top = std::max(top, v);
  if (top == -kInf) return -kInf;
  double sum = 0;
  for (double v : x) sum += std::exp(v - top);
  return top + std::log(sum);
}

// ---------------------------------------------------------------------------------------------
// One parameter as the model sees it. A point of the search space holds, per parameter, either a
// category index (choice: the index of the value; randint: the value) or the parameter's value
// after q rounding. Numeric kernels live in the "model space": the value, or its logarithm for
// the log kinds.

struct Dim {
  bool categorical = false;
  int64_t categories = 0;
  bool log = false;
  double q = 0;                          // 0: not a q kind
  double lo = -kInf, hi = kInf;          // model-space bounds of the value before rounding
  double prior_mu = 0, prior_sigma = 1;  // the prior kernel
  double span = 1;                       // the scale that bandwidths are fractions of

  explicit Dim(const Distribution& d) {
    switch (d.kind) {
      case Kind::kChoice:
        categorical = true;
        categories = static_cast<int64_t>(d.values.size());
        return;
      case Kind::kRandint:
        categorical = true;
        categories = d.upper;
        return;
      case Kind::kUniform:
      case Kind::kQUniform:
      case Kind::kLogUniform:
      case Kind::kQLogUniform:
        log = d.kind == Kind::kLogUniform || d.kind == Kind::kQLogUniform;
        q = d.kind == Kind::kQUniform || d.kind == Kind::kQLogUniform ? d.q : 0;
        lo = d.min_value;
        hi = d.max_value;
        span = hi - lo;
        prior_mu = 0.5 * (lo + hi);
        prior_sigma = span;
        return;
      case Kind::kNormal:
      case Kind::kQNormal:
      case Kind::kLogNormal:
      case Kind::kQLogNormal:
        log = d.kind == Kind::kLogNormal || d.kind == Kind::kQLogNormal;
        q = d.kind == Kind::kQNormal || d.kind == Kind::kQLogNormal ? d.q : 0;
        prior_mu = d.mu;
        prior_sigma = d.sigma;
        span = 4 * d.sigma;  // the prior's central 95%
        return;
    }
  }

  bool bounded() const { return std::isfinite(lo); }

  // A kernel's centre for a point's coordinate (numeric kinds).
  double Centre(double value) const {
    double t = value;
    if (log) t = value > 0 ? std::log(value) : std::log(q / 2);  // 0 only for the q kinds
    return std::clamp(t, lo, hi);
  }

  // The coordinate of a model-space draw t: back to the value, then the q rounding.
  double FromModel(double t) const {
    double value = log ? std::exp(t) : t;
    if (q > 0) value = std::round(value / q) * q;
    return value;
  }

  // The model-space interval that rounds to `value` (the q kinds), within the bounds.
  std::pair<double, double> Bin(double value) const {
    double a = value - q / 2;
    double b = value + q / 2;
    if (log) {
      a = a > 0 ? std::log(a) : -kInf;
      b = std::log(b);
    }
    return {std::max(a, lo), std::min(b, hi)};
  }
};

// The coordinate of `value` for `dim`, or nullopt when the value cannot come from `d`.
std::optional<double> Coordinate(const Distribution& d, const Dim& dim,
                                 const nlohmann::json& value) {
  if (d.kind == Kind::kChoice) {
    for (size_t i = 0; i < d.values.size(); ++i) {
      if (d.values[i] == value) return static_cast<double>(i);
    }
    return std::nullopt;
  }
  if (!value.is_number()) return std::nullopt;
  const double x = value.get<double>();
  if (!std::isfinite(x)) return std::nullopt;
  if (d.kind == Kind::kRandint) {
    if (x != std::floor(x) || x < 0 || x >= static_cast<double>(d.upper)) return std::nullopt;
    return x;
  }
  if (dim.log && (x < 0 || (x == 0 && dim.q == 0))) return std::nullopt;
  return x;
}

nlohmann::json ToJson(const Distribution& d, const Dim& dim, double coordinate) {
  if (d.kind == Kind::kChoice) return d.values[static_cast<size_t>(coordinate)];
  if (dim.categorical) return static_cast<int64_t>(coordinate);
  return coordinate;
}

// ---------------------------------------------------------------------------------------------
// A Parzen estimator: a weighted mixture of kernels, one per point of a group plus the prior
// (the last). Kernel c is a product over parameters of one-dimensional kernels: numeric ones are
// normal (mu[d][c], sigma[d][c]) truncated to the bounds; categorical ones put mass 1 / (1 + w)
// on category mu[d][c] and spread w / (1 + w) evenly over all categories (w: prior_weight), the
// prior's spreads everything evenly. Holds a reference to `dims`, which must outlive it.

class Parzen {
 public:
  Parzen(const std::vector<Dim>& dims, const std::vector<std::vector<double>>& points,
         const std::vector<double>& point_weights, const ModelSearchOptions& options)
      : dims_(dims), prior_weight_(options.prior_weight), multivariate_(options.multivariate) {
    const size_t n = points.size();
    const size_t m = n + 1;
    double total = options.prior_weight;
    for (double w : point_weights) total += w;
    log_weights_.resize(m);
    for (size_t c = 0; c < n; ++c) log_weights_[c] = std::log(point_weights[c] / total);
    log_weights_[n] = std::log(options.prior_weight / total);

    mu_.assign(dims.size(), std::vector<double>(m));
    sigma_.assign(dims.size(), std::vector<double>(m));
    log_z_.assign(dims.size(), std::vector<double>(m, 0.0));
    for (size_t d = 0; d < dims.size(); ++d) {
      const Dim& dim = dims[d];
      if (dim.categorical) {
        for (size_t c = 0; c < n; ++c) mu_[d][c] = points[c][d];
        mu_[d][n] = -1;  // the prior
        continue;
      }
      for (size_t c = 0; c < n; ++c) mu_[d][c] = dim.Centre(points[c][d]);
      mu_[d][n] = dim.prior_mu;
      Bandwidths(dim, n, dims.size(), d);
      sigma_[d][n] = dim.prior_sigma;
      for (size_t c = 0; c < m; ++c) {
        if (dim.bounded()) {
          log_z_[d][c] =
              LogMass((dim.lo - mu_[d][c]) / sigma_[d][c], (dim.hi - mu_[d][c]) / sigma_[d][c]);
        }
      }
    }
  }

  // A point drawn from the mixture (multivariate: one kernel for all parameters; else one per
  // parameter).
  std::vector<double> Sample(Stream& stream) const {
    std::vector<double> point(dims_.size());
    size_t c = PickKernel(stream);
    for (size_t d = 0; d < dims_.size(); ++d) {
      if (!multivariate_) c = PickKernel(stream);
      point[d] = SampleKernel(d, c, stream);
    }
    return point;
  }

  // log density of `point` (multivariate: the joint mixture; else the sum over parameters of
  // each one's own mixture, i.e. the product of the marginals). For the q kinds and the
  // categorical ones, the probability of the point's bin or category instead of a density.
  double LogDensity(const std::vector<double>& point) const {
    const size_t m = log_weights_.size();
    std::vector<double> terms(m);
    if (multivariate_) {
      for (size_t c = 0; c < m; ++c) {
        double t = log_weights_[c];
        for (size_t d = 0; d < dims_.size(); ++d) t += LogKernel(d, c, point[d]);
        terms[c] = t;
      }
      return LogSumExp(terms);
    }
    double sum = 0;
    for (size_t d = 0; d < dims_.size(); ++d) {
      for (size_t c = 0; c < m; ++c) terms[c] = log_weights_[c] + LogKernel(d, c, point[d]);
      sum += LogSumExp(terms);
    }
    return sum;
  }

 private:
  // The kernels' bandwidths for numeric parameter d, clipped to [span / min(100, 1 + kernels),
  // span]. Multivariate: Scott's rule scaled to the span, 0.2 * span * n^(-1 / (dims + 4)).
  // Else each kernel's distance to the farther of its neighbours among the centres (the prior's
  // included).
  void Bandwidths(const Dim& dim, size_t n, size_t n_dims, size_t d) {
    const double kernels = static_cast<double>(n + 1);
    const double min_sigma = dim.span / std::min(100.0, 1.0 + kernels);
    const double max_sigma = dim.span;
    if (multivariate_) {
      const double s = 0.2 * dim.span *
                       std::pow(std::max(static_cast<double>(n), 1.0),
                                -1.0 / (static_cast<double>(n_dims) + 4.0));
      for (size_t c = 0; c < n; ++c) sigma_[d][c] = std::clamp(s, min_sigma, max_sigma);
      return;
    }
    std::vector<size_t> order(n + 1);
    for (size_t c = 0; c <= n; ++c) order[c] = c;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return mu_[d][x] < mu_[d][y]; });
    for (size_t i = 0; i <= n; ++i) {
      double s = 0;
      if (i > 0) s = std::max(s, mu_[d][order[i]] - mu_[d][order[i - 1]]);
      if (i < n) s = std::max(s, mu_[d][order[i + 1]] - mu_[d][order[i]]);
      if (order[i] < n) sigma_[d][order[i]] = std::clamp(s, min_sigma, max_sigma);
    }
  }

  size_t PickKernel(Stream& stream) const {
    double u = stream.Unit();
    for (size_t c = 0; c + 1 < log_weights_.size(); ++c) {
      u -= std::exp(log_weights_[c]);
      if (u < 0) return c;
    }
    return log_weights_.size() - 1;
  }

  bool IsPrior(size_t c) const { return c + 1 == log_weights_.size(); }

  double SampleKernel(size_t d, size_t c, Stream& stream) const {
    const Dim& dim = dims_[d];
    if (dim.categorical) {
      // Own category with probability 1 / (1 + w), else uniform over all of them.
      const double u = stream.Unit();
      if (!IsPrior(c) && u * (1 + prior_weight_) < 1) return mu_[d][c];
      return static_cast<double>(stream.Below(dim.categories));
    }
    const double mu = mu_[d][c];
    const double sigma = sigma_[d][c];
    const double z =
        TruncatedStandardNormal((dim.lo - mu) / sigma, (dim.hi - mu) / sigma, stream.Unit());
    return dim.FromModel(std::clamp(mu + sigma * z, dim.lo, dim.hi));
  }

  double LogKernel(size_t d, size_t c, double x) const {
    const Dim& dim = dims_[d];
    if (dim.categorical) {
      const double n = static_cast<double>(dim.categories);
      if (IsPrior(c)) return -std::log(n);
      const double own = x == mu_[d][c] ? 1.0 : 0.0;
      return std::log((own + prior_weight_ / n) / (1 + prior_weight_));
    }
    const double mu = mu_[d][c];
    const double sigma = sigma_[d][c];
    if (dim.q > 0) {
      const auto [a, b] = dim.Bin(x);
      // A bin that the bounds cut to (nearly) nothing: the density there, as for a point.
      if (b - a > 1e-12 * dim.span) {
        return LogMass((a - mu) / sigma, (b - mu) / sigma) - log_z_[d][c];
      }
      const double t = std::clamp(a, dim.lo, dim.hi);
      return LogPdf((t - mu) / sigma) - std::log(sigma) - log_z_[d][c];
    }
    const double t = dim.log ? std::log(x) : x;
    return LogPdf((t - mu) / sigma) - std::log(sigma) - log_z_[d][c];
  }

  const std::vector<Dim>& dims_;
  double prior_weight_;
  bool multivariate_;
  std::vector<double> log_weights_;         // [kernel]
  std::vector<std::vector<double>> mu_;     // [parameter][kernel]
  std::vector<std::vector<double>> sigma_;  // [parameter][kernel], numeric parameters
  std::vector<std::vector<double>> log_z_;  // [parameter][kernel], truncation
};

// Weights of a group's points in creation order: 1 for the `recent` newest, a linear ramp from
// 1 / n up to 1 for the older ones.
std::vector<double> RecencyWeights(size_t n, int64_t recent) {
  std::vector<double> weights(n, 1.0);
  const size_t keep = static_cast<size_t>(std::max<int64_t>(recent, 1));
  if (n <= keep) return weights;
  const size_t ramp = n - keep;
  const double first = 1.0 / static_cast<double>(n);
  for (size_t i = 0; i < ramp; ++i) {
    const double f = ramp == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(ramp - 1);
    weights[i] = first + f * (1.0 - first);
  }
  return weights;
}

struct Trial {
  int64_t index;
  double loss;
  std::string key;  // the params' JSON text: breaks ties, so that order never depends on input
  std::vector<double> point;
};

class ModelSearch : public Sampler {
 public:
  ModelSearch(SearchSpace space, uint64_t seed, ModelSearchOptions options)
      : space_(std::move(space)), seed_(seed), options_(options) {
    dims_.reserve(space_.size());
    for (const Parameter& p : space_) dims_.emplace_back(p.distribution);
  }

  std::optional<nlohmann::json> Next(int64_t index,
                                     const std::vector<Observation>& history) override {
    if (index < 0) return std::nullopt;
    std::vector<Trial> trials = Usable(history);
    if (index < options_.n_startup || trials.size() < 2) return Random(index);

    // Split by loss (ties: creation order, then the params' text).
    std::sort(trials.begin(), trials.end(), [](const Trial& a, const Trial& b) {
      return std::tie(a.loss, a.index, a.key) < std::tie(b.loss, b.index, b.key);
    });
    const auto n = static_cast<int64_t>(trials.size());
    const auto wanted = static_cast<int64_t>(std::ceil(options_.gamma * static_cast<double>(n)));
    const int64_t n_below = std::clamp<int64_t>(std::min(wanted, options_.max_below), 1, n - 1);
    const std::vector<Trial> below(trials.begin(), trials.begin() + n_below);
    const std::vector<Trial> above(trials.begin() + n_below, trials.end());
    const Parzen l = Fit(below);
    const Parzen g = Fit(above);

    Stream stream(seed_, index);
    std::vector<double> best;
    double best_score = -kInf;
    for (int64_t i = 0; i < options_.n_candidates; ++i) {
      std::vector<double> candidate = l.Sample(stream);
      const double score = l.LogDensity(candidate) - g.LogDensity(candidate);
      if (best.empty() || score > best_score) {
        best_score = score;
        best = std::move(candidate);
      }
    }
    nlohmann::json assignment = nlohmann::json::object();
    for (size_t d = 0; d < space_.size(); ++d) {
      assignment[space_[d].name] = ToJson(space_[d].distribution, dims_[d], best[d]);
    }
    return assignment;
  }

 private:
  // A random-search trial: FromUnit of independent uniform draws keyed by (seed, index).
  nlohmann::json Random(int64_t index) const {
    nlohmann::json assignment = nlohmann::json::object();
    for (size_t j = 0; j < space_.size(); ++j) {
      assignment[space_[j].name] =
          FromUnit(space_[j].distribution, RandomUnit(seed_, static_cast<uint64_t>(index), j));
    }
    return assignment;
  }

  // The observations the model can use, as points, in creation order.
  std::vector<Trial> Usable(const std::vector<Observation>& history) const {
    std::vector<Trial> trials;
    for (const Observation& o : history) {
      if (std::isnan(o.loss) || !o.params.is_object()) continue;
      Trial t{o.index, o.loss, o.params.dump(), {}};
      for (size_t d = 0; d < space_.size(); ++d) {
        const auto it = o.params.find(space_[d].name);
        if (it == o.params.end()) break;
        const auto c = Coordinate(space_[d].distribution, dims_[d], *it);
        if (!c) break;
        t.point.push_back(*c);
      }
      if (t.point.size() == space_.size()) trials.push_back(std::move(t));
    }
    return trials;
  }

  Parzen Fit(std::vector<Trial> group) const {
    std::sort(group.begin(), group.end(), [](const Trial& a, const Trial& b) {
      return std::tie(a.index, a.loss, a.key) < std::tie(b.index, b.loss, b.key);
    });
    std::vector<std::vector<double>> points;
    points.reserve(group.size());
    for (Trial& t : group) points.push_back(std::move(t.point));
    return Parzen(dims_, points, RecencyWeights(points.size(), options_.recent), options_);
  }

  SearchSpace space_;
  uint64_t seed_;
  ModelSearchOptions options_;
  std::vector<Dim> dims_;
};

}  // namespace

std::unique_ptr<Sampler> MakeModelSearch(const SearchSpace& space, uint64_t seed,
                                         ModelSearchOptions options) {
  TY_CHECK(options.gamma > 0 && options.gamma <= 1);
  TY_CHECK_GE(options.max_below, 1);
  TY_CHECK_GE(options.n_candidates, 1);
  TY_CHECK(options.prior_weight > 0);
  return std::make_unique<ModelSearch>(space, seed, options);
}

}  // namespace trainyard::sweep
