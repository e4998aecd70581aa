#include <algorithm>
#include <cmath>

#include "sweep/sweep.h"

namespace trainyard::sweep {

const std::vector<std::string>& KindNames() {
  static const std::vector<std::string> kNames = {
      "choice",      "randint", "uniform", "quniform",  "loguniform",
      "qloguniform", "normal",  "qnormal", "lognormal", "qlognormal"};
  return kNames;
}

const char* KindName(Kind kind) { return KindNames()[static_cast<size_t>(kind)].c_str(); }

std::optional<Kind> KindFromName(const std::string& name) {
  const auto& names = KindNames();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<Kind>(i);
  }
  return std::nullopt;
}

}  // namespace trainyard::sweep

namespace trainyard::sweep {
namespace {

double Clamp01Open(double u) {
  constexpr double kEps = 1e-16;
  return std::min(std::max(u, kEps), 1.0 - kEps);
}

double Round(double x, double q) { return std::round(x / q) * q; }

}  // namespace

// Acklam's rational approximation, refined by one step of Halley's method with std::erfc.
double NormalQuantile(double u) {
  static constexpr double kA[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                  -2.759285104469687e+02, 1.383577518672690e+02,
                                  -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double kB[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                  -1.556989798598866e+02, 6.680131188771972e+01,
                                  -1.328068155288572e+01};
  static constexpr double kC[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                  -2.400758277161838e+00, -2.549732539343734e+00,
                                  4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double kD[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                  2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double kLow = 0.02425;
  double x;
  if (u < kLow) {
    const double q = std::sqrt(-2 * std::log(u));
    x = (((((kC[0] * q + kC[1]) * q + kC[2]) * q + kC[3]) * q + kC[4]) * q + kC[5]) /
        ((((kD[0] * q + kD[1]) * q + kD[2]) * q + kD[3]) * q + 1);
  } else if (u <= 1 - kLow) {
    const double q = u - 0.5;
    const double r = q * q;
    x = (((((kA[0] * r + kA[1]) * r + kA[2]) * r + kA[3]) * r + kA[4]) * r + kA[5]) * q /
        (((((kB[0] * r + kB[1]) * r + kB[2]) * r + kB[3]) * r + kB[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log(1 - u));
    x = -(((((kC[0] * q + kC[1]) * q + kC[2]) * q + kC[3]) * q + kC[4]) * q + kC[5]) /
        ((((kD[0] * q + kD[1]) * q + kD[2]) * q + kD[3]) * q + 1);
  }
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - u;
  const double step = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - step / (1 + x * step / 2);
}

nlohmann::json FromUnit(const Distribution& d, double u) {
  u = std::min(std::max(u, 0.0), std::nextafter(1.0, 0.0));
  switch (d.kind) {
    case Kind::kChoice: {
      const auto n = d.values.size();
      return d.values[std::min(static_cast<size_t>(u * static_cast<double>(n)), n - 1)];
    }
    case Kind::kRandint:
      return std::min(static_cast<int64_t>(u * static_cast<double>(d.upper)), d.upper - 1);
    case Kind::kUniform: return d.min_value + u * (d.max_value - d.min_value);
    case Kind::kQUniform: return Round(d.min_value + u * (d.max_value - d.min_value), d.q);
    case Kind::kLogUniform: return std::exp(d.min_value + u * (d.max_value - d.min_value));
    case Kind::kQLogUniform:
      return Round(std::exp(d.min_value + u * (d.max_value - d.min_value)), d.q);
    case Kind::kNormal: return d.mu + d.sigma * NormalQuantile(Clamp01Open(u));
    case Kind::kQNormal: return Round(d.mu + d.sigma * NormalQuantile(Clamp01Open(u)), d.q);
    case Kind::kLogNormal: return std::exp(d.mu + d.sigma * NormalQuantile(Clamp01Open(u)));
    case Kind::kQLogNormal:
      return Round(std::exp(d.mu + d.sigma * NormalQuantile(Clamp01Open(u))), d.q);
  }
  return nullptr;
}

}  // namespace trainyard::sweep
