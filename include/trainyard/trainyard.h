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

// A job in either form of a job file (the estimator form, or the command-job form with `command`),
// or a sweep (`type: sweep`, docs/sweeps.md), as a JSON object with the file's keys: validated by
// the same code, with the same messages, as `trainyard submit job.yaml`.
struct Job {
  std::string document;          // a JSON object
  std::string origin = "<job>";  // names the job in messages, like a file name would
  std::string base_dir;          // relative paths resolve against it ("" = the current folder)
};

// Checks a job's fields and types (not the file system or the target: Submit does), reporting
// every problem at once, one per line, with its field path.
Status CheckJob(const Job& job);

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

// One logged value of a metric.
struct MetricValue {
  int64_t step = 0;
  int64_t timestamp_us = 0;  // microseconds since the epoch, UTC
  int rank = 0;
  double value = 0;  // NaN and ±Inf are kept as such
};
using Metrics = std::map<std::string, std::vector<MetricValue>>;

// A run: a handle on a recorded run (from Experiment::Submit, Workspace::GetRun), or the run a
// training program is part of (Run::Context()). Logging calls are cheap (the values are buffered
// and sent by a background thread) and fail only on invalid names or values, with a message that
// names them.
class Run {
 public:
  // The run this program runs in when trainyard started it; otherwise an offline run (values are
  // printed to stderr and kept in memory; never an error). Lives until the program exits, when
  // everything logged is sent. Thread-safe.
  static Run& Context();

  const std::string& id() const { return id_; }
  // Whether this is an offline context (the program was not started by trainyard).
  bool offline() const;

  // Logs a value of metric `name`; `step` defaults to the next index for the name.
  Status Log(const std::string& name, double value, std::optional<int64_t> step = std::nullopt);
  Status LogList(const std::string& name, const std::vector<double>& values);
  // One row of a table metric: column name -> number.
  Status LogRow(const std::string& name, const std::vector<std::pair<std::string, double>>& row);
  Status Tag(const std::string& key, const std::string& value = "");
  Status AddProperty(const std::string& key, const std::string& value);
  // Copies a local file into the run's files under `name` ("outputs/model.pt").
  Status UploadFile(const std::string& name, const std::string& path);
  // Sends everything logged so far and waits until it is stored.
  Status Flush();
  // Every value logged to the run so far (or of metric `name`), in logging order.
  Result<Metrics> GetMetrics(const std::string& name = "") const;

  // The current record.
  Result<RunDetails> Details() const;
  // Waits until the run ends (timeout_seconds 0: forever), handing each new log line to
  // `on_output` when given. Returns the final record; Timeout if the time ran out.
  Result<RunDetails> WaitForCompletion(
      const std::function<void(const std::string&)>& on_output = {},
      double timeout_seconds = 0) const;
  // Like WaitForCompletion, and stops early (returning kCanceled) when `keep_waiting`, called on
  // every poll (about 10 times a second), returns false.
  Result<RunDetails> WaitForCompletion(const std::function<void(const std::string&)>& on_output,
                                       double timeout_seconds,
                                       const std::function<bool()>& keep_waiting) const;
  // Everything about the run, as `trainyard show RUN --json` prints it (a JSON object).
  Result<std::string> DetailsJson() const;
  // The run's tags and properties, in key order.
  Result<std::vector<std::pair<std::string, std::string>>> Tags() const;
  Result<std::vector<std::pair<std::string, std::string>>> Properties() const;
  // The rows of table metrics (LogRow, log_table), in logging order: name -> rows, each row a
  // JSON object text ({"epoch": 3, "acc": 0.97}).
  Result<std::map<std::string, std::vector<std::string>>> Rows(const std::string& name = "") const;
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
  // FailedPrecondition for the context (which has no workspace to follow the run in).
  Status NeedsHandle() const;
  std::shared_ptr<State> state_;
  std::string id_;
};

class Experiment {
 public:
  const std::string& name() const { return name_; }
  // Validates, snapshots and submits; returns as soon as the run is recorded (Queued).
  Result<Run> Submit(const Estimator& estimator) const;
  // The same for a job document; `tags` are added to the job's own. A sweep's Run is the sweep's
  // own run (its trials are its children).
  Result<Run> Submit(const Job& job,
                     const std::vector<std::pair<std::string, std::string>>& tags = {}) const;
  // Validates and plans the job without recording or starting anything: the JSON that
  // `trainyard submit --dry-run --json` prints ({"dry_run", "plan", "interpreter"}); for a sweep
  // also {"sweep": true, "seed", "trials": the first trials' parameters}, the plan the first
  // trial's.
  Result<std::string> Plan(const Job& job) const;
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
  // Experiments, as `trainyard experiments --json` prints them (a JSON array).
  Result<std::string> ExperimentsJson() const;
  // Compute targets ("local" always), as `trainyard target list --json` prints them.
  Result<std::string> TargetsJson() const;
  // One target as `trainyard target show NAME` prints it; an unknown name is InvalidArgument
  // naming the known ones.
  Result<std::string> TargetJson(const std::string& name) const;
  // Adds (or replaces) a target, as `trainyard target add NAME --type TYPE -o KEY=VALUE...`.
  Status AddTarget(const std::string& name, const std::string& type,
                   const std::map<std::string, std::string>& options) const;
  // Removes a target, as `trainyard target remove NAME`; NotFound when there is none.
  Status RemoveTarget(const std::string& name) const;

 private:
  explicit Workspace(std::shared_ptr<Run::State> state) : state_(std::move(state)) {}
  std::shared_ptr<Run::State> state_;
};

}  // namespace trainyard
