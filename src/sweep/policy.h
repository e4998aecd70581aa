// The early-termination policies of a sweep (issue 15): the hosted service's bandit, median
// stopping and truncation selection, and trainyard's own ASHA. Each is a pure function from the
// sweep's trials (their states and the primary metric's values, sweep.h) to the running trials to
// stop now, with a one-line reason. No I/O, no clocks, no state: the controller calls Evaluate
// whenever a trial logs the primary metric, and again after a restart, and gets the same answer
// from the same trials. Formulas and our readings of the hosted docs: docs/sweeps-policies.md.
//
// Terms the code uses:
// - interval k: the k-th logged value of the primary metric (1-based, sweep.h). A trial "has
//   reached" k when it has logged at least k values.
// - gated interval (bandit, median stopping, truncation selection): k with
//   k % evaluation_interval == 0 and k >= delay_evaluation (the hosted docs: "the policy applies
//   every multiple of evaluation_interval that is greater than or equal to delay_evaluation").
//   A running trial with n values is judged at its latest gated interval <= n, by what it and
//   the others logged up to that interval; it is not judged before its first gated interval.
// - comparisons: every trial that has reached the interval counts, running, completed or
//   canceled; failed trials do not (their values may come from a broken run). Only running
//   trials are ever stopped.
// - NaN: a NaN value is never compared. It still counts as a logged interval, but it is left out
//   of bests, averages, rankings and thresholds; a trial with no other value where it is judged
//   is not judged. A NaN never stops a trial and never moves a threshold.
// - "better": larger for Goal::kMaximize, smaller for Goal::kMinimize. Every stopping test is
//   strict: a value equal to the threshold continues.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "sweep/sweep.h"

namespace trainyard::sweep {

struct StopDecision {
  int64_t index = 0;   // the trial's index (TrialView::index)
  std::string reason;  // "bandit: at interval 4 the best value 0.61 is below 0.718 (...)"
};

// The running trials that `policy` stops now, given every trial of the sweep (running and ended,
// in any order), sorted by index. Empty for PolicyType::kNone. `policy` must pass
// ValidateEarlyTermination; an invalid one gives an unspecified (but safe: possibly empty)
// answer. Thread-safe (pure).
//
// - kBandit: at the trial's gated interval k, y = the trial's best value over intervals 1..k and
//   b = the best such value over all trials that reached k (itself included). Stopped when y is
//   worse than the threshold: slack_factor: b / (1 + slack_factor) (maximize) or
//   b * (1 + slack_factor) (minimize), for b >= 0; for b < 0 the two swap, so the threshold is
//   always on the worse side of b; slack_amount: b - slack_amount (maximize) or
//   b + slack_amount (minimize).
// - kMedianStopping: at k, y = the trial's best value over 1..k, m = the median of the running
//   averages (mean of intervals 1..k) of all trials that reached k (itself included; the mean of
//   the two middle ones for an even count). Stopped when y is worse than m.
// - kTruncationSelection: at k, the trials that reached k are ranked by their value at k. With n
//   of them, the lowest floor(n * truncation_percentage / 100) are cut: a trial is stopped when
//   the number of trials whose value at k is worse than or equal to its own (itself included) is
//   at most that count (so tied trials are cut together or not at all, and never more than the
//   percentage).
// - kAsha: rungs at r_i = grace_period * reduction_factor^i (i = 0, 1, ...), only those below
//   max_t when max_t > 0. A trial is judged at the highest rung r it has reached (r at most the
//   number of values it has logged), by its value at r, against the values at r of every other
//   trial that has reached r ("recorded"): it is stopped when it is worse than the
//   (1 - 1/reduction_factor) quantile of those values (linear interpolation), as Ray Tune's
//   asynchronous ASHA scheduler does when a trial reaches a rung; with no other trial at r it
//   continues. It is judged at r until it reaches the next rung (the controller sees values in
//   batches, often after a trial has passed a rung: docs/sweeps-policies.md).
//   evaluation_interval and delay_evaluation are not used; max_t only bounds the rungs (a trial
//   is never stopped for reaching it).
std::vector<StopDecision> Evaluate(const EarlyTermination& policy, Goal goal,
                                   const std::vector<TrialView>& trials);

// One problem with an early-termination setting: the field as the YAML spells it
// ("early_termination.slack_factor") and what is wrong ("must be > 0, got -1").
struct PolicyProblem {
  std::string field;
  std::string message;
};

// Every problem with `policy`, in field order; empty when it is valid. Ranges: slack_factor > 0,
// slack_amount >= 0 (both finite), exactly one of them for bandit and neither for the others;
// evaluation_interval >= 1 and delay_evaluation >= 0 (bandit, median stopping, truncation
// selection; asha leaves them at 1 and 0); truncation_percentage 1..99 (truncation selection);
// grace_period >= 1, reduction_factor >= 2, max_t 0 or >= grace_period (asha; the others leave
// them at 1, 3 and 0).
std::vector<PolicyProblem> EarlyTerminationProblems(const EarlyTermination& policy);

// OK, or InvalidArgument with every problem as "field: message", joined by "; ".
Status ValidateEarlyTermination(const EarlyTermination& policy);

// The policy's YAML type name: "bandit", "median_stopping", "truncation_selection", "asha", or
// "none" for kNone.
const char* PolicyTypeName(PolicyType type);

}  // namespace trainyard::sweep
