// The Sobol' low-discrepancy sequence, the points behind `rule: sobol` (sampling.h).
//
// Terms. A Sobol' sequence in d dimensions is a fixed list of points x_0, x_1, ... in [0, 1)^d
// whose every prefix of 2^k points is stratified in each dimension: exactly one point lies in
// each interval [j / 2^k, (j + 1) / 2^k). Dimension j is built from a primitive polynomial over
// GF(2) of degree s and s initial "direction numbers" m_1..m_s (odd, m_k < 2^k); the rest follow
// from the polynomial's recurrence. Coordinate j of point i is the XOR of the direction numbers
// v_k = m_k / 2^k selected by the bits of the Gray code of i (i XOR i >> 1): the order of Joe and
// Kuo's generator, of scipy.stats.qmc.Sobol and of torch.quasirandom.SobolEngine, so that point 1
// is (0.5, 0.5, ...), and dimension 1 runs 0, 0.5, 0.75, 0.25, 0.375, ...
//
// Direction numbers: S. Joe and F. Y. Kuo, "Constructing Sobol sequences with better
// two-dimensional projections", SIAM J. Sci. Comput. 30 (2008) 2635-2654, the table
// new-joe-kuo-6.21201 (https://web.maths.unsw.edu.au/~fkuo/sobol/), of which sobol.cc holds the
// first SobolMaxDimensions() dimensions (dimension 1 is the van der Corput sequence, all m_k = 1).
//
// Coordinates are 32-bit binary fractions: indices up to 2^32 - 1. No I/O; plain values, safe to
// share between threads for reading.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "common/status.h"

namespace trainyard::sweep {

// How many dimensions the built-in direction-number table has.
int SobolMaxDimensions();

class SobolSequence {
 public:
  // The first `dimensions` dimensions of the unscrambled sequence. InvalidArgument when
  // `dimensions` is negative or more than SobolMaxDimensions() (the message names the limit).
  static Result<SobolSequence> Make(int dimensions);

  int dimensions() const { return static_cast<int>(directions_.size()); }

  // Coordinate `dimension` (0-based, < dimensions()) of point `index`, as a 32-bit binary
  // fraction: the coordinate is Coordinate(...) * 2^-32. Point 0 is the origin.
  uint32_t Coordinate(uint32_t index, int dimension) const;

 private:
  // directions_[j][k] = v_{k+1} of dimension j, scaled by 2^32.
  std::vector<std::array<uint32_t, 32>> directions_;
};

}  // namespace trainyard::sweep
