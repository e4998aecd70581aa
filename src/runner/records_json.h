// The JSON shapes of a workspace's records, one rendering for the CLI's --json output and the C++
// and Python APIs.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "spec/sweep_spec.h"
#include "store/workspace.h"

namespace trainyard::runner {

struct SweepSummary;  // runner/sweep.h

// The parameter values a sweep's trial received ({name: text} in the search space's order; {} for
// a run that is not a trial).
nlohmann::ordered_json TrialParameters(const store::RunRecord& run);

// A run: what `trainyard show --json` (detailed), `list --json` and `submit --json` print; a
// sweep's trial adds parent_id, trial_index and parameters.
nlohmann::json RunToJson(store::Workspace* ws, const store::RunRecord& run, bool detailed);

// The experiments (`trainyard experiments --json`): name, created_at, runs, active_runs,
// last_run_at.
Result<nlohmann::json> ExperimentsToJson(store::Workspace* ws);

// A target: name, type, capacity (concurrent runs), config (its options).
nlohmann::json TargetToJson(const store::TargetRecord& t, int capacity);
// Every target (`trainyard target list --json`; "local" always, first); a target whose record
// cannot be read is left out.
Result<nlohmann::json> TargetsToJson(store::Workspace* ws);
// One target by name (`trainyard target show NAME`); an unknown name is InvalidArgument with a
// suggestion.
Result<nlohmann::json> LookupTargetJson(store::Workspace* ws, const std::string& name);
// Adds (or replaces) a target after checking its options (`trainyard target add`).
Status AddTarget(store::Workspace* ws, const std::string& name, const std::string& type,
                 const std::map<std::string, std::string>& options);

// A sweep with its trials, best first (`trainyard sweep show --json`, GET /api/v1/sweeps/{id}):
// id, kind, experiment, display_name, status, objective, sampling_algorithm, early_termination,
// limits, search_space (names), best_run_id, created_at (ISO-8601), counts by status, trials
// [{index, run_id, status, best, intervals, primary, parameters, stopped_by}].
nlohmann::json SweepToJson(const SweepSummary& s);
// Its sampling settings ({"type", "rule"?, "seed"}) and early-termination policy ({"type", ...}).
nlohmann::json SweepSamplingJson(const spec::SweepSpec& spec, uint64_t seed);
nlohmann::json SweepPolicyJson(const sweep::EarlyTermination& e);

}  // namespace trainyard::runner
