// The runner: submit, supervise, cancel, wait. Every run is owned by one detached supervisor
// process (`trainyard supervise`), which takes it through
//   Queued -> Preparing -> Starting -> Running -> Finalizing -> Completed | Failed | Canceled
// and writes a heartbeat; any trainyard command notices a dead supervisor (ReapOrphans).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "env/interpreter.h"
#include "snapshot/snapshot.h"
#include "spec/job_spec.h"
#include "store/workspace.h"
#include "targets/execution.h"
#include "targets/launch_plan.h"

namespace trainyard::runner {

struct SubmitOptions {
  bool dry_run = false;  // validate and plan only: no snapshot, no run, nothing started
  std::function<void(const snapshot::Progress&)> snapshot_progress;
  // The trainyard executable that becomes the supervisor ("" = TrainyardExe()).
  std::string supervisor_exe;
  // A sweep's trial (runner/sweep.h): the sweep's run id and the trial's index.
  std::string parent_id;
  std::optional<int64_t> trial_index;
};

struct Submission {
  store::RunRecord run;
  targets::LaunchPlan plan;
  snapshot::SnapshotInfo snapshot;  // empty on a dry run
  std::string interpreter;
  std::string torch_version;
};

// Validates the job against the file system, the target and the interpreter; snapshots the
// source; records the run (Queued); starts its detached supervisor; returns at once.
// Every refusal happens before anything is recorded, with a message naming the field.
Result<Submission> Submit(store::Workspace* ws, const spec::JobSpec& spec,
                          const SubmitOptions& options = {});

struct SuperviseOptions {
  // Makes the run's execution from its plan; empty: targets::MakeExecution (tests pass a fake).
  std::function<Result<std::unique_ptr<targets::Execution>>(const targets::LaunchPlan&,
                                                            const targets::ExecutionContext&)>
      make_execution;
  int poll_ms = 100;                      // how long one Poll of the execution may wait
  int64_t status_check_micros = 100'000;  // how often the stored status is read for a cancel
};

// The supervisor's body (run by `trainyard supervise`): waits for a slot, prepares the run,
// starts its execution and watches it (one loop for every target type) until it ends, then
// records the outcome. Returns the process exit code.
int Supervise(const std::string& workspace_dir, const std::string& run_id,
              const SuperviseOptions& options = {});

// Queued runs are canceled at once; running ones move to CancelRequested and their supervisor
// stops every process of the run. Waits up to `wait_seconds` for the run to end.
Result<store::RunRecord> Cancel(store::Workspace* ws, const std::string& run_id,
                                double wait_seconds = 30);

// Polls until the run ends or `timeout_seconds` pass (0 = forever); `on_tick` is called on every
// poll with the latest record (for live output). Returns the final (or latest) record; Timeout
// when the time ran out.
Result<store::RunRecord> Wait(store::Workspace* ws, const std::string& run_id,
                              double timeout_seconds,
                              const std::function<void(const store::RunRecord&)>& on_tick = {});

// Starts `exe supervise --workspace W RUN` fully detached (new session, double fork), its output
// going to <run dir>/supervisor.log: a run's supervisor, or a sweep's controller.
Status StartSupervisor(const std::string& exe, const std::string& ws_dir, const std::string& run_id,
                       const std::string& run_dir);

// Where the snapshot size limit comes from: $TRAINYARD_SNAPSHOT_LIMIT (bytes; 0 = none), else
// 2 GiB.
uint64_t SnapshotLimitBytes();

// The `trainyard` executable (supervisor, rank shim): $TRAINYARD_BIN, else this program if it is
// trainyard, else `trainyard` beside this program or on PATH, else the one built with this library.
std::string TrainyardExe();

// Where the `trainyard` Python package and the compatibility packages live (<compat>/azureml and
// <compat>/horovod, each on a run's PYTHONPATH only when its interpreter lacks the real one):
// $TRAINYARD_PYTHON_PACKAGE_DIR / $TRAINYARD_PYTHON_COMPAT_DIR, else the build tree's folders.
std::string PythonPackageDir();
std::string PythonCompatDir();

}  // namespace trainyard::runner
