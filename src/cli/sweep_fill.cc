// sweep_fill WORKSPACE [TRIALS] [INTERVALS]: records a finished sweep of TRIALS trials (default
// 1000), each with INTERVALS values of its primary metric (default 20), straight through the
// store API, and prints its id: what `trainyard sweep show` is timed on (issue 15: a 1,000-trial
// sweep in under 200 ms) without running 1,000 processes. The records are those the controller
// writes: the sweep (kind "sweep", its document with the seed), the trials (parent, index, the
// trial job with its search_space_values), their metric points and their ends, one in ten
// stopped by the policy.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/clock.h"
#include "runner/sweep.h"
#include "spec/parse.h"
#include "spec/sweep_spec.h"
#include "store/metrics.h"
#include "store/workspace.h"
#include "tracking/protocol.h"

namespace trainyard {
namespace {

constexpr char kSweep[] = R"(
type: sweep
trial:
  command: python train.py --lr ${{search_space.lr}} --momentum ${{search_space.momentum}}
    --hidden ${{search_space.hidden}} --epochs ${{search_space.epochs}}
search_space:
  lr: {type: loguniform, min_value: -9, max_value: -2}
  momentum: {type: uniform, min_value: 0.5, max_value: 0.99}
  hidden: {type: choice, values: [32, 64, 128, 256]}
  epochs: {type: randint, upper: 30}
sampling_algorithm: {type: random, seed: 7}
objective: {primary_metric: test_acc, goal: maximize}
early_termination: {type: bandit, slack_factor: 0.1}
limits: {max_total_trials: 1000, max_concurrent_trials: 4}
)";

int Fail(const Status& s) {
  std::fprintf(stderr, "sweep_fill: %s\n", s.ToString().c_str());
  return 1;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: sweep_fill WORKSPACE [TRIALS] [INTERVALS]\n");
    return 2;
  }
  const int64_t trials = argc > 2 ? std::atoll(argv[2]) : 1000;
  const int intervals = argc > 3 ? std::atoi(argv[3]) : 20;
  auto ws = store::Workspace::Open(argv[1]);
  if (!ws.ok()) return Fail(ws.status());
  auto spec = spec::ParseSweepText(kSweep, "sweep.yml", "/tmp");
  if (!spec.ok()) return Fail(spec.status());
  spec->limits.max_total_trials = trials;
  auto sampler = runner::MakeSampler(*spec, *spec->sampling.seed);
  if (!sampler.ok()) return Fail(sampler.status());

  store::RunRecord sweep;
  sweep.experiment = "bench";
  sweep.kind = "sweep";
  sweep.target = "local";
  sweep.spec_json = spec::SweepToJson(*spec);
  if (Status s = (*ws)->CreateRun(&sweep, {}); !s.ok()) return Fail(s);
  const int64_t t0 = NowMicros();
  (*ws)->SetStatus(sweep.id, store::RunStatus::kRunning, {.started_at = t0}).IgnoreError();

  for (int64_t i = 0; i < trials; ++i) {
    auto assignment = (*sampler)->Next(i, {});
    if (!assignment) break;
    store::RunRecord trial;
    trial.experiment = "bench";
    trial.target = "local";
    trial.parent_id = sweep.id;
    trial.trial_index = i;
    trial.spec_json = spec::ToJson(spec::TrialJob(*spec, *assignment));
    if (Status s = (*ws)->CreateRun(&trial, {}); !s.ok()) return Fail(s);
    tracking::Batch b;
    b.client = "fill";
    b.seq = 1;
    const double quality = 0.5 + 0.5 * static_cast<double>((i * 7919) % 1000) / 1000.0;
    const bool stopped = i % 10 == 3;
    const int n = stopped ? 2 : intervals;
    for (int k = 0; k < n; ++k) {
      b.points.push_back({"test_acc", k, t0 + k, quality * (k + 1) / intervals});
      b.points.push_back({"loss", k, t0 + k, 1.0 - quality * (k + 1) / intervals});
    }
    if (auto r = store::ApplyBatch((*ws)->db(), trial.seq, b); !r.ok()) return Fail(r.status());
    store::StatusUpdate end{.started_at = t0, .ended_at = t0 + 1'000'000};
    if (stopped) {
      end.error =
          "stopped by early termination: bandit: at interval 2 the best value "
          "0.05 is below 0.0818182 (best 0.09 / (1 + 0.1))";
    }
    if (Status s = (*ws)->SetStatus(
            trial.id, stopped ? store::RunStatus::kCanceled : store::RunStatus::kCompleted, end);
        !s.ok()) {
      return Fail(s);
    }
  }
  (*ws)->SetStatus(sweep.id, store::RunStatus::kCompleted, {.ended_at = NowMicros()}).IgnoreError();
  std::printf("%s\n", sweep.id.c_str());
  return 0;
}

}  // namespace
}  // namespace trainyard

int main(int argc, char** argv) { return trainyard::Main(argc, argv); }
