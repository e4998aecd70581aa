#include "sweep/sobol.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace trainyard::sweep {
namespace {

constexpr double kTwoTo32 = 4294967296.0;

SobolSequence Make(int dimensions) {
  auto sequence = SobolSequence::Make(dimensions);
  EXPECT_TRUE(sequence.ok()) << sequence.status().ToString();
  return std::move(sequence).value();
}

double At(const SobolSequence& s, uint32_t index, int dimension) {
  return s.Coordinate(index, dimension) / kTwoTo32;
}

// Worked by hand from the direction numbers (v_k = m_k / 2^k, then the recurrence) and the Gray
// code order: dimension 1 has v = 1/2, 1/4, 1/8; dimension 2 (x + 1, m = 1) v = 1/2, 3/4, 5/8;
// dimension 3 (x^2 + x + 1, m = 1, 3) v = 1/2, 3/4, 3/8. Point i XORs the v_k of the bits of
// i ^ (i >> 1) = 0, 1, 3, 2, 6, 7, 5, 4. These are also the published first points (Joe & Kuo's
// generator, scipy.stats.qmc.Sobol(scramble=False)).
TEST(Sobol, FirstPointsOfDimensionsOneToThree) {
  const SobolSequence s = Make(3);
  const std::vector<std::vector<double>> expected = {
      {0, 0.5, 0.75, 0.25, 0.375, 0.875, 0.625, 0.125},
      {0, 0.5, 0.25, 0.75, 0.375, 0.875, 0.125, 0.625},
      {0, 0.5, 0.25, 0.75, 0.625, 0.125, 0.875, 0.375},
  };
  for (int j = 0; j < 3; ++j) {
    for (uint32_t i = 0; i < 8; ++i) {
      EXPECT_EQ(At(s, i, j), expected[static_cast<size_t>(j)][i]) << "dim " << j + 1 << " i " << i;
    }
  }
}

// Spot checks of the higher dimensions (64, 128 and 256: the end of the built-in table) against
// an independent implementation of the same published numbers: scipy.stats.qmc.Sobol(d=256,
// scramble=False).random(4096) and torch.quasirandom.SobolEngine(256, scramble=False), which
// agree with this implementation on all 4096 x 256 coordinates.
TEST(Sobol, HighDimensionsMatchAnIndependentImplementation) {
  const SobolSequence s = Make(256);
  EXPECT_EQ(s.Coordinate(100, 63), 2785017856u);
  EXPECT_EQ(s.Coordinate(100, 127), 1979711488u);
  EXPECT_EQ(s.Coordinate(100, 255), 2449473536u);
  EXPECT_EQ(s.Coordinate(1000, 63), 1916796928u);
  EXPECT_EQ(s.Coordinate(1000, 127), 2336227328u);
  EXPECT_EQ(s.Coordinate(1000, 255), 1069547520u);
  EXPECT_EQ(s.Coordinate(4095, 63), 2377121792u);
  EXPECT_EQ(s.Coordinate(4095, 127), 1123024896u);
  EXPECT_EQ(s.Coordinate(4095, 255), 2632974336u);
  for (int j = 0; j < 256; ++j) EXPECT_EQ(At(s, 1, j), 0.5) << j;
}

// Every prefix of 2^k points has exactly one point in each interval [m / 2^k, (m + 1) / 2^k), in
// every dimension of the table.
TEST(Sobol, PowerOfTwoPrefixesAreStratifiedInEveryDimension) {
  const SobolSequence s = Make(SobolMaxDimensions());
  for (int j = 0; j < s.dimensions(); ++j) {
    for (int k = 0; k <= 12; ++k) {
      const uint32_t n = 1U << k;
      std::vector<int> count(n, 0);
      for (uint32_t i = 0; i < n; ++i) ++count[s.Coordinate(i, j) >> (32 - k)];
      for (uint32_t m = 0; m < n; ++m) {
        ASSERT_EQ(count[m], 1) << "dimension " << j + 1 << ", 2^" << k << " points, interval " << m;
      }
    }
  }
}

// Dimensions 1 and 2 form a (0, m, 2)-net: the first 2^m points put exactly one point in each
// box [a / 2^p, (a + 1) / 2^p) x [b / 2^q, (b + 1) / 2^q) with p + q = m.
TEST(Sobol, FirstTwoDimensionsAreANet) {
  const SobolSequence s = Make(2);
  const int m = 10;
  for (int p = 0; p <= m; ++p) {
    const int q = m - p;
    std::vector<int> count(size_t{1} << m, 0);
    for (uint32_t i = 0; i < (1U << m); ++i) {
      const uint32_t a = p == 0 ? 0 : s.Coordinate(i, 0) >> (32 - p);
      const uint32_t b = q == 0 ? 0 : s.Coordinate(i, 1) >> (32 - q);
      ++count[(a << q) | b];
    }
    for (int c : count) ASSERT_EQ(c, 1) << "p " << p;
  }
}

TEST(Sobol, RefusesMoreDimensionsThanTheTableHas) {
  EXPECT_GE(SobolMaxDimensions(), 64);
  EXPECT_TRUE(SobolSequence::Make(SobolMaxDimensions()).ok());
  EXPECT_TRUE(SobolSequence::Make(0).ok());
  auto too_many = SobolSequence::Make(SobolMaxDimensions() + 1);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_many.status().message().find(std::to_string(SobolMaxDimensions())),
            std::string::npos)
      << too_many.status().message();
  EXPECT_FALSE(SobolSequence::Make(-1).ok());
}

}  // namespace
}  // namespace trainyard::sweep
