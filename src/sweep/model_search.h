// Model-based search: the `bayesian` sampling algorithm of a sweep, as a Tree-structured Parzen
// Estimator (TPE; Bergstra et al., "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011).
// The method, its settings and measured results: docs/sweeps-model-search.md.
//
// Terms used here and in model_search.cc:
// - Startup trial: trial index < n_startup, or any trial asked for while fewer than two usable
//   ended trials are known. Its assignment is exactly what MakeRandomSampler(space, seed) gives
//   trial `index` (sampling.h): FromUnit of RandomUnit(seed, index, j) for parameter j.
// - Split: the ended trials (the `history`), sorted by loss, are cut into the `below` group (the
//   best ceil(gamma * n), at least 1 and at most max_below) and the `above` group (the rest).
// - Parzen estimator: a mixture with one kernel per trial of a group plus one prior kernel (the
//   search space's own distribution, widened for bounded kinds). l(x) is fitted to `below`, g(x)
//   to `above`. Each parameter is modelled in its natural space: `choice` and `randint` as
//   categories (a kernel puts most of its mass on its trial's category, the rest spread evenly:
//   smoothed counts); `uniform`/`quniform` on the value and `loguniform`/`qloguniform` on its
//   logarithm, as normal kernels truncated to the bounds; `normal`/`qnormal` on the value and
//   `lognormal`/`qlognormal` on its logarithm, as untruncated normal kernels.
// - Candidates: n_candidates points drawn from l(x); the proposal is the one with the largest
//   l(x) / g(x), q rounding applied before scoring (the q kinds score a value by the mass of its
//   rounding bin).
//
// Concurrency: trials still running are not in `history`. Nothing is assumed about them (no
// constant liar): two trials asked for with the same history still differ because each one's
// candidates come from its own (seed, index) stream.
#pragma once

#include <cstdint>
#include <memory>

#include "sweep/sweep.h"

namespace trainyard::sweep {

struct ModelSearchOptions {
  // Trials 0 .. n_startup-1 are random draws (as random search would make them).
  int64_t n_startup = 10;
  // The below group is the best ceil(gamma * n) of n ended trials, clamped to [1, max_below].
  double gamma = 0.25;
  int64_t max_below = 25;
  // How many points are drawn from l(x) for each proposal.
  int64_t n_candidates = 24;
  // The prior kernel's weight in each mixture (each trial's kernel weighs at most 1).
  double prior_weight = 1.0;
  // true: one joint mixture over all parameters (a candidate takes every parameter from the same
  // kernel; bandwidths by Scott's rule). false: one mixture per parameter, candidates drawn and
  // scored parameter by parameter (bandwidths from the distance to the neighbouring points).
  bool multivariate = true;
  // Older trials count less once a group has more than this many: the most recent `recent` keep
  // weight 1, older ones ramp down linearly to 1/n.
  int64_t recent = 25;
};

// A sampler for `space` (each distribution valid as sweep.h describes: the spec reader has
// checked it). `space` is copied. Deterministic: Next(index, history) depends only on `seed`,
// `options`, `index` and the set of observations in `history` (not their order); nullopt only for
// a negative index. An observation is ignored when its loss is NaN, its params are not an object,
// or a parameter is missing or holds a value its distribution cannot give (choice: not one of
// the values; randint: not an integer in [0, upper); other kinds: not a finite number, or not
// positive for loguniform/lognormal, negative for qloguniform/qlognormal). Numbers outside a
// bounded distribution's range are clamped into it. `options` must hold 0 < gamma <= 1,
// max_below >= 1, n_candidates >= 1 and prior_weight > 0 (checked: a programmer error aborts).
std::unique_ptr<Sampler> MakeModelSearch(const SearchSpace& space, uint64_t seed,
                                         ModelSearchOptions options = {});

}  // namespace trainyard::sweep
