#include "sweep/policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace trainyard::sweep {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TrialView T(int64_t index, std::vector<double> values, TrialState state = TrialState::kRunning) {
  TrialView t;
  t.index = index;
  t.state = state;
  t.primary = std::move(values);
  return t;
}

EarlyTermination Bandit(std::optional<double> factor, std::optional<double> amount,
                        int64_t interval = 1, int64_t delay = 0) {
  EarlyTermination p;
  p.type = PolicyType::kBandit;
  p.slack_factor = factor;
  p.slack_amount = amount;
  p.evaluation_interval = interval;
  p.delay_evaluation = delay;
  return p;
}

EarlyTermination Median(int64_t interval = 1, int64_t delay = 0) {
  EarlyTermination p;
  p.type = PolicyType::kMedianStopping;
  p.evaluation_interval = interval;
  p.delay_evaluation = delay;
  return p;
}

EarlyTermination Truncation(int64_t percentage, int64_t interval = 1, int64_t delay = 0) {
  EarlyTermination p;
  p.type = PolicyType::kTruncationSelection;
  p.truncation_percentage = percentage;
  p.evaluation_interval = interval;
  p.delay_evaluation = delay;
  return p;
}

EarlyTermination Asha(int64_t grace, int64_t factor, int64_t max_t = 0) {
  EarlyTermination p;
  p.type = PolicyType::kAsha;
  p.grace_period = grace;
  p.reduction_factor = factor;
  p.max_t = max_t;
  return p;
}

// The indices Evaluate stops.
std::vector<int64_t> Stopped(const EarlyTermination& p, Goal goal,
                             const std::vector<TrialView>& trials) {
  std::vector<int64_t> out;
  for (const StopDecision& d : Evaluate(p, goal, trials)) out.push_back(d.index);
  return out;
}

using V = std::vector<int64_t>;
constexpr Goal kMax = Goal::kMaximize;
constexpr Goal kMin = Goal::kMinimize;

// --- Bandit ---

TEST(BanditPolicy, SlackFactorMaximizeHandComputed) {
  // Best at interval 2: 0.79; threshold 0.79 / 1.1 = 0.718182.
  std::vector<TrialView> trials = {T(0, {0.5, 0.79}), T(1, {0.6, 0.71}), T(2, {0.4, 0.72})};
  auto stops = Evaluate(Bandit(0.1, std::nullopt), kMax, trials);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].index, 1);
  EXPECT_EQ(stops[0].reason,
            "bandit: at interval 2 the best value 0.71 is below 0.718182 (best 0.79 / (1 + 0.1))");
}

TEST(BanditPolicy, HostedDocsExample) {
  // BanditPolicy reference: slack_factor 0.2, best AUC 0.8 -> runs below 0.8 / 1.2 = 0.6667 stop.
  std::vector<TrialView> trials = {T(0, {0.8}), T(1, {0.66}), T(2, {0.67})};
  EXPECT_EQ(Stopped(Bandit(0.2, std::nullopt), kMax, trials), V({1}));
  // ... and with slack_amount 0.2, runs below 0.8 - 0.2 = 0.6.
  trials = {T(0, {0.8}), T(1, {0.59}), T(2, {0.61})};
  EXPECT_EQ(Stopped(Bandit(std::nullopt, 0.2), kMax, trials), V({1}));
}

TEST(BanditPolicy, SlackFactorMinimize) {
  // Best (lowest) 0.5; threshold 0.5 * 1.2 = 0.6.
  std::vector<TrialView> trials = {T(0, {0.5}), T(1, {0.61}), T(2, {0.59})};
  auto stops = Evaluate(Bandit(0.2, std::nullopt), kMin, trials);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].index, 1);
  EXPECT_EQ(stops[0].reason,
            "bandit: at interval 1 the best value 0.61 is above 0.6 (best 0.5 * (1 + 0.2))");
}

TEST(BanditPolicy, SlackFactorNegativeBestKeepsThresholdOnTheWorseSide) {
  // Maximize, best -1: threshold -1 * 1.1 = -1.1 (not -1 / 1.1, which is above the best).
  std::vector<TrialView> trials = {T(0, {-1.0}), T(1, {-1.05}), T(2, {-1.2})};
  EXPECT_EQ(Stopped(Bandit(0.1, std::nullopt), kMax, trials), V({2}));
  // Minimize, best -2: threshold -2 / 1.25 = -1.6.
  trials = {T(0, {-2.0}), T(1, {-1.7}), T(2, {-1.5})};
  auto stops = Evaluate(Bandit(0.25, std::nullopt), kMin, trials);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].index, 2);
  EXPECT_EQ(stops[0].reason,
            "bandit: at interval 1 the best value -1.5 is above -1.6 (best -2 / (1 + 0.25))");
}

TEST(BanditPolicy, SlackAmountBothGoalsAndStrictness) {
  // Maximize: best 1.0, amount 0.5 -> 0.5; a value equal to the threshold continues.
  std::vector<TrialView> trials = {T(0, {1.0}), T(1, {0.5}), T(2, {0.25})};
  auto stops = Evaluate(Bandit(std::nullopt, 0.5), kMax, trials);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].index, 2);
  EXPECT_EQ(stops[0].reason,
            "bandit: at interval 1 the best value 0.25 is below 0.5 (best 1 - 0.5)");
  // Minimize: best 2.0, amount 0.5 -> 2.5.
  trials = {T(0, {2.0}), T(1, {2.5}), T(2, {2.75})};
  EXPECT_EQ(Stopped(Bandit(std::nullopt, 0.5), kMin, trials), V({2}));
  // slack_amount 0: everything worse than the best stops.
  trials = {T(0, {2.0}), T(1, {2.0}), T(2, {2.0000001})};
  EXPECT_EQ(Stopped(Bandit(std::nullopt, 0.0), kMin, trials), V({2}));
}

TEST(BanditPolicy, ComparesEachTrialsBestSoFar) {
  // The hosted docs compare "the best metric" of a run: trial 1 dropped to 0.1 but its best up to
  // interval 2 is 0.9, within slack of trial 0's 0.95.
  std::vector<TrialView> trials = {T(0, {0.5, 0.95}), T(1, {0.9, 0.1})};
  EXPECT_TRUE(Stopped(Bandit(0.1, std::nullopt), kMax, trials).empty());
  // The reference is the best of every trial's best up to k too: trial 0 peaked at 1.0.
  trials = {T(0, {1.0, 0.2}), T(1, {0.5, 0.85})};
  EXPECT_EQ(Stopped(Bandit(0.1, std::nullopt), kMax, trials), V({1}));
}

TEST(BanditPolicy, YoungTrialIsComparedAtItsOwnInterval) {
  // Trial 0 has reached 0.9 at interval 5, but at interval 2 its best was 0.6: trial 1, at
  // interval 2 with 0.6, is within slack. The best value a trial logged after k does not count.
  std::vector<TrialView> trials = {T(0, {0.5, 0.6, 0.7, 0.8, 0.9}), T(1, {0.5, 0.6})};
  EXPECT_TRUE(Stopped(Bandit(0.1, std::nullopt), kMax, trials).empty());
  trials[1].primary.push_back(0.6);  // at 3: best 0.7 -> threshold 0.636 > 0.6
  EXPECT_EQ(Stopped(Bandit(0.1, std::nullopt), kMax, trials), V({1}));
}

TEST(BanditPolicy, DelayEvaluationFirstAppliesAtTheDelay) {
  // The hosted docs: delay_evaluation 5 -> first applied at interval 5 ("every multiple of
  // evaluation_interval that is greater than or equal to delay_evaluation").
  std::vector<TrialView> trials = {T(0, {1, 1, 1, 1, 1}), T(1, {0.5, 0.5, 0.5, 0.5})};
  const EarlyTermination p = Bandit(0.1, std::nullopt, 1, 5);
  EXPECT_TRUE(Stopped(p, kMax, trials).empty());
  trials[1].primary.push_back(0.5);
  auto stops = Evaluate(p, kMax, trials);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].index, 1);
  EXPECT_NE(stops[0].reason.find("at interval 5 "), std::string::npos) << stops[0].reason;
}

TEST(BanditPolicy, EvaluationIntervalJudgesAtTheLatestMultiple) {
  // Trial 0 jumps to 1.0 at interval 3. With evaluation_interval 2, interval 3 is not evaluated:
  // trial 1 is judged at interval 2, where both are 0.5.
  std::vector<TrialView> trials = {T(0, {0.5, 0.5, 1.0}), T(1, {0.5, 0.5, 0.5})};
  EXPECT_TRUE(Stopped(Bandit(0.1, std::nullopt, 2), kMax, trials).empty());
  EXPECT_EQ(Stopped(Bandit(0.1, std::nullopt, 1), kMax, trials), V({1}));
  trials[0].primary.push_back(1.0);
  trials[1].primary.push_back(0.5);
  auto stops = Evaluate(Bandit(0.1, std::nullopt, 2), kMax, trials);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_NE(stops[0].reason.find("at interval 4 "), std::string::npos) << stops[0].reason;
  // evaluation_interval 3 with delay 4: the first evaluation is at 6.
  trials[0].primary.push_back(1.0);
  trials[1].primary.push_back(0.5);
  EXPECT_TRUE(Stopped(Bandit(0.1, std::nullopt, 3, 4), kMax, trials).empty());  // 5 values
  trials[0].primary.push_back(1.0);
  trials[1].primary.push_back(0.5);
  EXPECT_EQ(Stopped(Bandit(0.1, std::nullopt, 3, 4), kMax, trials), V({1}));  // 6 values
}

TEST(BanditPolicy, EndedTrialsCountButAreNeverStopped) {
  // A completed or canceled trial is the reference; a failed one is not.
  for (TrialState state : {TrialState::kCompleted, TrialState::kCanceled}) {
    std::vector<TrialView> trials = {T(0, {1.0, 1.0}, state), T(1, {0.8, 0.8}),
                                     T(2, {0.1, 0.1}, TrialState::kCompleted)};
    EXPECT_EQ(Stopped(Bandit(0.1, std::nullopt), kMax, trials), V({1}));
  }
  std::vector<TrialView> trials = {T(0, {1.0, 1.0}, TrialState::kFailed), T(1, {0.8, 0.8})};
  EXPECT_TRUE(Stopped(Bandit(0.1, std::nullopt), kMax, trials).empty());
}

TEST(BanditPolicy, NaNIsNeverCompared) {
  // A NaN is skipped in the best so far; a trial with only NaN is not judged.
  std::vector<TrialView> trials = {T(0, {1.0, 1.0}), T(1, {kNaN}), T(2, {kNaN, 0.5})};
  EXPECT_EQ(Stopped(Bandit(0.1, std::nullopt), kMax, trials), V({2}));
  // A NaN does not move the reference.
  trials = {T(0, {kNaN}), T(1, {0.5})};
  EXPECT_TRUE(Stopped(Bandit(0.1, std::nullopt), kMax, trials).empty());
}

// --- Median stopping ---

TEST(MedianStoppingPolicy, HandComputedOddCount) {
  // Running averages over 1..3: A 0.4, B 0.2, C 0.5 -> median 0.4. Bests: A 0.6, B 0.3, C 0.5.
  std::vector<TrialView> trials = {T(0, {0.2, 0.4, 0.6}), T(1, {0.1, 0.2, 0.3}),
                                   T(2, {0.5, 0.5, 0.5})};
  auto stops = Evaluate(Median(), kMax, trials);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].index, 1);
  EXPECT_EQ(stops[0].reason,
            "median_stopping: at interval 3 the best value 0.3 is below 0.4 (the median of the "
            "running averages of 3 trials over intervals 1..3)");
}

TEST(MedianStoppingPolicy, HandComputedEvenCount) {
  // Averages 0.4, 0.2, 0.5, 0.3 -> median (0.3 + 0.4) / 2 = 0.35; bests 0.6, 0.3, 0.5, 0.3.
  std::vector<TrialView> trials = {T(0, {0.2, 0.4, 0.6}), T(1, {0.1, 0.2, 0.3}),
                                   T(2, {0.5, 0.5, 0.5}), T(3, {0.3, 0.3, 0.3})};
  auto stops = Evaluate(Median(), kMax, trials);
  ASSERT_EQ(stops.size(), 2u);
  EXPECT_EQ(stops[0].index, 1);
  EXPECT_EQ(stops[1].index, 3);
  EXPECT_NE(stops[1].reason.find("0.3 is below 0.35 "), std::string::npos) << stops[1].reason;
}

TEST(MedianStoppingPolicy, Minimize) {
  // Minimize: bests (lowest) A 0.2, B 0.1, C 0.5; averages median 0.4: C is above it.
  std::vector<TrialView> trials = {T(0, {0.2, 0.4, 0.6}), T(1, {0.1, 0.2, 0.3}),
                                   T(2, {0.5, 0.5, 0.5})};
  auto stops = Evaluate(Median(), kMin, trials);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].index, 2);
  EXPECT_NE(stops[0].reason.find("the best value 0.5 is above 0.4 "), std::string::npos)
      << stops[0].reason;
}

TEST(MedianStoppingPolicy, UsesAveragesUpToTheTrialsInterval) {
  // Trial 0 has run on to interval 4 (0.9 there); trial 1, at interval 2, is compared with the
  // averages over 1..2: trial 0's is (0.1 + 0.3) / 2 = 0.2, trial 1's 0.15: median 0.175, and
  // trial 1's best 0.2 is not below it.
  std::vector<TrialView> trials = {T(0, {0.1, 0.3, 0.9, 0.9}), T(1, {0.1, 0.2})};
  EXPECT_TRUE(Stopped(Median(), kMax, trials).empty());
  // At interval 4 with delay 4, only trial 0 is judged (trial 1 has not reached 4).
  trials.push_back(T(2, {0.1, 0.1, 0.1, 0.1}));
  EXPECT_EQ(Stopped(Median(1, 4), kMax, trials), V({2}));
  // averages over 1..4: trial 0 0.55, trial 2 0.1 -> median 0.325 > trial 2's best 0.1.
}

TEST(MedianStoppingPolicy, DelayAndEndedTrials) {
  std::vector<TrialView> trials = {T(0, {1, 1, 1, 1}, TrialState::kCompleted),
                                   T(1, {1, 1, 1, 1}, TrialState::kCanceled), T(2, {0, 0, 0, 0}),
                                   T(3, {0, 0, 0, 0}, TrialState::kCompleted)};
  // Averages 1, 1, 0, 0: median 0.5; trial 2 (running) stops, trial 3 (completed) is not listed.
  EXPECT_EQ(Stopped(Median(1, 4), kMax, trials), V({2}));
  EXPECT_TRUE(Stopped(Median(1, 5), kMax, trials).empty());
  EXPECT_EQ(Stopped(Median(3, 0), kMax, trials), V({2}));    // judged at 3
  EXPECT_TRUE(Stopped(Median(5, 0), kMax, trials).empty());  // 5 not reached
}

TEST(MedianStoppingPolicy, NaNIsLeftOutOfAverages) {
  // Trial 1's average over the non-NaN values is 0.2; median of (0.5, 0.2, 0.6) = 0.5.
  std::vector<TrialView> trials = {T(0, {0.5, 0.5}), T(1, {kNaN, 0.2}), T(2, {0.6, 0.6}),
                                   T(3, {kNaN, kNaN})};
  EXPECT_EQ(Stopped(Median(), kMax, trials), V({1}));
}

// --- Truncation selection ---

std::vector<TrialView> Ten(double step = 0.1) {
  std::vector<TrialView> trials;
  for (int i = 0; i < 10; ++i) trials.push_back(T(i, {step * (i + 1)}));
  return trials;
}

TEST(TruncationSelectionPolicy, LowestPercentageBothGoals) {
  // 10 trials at interval 1, 20%: the lowest 2 are cut.
  auto stops = Evaluate(Truncation(20), kMax, Ten());
  ASSERT_EQ(stops.size(), 2u);
  EXPECT_EQ(stops[0].index, 0);
  EXPECT_EQ(stops[1].index, 1);
  EXPECT_EQ(stops[1].reason,
            "truncation_selection: at interval 1 the value 0.2 is among the lowest 20% of the 10 "
            "trials at that interval (the lowest 2, up to 0.2)");
  // Minimizing, the lowest performers are the largest values.
  EXPECT_EQ(Stopped(Truncation(20), kMin, Ten()), V({8, 9}));
  // 25% of 10 is 2.5: floor, 2 cut (never more than the percentage).
  EXPECT_EQ(Stopped(Truncation(25), kMax, Ten()), V({0, 1}));
  EXPECT_EQ(Stopped(Truncation(30), kMax, Ten()), V({0, 1, 2}));
}

TEST(TruncationSelectionPolicy, RoundingDownCutsNothingWhenTooFew) {
  std::vector<TrialView> trials = {T(0, {0.1}), T(1, {0.2}), T(2, {0.3}), T(3, {0.4})};
  EXPECT_TRUE(Stopped(Truncation(20), kMax, trials).empty());  // 4 * 20% = 0.8 -> 0
  trials.push_back(T(4, {0.5}));
  EXPECT_EQ(Stopped(Truncation(20), kMax, trials), V({0}));  // 5 * 20% = 1
}

TEST(TruncationSelectionPolicy, EndedTrialsAreRankedNotStopped) {
  auto trials = Ten();
  trials[0].state = TrialState::kCompleted;
  trials[1].state = TrialState::kCanceled;
  trials[2].state = TrialState::kFailed;  // not ranked: 9 trials, cut 1 (trial 0, completed)
  EXPECT_TRUE(Stopped(Truncation(20), kMax, trials).empty());
  trials[2].state = TrialState::kRunning;  // 10 ranked, cut 2: trials 0 and 1, both ended
  EXPECT_TRUE(Stopped(Truncation(20), kMax, trials).empty());
  EXPECT_EQ(Stopped(Truncation(30), kMax, trials), V({2}));
}

TEST(TruncationSelectionPolicy, TiesAreCutTogetherOrNotAtAll) {
  // 5 trials, 20%: 1 cut; the two lowest are tied, so neither is.
  std::vector<TrialView> trials = {T(0, {1}), T(1, {1}), T(2, {2}), T(3, {3}), T(4, {4})};
  EXPECT_TRUE(Stopped(Truncation(20), kMax, trials).empty());
  EXPECT_EQ(Stopped(Truncation(40), kMax, trials), V({0, 1}));
}

TEST(TruncationSelectionPolicy, ComparesAtTheSameInterval) {
  // Four trials have reached interval 2 (0.9 there); a young one with one value is ranked only
  // against their values at interval 1. 5 at interval 1, 20%: one cut.
  std::vector<TrialView> trials;
  for (int i = 0; i < 4; ++i) trials.push_back(T(i, {0.5, 0.9}));
  trials.push_back(T(4, {0.6}));
  EXPECT_TRUE(Stopped(Truncation(20), kMax, trials).empty());  // 0.6 is the best at 1
  trials[4].primary = {0.4};
  EXPECT_EQ(Stopped(Truncation(20), kMax, trials), V({4}));  // the worst at 1
  // The old trials, at interval 2, are ranked among the 4 that reached it: 4 * 20% -> none.
}

TEST(TruncationSelectionPolicy, GatingAndNaN) {
  auto trials = Ten();
  EXPECT_TRUE(Stopped(Truncation(20, 1, 2), kMax, trials).empty());  // delay 2, 1 value
  for (auto& t : trials) t.primary.push_back(t.primary[0]);
  EXPECT_EQ(Stopped(Truncation(20, 1, 2), kMax, trials), V({0, 1}));
  EXPECT_EQ(Stopped(Truncation(20, 2, 0), kMax, trials), V({0, 1}));
  // NaN at the interval: not ranked (9 left, 1 cut), not judged.
  trials[0].primary[1] = kNaN;
  EXPECT_EQ(Stopped(Truncation(20), kMax, trials), V({1}));
}

// --- ASHA ---

TEST(AshaPolicy, RungOneHandComputed) {
  // grace 1, factor 3: rung 0 at interval 1. Each trial against the other two, cutoff at the
  // 2/3 quantile (linear): trial 0 vs {0.5, 0.7}: 0.6333 -> continues; trial 1 vs {0.7, 0.9}:
  // 0.8333 -> stopped; trial 2 vs {0.5, 0.9}: 0.7667 -> stopped.
  std::vector<TrialView> trials = {T(0, {0.9}), T(1, {0.5}), T(2, {0.7})};
  auto stops = Evaluate(Asha(1, 3), kMax, trials);
  ASSERT_EQ(stops.size(), 2u);
  EXPECT_EQ(stops[0].index, 1);
  EXPECT_EQ(stops[0].reason,
            "asha: at rung 0 (interval 1) the value 0.5 is below 0.833333 (the top 1/3 cutoff of 2 "
            "other trials at that interval)");
  EXPECT_EQ(stops[1].index, 2);
  EXPECT_NE(stops[1].reason.find("0.7 is below 0.766667 "), std::string::npos);
}

TEST(AshaPolicy, Minimize) {
  // The same values minimized: trial 1 (0.5) is the best. Trial 0 vs {0.5, 0.7}: cutoff at the
  // 1/3 quantile 0.5667 -> 0.9 above, stopped; trial 2 vs {0.5, 0.9}: 0.6333 -> stopped; trial 1
  // vs {0.7, 0.9}: 0.7667 -> continues.
  std::vector<TrialView> trials = {T(0, {0.9}), T(1, {0.5}), T(2, {0.7})};
  auto stops = Evaluate(Asha(1, 3), kMin, trials);
  ASSERT_EQ(stops.size(), 2u);
  EXPECT_EQ(stops[0].index, 0);
  EXPECT_NE(stops[0].reason.find("0.9 is above 0.566667 "), std::string::npos);
  EXPECT_EQ(stops[1].index, 2);
}

TEST(AshaPolicy, JudgedAtTheHighestRungReached) {
  // grace 2, factor 2: rungs 2, 4, 8. The first trial at a rung continues (nothing recorded).
  std::vector<TrialView> trials = {T(0, {0.1, 0.1}), T(1, {0.9})};
  EXPECT_TRUE(Stopped(Asha(2, 2), kMax, trials).empty());
  // Trial 1 reaches rung 2 with 0.8 > cutoff (trial 0's 0.1): continues; trial 0, still at its
  // rung, is now below the cutoff 0.8.
  trials[1].primary.push_back(0.8);
  EXPECT_EQ(Stopped(Asha(2, 2), kMax, trials), V({0}));
  // Past the rung (a third value, seen late) it is still judged there, until it reaches rung 4.
  trials[0].primary.push_back(0.1);
  EXPECT_EQ(Stopped(Asha(2, 2), kMax, trials), V({0}));
  // At rung 4 it is compared with the trials that reached 4: trial 1 (0.95 there).
  trials[1].primary.insert(trials[1].primary.end(), {0.9, 0.95});
  trials[0].primary.push_back(0.2);
  auto stops = Evaluate(Asha(2, 2), kMax, trials);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].index, 0);
  EXPECT_NE(stops[0].reason.find("at rung 1 (interval 4) the value 0.2 is below 0.95 "),
            std::string::npos)
      << stops[0].reason;
}

TEST(AshaPolicy, MaxTBoundsTheRungs) {
  // grace 1, factor 3, max_t 9: rungs 1 and 3 only, so at interval 9 a trial is judged at rung
  // 3 (never stopped for reaching max_t); without max_t, rung 9 is one too.
  std::vector<TrialView> trials = {T(0, std::vector<double>(9, 1.0)),
                                   T(1, std::vector<double>(9, 0.0))};
  auto bounded = Evaluate(Asha(1, 3, 9), kMax, trials);
  ASSERT_EQ(bounded.size(), 1u);
  EXPECT_EQ(bounded[0].index, 1);
  EXPECT_NE(bounded[0].reason.find("at rung 1 (interval 3)"), std::string::npos)
      << bounded[0].reason;
  auto unbounded = Evaluate(Asha(1, 3, 0), kMax, trials);
  ASSERT_EQ(unbounded.size(), 1u);
  EXPECT_NE(unbounded[0].reason.find("at rung 2 (interval 9)"), std::string::npos)
      << unbounded[0].reason;
  // A good trial at any rung goes on.
  trials[1].primary.assign(9, 2.0);
  EXPECT_EQ(Stopped(Asha(1, 3, 9), kMax, trials), V({0}));
}

TEST(AshaPolicy, EndedTrialsAreRecordedNotStopped) {
  std::vector<TrialView> trials = {T(0, {0.9}, TrialState::kCompleted),
                                   T(1, {0.1}, TrialState::kCanceled), T(2, {0.5}),
                                   T(3, {0.95}, TrialState::kFailed)};
  // Trial 2 vs {0.9, 0.1}: cutoff 0.1 + 2/3 * 0.8 = 0.6333 -> stopped; the failed 0.95 is left out
  // (with it the cutoff would be 0.9167, still stopping, so check the reason's count).
  auto stops = Evaluate(Asha(1, 3), kMax, trials);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].index, 2);
  EXPECT_NE(stops[0].reason.find("below 0.633333 (the top 1/3 cutoff of 2 other"),
            std::string::npos)
      << stops[0].reason;
}

TEST(AshaPolicy, NaNIsNotRecorded) {
  std::vector<TrialView> trials = {T(0, {kNaN}), T(1, {0.5}), T(2, {kNaN})};
  EXPECT_TRUE(Stopped(Asha(1, 3), kMax, trials).empty());
  trials.push_back(T(3, {0.1}));
  EXPECT_EQ(Stopped(Asha(1, 3), kMax, trials), V({3}));  // vs {0.5} only
}

// --- All policies ---

std::vector<EarlyTermination> AllPolicies() {
  return {Bandit(0.1, std::nullopt), Bandit(std::nullopt, 0.05), Median(), Truncation(30),
          Asha(1, 2)};
}

std::vector<TrialView> Mixed() {
  std::vector<TrialView> trials;
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> len(1, 6);
  std::uniform_int_distribution<int> val(0, 100);
  const TrialState states[] = {TrialState::kRunning, TrialState::kRunning, TrialState::kCompleted,
                               TrialState::kCanceled, TrialState::kFailed};
  for (int i = 0; i < 25; ++i) {
    std::vector<double> values;
    for (int k = len(gen); k > 0; --k) values.push_back(val(gen) / 100.0);
    trials.push_back(T(i, values, states[i % 5]));
  }
  return trials;
}

TEST(PolicyEvaluate, IdempotentAndIndependentOfOrder) {
  const auto trials = Mixed();
  auto shuffled = trials;
  std::reverse(shuffled.begin(), shuffled.end());
  for (Goal goal : {kMax, kMin}) {
    for (const EarlyTermination& p : AllPolicies()) {
      const auto first = Evaluate(p, goal, trials);
      const auto second = Evaluate(p, goal, trials);
      const auto reversed = Evaluate(p, goal, shuffled);
      ASSERT_EQ(first.size(), second.size());
      ASSERT_EQ(first.size(), reversed.size());
      for (size_t i = 0; i < first.size(); ++i) {
        EXPECT_EQ(first[i].index, second[i].index);
        EXPECT_EQ(first[i].reason, second[i].reason);
        EXPECT_EQ(first[i].index, reversed[i].index);
        EXPECT_EQ(first[i].reason, reversed[i].reason);
      }
      EXPECT_TRUE(std::is_sorted(
          first.begin(), first.end(),
          [](const StopDecision& a, const StopDecision& b) { return a.index < b.index; }));
      // Something is decided on this data (so the checks above are not vacuous) ...
      EXPECT_FALSE(first.empty()) << PolicyTypeName(p.type);
      // ... and only for running trials.
      for (const StopDecision& d : first) {
        EXPECT_EQ(trials[static_cast<size_t>(d.index)].state, TrialState::kRunning) << d.reason;
      }
    }
  }
}

TEST(PolicyEvaluate, NothingForEndedTrialsOrNoPolicy) {
  auto trials = Mixed();
  for (auto& t : trials) {
    if (t.state == TrialState::kRunning) t.state = TrialState::kCompleted;
  }
  for (Goal goal : {kMax, kMin}) {
    for (const EarlyTermination& p : AllPolicies()) {
      EXPECT_TRUE(Evaluate(p, goal, trials).empty()) << PolicyTypeName(p.type);
    }
    EXPECT_TRUE(Evaluate(EarlyTermination{}, goal, Mixed()).empty());
  }
}

// --- Validation ---

std::string Message(const EarlyTermination& p) { return ValidateEarlyTermination(p).message(); }

TEST(PolicyValidate, DefaultsAndGoodSettingsPass) {
  for (const EarlyTermination& p : AllPolicies()) {
    EXPECT_TRUE(ValidateEarlyTermination(p).ok()) << Message(p);
  }
  EXPECT_TRUE(ValidateEarlyTermination(EarlyTermination{}).ok());
  EXPECT_TRUE(ValidateEarlyTermination(Truncation(1)).ok());
  EXPECT_TRUE(ValidateEarlyTermination(Truncation(99)).ok());
  EXPECT_TRUE(ValidateEarlyTermination(Asha(4, 2, 4)).ok());
}

TEST(PolicyValidate, BanditSlack) {
  EXPECT_EQ(Message(Bandit(std::nullopt, std::nullopt)),
            "early_termination: bandit needs one of slack_factor (a ratio) or slack_amount");
  EXPECT_EQ(Message(Bandit(0.1, 0.2)),
            "early_termination.slack_amount: give one of slack_factor or slack_amount, not both");
  EXPECT_EQ(Message(Bandit(0.0, std::nullopt)),
            "early_termination.slack_factor: must be a number > 0, got 0");
  EXPECT_EQ(Message(Bandit(kNaN, std::nullopt)),
            "early_termination.slack_factor: must be a number > 0, got nan");
  EXPECT_EQ(Message(Bandit(std::nullopt, -0.5)),
            "early_termination.slack_amount: must be a number >= 0, got -0.5");
  EXPECT_EQ(ValidateEarlyTermination(Bandit(0.0, std::nullopt)).code(),
            StatusCode::kInvalidArgument);
  EarlyTermination m = Median();
  m.slack_factor = 0.1;
  EXPECT_EQ(Message(m),
            "early_termination.slack_factor: only for type bandit, not median_stopping");
}

TEST(PolicyValidate, IntervalsAndPercentage) {
  EXPECT_EQ(Message(Median(0, 0)),
            "early_termination.evaluation_interval: must be an integer >= 1, got 0");
  EXPECT_EQ(Message(Median(1, -1)),
            "early_termination.delay_evaluation: must be an integer >= 0, got -1");
  EXPECT_EQ(Message(Truncation(0)),
            "early_termination.truncation_percentage: must be an integer from 1 to 99, got 0");
  EXPECT_EQ(Message(Truncation(100)),
            "early_termination.truncation_percentage: must be an integer from 1 to 99, got 100");
  // Every problem at once, in field order.
  const auto problems = EarlyTerminationProblems(Truncation(100, 0, -2));
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0].field, "early_termination.evaluation_interval");
  EXPECT_EQ(problems[1].field, "early_termination.delay_evaluation");
  EXPECT_EQ(problems[2].field, "early_termination.truncation_percentage");
  EXPECT_EQ(Message(Truncation(100, 0, -2)),
            "early_termination.evaluation_interval: must be an integer >= 1, got 0; "
            "early_termination.delay_evaluation: must be an integer >= 0, got -2; "
            "early_termination.truncation_percentage: must be an integer from 1 to 99, got 100");
}

TEST(PolicyValidate, Asha) {
  EXPECT_EQ(Message(Asha(0, 3)), "early_termination.grace_period: must be an integer >= 1, got 0");
  EXPECT_EQ(Message(Asha(1, 1)),
            "early_termination.reduction_factor: must be an integer >= 2, got 1");
  EXPECT_EQ(Message(Asha(5, 3, 4)),
            "early_termination.max_t: must be 0 (no limit) or >= grace_period (5), got 4");
  EXPECT_EQ(Message(Asha(5, 3, -1)),
            "early_termination.max_t: must be 0 (no limit) or >= grace_period (5), got -1");
  EarlyTermination a = Asha(1, 3);
  a.evaluation_interval = 2;
  a.delay_evaluation = 3;
  EXPECT_EQ(EarlyTerminationProblems(a).size(), 2u);
  EXPECT_EQ(EarlyTerminationProblems(a)[0].field, "early_termination.evaluation_interval");
  EXPECT_EQ(EarlyTerminationProblems(a)[1].field, "early_termination.delay_evaluation");
  EarlyTermination b = Bandit(0.1, std::nullopt);
  b.reduction_factor = 4;
  b.max_t = 10;
  EXPECT_EQ(Message(b),
            "early_termination.reduction_factor: only for type asha, not bandit; "
            "early_termination.max_t: only for type asha, not bandit");
}

}  // namespace
}  // namespace trainyard::sweep
