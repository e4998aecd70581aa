// Sweeps (issue 15): a sweep is a run (kind "sweep") whose children are its trials, ordinary runs
// with the sweep as parent and a trial index (0, 1, ... in creation order). Its supervisor is the
// sweep controller (`trainyard supervise` of a sweep run runs ControlSweep): a detached process
// that samples trials, submits them (each with its own supervisor, on the trial's target),
// applies the early-termination policy to the metrics they log, and records the outcome.
//
// The controller keeps nothing that the workspace does not hold: killed (even with SIGKILL), it
// is restarted by the next trainyard command that notices (ResumeOrphanedSweeps), and the new one
// adopts the trials that exist (running ones keep running; a trial is created under a unique
// (sweep, index) key, so none is duplicated) and goes on sampling from the same seed.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "runner/runner.h"
#include "spec/sweep_spec.h"
#include "store/workspace.h"
#include "sweep/sweep.h"

namespace trainyard::runner {

// The sampler a sweep's settings name (random, Sobol, grid, model-based), with `seed`.
Result<std::unique_ptr<sweep::Sampler>> MakeSampler(const spec::SweepSpec& spec, uint64_t seed);

struct SweepSubmission {
  store::RunRecord run;  // the sweep's own run (kind "sweep")
  uint64_t seed = 0;     // the sampler's seed (the file's, else chosen now and recorded)
  // On a dry run: the first trials' parameters (up to `dry_run_trials`) and the first trial's
  // plan, exactly as Submit would make them.
  std::vector<nlohmann::json> first_trials;
  std::optional<Submission> first_trial_plan;
};

struct SweepSubmitOptions {
  bool dry_run = false;
  int dry_run_trials = 5;
  std::string supervisor_exe;  // "" = TrainyardExe()
};

// Validates the sweep (the trial as a job: file system, target, interpreter, with the first
// trial's parameters), records the sweep run (Queued, its spec with the seed filled in) and
// starts its controller; returns at once. Refusals happen before anything is recorded.
Result<SweepSubmission> SubmitSweep(store::Workspace* ws, const spec::SweepSpec& spec,
                                    const SweepSubmitOptions& options = {});

// The controller's body, run by `trainyard supervise` for a sweep run. Returns the exit code.
int ControlSweep(const std::string& workspace_dir, const std::string& sweep_id);

// Restarts the controller of every sweep whose controller died (each claimed atomically, so two
// commands never start two). Returns how many were restarted. Called wherever runs are reaped.
Result<int> ResumeOrphanedSweeps(store::Workspace* ws, const std::string& supervisor_exe = "");

// ws->ReapOrphans() and ResumeOrphanedSweeps(ws): what every command that reads runs calls.
Result<int> Reap(store::Workspace* ws);

// One trial as `sweep show`, the SDK and the policy see it.
struct TrialSummary {
  store::RunRecord run;
  int64_t index = 0;
  std::vector<std::pair<std::string, std::string>> parameters;  // search_space_values
  std::vector<double> primary;  // the primary metric's values, in logged order
  std::optional<double> best;   // the best of them for the goal (NaN ignored)
  std::string stopped_by;       // the policy's reason when it stopped the trial
};

struct SweepSummary {
  store::RunRecord run;
  spec::SweepSpec spec;
  uint64_t seed = 0;
  // Sorted by `best` for the goal (trials without a value last, then by index).
  std::vector<TrialSummary> trials;
  std::optional<std::string> best_run_id;
};

// Reads a sweep and its trials (NotFound / FailedPrecondition when `id` is not a sweep).
Result<SweepSummary> ReadSweep(store::Workspace* ws, const std::string& id);

// Cancels a sweep: its controller stops creating trials and cancels every one that is active.
// Waits up to `wait_seconds` for the sweep to end.
Result<store::RunRecord> CancelSweep(store::Workspace* ws, const std::string& id,
                                     double wait_seconds = 30);

}  // namespace trainyard::runner
