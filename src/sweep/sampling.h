// The samplers that ignore the trials' results: random (`sampling_algorithm: random`, rules
// `random` and `sobol`) and grid (`sampling_algorithm: grid`). docs/sweeps-sampling.md gives the
// formulas and how they compare with the hosted service.
//
// Every sampler here answers Next(index, history) from its settings and `index` alone (history is
// ignored), so a restarted controller asking again for trial `index` gets the same assignment,
// whatever it asked before and in whatever order. Each value is FromUnit(distribution, u) (see
// sweep.h) of a quantile u in [0, 1) that the sampler chooses:
//   random: u = RandomUnit(seed, index, j) for parameter j (0-based, in the search space's order);
//   sobol:  u = coordinate j of point `index` of the Sobol' sequence (sobol.h), digitally shifted;
//   grid:   no u: the index-th element of the cartesian product of the `choice` values.
// No I/O. A sampler is not thread-safe (see Sampler); the factories are.
#pragma once

#include <cstdint>
#include <memory>

#include "common/status.h"
#include "sweep/sweep.h"

namespace trainyard::sweep {

// The most combinations a grid may have.
inline constexpr int64_t kMaxGridSize = 10'000'000;

// 64 random bits that depend on (seed, index, draw) only: the output of a SplitMix64 stream
// (Steele, Lea and Flood, 2014) whose starting state is a hash of (seed, index), advanced `draw`
// + 1 times. Portable: the same bits on every platform and standard library.
uint64_t RandomBits(uint64_t seed, uint64_t index, uint64_t draw);

// A uniform number in [0, 1) with 53 random bits: (RandomBits(seed, index, draw) >> 11) * 2^-53.
double RandomUnit(uint64_t seed, uint64_t index, uint64_t draw);

// Independent draws: parameter j of trial `index` is FromUnit(distribution_j,
// RandomUnit(seed, index, j)). Accepts every distribution; Size() is nullopt; Next is nullopt
// only for a negative index. Copies `space`.
std::unique_ptr<Sampler> MakeRandomSampler(const SearchSpace& space, uint64_t seed);

// `rule: sobol`: parameter j of trial `index` is FromUnit(distribution_j, u) where u is
// coordinate j of point `index` of the Sobol' sequence XORed, as a 53-bit binary fraction, with
// 53 random bits RandomBits(seed, 2^64 - 1, j) >> 11 (a digital shift: each 2^k-point prefix stays
// stratified in every dimension, and point 0 is as good as any other, so none is skipped).
// InvalidArgument when the space has more parameters than SobolMaxDimensions() (the message names
// the limit). Size() is nullopt; Next is nullopt for a negative index and past 2^32 - 1.
Result<std::unique_ptr<Sampler>> MakeSobolSampler(const SearchSpace& space, uint64_t seed);

// Grid search: trial `index` is the index-th combination of the parameters' `choice` values, the
// LAST parameter varying fastest (odometer order: with a: [1, 2] and b: [x, y, z], trials 0..5
// are (1,x) (1,y) (1,z) (2,x) (2,y) (2,z)). Size() is the number of combinations (1 for an empty
// space); Next is nullopt for a negative index and from Size() on. InvalidArgument when a
// parameter is not a `choice` (the hosted service's rule; the message names the parameter and
// its kind), has no values, or when there are more than kMaxGridSize combinations.
Result<std::unique_ptr<Sampler>> MakeGridSampler(const SearchSpace& space);

}  // namespace trainyard::sweep
