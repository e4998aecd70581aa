// Sweeps: submit, the controller, restart of a dead controller, reading a sweep (runner/sweep.h).
#include "runner/sweep.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/strings.h"
#include "runner/records_json.h"
#include "spec/fields.h"
#include "store/metrics.h"
#include "sweep/model_search.h"
#include "sweep/policy.h"
#include "sweep/sampling.h"

namespace trainyard::runner {
namespace {

using store::RunStatus;

constexpr int64_t kLoopMicros = 200'000;
constexpr int64_t kWakeSliceMicros = 5'000;
// Tries at submitting one trial (one per look) before the sweep fails.
constexpr int kSubmitAttempts = 5;
constexpr int64_t kHeartbeatMicros = 1'000'000;
// A trial stopped by a policy ends with this error, then the policy's reason.
constexpr char kStoppedPrefix[] = "stopped by early termination: ";

volatile sig_atomic_t g_woken = 0;
void OnWake(int) { g_woken = 1; }

uint64_t NewSeed() {
  std::random_device rd;
  return ((static_cast<uint64_t>(rd()) << 32) ^ rd()) & ((uint64_t{1} << 53) - 1);
}

std::optional<double> BestOf(const std::vector<double>& values, sweep::Goal goal) {
  std::optional<double> best;
  for (double v : values) {
    if (std::isnan(v)) continue;
    if (!best || (goal == sweep::Goal::kMaximize ? v > *best : v < *best)) best = v;
  }
  return best;
}

sweep::TrialState StateOf(RunStatus s) {
  switch (s) {
    case RunStatus::kCompleted: return sweep::TrialState::kCompleted;
    case RunStatus::kFailed: return sweep::TrialState::kFailed;
    case RunStatus::kCanceled: return sweep::TrialState::kCanceled;
    default: return sweep::TrialState::kRunning;
  }
}

// The primary metric's values of a run, in logged order: those of the lowest rank that logged it.
Result<std::vector<double>> PrimarySeries(store::Workspace* ws, int64_t run_seq,
                                          const std::string& metric) {
  ASSIGN_OR_RETURN(auto metrics, store::ReadMetrics(ws->db(), run_seq, metric));
  std::vector<double> out;
  auto it = metrics.find(metric);
  if (it == metrics.end() || it->second.empty()) return out;
  int64_t rank = it->second.front().rank;
  for (const auto& p : it->second) rank = std::min(rank, p.rank);
  for (const auto& p : it->second) {
    if (p.rank == rank) out.push_back(p.value);
  }
  return out;
}

// A trial's parameter values as (name, text) pairs (runner::TrialParameters).
std::vector<std::pair<std::string, std::string>> StoredValues(const store::RunRecord& run) {
  std::vector<std::pair<std::string, std::string>> out;
  const nlohmann::ordered_json values = TrialParameters(run);
  for (const auto& [k, v] : values.items()) {
    out.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out;
}

// The JSON value a parameter's text stands for: the choice value that prints as it, else the
// number.
nlohmann::json ValueFromText(const sweep::Distribution& d, const std::string& text) {
  if (d.kind == sweep::Kind::kChoice) {
    for (const auto& v : d.values) {
      if (spec::ValueText(v) == text) return v;
    }
    return text;
  }
  if (auto i = spec::ParseInteger(text); i && d.kind == sweep::Kind::kRandint) return *i;
  if (auto x = spec::ParseNumber(text)) return *x;
  return text;
}

nlohmann::json Assignment(const spec::SweepSpec& spec,
                          const std::vector<std::pair<std::string, std::string>>& values) {
  nlohmann::json a = nlohmann::json::object();
  for (const auto& [name, text] : values) {
    for (const auto& p : spec.search_space) {
      if (p.name == name) a[name] = ValueFromText(p.distribution, text);
    }
  }
  return a;
}

Result<spec::SweepSpec> StoredSweep(const store::RunRecord& run) {
  auto parsed = spec::ParseSweepText(run.spec_json, spec::kStoredSpecOrigin, "/");
  if (!parsed.ok()) {
    return Internal("the stored sweep " + run.id + " is unreadable: " + parsed.status().message());
  }
  return parsed;
}

void SetProperty(store::Workspace* ws, int64_t run_seq, const std::string& key,
                 const std::string& value) {
  tracking::Batch b;
  b.client = "sweep-" + key;
  b.seq = NowMicros();
  b.properties.push_back({key, nlohmann::json(value).dump()});
  store::ApplyBatch(ws->db(), run_seq, b).status().IgnoreError();
}

// Stops an active run, giving `reason` as its error.
void StopRun(store::Workspace* ws, const store::RunRecord& run, const std::string& reason) {
  store::StatusUpdate u;
  u.error = reason;
  u.ended_at = NowMicros();
  auto was_queued = ws->CompareAndSetStatus(run.id, RunStatus::kQueued, RunStatus::kCanceled, u);
  if (was_queued.ok() && *was_queued) return;
  auto cur = ws->GetRun(run.id);
  if (!cur.ok() || store::IsTerminal(cur->status)) return;
  if (cur->status != RunStatus::kCancelRequested) {
    ws->SetStatus(run.id, RunStatus::kCancelRequested, {.error = reason}).IgnoreError();
  }
  const auto pid = static_cast<pid_t>(cur->supervisor_pid);
  if (pid > 0 && ProcessAlive(pid, static_cast<unsigned long long>(cur->supervisor_start))) {
    kill(pid, SIGUSR1);
  }
}

class Controller {
 public:
  Controller(std::unique_ptr<store::Workspace> ws, store::RunRecord run, spec::SweepSpec spec,
             std::unique_ptr<sweep::Sampler> sampler)
      : ws_(std::move(ws)),
        run_(std::move(run)),
        spec_(std::move(spec)),
        sampler_(std::move(sampler)) {}

  int Main();

 private:
  struct Trial {
    store::RunRecord run;
    std::vector<double> primary;
    bool final = false;  // ended, and its metrics read after it ended
  };

  Status Refresh();
  void Beat();
  void ApplyPolicy();
  Status CreateTrials();
  // Stops every active trial; true once none is active.
  bool StopAll(const std::string& reason);
  Status Finish(RunStatus status, const std::string& error);
  std::vector<sweep::Observation> History() const;
  int64_t Active() const;

  std::unique_ptr<store::Workspace> ws_;
  store::RunRecord run_;
  spec::SweepSpec spec_;
  std::unique_ptr<sweep::Sampler> sampler_;
  std::map<int64_t, Trial> trials_;  // by index
  std::vector<sweep::Observation> warm_;
  int64_t last_beat_ = 0;
  int submit_failures_ = 0;  // in a row
};

void Controller::Beat() {
  const int64_t now = MonotonicMicros();
  if (now - last_beat_ < kHeartbeatMicros) return;
  last_beat_ = now;
  ws_->Heartbeat(run_.id).IgnoreError();
}

Status Controller::Refresh() {
  ASSIGN_OR_RETURN(run_, ws_->GetRun(run_.id));
  store::RunFilter f;
  f.parent = run_.id;
  ASSIGN_OR_RETURN(auto children, ws_->ListRuns(f));
  for (auto& child : children) {
    if (!child.trial_index) continue;
    Trial& t = trials_[*child.trial_index];
    if (t.final) continue;
    const bool ended = store::IsTerminal(child.status);
    t.run = std::move(child);
    if (t.run.status == RunStatus::kQueued) continue;  // nothing logged yet
    ASSIGN_OR_RETURN(t.primary,
                     PrimarySeries(ws_.get(), t.run.seq, spec_.objective.primary_metric));
    t.final = ended;
  }
  return Status::Ok();
}

int64_t Controller::Active() const {
  int64_t n = 0;
  for (const auto& [index, t] : trials_) n += store::IsTerminal(t.run.status) ? 0 : 1;
  return n;
}

std::vector<sweep::Observation> Controller::History() const {
  std::vector<sweep::Observation> out = warm_;
  for (const auto& [index, t] : trials_) {
    if (!store::IsTerminal(t.run.status)) continue;
    auto best = BestOf(t.primary, spec_.objective.goal);
    if (!best) continue;
    sweep::Observation o;
    o.index = index;
    o.params = Assignment(spec_, StoredValues(t.run));
    o.loss = spec_.objective.goal == sweep::Goal::kMinimize ? *best : -*best;
    out.push_back(std::move(o));
  }
  return out;
}

void Controller::ApplyPolicy() {
  if (spec_.early_termination.type == sweep::PolicyType::kNone) return;
  std::vector<sweep::TrialView> views;
  for (const auto& [index, t] : trials_) {
    views.push_back({index, StateOf(t.run.status), t.primary});
  }
  for (const auto& d : sweep::Evaluate(spec_.early_termination, spec_.objective.goal, views)) {
    const Trial& t = trials_.at(d.index);
    if (t.run.status == RunStatus::kCancelRequested) continue;  // already being stopped
    StopRun(ws_.get(), t.run, kStoppedPrefix + d.reason);
    std::printf("trial %lld (%s): %s\n", static_cast<long long>(d.index), t.run.id.c_str(),
                d.reason.c_str());
    std::fflush(stdout);
  }
}

Status Controller::CreateTrials() {
  int64_t next = trials_.empty() ? 0 : trials_.rbegin()->first + 1;
  int64_t active = Active();
  const auto size = sampler_->Size();
  std::vector<sweep::Observation> history;
  bool have_history = false;
  while (active < spec_.limits.max_concurrent_trials && next < spec_.limits.max_total_trials &&
         (!size || next < *size)) {
    if (!have_history) {
      history = History();
      have_history = true;
    }
    auto params = sampler_->Next(next, history);
    if (!params) break;
    spec::JobSpec job = spec::TrialJob(spec_, *params);
    SubmitOptions options;
    options.parent_id = run_.id;
    options.trial_index = next;
    auto sub = Submit(ws_.get(), job, options);
    if (!sub.ok()) {
      // A passing problem (a busy disk, the trainyard binary being replaced) is tried again at
      // the next looks; one that persists ends the sweep.
      if (++submit_failures_ < kSubmitAttempts) {
        std::printf("trial %lld could not be submitted (attempt %d of %d): %s\n",
                    static_cast<long long>(next), submit_failures_, kSubmitAttempts,
                    sub.status().message().c_str());
        std::fflush(stdout);
        return Status::Ok();
      }
      return Status(sub.status().code(), "trial " + std::to_string(next) +
                                             " could not be submitted: " + sub.status().message());
    }
    submit_failures_ = 0;
    trials_[next].run = sub->run;
    std::printf("trial %lld: %s %s\n", static_cast<long long>(next), sub->run.id.c_str(),
                params->dump().c_str());
    std::fflush(stdout);
    ++next;
    ++active;
  }
  return Status::Ok();
}

bool Controller::StopAll(const std::string& reason) {
  bool none = true;
  for (const auto& [index, t] : trials_) {
    if (store::IsTerminal(t.run.status)) continue;
    none = false;
    if (t.run.status != RunStatus::kCancelRequested) StopRun(ws_.get(), t.run, reason);
  }
  return none;
}

Status Controller::Finish(RunStatus status, const std::string& error) {
  // The best trial, for the SDK and `sweep show`.
  std::optional<double> best;
  std::string best_id;
  for (const auto& [index, t] : trials_) {
    auto b = BestOf(t.primary, spec_.objective.goal);
    if (b &&
        (!best || (spec_.objective.goal == sweep::Goal::kMaximize ? *b > *best : *b < *best))) {
      best = b;
      best_id = t.run.id;
    }
  }
  if (best) {
    SetProperty(ws_.get(), run_.seq, "best_child_run_id", best_id);
    SetProperty(ws_.get(), run_.seq, "best_metric_value", spec::ValueText(*best));
  }
  store::StatusUpdate u;
  u.ended_at = NowMicros();
  if (!error.empty()) u.error = error;
  auto cur = ws_->GetRun(run_.id);
  if (cur.ok() && store::IsTerminal(cur->status)) return Status::Ok();
  return ws_->SetStatus(run_.id, status, u);
}

int Controller::Main() {
  // The handler first: trials' supervisors signal the pid recorded next.
  struct sigaction sa {};
  sa.sa_handler = OnWake;
  sigaction(SIGUSR1, &sa, nullptr);
  if (!ws_->SetSupervisor(run_.id, getpid(), ProcessStartTicks(getpid())).ok()) return 1;
  signal(SIGPIPE, SIG_IGN);
  if (run_.status == RunStatus::kQueued) {
    auto started = ws_->CompareAndSetStatus(run_.id, RunStatus::kQueued, RunStatus::kRunning,
                                            {.started_at = NowMicros()});
    if (!started.ok()) return 1;
  }
  std::printf("sweep %s: controller %d\n", run_.id.c_str(), static_cast<int>(getpid()));
  std::fflush(stdout);
  // Warm start: the ended trials of earlier sweeps, as observations of this one.
  for (const std::string& id : spec_.resume_from) {
    auto earlier = ReadSweep(ws_.get(), id);
    if (!earlier.ok()) {
      std::printf("resume_from %s: %s\n", id.c_str(), earlier.status().message().c_str());
      continue;
    }
    for (const auto& t : earlier->trials) {
      if (!t.best || !store::IsTerminal(t.run.status)) continue;
      sweep::Observation o;
      o.index = -1 - static_cast<int64_t>(warm_.size());
      o.params = Assignment(spec_, t.parameters);
      o.loss = spec_.objective.goal == sweep::Goal::kMinimize ? *t.best : -*t.best;
      warm_.push_back(std::move(o));
    }
  }
  if (!spec_.resume_from.empty()) {
    std::printf("warm start: %zu ended trials of %s\n", warm_.size(),
                Join(spec_.resume_from, ", ").c_str());
    std::fflush(stdout);
  }

  const int64_t deadline = run_.started_at.value_or(NowMicros()) +
                           static_cast<int64_t>(spec_.limits.timeout_seconds * 1e6);
  std::string ending;  // why the sweep is stopping its trials
  RunStatus end_status = RunStatus::kCanceled;
  while (true) {
    Beat();
    if (Status s = Refresh(); !s.ok()) {
      std::fprintf(stderr, "sweep controller: %s\n", s.ToString().c_str());
      SleepMicros(kLoopMicros);
      continue;
    }
    if (store::IsTerminal(run_.status)) return 0;
    if (ending.empty()) {
      if (run_.status == RunStatus::kCancelRequested) {
        ending = "canceled by the user";
      } else if (NowMicros() > deadline) {
        ending = "the sweep's timeout (" +
                 FormatDuration(static_cast<int64_t>(spec_.limits.timeout_seconds * 1e6)) +
                 ") passed";
      }
    }
    if (ending.empty()) {
      ApplyPolicy();
      if (Status s = CreateTrials(); !s.ok()) {
        ending = s.message();
        end_status = RunStatus::kFailed;
      }
    }
    if (!ending.empty()) {
      if (StopAll(ending)) {
        return Finish(end_status, ending).ok() ? 0 : 1;
      }
    } else if (Active() == 0) {
      // Nothing runs and nothing more will be created: the sweep is done.
      int64_t failed = 0;
      std::string first_error;
      for (const auto& [index, t] : trials_) {
        if (t.run.status != RunStatus::kFailed) continue;
        if (failed++ == 0) first_error = "trial " + std::to_string(index) + ": " + t.run.error;
      }
      const bool all_failed = !trials_.empty() && failed == static_cast<int64_t>(trials_.size());
      Status s = all_failed ? Finish(RunStatus::kFailed, "every trial failed; " + first_error)
                            : Finish(RunStatus::kCompleted, "");
      return s.ok() ? 0 : 1;
    }
    // A trial's supervisor wakes the controller when the trial ends (SIGUSR1), so that its slot
    // is refilled at once; otherwise the next look is kLoopMicros away.
    for (int64_t slept = 0; slept < kLoopMicros && !g_woken; slept += kWakeSliceMicros) {
      SleepMicros(kWakeSliceMicros);
    }
    g_woken = 0;
  }
}

}  // namespace

Result<std::unique_ptr<sweep::Sampler>> MakeSampler(const spec::SweepSpec& spec, uint64_t seed) {
  switch (spec.sampling.algorithm) {
    case sweep::Algorithm::kGrid: return sweep::MakeGridSampler(spec.search_space);
    case sweep::Algorithm::kBayesian: return sweep::MakeModelSearch(spec.search_space, seed);
    case sweep::Algorithm::kRandom:
      if (spec.sampling.rule == sweep::RandomRule::kSobol) {
        return sweep::MakeSobolSampler(spec.search_space, seed);
      }
      return sweep::MakeRandomSampler(spec.search_space, seed);
  }
  return Internal("unknown sampling algorithm");
}

Result<SweepSubmission> SubmitSweep(store::Workspace* ws, const spec::SweepSpec& written,
                                    const SweepSubmitOptions& options) {
  SweepSubmission out;
  spec::SweepSpec spec = written;
  // Warm start: earlier sweeps of this workspace, kept by their full ids.
  for (std::string& id : spec.resume_from) {
    auto earlier = ws->GetRun(id);
    if (!earlier.ok()) return earlier.status().WithContext("resume_from");
    if (earlier->kind != "sweep") {
      return InvalidArgument("resume_from: run " + earlier->id +
                             " is not a sweep (give earlier sweeps' run ids)");
    }
    id = earlier->id;
  }
  out.seed = spec.sampling.seed.value_or(NewSeed());
  spec.sampling.seed = out.seed;
  ASSIGN_OR_RETURN(auto sampler, MakeSampler(spec, out.seed));
  // The first trial, checked as a job (files, target, interpreter) before anything is recorded.
  const int n = options.dry_run ? std::max(options.dry_run_trials, 1) : 1;
  for (int i = 0; i < n && i < spec.limits.max_total_trials; ++i) {
    auto params = sampler->Next(i, {});
    if (!params) break;
    out.first_trials.push_back(*params);
  }
  if (out.first_trials.empty()) return InvalidArgument("the search space has no trial");
  SubmitOptions check;
  check.dry_run = true;
  auto plan = Submit(ws, spec::TrialJob(spec, out.first_trials.front()), check);
  if (!plan.ok()) return plan.status().WithContext("the sweep's first trial");
  if (options.dry_run) {
    out.first_trial_plan = std::move(plan).value();
    return out;
  }

  store::RunRecord& run = out.run;
  run.kind = "sweep";
  run.experiment = spec.trial.experiment_name;
  run.display_name = spec.display_name.empty() ? spec.job_name : spec.display_name;
  run.target = spec.trial.compute_target;
  run.spec_json = spec::SweepToJson(spec);
  run.interpreter = plan->interpreter;
  run.torch_version = plan->torch_version;
  RETURN_IF_ERROR(ws->CreateRun(&run, spec.tags));
  const std::string run_dir = ws->RunDir(run.id);
  Status started = MakeDirs(run_dir + "/logs");
  for (const auto& [k, v] : spec.properties) SetProperty(ws, run.seq, k, v);
  if (!spec.job_name.empty()) SetProperty(ws, run.seq, "name", spec.job_name);
  if (!spec.description.empty()) SetProperty(ws, run.seq, "description", spec.description);
  if (started.ok()) {
    started =
        StartSupervisor(options.supervisor_exe.empty() ? TrainyardExe() : options.supervisor_exe,
                        ws->dir(), run.id, run_dir);
  }
  if (!started.ok()) {
    store::StatusUpdate u;
    u.error = started.message();
    u.ended_at = NowMicros();
    ws->SetStatus(run.id, RunStatus::kFailed, u).IgnoreError();
    return started;
  }
  return out;
}

int ControlSweep(const std::string& workspace_dir, const std::string& sweep_id) {
  auto ws = store::Workspace::Open(workspace_dir);
  if (!ws.ok()) {
    std::fprintf(stderr, "sweep controller: %s\n", ws.status().ToString().c_str());
    return 1;
  }
  auto run = (*ws)->GetRun(sweep_id);
  auto spec = run.ok() ? StoredSweep(*run) : Result<spec::SweepSpec>(run.status());
  auto sampler = spec.ok() ? MakeSampler(*spec, spec->sampling.seed.value_or(0))
                           : Result<std::unique_ptr<sweep::Sampler>>(spec.status());
  if (!sampler.ok()) {
    std::fprintf(stderr, "sweep controller: %s\n", sampler.status().ToString().c_str());
    if (run.ok()) {
      (*ws)
          ->SetStatus(sweep_id, RunStatus::kFailed,
                      {.ended_at = NowMicros(), .error = sampler.status().message()})
          .IgnoreError();
    }
    return 1;
  }
  Controller c(std::move(ws).value(), std::move(run).value(), std::move(spec).value(),
               std::move(sampler).value());
  return c.Main();
}

Result<int> ResumeOrphanedSweeps(store::Workspace* ws, const std::string& supervisor_exe) {
  ASSIGN_OR_RETURN(auto ids, ws->ClaimOrphanedSweeps());
  int n = 0;
  for (const std::string& id : ids) {
    Status s = StartSupervisor(supervisor_exe.empty() ? TrainyardExe() : supervisor_exe, ws->dir(),
                               id, ws->RunDir(id));
    if (s.ok()) ++n;
  }
  return n;
}

Result<int> Reap(store::Workspace* ws) {
  ASSIGN_OR_RETURN(int reaped, ws->ReapOrphans());
  ASSIGN_OR_RETURN(int resumed, ResumeOrphanedSweeps(ws));
  return reaped + resumed;
}

Result<SweepSummary> ReadSweep(store::Workspace* ws, const std::string& id) {
  SweepSummary out;
  ASSIGN_OR_RETURN(out.run, ws->GetRun(id));
  if (out.run.kind != "sweep") {
    return FailedPrecondition("run " + out.run.id + " is not a sweep");
  }
  ASSIGN_OR_RETURN(out.spec, StoredSweep(out.run));
  out.seed = out.spec.sampling.seed.value_or(0);
  store::RunFilter f;
  f.parent = out.run.id;
  ASSIGN_OR_RETURN(auto children, ws->ListRuns(f));
  const sweep::Goal goal = out.spec.objective.goal;
  for (auto& child : children) {
    TrialSummary t;
    t.index = child.trial_index.value_or(-1);
    t.parameters = StoredValues(child);
    ASSIGN_OR_RETURN(t.primary, PrimarySeries(ws, child.seq, out.spec.objective.primary_metric));
    t.best = BestOf(t.primary, goal);
    if (child.status == RunStatus::kCanceled && StartsWith(child.error, kStoppedPrefix)) {
      t.stopped_by = child.error.substr(sizeof kStoppedPrefix - 1);
    }
    t.run = std::move(child);
    out.trials.push_back(std::move(t));
  }
  std::sort(out.trials.begin(), out.trials.end(),
            [goal](const TrialSummary& a, const TrialSummary& b) {
              if (a.best.has_value() != b.best.has_value()) return a.best.has_value();
              if (a.best && *a.best != *b.best) {
                return goal == sweep::Goal::kMaximize ? *a.best > *b.best : *a.best < *b.best;
              }
              return a.index < b.index;
            });
  if (!out.trials.empty() && out.trials.front().best) out.best_run_id = out.trials.front().run.id;
  return out;
}

Result<store::RunRecord> CancelSweep(store::Workspace* ws, const std::string& id,
                                     double wait_seconds) {
  ASSIGN_OR_RETURN(auto run, ws->GetRun(id));
  if (run.kind != "sweep") return FailedPrecondition("run " + run.id + " is not a sweep");
  return Cancel(ws, run.id, wait_seconds);
}

}  // namespace trainyard::runner
