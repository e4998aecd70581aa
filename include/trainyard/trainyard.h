// trainyard's C++ API: submit training jobs and follow their runs from a C++ program, with the
// concepts of the seed's Python SDK: Workspace, Experiment, Estimator, Run.
//
//   auto ws = trainyard::Workspace::Open();            // $TRAINYARD_WORKSPACE or ~/.trainyard
//   trainyard::Estimator est;
//   est.source_directory = "examples/digits";
//   est.entry_script = "train.py";
//   est.script_params = {{"--epochs", "10"}};
//   auto run = ws->GetExperiment("digits").Submit(est);
//   auto done = run->WaitForCompletion([](const std::string& l) { std::puts(l.c_str()); });
//
// The same validation, snapshot and supervisor as `trainyard submit` are used. Runs are owned by
// detached `trainyard` supervisor processes, so a run outlives the program that submitted it.
// Objects hold a shared handle to the workspace; each may be used by one thread at a time (use
// one Workspace per thread for concurrent use). Errors are Status values naming the problem.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "trainyard/status.h"

namespace trainyard {

// The seed's estimator parameters. Defaults match a single-process local run.
struct Estimator {
  std::string source_directory;  // folder with the code (snapshotted at submit)
  std::string entry_script;      // relative to source_directory
  // Ordered "--flag" -> value; std::nullopt for a bare flag. Values travel as argv, never a shell.
  std::vector<std::pair<std::string, std::optional<std::string>>> script_params;
  std::string compute_target = "local";
  std::vector<std::string> pip_packages;
  std::vector<std::string> conda_packages;
  bool use_gpu = false;
  int node_count = 1;
  int process_count_per_node = 1;
  std::string distributed_backend;  // "", "mpi" or "pytorch"
  std::map<std::string, std::string> environment_variables;
  double max_run_duration_seconds = 0;  // 0: no limit
  std::string python;                   // interpreter; "" resolves /usr/bin/python3 etc.
};

// A snapshot of a run's record.
struct RunDetails {
  std::string id;
  std::string experiment;
  std::string status;  // "Queued", "Preparing", ..., "Completed", "Failed", "Canceled"
  std::optional<int> exit_code;
  std::string error;
  std::string created_at, started_at, ended_at;  // ISO-8601 UTC, "" when not yet
  bool finished = false;                         // Completed, Failed or Canceled
};

class Workspace;

class Run {
 public:
  const std::string& id() const { return id_; }
  // The current record.
  Result<RunDetails> Details() const;
  // Waits until the run ends (timeout_seconds 0: forever), handing each new log line to
  // `on_output` when given. Returns the final record; Timeout if the time ran out.
  Result<RunDetails> WaitForCompletion(
      const std::function<void(const std::string&)>& on_output = {},
      double timeout_seconds = 0) const;
  // Stops every process of the run and waits for it to end.
  Result<RunDetails> Cancel() const;
  // The run's kept files ("outputs/model.pt", "logs/rank-0.log"), once it has ended.
  Result<std::vector<std::string>> Files() const;
  // Copies a file or folder of the run (or everything, with "") under `dest_dir`.
  Status Download(const std::string& path, const std::string& dest_dir) const;

 private:
  friend class Experiment;
  friend class Workspace;
  struct State;
  Run(std::shared_ptr<State> state, std::string id)
      : state_(std::move(state)), id_(std::move(id)) {}
  std::shared_ptr<State> state_;
  std::string id_;
};

class Experiment {
 public:
  const std::string& name() const { return name_; }
  // Validates, snapshots and submits; returns as soon as the run is recorded (Queued).
  Result<Run> Submit(const Estimator& estimator) const;
  // Runs of this experiment, newest first.
  Result<std::vector<Run>> Runs() const;

 private:
  friend class Workspace;
  Experiment(std::shared_ptr<Run::State> state, std::string name)
      : state_(std::move(state)), name_(std::move(name)) {}
  std::shared_ptr<Run::State> state_;
  std::string name_;
};

class Workspace {
 public:
  // Opens (creating) the workspace at `dir`; "" means $TRAINYARD_WORKSPACE, else ~/.trainyard.
  static Result<Workspace> Open(const std::string& dir = "");
  const std::string& dir() const;
  Experiment GetExperiment(const std::string& name) const;
  Result<Run> GetRun(const std::string& id_or_prefix) const;

 private:
  explicit Workspace(std::shared_ptr<Run::State> state) : state_(std::move(state)) {}
  std::shared_ptr<Run::State> state_;
};

}  // namespace trainyard
