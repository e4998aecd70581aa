// Standard test functions for global optimization, used to measure the samplers (tests only).
// Definitions and minima: Surjanovic & Bingham, "Virtual Library of Simulation Experiments"
// (https://www.sfu.ca/~ssurjano/branin.html, hart6.html).
#pragma once

#include <array>
#include <cmath>

namespace trainyard::sweep::test_functions {

// Branin-Hoo on x1 in [-5, 10], x2 in [0, 15]; global minimum 0.397887 at (-pi, 12.275),
// (pi, 2.275) and (9.42478, 2.475).
inline constexpr double kBraninMin = 0.397887;
inline double Branin(double x1, double x2) {
  const double b = 5.1 / (4 * M_PI * M_PI);
  const double c = 5 / M_PI;
  const double t = 1 / (8 * M_PI);
  const double u = x2 - b * x1 * x1 + c * x1 - 6;
  return u * u + 10 * (1 - t) * std::cos(x1) + 10;
}

// Hartmann-6 on [0, 1]^6; global minimum -3.32237 at
// (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573).
inline constexpr double kHartmann6Min = -3.32237;
inline double Hartmann6(const std::array<double, 6>& x) {
  static constexpr double kAlpha[4] = {1.0, 1.2, 3.0, 3.2};
  static constexpr double kA[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                      {0.05, 10, 17, 0.1, 8, 14},
                                      {3, 3.5, 1.7, 10, 17, 8},
                                      {17, 8, 0.05, 10, 0.1, 14}};
  static constexpr double kP[4][6] = {{1312, 1696, 5569, 124, 8283, 5886},
                                      {2329, 4135, 8307, 3736, 1004, 9991},
                                      {2348, 1451, 3522, 2883, 3047, 6650},
                                      {4047, 8828, 8732, 5743, 1091, 381}};
  double sum = 0;
  for (int i = 0; i < 4; ++i) {
    double inner = 0;
    for (int j = 0; j < 6; ++j) {
      const double d = x[j] - kP[i][j] * 1e-4;
      inner += kA[i][j] * d * d;
    }
    sum += kAlpha[i] * std::exp(-inner);
  }
  return -sum;
}

}  // namespace trainyard::sweep::test_functions
