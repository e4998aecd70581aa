// The public C++ API over the runner and the workspace store.
#include "trainyard/trainyard.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "runner/log_follow.h"
#include "runner/runner.h"
#include "spec/parse.h"
#include "store/workspace.h"

namespace trainyard {

struct Run::State {
  std::unique_ptr<store::Workspace> ws;
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

// The `trainyard` executable that supervises runs: $TRAINYARD_BIN, else `trainyard` beside this
// program or on PATH, else the one this library was built with.
std::string SupervisorExe() {
  if (const char* env = std::getenv("TRAINYARD_BIN"); env && *env) return env;
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    std::string beside =
        std::filesystem::path(std::string(buf, static_cast<size_t>(n))).parent_path() / "trainyard";
    if (access(beside.c_str(), X_OK) == 0) return beside;
  }
  if (std::string on_path = FindOnPath("trainyard"); !on_path.empty()) return on_path;
  return TRAINYARD_BUILD_BIN;
}

}  // namespace

Result<Workspace> Workspace::Open(const std::string& dir) {
  auto state = std::make_shared<Run::State>();
  ASSIGN_OR_RETURN(state->ws, store::Workspace::Open(store::ResolveWorkspaceDir(dir)));
  state->ws->ReapOrphans().status().IgnoreError();
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
  ASSIGN_OR_RETURN(spec::JobSpec spec,
                   spec::ParseJobText(doc.dump(), "<Estimator>", AbsolutePath(".")));
  runner::SubmitOptions options;
  options.supervisor_exe = SupervisorExe();
  ASSIGN_OR_RETURN(runner::Submission sub, runner::Submit(state_->ws.get(), spec, options));
  return Run(state_, sub.run.id);
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
  ASSIGN_OR_RETURN(store::RunRecord r, state_->ws->GetRun(id_));
  return ToDetails(r);
}

Result<RunDetails> Run::WaitForCompletion(const std::function<void(const std::string&)>& on_output,
                                          double timeout_seconds) const {
  std::unique_ptr<runner::LogFollower> follower;
  if (on_output) {
    follower = std::make_unique<runner::LogFollower>(state_->ws->RunDir(id_) + "/logs", -1, false,
                                                     on_output);
  }
  auto tick = [&](const store::RunRecord& r) {
    if (follower) follower->Pump(store::IsTerminal(r.status));
  };
  ASSIGN_OR_RETURN(store::RunRecord r, runner::Wait(state_->ws.get(), id_, timeout_seconds, tick));
  return ToDetails(r);
}

Result<RunDetails> Run::Cancel() const {
  ASSIGN_OR_RETURN(store::RunRecord r, runner::Cancel(state_->ws.get(), id_));
  return ToDetails(r);
}

Result<std::vector<std::string>> Run::Files() const {
  ASSIGN_OR_RETURN(auto files, state_->ws->Files(id_));
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.path);
  return out;
}

Status Run::Download(const std::string& path, const std::string& dest_dir) const {
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
