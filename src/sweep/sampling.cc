#include "sweep/sampling.h"

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "sweep/sobol.h"

namespace trainyard::sweep {
namespace {

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;  // SplitMix64's increment, 2^64 / phi
constexpr double kTwoToMinus53 = 1.0 / 9007199254740992.0;

// SplitMix64's output function: a bijection of the 64-bit integers that mixes every input bit
// into every output bit.
uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

nlohmann::json Assignment(const SearchSpace& space, const std::vector<double>& units) {
  nlohmann::json params = nlohmann::json::object();
  for (size_t j = 0; j < space.size(); ++j) {
    params[space[j].name] = FromUnit(space[j].distribution, units[j]);
  }
  return params;
}

class RandomSampler : public Sampler {
 public:
  RandomSampler(SearchSpace space, uint64_t seed) : space_(std::move(space)), seed_(seed) {}

  std::optional<nlohmann::json> Next(int64_t index,
                                     const std::vector<Observation>& /*history*/) override {
    if (index < 0) return std::nullopt;
    std::vector<double> units(space_.size());
    for (size_t j = 0; j < units.size(); ++j) {
      units[j] = RandomUnit(seed_, static_cast<uint64_t>(index), j);
    }
    return Assignment(space_, units);
  }

 private:
  SearchSpace space_;
  uint64_t seed_;
};

// The stream of RandomBits that the Sobol sampler's digital shift takes its bits from: an index
// no trial has (trial indices are int64_t, at most 2^63 - 1).
constexpr uint64_t kShiftStream = std::numeric_limits<uint64_t>::max();

class SobolSampler : public Sampler {
 public:
  SobolSampler(SearchSpace space, SobolSequence sequence, uint64_t seed)
      : space_(std::move(space)), sequence_(std::move(sequence)) {
    shifts_.reserve(space_.size());
    for (size_t j = 0; j < space_.size(); ++j) {
      shifts_.push_back(RandomBits(seed, kShiftStream, j) >> 11);
    }
  }

  std::optional<nlohmann::json> Next(int64_t index,
                                     const std::vector<Observation>& /*history*/) override {
    if (index < 0 || index > std::numeric_limits<uint32_t>::max()) return std::nullopt;
    const auto point = static_cast<uint32_t>(index);
    std::vector<double> units(space_.size());
    for (size_t j = 0; j < units.size(); ++j) {
      // The 32-bit coordinate as the top bits of a 53-bit fraction, XOR the shift.
      const uint64_t x = uint64_t{sequence_.Coordinate(point, static_cast<int>(j))} << 21;
      units[j] = static_cast<double>(x ^ shifts_[j]) * kTwoToMinus53;
    }
    return Assignment(space_, units);
  }

 private:
  SearchSpace space_;
  SobolSequence sequence_;
  std::vector<uint64_t> shifts_;  // 53 bits each
};

class GridSampler : public Sampler {
 public:
  GridSampler(SearchSpace space, int64_t size) : space_(std::move(space)), size_(size) {}

  std::optional<nlohmann::json> Next(int64_t index,
                                     const std::vector<Observation>& /*history*/) override {
    if (index < 0 || index >= size_) return std::nullopt;
    // Mixed-radix digits of `index`, the last parameter the least significant.
    std::vector<size_t> digits(space_.size());
    int64_t rest = index;
    for (size_t j = space_.size(); j-- > 0;) {
      const auto radix = static_cast<int64_t>(space_[j].distribution.values.size());
      digits[j] = static_cast<size_t>(rest % radix);
      rest /= radix;
    }
    nlohmann::json params = nlohmann::json::object();
    for (size_t j = 0; j < space_.size(); ++j) {
      params[space_[j].name] = space_[j].distribution.values[digits[j]];
    }
    return params;
  }

  std::optional<int64_t> Size() const override { return size_; }

 private:
  SearchSpace space_;
  int64_t size_;
};

}  // namespace

uint64_t RandomBits(uint64_t seed, uint64_t index, uint64_t draw) {
  // The stream's state: Mix64 is a bijection, so distinct indices under one seed get distinct
  // states, and the seed's hash decorrelates nearby seeds.
  const uint64_t state = Mix64(Mix64(seed + kGolden) ^ index);
  return Mix64(state + (draw + 1) * kGolden);
}

double RandomUnit(uint64_t seed, uint64_t index, uint64_t draw) {
  return static_cast<double>(RandomBits(seed, index, draw) >> 11) * kTwoToMinus53;
}

std::unique_ptr<Sampler> MakeRandomSampler(const SearchSpace& space, uint64_t seed) {
  return std::make_unique<RandomSampler>(space, seed);
}

Result<std::unique_ptr<Sampler>> MakeSobolSampler(const SearchSpace& space, uint64_t seed) {
  if (space.size() > static_cast<size_t>(SobolMaxDimensions())) {
    return InvalidArgument("sobol sampling supports at most " +
                           std::to_string(SobolMaxDimensions()) +
                           " parameters (one Sobol dimension each, from the Joe & Kuo table "
                           "built into trainyard); the search space has " +
                           std::to_string(space.size()) + ": use rule: random");
  }
  auto sequence = SobolSequence::Make(static_cast<int>(space.size()));
  if (!sequence.ok()) return sequence.status();
  return std::unique_ptr<Sampler>(
      std::make_unique<SobolSampler>(space, std::move(sequence).value(), seed));
}

Result<std::unique_ptr<Sampler>> MakeGridSampler(const SearchSpace& space) {
  int64_t size = 1;
  for (const Parameter& parameter : space) {
    const Distribution& d = parameter.distribution;
    if (d.kind != Kind::kChoice) {
      return InvalidArgument(std::string("grid sampling supports only choice parameters; '") +
                             parameter.name + "' is " + KindName(d.kind) +
                             " (list its values with choice, or use random or bayesian sampling)");
    }
    if (d.values.empty()) {
      return InvalidArgument("grid sampling: choice parameter '" + parameter.name +
                             "' has no values");
    }
    const auto n = static_cast<int64_t>(d.values.size());
    if (n > kMaxGridSize || size > kMaxGridSize / n) {
      return InvalidArgument("grid sampling: the search space has more than " +
                             std::to_string(kMaxGridSize) +
                             " combinations (the most trainyard enumerates); use fewer values, "
                             "or random sampling with limits.max_total_trials");
    }
    size *= n;
  }
  return std::unique_ptr<Sampler>(std::make_unique<GridSampler>(space, size));
}

}  // namespace trainyard::sweep
