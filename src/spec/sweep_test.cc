// The sweep document reader: the hosted sweep YAML, every problem at once, the round trip, and a
// trial's job.
#include <gtest/gtest.h>

#include "spec/sweep_spec.h"

namespace trainyard::spec {
namespace {

// The hosted example cli/jobs/basics/hello-sweep.yml, in its shape.
const char kHelloSweep[] = R"(
$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json
type: sweep
trial:
  command: >-
    python hello-sweep.py
    --A ${{inputs.A}}
    --B ${{search_space.B}}
    --C ${{search_space.C}}
  code: src
  environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
inputs:
  A: 0.5
compute: azureml:cpu-cluster
sampling_algorithm: random
search_space:
  B:
    type: choice
    values: ["hello", "world", "hello_world"]
  C:
    type: uniform
    min_value: 0.1
    max_value: 1.0
objective:
  goal: minimize
  primary_metric: random_metric
limits:
  max_total_trials: 4
  max_concurrent_trials: 2
  timeout: 3600
display_name: hello-sweep-example
experiment_name: hello-sweep-example
description: Hello sweep job example.
)";

Result<SweepSpec> Parse(const std::string& text) {
  return ParseSweepText(text, "sweep.yml", "/base");
}

std::string Error(const std::string& text) {
  auto r = Parse(text);
  return r.ok() ? "(no error)" : r.status().message();
}

TEST(SweepSpec, HelloSweep) {
  auto r = Parse(kHelloSweep);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const SweepSpec& s = *r;
  ASSERT_EQ(s.search_space.size(), 2u);
  EXPECT_EQ(s.search_space[0].name, "B");
  EXPECT_EQ(s.search_space[0].distribution.kind, sweep::Kind::kChoice);
  EXPECT_EQ(s.search_space[0].distribution.values,
            (std::vector<nlohmann::json>{"hello", "world", "hello_world"}));
  EXPECT_EQ(s.search_space[1].distribution.kind, sweep::Kind::kUniform);
  EXPECT_DOUBLE_EQ(s.search_space[1].distribution.min_value, 0.1);
  EXPECT_DOUBLE_EQ(s.search_space[1].distribution.max_value, 1.0);
  EXPECT_EQ(s.sampling.algorithm, sweep::Algorithm::kRandom);
  EXPECT_EQ(s.objective.primary_metric, "random_metric");
  EXPECT_EQ(s.objective.goal, sweep::Goal::kMinimize);
  EXPECT_EQ(s.limits.max_total_trials, 4);
  EXPECT_EQ(s.limits.max_concurrent_trials, 2);
  EXPECT_DOUBLE_EQ(s.limits.timeout_seconds, 3600);
  EXPECT_EQ(s.display_name, "hello-sweep-example");
  EXPECT_EQ(s.description, "Hello sweep job example.");
  // The sweep's inputs, compute and experiment are the trial's.
  EXPECT_EQ(s.trial.form, "command");
  EXPECT_EQ(s.trial.compute_target, "cpu-cluster");
  EXPECT_EQ(s.trial.experiment_name, "hello-sweep-example");
  ASSERT_EQ(s.trial.inputs.size(), 1u);
  EXPECT_EQ(s.trial.inputs[0].name, "A");
  EXPECT_EQ(s.trial.source_directory, "/base/src");
}

TEST(SweepSpec, Defaults) {
  auto r = Parse(R"(
type: sweep
trial: {command: "python t.py --x ${{search_space.x}}"}
search_space: {x: {type: randint, upper: 5}}
objective: {primary_metric: acc, goal: Maximize}
)");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->limits.max_total_trials, 1000);
  EXPECT_EQ(r->limits.max_concurrent_trials, 1000);
  EXPECT_DOUBLE_EQ(r->limits.timeout_seconds, 5184000);
  EXPECT_EQ(r->sampling.algorithm, sweep::Algorithm::kRandom);
  EXPECT_FALSE(r->sampling.seed.has_value());
  EXPECT_EQ(r->objective.goal, sweep::Goal::kMaximize);
  EXPECT_EQ(r->early_termination.type, sweep::PolicyType::kNone);
  EXPECT_EQ(r->trial.compute_target, "local");
}

TEST(SweepSpec, EveryDistributionAndPolicy) {
  auto r = Parse(R"(
type: sweep
trial: {command: "echo ${{search_space.a}}"}
search_space:
  a: {type: choice, values: [16, 0.5, relu]}
  b: {type: randint, upper: 10}
  c: {type: quniform, min_value: 0, max_value: 10, q: 2}
  d: {type: loguniform, min_value: -9.2, max_value: -2.3}
  e: {type: qloguniform, min_value: 0, max_value: 4.6, q: 5}
  f: {type: normal, mu: 0, sigma: 1}
  g: {type: qnormal, mu: 10, sigma: 2, q: 1}
  h: {type: lognormal, mu: 0, sigma: 0.5}
  i: {type: qlognormal, mu: 1, sigma: 1, q: 3}
sampling_algorithm: {type: random, seed: 42, rule: sobol}
objective: {primary_metric: loss, goal: minimize}
early_termination: {type: bandit, slack_factor: 0.1, evaluation_interval: 2, delay_evaluation: 4}
limits: {max_total_trials: 20, max_concurrent_trials: 50, trial_timeout: 60}
)");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->search_space.size(), 9u);
  EXPECT_EQ(r->search_space[0].distribution.values[0], 16);
  EXPECT_TRUE(r->search_space[0].distribution.values[0].is_number_integer());
  EXPECT_EQ(r->search_space[0].distribution.values[1], 0.5);
  EXPECT_EQ(r->search_space[0].distribution.values[2], "relu");
  EXPECT_EQ(r->search_space[8].distribution.kind, sweep::Kind::kQLogNormal);
  EXPECT_DOUBLE_EQ(r->search_space[8].distribution.q, 3);
  EXPECT_EQ(*r->sampling.seed, 42u);
  EXPECT_EQ(r->sampling.rule, sweep::RandomRule::kSobol);
  EXPECT_EQ(r->early_termination.type, sweep::PolicyType::kBandit);
  EXPECT_DOUBLE_EQ(*r->early_termination.slack_factor, 0.1);
  EXPECT_FALSE(r->early_termination.slack_amount.has_value());
  EXPECT_EQ(r->early_termination.evaluation_interval, 2);
  EXPECT_EQ(r->early_termination.delay_evaluation, 4);
  EXPECT_EQ(r->limits.max_concurrent_trials, 20);  // never more than the trials
  EXPECT_DOUBLE_EQ(r->trial.max_run_duration_seconds, 60);

  auto asha = Parse(R"(
type: sweep
trial: {entry_script: t.py, source_directory: .}
search_space: {lr: {type: uniform, min_value: 0, max_value: 1}}
objective: {primary_metric: acc, goal: maximize}
early_termination: {type: asha, grace_period: 2, reduction_factor: 4, max_t: 32}
)");
  ASSERT_TRUE(asha.ok()) << asha.status().message();
  EXPECT_EQ(asha->trial.form, "estimator");
  auto compute = Parse(R"(
type: sweep
trial: {entry_script: t.py, source_directory: .}
compute: azureml:cluster
search_space: {lr: {type: uniform, min_value: 0, max_value: 1}}
objective: {primary_metric: acc, goal: maximize}
)");
  ASSERT_TRUE(compute.ok()) << compute.status().message();
  EXPECT_EQ(compute->trial.compute_target, "cluster");  // the sweep's compute, in either form
  EXPECT_EQ(asha->early_termination.type, sweep::PolicyType::kAsha);
  EXPECT_EQ(asha->early_termination.reduction_factor, 4);
  EXPECT_EQ(asha->early_termination.max_t, 32);
}

TEST(SweepSpec, AllProblemsAtOnce) {
  const std::string e = Error(R"(type: sweep
trial:
  command: "python t.py --x ${{search_space.y}}"
  comand: x
search_space:
  x: {type: unifrom, min_value: 1, max_value: 0}
  z: {type: uniform, min_value: 1, max_value: 0}
  w: {type: choice, values: []}
  v: {type: normal, mu: 0}
  "9bad": {type: randint, upper: 0}
sampling_algorithm: grid
objective: {primary_metric: acc, goal: best}
early_termination: {type: bandit}
limits: {max_total_trials: 0, timout: 5}
)");
  EXPECT_NE(e.find("sweep.yml:3:12: trial.command: unknown search_space parameter \"y\""),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("sweep.yml:4:3: trial.comand: unknown field (did you mean \"command\"?)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("sweep.yml:6:13: search_space.x.type: unknown distribution \"unifrom\""),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("(did you mean \"uniform\"?)"), std::string::npos) << e;
  EXPECT_NE(e.find("search_space.z.max_value: must be greater than min_value (1.0), got 0.0"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("search_space.w.values: must hold at least one value"), std::string::npos) << e;
  EXPECT_NE(e.find("search_space.v.sigma: required field is missing"), std::string::npos) << e;
  EXPECT_NE(e.find("sweep.yml:10:3: search_space[\"9bad\"]: invalid parameter name"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("search_space[\"9bad\"].upper: must be at least 1, got 0"), std::string::npos)
      << e;
  EXPECT_NE(e.find("grid sampling takes only choice parameters; search_space.z is uniform"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("objective.goal: expected maximize or minimize, got \"best\""),
            std::string::npos)
      << e;
  EXPECT_NE(
      e.find("sweep.yml:13:20: early_termination: bandit needs one of slack_factor (a ratio) or "
             "slack_amount"),
      std::string::npos)
      << e;
  EXPECT_NE(e.find("limits.max_total_trials: must be from 1 to 1000000, got 0"), std::string::npos)
      << e;
  EXPECT_NE(e.find("limits.timout: unknown field (did you mean \"timeout\"?)"), std::string::npos)
      << e;
}

TEST(SweepSpec, MissingAndMisplaced) {
  EXPECT_EQ(Error("type: sweep\n"),
            "sweep.yml: search_space: required field is missing\n"
            "sweep.yml: objective: required field is missing\n"
            "sweep.yml: trial: required field is missing");
  const std::string e = Error(R"(type: sweep
trial: {command: "echo ${{inputs.a}}", inputs: {a: 1}}
inputs: {a: 2}
search_space: {x: {type: choice, values: [1]}}
objective: {primary_metric: m, goal: minimize}
early_termination: {type: truncation_selection, slack_factor: 0.2}
sampling_algorithm: {type: grid, seed: 3}
)");
  EXPECT_NE(e.find("sweep.yml:2:40: trial.inputs: given both here and at the sweep's top level"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("early_termination.slack_factor: unknown field for truncation_selection"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("early_termination.truncation_percentage: required field is missing"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("sampling_algorithm.seed: unknown field (grid sampling takes no settings)"),
            std::string::npos)
      << e;
}

TEST(SweepSpec, PolicyRangesNameTheirLine) {
  const std::string head =
      "type: sweep\ntrial: {command: echo}\nsearch_space: {x: {type: randint, upper: 3}}\n"
      "objective: {primary_metric: m, goal: minimize}\n";
  EXPECT_EQ(Error(head + "early_termination: {type: bandit, slack_factor: 0}\n"),
            "sweep.yml:5:49: early_termination.slack_factor: must be a number > 0, got 0");
  const std::string e = Error(head +
                              "early_termination:\n  type: truncation_selection\n"
                              "  truncation_percentage: 100\n  evaluation_interval: 0\n");
  EXPECT_NE(e.find("sweep.yml:7:26: early_termination.truncation_percentage:"), std::string::npos)
      << e;
  EXPECT_NE(e.find("sweep.yml:8:24: early_termination.evaluation_interval:"), std::string::npos)
      << e;
  EXPECT_NE(Error(head + "early_termination: {type: asha, grace_period: 4, max_t: 2}\n")
                .find("early_termination.max_t"),
            std::string::npos);
}

TEST(SweepSpec, SearchSpaceOutsideASweep) {
  auto r = ParseJobText("command: echo ${{search_space.lr}}\n", "job.yml", "/base");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "job.yml:1:10: command: \"${{search_space.lr}}\": search_space values exist only in "
            "the trial of a sweep (a job file with type: sweep and a search_space)");
}

TEST(SweepSpec, RoundTrip) {
  for (const char* text : {kHelloSweep, R"(
type: sweep
name: s1
trial:
  entry_script: t.py
  source_directory: .
  script_params: {--epochs: 3}
search_space:
  --lr: {type: loguniform, min_value: -6.9, max_value: -2.3}
  batch: {type: choice, values: [16, 32]}
sampling_algorithm: {type: bayesian, seed: 12}
objective: {primary_metric: acc, goal: maximize}
early_termination: {type: median_stopping, evaluation_interval: 1, delay_evaluation: 5}
limits: {max_total_trials: 8, trial_timeout: 30}
resume_from: [run-1, run-2]
tags: {team: a}
)"}) {
    auto first = Parse(text);
    ASSERT_TRUE(first.ok()) << first.status().message();
    auto second = Parse(SweepToJson(*first));
    ASSERT_TRUE(second.ok()) << second.status().message() << "\n" << SweepToJson(*first);
    EXPECT_EQ(*first, *second) << SweepToJson(*first);
  }
}

TEST(SweepSpec, ValueText) {
  EXPECT_EQ(ValueText(0.01), "0.01");
  EXPECT_EQ(ValueText(3.0), "3.0");
  EXPECT_EQ(ValueText(1e-05), "1e-05");
  EXPECT_EQ(ValueText(0.0001), "0.0001");
  EXPECT_EQ(ValueText(1e16), "1e+16");
  EXPECT_EQ(ValueText(123456789012345678.0), "1.2345678901234568e+17");
  EXPECT_EQ(ValueText(-2.5), "-2.5");
  EXPECT_EQ(ValueText(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(ValueText(1234.5), "1234.5");
  EXPECT_EQ(ValueText(0.0), "0.0");
  EXPECT_EQ(ValueText(42), "42");
  EXPECT_EQ(ValueText("relu"), "relu");
  EXPECT_EQ(ValueText(true), "True");
}

TEST(SweepSpec, TrialJob) {
  auto est = Parse(R"(
type: sweep
trial:
  entry_script: t.py
  source_directory: .
  script_params: {--epochs: 3, --lr: 0.5}
search_space:
  --lr: {type: uniform, min_value: 0, max_value: 1}
  batch: {type: choice, values: [16, 32]}
objective: {primary_metric: acc, goal: maximize}
)");
  ASSERT_TRUE(est.ok()) << est.status().message();
  JobSpec job = TrialJob(*est, {{"--lr", 0.25}, {"batch", 32}});
  ASSERT_EQ(job.script_params.size(), 3u);
  EXPECT_EQ(job.script_params[1].flag, "--lr");
  EXPECT_EQ(*job.script_params[1].value, "0.25");  // replaces the trial's own value
  EXPECT_EQ(job.script_params[2].flag, "--batch");
  EXPECT_EQ(*job.script_params[2].value, "32");
  EXPECT_EQ(job.search_space_values,
            (std::vector<std::pair<std::string, std::string>>{{"--lr", "0.25"}, {"batch", "32"}}));
  EXPECT_EQ(job.environment_variables,
            (std::vector<std::pair<std::string, std::string>>{{"AZUREML_SWEEP_lr", "0.25"},
                                                              {"AZUREML_SWEEP_batch", "32"}}));

  auto cmd = Parse(R"(
type: sweep
trial: {command: "echo ${{search_space.act}} '${{search_space.act}}'"}
search_space: {act: {type: choice, values: ["a b; rm -rf /"]}}
objective: {primary_metric: acc, goal: maximize}
)");
  ASSERT_TRUE(cmd.ok()) << cmd.status().message();
  JobSpec trial = TrialJob(*cmd, {{"act", "a b; rm -rf /"}});
  EXPECT_TRUE(trial.script_params.empty());
  auto script = ShellScript(trial.shell_command, {}, {}, SearchSpaceValues(trial));
  ASSERT_TRUE(script.ok()) << script.status().message();
  EXPECT_EQ(*script,
            "_ty_search_space_act='a b; rm -rf /'\n"
            "echo \"${_ty_search_space_act}\" ''\"${_ty_search_space_act}\"''");
  // The trial's stored spec parses back with its values.
  auto back = ParseJobText(ToJson(trial), kStoredSpecOrigin, "/");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->search_space_values, trial.search_space_values);
}

TEST(SweepSpec, IsSweepText) {
  EXPECT_TRUE(IsSweepText(kHelloSweep, "s.yml"));
  EXPECT_FALSE(IsSweepText("command: echo\n", "s.yml"));
  EXPECT_FALSE(IsSweepText("type: [", "s.yml"));
  EXPECT_FALSE(IsSweepText("- a\n", "s.yml"));
}

}  // namespace
}  // namespace trainyard::spec
