// The public C++ API over the runner and the workspace store.
#include "trainyard/trainyard.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/files.h"
#include "common/json_number.h"
#include "common/process.h"
#include "common/strings.h"
#include "runner/log_follow.h"
#include "runner/records_json.h"
#include "runner/runner.h"
#include "runner/sweep.h"
#include "spec/parse.h"
#include "spec/sweep_spec.h"
#include "store/metrics.h"
#include "store/workspace.h"
#include "tracking/limits.h"
#include "tracking/recorder.h"

namespace trainyard {

// A handle's state holds the workspace; the context's holds the tracking recorder instead.
struct Run::State {
  std::unique_ptr<store::Workspace> ws;
  tracking::Recorder* recorder = nullptr;  // not owned (Recorder::Current() lives forever)
};

namespace {

RunDetails ToDetails(const store::RunRecord& r) {
  RunDetails d;
  d.id = r.id;
  d.experiment = r.experiment;
  d.status = store::RunStatusName(r.status);
  if (r.exit_code) d.exit_code = static_cast<int>(*r.exit_code);
  d.error = r.error;
  d.created_at = FormatIso8601(r.created_at);
  if (r.started_at) d.started_at = FormatIso8601(*r.started_at);
  if (r.ended_at) d.ended_at = FormatIso8601(*r.ended_at);
  d.finished = store::IsTerminal(r.status);
  return d;
}

// Applies one batch to a recorded run straight in the workspace (logging on a handle from
// outside the run's processes): a fresh client id, so it is stored exactly once.
Status ApplyDirect(store::Workspace* ws, const std::string& run_id, tracking::Batch batch) {
  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(run_id));
  batch.client = "api-" + store::NewRunId("c");
  batch.seq = 1;
  return store::ApplyBatch(ws->db(), run.seq, batch).status();
}

}  // namespace

Status Run::NeedsHandle() const {
  if (state_->ws) return Status::Ok();
  return FailedPrecondition(
      "this is the run context inside a training program; open the run "
      "with Workspace::GetRun to follow or cancel it");
}

Run& Run::Context() {
  static Run* context = [] {
    auto state = std::make_shared<Run::State>();
    state->recorder = &tracking::Recorder::Current();
    return new Run(state, state->recorder->run_id());
  }();
  return *context;
}

bool Run::offline() const { return state_->recorder && state_->recorder->offline(); }

Status Run::Log(const std::string& name, double value, std::optional<int64_t> step) {
  if (state_->recorder) return state_->recorder->Log(name, value, step);
  RETURN_IF_ERROR(tracking::CheckName("metric name", name));
  tracking::Batch b;
  b.points.push_back({name, step.value_or(0), NowMicros(), value});
  return ApplyDirect(state_->ws.get(), id_, std::move(b));
}

Status Run::LogList(const std::string& name, const std::vector<double>& values) {
  if (state_->recorder) return state_->recorder->LogList(name, values);
  RETURN_IF_ERROR(tracking::CheckName("metric name", name));
  tracking::Batch b;
  int64_t ts = NowMicros();
  for (size_t i = 0; i < values.size(); ++i) {
    b.points.push_back({name, static_cast<int64_t>(i), ts, values[i]});
  }
  return ApplyDirect(state_->ws.get(), id_, std::move(b));
}

Status Run::LogRow(const std::string& name,
                   const std::vector<std::pair<std::string, double>>& row) {
  tracking::RowColumns columns;
  for (const auto& [k, v] : row) columns.emplace_back(k, v);
  if (state_->recorder) return state_->recorder->LogRow(name, columns);
  nlohmann::json obj = nlohmann::json::object();
  for (const auto& [k, v] : row) obj[k] = JsonNumber(v);
  tracking::Batch b;
  b.rows.push_back(
      {name, 0, NowMicros(), obj.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
  return ApplyDirect(state_->ws.get(), id_, std::move(b));
}

Status Run::Tag(const std::string& key, const std::string& value) {
  if (state_->recorder) return state_->recorder->Tag(key, value);
  RETURN_IF_ERROR(tracking::CheckName("tag key", key));
  RETURN_IF_ERROR(CheckUtf8("tag value for '" + key + "'", value));
  return state_->ws->SetTag(id_, key, value);
}

Status Run::AddProperty(const std::string& key, const std::string& value) {
  if (state_->recorder) return state_->recorder->AddProperties({{key, value}});
  RETURN_IF_ERROR(tracking::CheckName("property key", key));
  RETURN_IF_ERROR(CheckUtf8("property value for '" + key + "'", value));
  tracking::Batch b;
  b.properties.push_back({key, nlohmann::json(value).dump()});
  return ApplyDirect(state_->ws.get(), id_, std::move(b));
}

Status Run::UploadFile(const std::string& name, const std::string& path) {
  if (state_->recorder) return state_->recorder->UploadFile(name, path);
  return FailedPrecondition(
      "UploadFile works inside the run (Run::Context()); to add files to "
      "a finished run, copy them into " +
      state_->ws->RunDir(id_));
}

Status Run::Flush() {
  if (state_->recorder) return state_->recorder->Flush();
  return Status::Ok();  // handles write synchronously
}

Result<Metrics> Run::GetMetrics(const std::string& name) const {
  Metrics out;
  if (state_->recorder) {
    ASSIGN_OR_RETURN(auto series, state_->recorder->GetMetrics(name.empty() ? std::nullopt
                                                                            : std::optional(name)));
    for (const auto& [n, points] : series) {
      for (const auto& p : points) out[n].push_back({p.step, p.ts_us, p.rank, p.value});
    }
    return out;
  }
  ASSIGN_OR_RETURN(store::RunRecord run, state_->ws->GetRun(id_));
  ASSIGN_OR_RETURN(auto series, store::ReadMetrics(state_->ws->db(), run.seq, name));
  for (const auto& [n, points] : series) {
    for (const auto& p : points) {
      out[n].push_back({p.step, p.ts, static_cast<int>(p.rank), p.value});
    }
  }
  return out;
}

Result<Workspace> Workspace::Open(const std::string& dir) {
  auto state = std::make_shared<Run::State>();
  ASSIGN_OR_RETURN(state->ws, store::Workspace::Open(store::ResolveWorkspaceDir(dir)));
  runner::Reap(state->ws.get()).status().IgnoreError();
  return Workspace(state);
}

const std::string& Workspace::dir() const { return state_->ws->dir(); }

Experiment Workspace::GetExperiment(const std::string& name) const {
  return Experiment(state_, name);
}

Result<Run> Workspace::GetRun(const std::string& id_or_prefix) const {
  ASSIGN_OR_RETURN(store::RunRecord r, state_->ws->GetRun(id_or_prefix));
  return Run(state_, r.id);
}

Result<std::string> Workspace::ExperimentsJson() const {
  ASSIGN_OR_RETURN(nlohmann::json j, runner::ExperimentsToJson(state_->ws.get()));
  return j.dump();
}

Result<std::string> Workspace::TargetsJson() const {
  ASSIGN_OR_RETURN(nlohmann::json j, runner::TargetsToJson(state_->ws.get()));
  return j.dump();
}

Result<std::string> Workspace::TargetJson(const std::string& name) const {
  ASSIGN_OR_RETURN(nlohmann::json j, runner::LookupTargetJson(state_->ws.get(), name));
  return j.dump();
}

Status Workspace::AddTarget(const std::string& name, const std::string& type,
                            const std::map<std::string, std::string>& options) const {
  return runner::AddTarget(state_->ws.get(), name, type, options);
}

Status Workspace::RemoveTarget(const std::string& name) const {
  return state_->ws->RemoveTarget(name);
}

Result<Run> Experiment::Submit(const Estimator& e) const {
  // The estimator becomes the same document a job file would hold, so it validates the same way.
  nlohmann::ordered_json doc = {
      {"source_directory", e.source_directory},
      {"entry_script", e.entry_script},
      {"compute_target", e.compute_target},
      {"use_gpu", e.use_gpu},
      {"node_count", e.node_count},
      {"process_count_per_node", e.process_count_per_node},
      {"experiment_name", name_},
  };
  nlohmann::ordered_json params = nlohmann::ordered_json::object();
  for (const auto& [flag, value] : e.script_params) {
    params[flag] = value ? nlohmann::ordered_json(*value) : nlohmann::ordered_json(nullptr);
  }
  doc["script_params"] = params;
  if (!e.pip_packages.empty()) doc["pip_packages"] = e.pip_packages;
  if (!e.conda_packages.empty()) doc["conda_packages"] = e.conda_packages;
  if (!e.distributed_backend.empty()) doc["distributed_backend"] = e.distributed_backend;
  if (!e.environment_variables.empty()) doc["environment_variables"] = e.environment_variables;
  if (e.max_run_duration_seconds > 0) doc["max_run_duration_seconds"] = e.max_run_duration_seconds;
  if (!e.python.empty()) doc["python"] = e.python;
  // JSON text carries only UTF-8: argument and environment values that are other bytes go in
  // replaced (U+FFFD) and are put back, exactly, once the document has validated.
  for (const auto& [flag, value] : e.script_params) {
    RETURN_IF_ERROR(CheckUtf8("script_params key '" + EscapeBytes(flag) + "'", flag));
  }
  for (const auto& [k, v] : e.environment_variables) {
    RETURN_IF_ERROR(CheckUtf8("environment variable name '" + EscapeBytes(k) + "'", k));
  }
  ASSIGN_OR_RETURN(
      spec::JobSpec spec,
      spec::ParseJobText(doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace),
                         "<Estimator>", AbsolutePath(".")));
  std::map<std::string, std::optional<std::string>> params_by_flag(e.script_params.begin(),
                                                                   e.script_params.end());
  for (const auto& [flag, value] : e.script_params) params_by_flag[flag] = value;  // last wins
  for (spec::ScriptParam& sp : spec.script_params) {
    if (auto it = params_by_flag.find(sp.flag); it != params_by_flag.end() && sp.value) {
      sp.value = it->second;
    }
  }
  for (auto& [k, v] : spec.environment_variables) {
    if (auto it = e.environment_variables.find(k); it != e.environment_variables.end()) {
      v = it->second;
    }
  }
  runner::SubmitOptions options;
  ASSIGN_OR_RETURN(runner::Submission sub, runner::Submit(state_->ws.get(), spec, options));
  return Run(state_, sub.run.id);
}

namespace {

std::string BaseDir(const Job& job) {
  return AbsolutePath(job.base_dir.empty() ? "." : job.base_dir);
}

Result<spec::JobSpec> ParseJob(const Job& job) {
  return spec::ParseJobText(job.document, job.origin, BaseDir(job));
}

Status AddTags(const std::vector<std::pair<std::string, std::string>>& tags,
               std::vector<std::pair<std::string, std::string>>* out) {
  for (const auto& [k, v] : tags) {
    RETURN_IF_ERROR(tracking::CheckName("tag key", k));
    RETURN_IF_ERROR(CheckUtf8("tag value for '" + k + "'", v));
    out->emplace_back(k, v);
  }
  return Status::Ok();
}

}  // namespace

Status CheckJob(const Job& job) {
  if (spec::IsSweepText(job.document, job.origin)) {
    return spec::ParseSweepText(job.document, job.origin, BaseDir(job)).status();
  }
  return ParseJob(job).status();
}

Result<Run> Experiment::Submit(const Job& job,
                               const std::vector<std::pair<std::string, std::string>>& tags) const {
  if (spec::IsSweepText(job.document, job.origin)) {
    ASSIGN_OR_RETURN(spec::SweepSpec sweep,
                     spec::ParseSweepText(job.document, job.origin, BaseDir(job)));
    sweep.trial.experiment_name = name_;
    RETURN_IF_ERROR(AddTags(tags, &sweep.tags));
    ASSIGN_OR_RETURN(runner::SweepSubmission sub, runner::SubmitSweep(state_->ws.get(), sweep));
    return Run(state_, sub.run.id);
  }
  ASSIGN_OR_RETURN(spec::JobSpec spec, ParseJob(job));
  spec.experiment_name = name_;
  RETURN_IF_ERROR(AddTags(tags, &spec.tags));
  ASSIGN_OR_RETURN(runner::Submission sub, runner::Submit(state_->ws.get(), spec));
  return Run(state_, sub.run.id);
}

Result<std::string> Experiment::Plan(const Job& job) const {
  if (spec::IsSweepText(job.document, job.origin)) {
    ASSIGN_OR_RETURN(spec::SweepSpec sweep,
                     spec::ParseSweepText(job.document, job.origin, BaseDir(job)));
    sweep.trial.experiment_name = name_;
    runner::SweepSubmitOptions options;
    options.dry_run = true;
    ASSIGN_OR_RETURN(runner::SweepSubmission sub,
                     runner::SubmitSweep(state_->ws.get(), sweep, options));
    nlohmann::json j = {{"dry_run", true},
                        {"sweep", true},
                        {"seed", sub.seed},
                        {"trials", sub.first_trials},
                        {"plan", sub.first_trial_plan->plan.ToJson()},
                        {"interpreter", sub.first_trial_plan->interpreter}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  ASSIGN_OR_RETURN(spec::JobSpec spec, ParseJob(job));
  spec.experiment_name = name_;
  runner::SubmitOptions options;
  options.dry_run = true;
  ASSIGN_OR_RETURN(runner::Submission sub, runner::Submit(state_->ws.get(), spec, options));
  nlohmann::json j = {
      {"dry_run", true}, {"plan", sub.plan.ToJson()}, {"interpreter", sub.interpreter}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::vector<Run>> Experiment::Runs() const {
  store::RunFilter filter;
  filter.experiment = name_;
  ASSIGN_OR_RETURN(auto records, state_->ws->ListRuns(filter));
  std::vector<Run> out;
  for (const auto& r : records) out.push_back(Run(state_, r.id));
  return out;
}

Result<RunDetails> Run::Details() const {
  RETURN_IF_ERROR(NeedsHandle());
  ASSIGN_OR_RETURN(store::RunRecord r, state_->ws->GetRun(id_));
  return ToDetails(r);
}

Result<RunDetails> Run::WaitForCompletion(const std::function<void(const std::string&)>& on_output,
                                          double timeout_seconds) const {
  return WaitForCompletion(on_output, timeout_seconds, {});
}

Result<RunDetails> Run::WaitForCompletion(const std::function<void(const std::string&)>& on_output,
                                          double timeout_seconds,
                                          const std::function<bool()>& keep_waiting) const {
  RETURN_IF_ERROR(NeedsHandle());
  std::unique_ptr<runner::LogFollower> follower;
  if (on_output) {
    follower = std::make_unique<runner::LogFollower>(state_->ws->RunDir(id_) + "/logs", -1, false,
                                                     on_output);
  }
  auto tick = [&](const store::RunRecord& r) {
    if (follower) follower->Pump(store::IsTerminal(r.status));
  };
  // Waits in slices of 0.1 s, asking keep_waiting between them; the follower keeps its place.
  int64_t deadline =
      timeout_seconds > 0 ? MonotonicMicros() + static_cast<int64_t>(timeout_seconds * 1e6) : 0;
  while (true) {
    auto r = runner::Wait(state_->ws.get(), id_, 0.1, tick);
    if (r.ok()) return ToDetails(*r);
    if (r.status().code() != StatusCode::kTimeout) return r.status();
    if (deadline && MonotonicMicros() > deadline) return r.status();
    if (keep_waiting && !keep_waiting())
      return Status(StatusCode::kCanceled, "stopped waiting for run " + id_);
  }
}

Result<std::string> Run::DetailsJson() const {
  RETURN_IF_ERROR(NeedsHandle());
  ASSIGN_OR_RETURN(store::RunRecord r, state_->ws->GetRun(id_));
  return runner::RunToJson(state_->ws.get(), r, true)
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::vector<std::pair<std::string, std::string>>> Run::Tags() const {
  RETURN_IF_ERROR(NeedsHandle());
  return state_->ws->Tags(id_);
}

Result<std::vector<std::pair<std::string, std::string>>> Run::Properties() const {
  RETURN_IF_ERROR(NeedsHandle());
  ASSIGN_OR_RETURN(store::RunRecord run, state_->ws->GetRun(id_));
  return store::ReadProperties(state_->ws->db(), run.seq);
}

Result<std::map<std::string, std::vector<std::string>>> Run::Rows(const std::string& name) const {
  RETURN_IF_ERROR(NeedsHandle());
  ASSIGN_OR_RETURN(store::RunRecord run, state_->ws->GetRun(id_));
  ASSIGN_OR_RETURN(auto rows, store::ReadRows(state_->ws->db(), run.seq, name));
  std::map<std::string, std::vector<std::string>> out;
  for (auto& row : rows) out[row.name].push_back(std::move(row.columns_json));
  return out;
}

Result<RunDetails> Run::Cancel() const {
  RETURN_IF_ERROR(NeedsHandle());
  ASSIGN_OR_RETURN(store::RunRecord r, runner::Cancel(state_->ws.get(), id_));
  return ToDetails(r);
}

Result<std::vector<std::string>> Run::Files() const {
  RETURN_IF_ERROR(NeedsHandle());
  ASSIGN_OR_RETURN(auto files, state_->ws->Files(id_));
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.path);
  return out;
}

Status Run::Download(const std::string& path, const std::string& dest_dir) const {
  RETURN_IF_ERROR(NeedsHandle());
  ASSIGN_OR_RETURN(auto files, state_->ws->Files(id_));
  std::string prefix = path;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  int copied = 0;
  for (const auto& f : files) {
    if (!prefix.empty() && f.path != prefix && f.path.rfind(prefix + "/", 0) != 0) continue;
    std::string dest = dest_dir + "/" + f.path;
    RETURN_IF_ERROR(MakeDirs(std::filesystem::path(dest).parent_path().string()));
    RETURN_IF_ERROR(CopyFile(state_->ws->RunDir(id_) + "/" + f.path, dest));
    ++copied;
  }
  if (copied == 0) return NotFound("run " + id_ + " has no file or folder \"" + prefix + "\"");
  return Status::Ok();
}

}  // namespace trainyard
