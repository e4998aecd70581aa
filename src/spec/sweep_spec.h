// SweepSpec: a hyperparameter sweep (`type: sweep`, the hosted CLI v2 sweep-job YAML), read and
// validated like a job file: every problem at once, with line and column and field paths. The
// trial is a job (command or estimator form) read by the job reader, with the sweep's own
// `inputs`, `outputs`, `compute`, `experiment_name`, `identity` and `queue_settings` merged into
// it; its fields are reported as `trial.FIELD`. Plain data and parsing; no I/O but reading the
// file. Formulas and semantics: docs/sweeps.md.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "spec/job_spec.h"
#include "spec/parse.h"
#include "sweep/sweep.h"

namespace trainyard::spec {

struct SweepSpec {
  std::string origin;  // "sweep.yml": for messages

  JobSpec trial;  // the trial's job, without parameter values
  sweep::SearchSpace search_space;
  sweep::Sampling sampling;
  sweep::Objective objective;
  sweep::EarlyTermination early_termination;
  sweep::Limits limits;
  // Earlier sweeps (run ids) whose finished trials seed the sampler (trainyard's warm start).
  std::vector<std::string> resume_from;

  // The sweep run's own record (the trial's experiment_name is the sweep's).
  std::string job_name;  // `name`
  std::string display_name;
  std::string description;
  std::vector<std::pair<std::string, std::string>> tags;
  std::vector<std::pair<std::string, std::string>> properties;

  bool operator==(const SweepSpec&) const = default;
};

// The hosted service's default limits (reference-yaml-job-sweep): 1000 trials, 60 days.
inline constexpr int64_t kDefaultMaxTotalTrials = 1000;
inline constexpr double kDefaultSweepTimeoutSeconds = 5184000;
// Trials a sweep may have: the grid's size is checked against it too.
inline constexpr int64_t kMaxTotalTrials = 1000000;

// Whether a document is a sweep: its top level is a map with `type: sweep`. Malformed text is
// not a sweep (the job reader reports it).
bool IsSweepText(const std::string& text, const std::string& origin);

// Parses a sweep document (YAML, or JSON when `origin` ends in ".json"). `overrides` apply to the
// trial (--set paths are the trial's fields; --experiment, --target, --env, --input, --arg as for
// a job). Relative paths resolve against `base_dir`.
Result<SweepSpec> ParseSweepText(const std::string& text, const std::string& origin,
                                 const std::string& base_dir, const Overrides& overrides = {});
Result<SweepSpec> ParseSweepFile(const std::string& path, const Overrides& overrides = {});

// The spec as JSON in the sweep document's shape (the trial in its own form, holding the merged
// fields), so that it parses back to the same spec.
std::string SweepToJson(const SweepSpec& spec);

// A parameter value as the text a trial receives: strings as they are, integers in decimal,
// other numbers as Python's repr writes floats (shortest round trip: 0.01, 3.0, 1e-05).
std::string ValueText(const nlohmann::json& value);

// The trial job of one assignment ({name: value}): `trial` with search_space_values set (for
// ${{search_space.NAME}}), each value also in the environment as AZUREML_SWEEP_<NAME> (NAME
// without leading dashes, as on the hosted service) and, in the estimator form, given to
// script_params as `--NAME VALUE` (NAME as written when it starts with '-', else with "--"
// added), replacing the trial's own value of that flag.
JobSpec TrialJob(const SweepSpec& spec, const nlohmann::json& assignment);

}  // namespace trainyard::spec
