// The workspace: an embedded SQLite database (WAL) plus folders, shared by every trainyard
// process on this machine (CLI calls, run supervisors).
//
//   <dir>/workspace.db      experiments, runs, status history, tags, properties, files, targets
//   <dir>/snapshots/        content-addressed snapshots (see snapshot/snapshot.h)
//   <dir>/runs/<run id>/    logs/, outputs/ (kept), work/ (the run's folder while it runs)
//   <dir>/cache/            interpreter probes and other caches
//
// A Workspace object owns one database connection and must be used from one thread; open one
// per thread or process. Concurrent processes are safe (SQLite locking, IMMEDIATE transactions).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/db.h"
#include "store/run_status.h"

namespace trainyard::store {

inline constexpr int kSchemaVersion = 7;

// A file of space a run's supervisor holds in the run's folder to store the run's end on a full
// disk (runner/supervise.cc); removed by the supervisor at its end, or by ReapOrphans.
inline constexpr char kDiskReserveName[] = ".disk-reserve";

struct SnapshotRecord {
  std::string id;
  std::string source_dir;
  int64_t files = 0;
  int64_t bytes = 0;
  std::string git_commit;
  bool git_dirty = false;
  bool in_git = false;
};

struct RunRecord {
  std::string id;
  int64_t seq = 0;  // submission order
  std::string experiment;
  std::string display_name;
  RunStatus status = RunStatus::kQueued;
  std::string status_detail;  // current step while Preparing, reason of a failure, ...
  std::string target;
  int64_t created_at = 0;  // microseconds since the epoch
  std::optional<int64_t> started_at, ended_at;
  std::optional<int64_t> exit_code;
  std::string error;      // on failure: reason and last lines of stderr
  std::string spec_json;  // the validated JobSpec
  std::string plan_json;  // the LaunchPlan (argv, env, cwd per process)
  std::string snapshot_id;
  std::string interpreter;
  std::string torch_version;
  int64_t supervisor_pid = 0;
  int64_t supervisor_start = 0;  // start ticks, to tell a reused pid apart
  std::optional<int64_t> heartbeat_at;
  std::optional<int64_t> failed_rank;
  // What the run logged but the workspace could not store (a full disk, an I/O error): tracking
  // records (metric points, rows, tags, ...) and bytes of the ranks' output.
  int64_t lost_metric_points = 0;
  int64_t lost_log_bytes = 0;
  // Sweeps (runner/sweep.h): a sweep is a run of kind "sweep" whose supervisor is its
  // controller; its trials are runs of kind "run" with the sweep as parent and an index
  // (0, 1, ...), unique per sweep.
  std::string kind = "run";
  std::string parent_id;
  std::optional<int64_t> trial_index;
};

struct RunFilter {
  std::string experiment;  // "" = all
  std::optional<RunStatus> status;
  std::optional<std::string> parent;  // "" = runs without a parent; an id = that sweep's trials
  int limit = 0;                      // 0 = no limit; newest first
};

struct ExperimentSummary {
  std::string name;
  int64_t created_at = 0;
  int64_t runs = 0;
  int64_t active = 0;
  std::optional<int64_t> last_run_at;
};

struct FileRecord {
  std::string path;  // "outputs/model.pt", "logs/rank-0.log"
  int64_t size = 0;
};

struct TargetRecord {
  std::string name;
  std::string type;         // "local" (more with the distributed-runs issue)
  std::string config_json;  // type-specific options
};

// A registered environment or data asset: a named, versioned definition kept in the workspace
// (`trainyard env create`, `trainyard data create`). Versions are text, as on the hosted service.
enum class AssetKind { kEnvironment, kData };
struct AssetRecord {
  std::string name;
  std::string version;
  std::string description;
  std::string definition_json;  // kind-specific (runner/assets.h)
  int64_t created_at = 0;       // microseconds since the epoch
};

// Fields to set together with a status change (unset fields are left as they are).
struct StatusUpdate {
  std::optional<std::string> detail;
  std::optional<int64_t> started_at, ended_at, exit_code, failed_rank;
  std::optional<std::string> error;
  std::optional<int64_t> lost_metric_points, lost_log_bytes;
};

class Workspace {
 public:
  // Opens (creating and migrating) the workspace at `dir`. Fails when the folder cannot be
  // created, or the schema is newer than this binary understands. On a full or read-only file
  // system it writes nothing and still opens (read-only when SQLite needs that, see Db::Open; a
  // migration that cannot be stored is left for later), so that runs stay readable; writes then
  // fail with "workspace disk is full (<dir>)" or "workspace is read-only (<dir>)".
  static Result<std::unique_ptr<Workspace>> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  std::string SnapshotsDir() const { return dir_ + "/snapshots"; }
  std::string CacheDir() const { return dir_ + "/cache"; }
  std::string RunDir(const std::string& run_id) const { return dir_ + "/runs/" + run_id; }
  int schema_version() const { return schema_version_; }
  Db* db() { return db_.get(); }

  // Fails with "workspace disk is full (<dir>)" when less than 1 MiB is free there, or with
  // "workspace is read-only (<dir>)"; for commands about to store something (submit).
  Status CheckWritable() const;

  // Experiments are created on first use.
  Result<int64_t> EnsureExperiment(const std::string& name);
  Result<std::vector<ExperimentSummary>> ListExperiments();

  Status PutSnapshot(const SnapshotRecord& snap);
  Result<SnapshotRecord> GetSnapshot(const std::string& id);

  // Inserts a new run (status Queued); fills in run.id (unless set), seq and created_at.
  Status CreateRun(RunRecord* run, const std::vector<std::pair<std::string, std::string>>& tags);
  // Exact id, or a unique prefix of one. NotFound / InvalidArgument (ambiguous) otherwise.
  Result<RunRecord> GetRun(const std::string& id_or_prefix);
  Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter);

  // Sets the status (and fields) and appends to the status history. Refuses to leave a terminal
  // status (returns FailedPrecondition), so a late writer never resurrects a finished run; a
  // CancelRequested run only moves to a terminal status (other updates are ignored).
  Status SetStatus(const std::string& run_id, RunStatus status, const StatusUpdate& update = {});
  // Moves a run to `status` only if it is currently `from`; returns whether it did.
  Result<bool> CompareAndSetStatus(const std::string& run_id, RunStatus from, RunStatus status,
                                   const StatusUpdate& update = {});
  Result<std::vector<std::pair<RunStatus, int64_t>>> StatusHistory(const std::string& run_id);

  Status SetSupervisor(const std::string& run_id, pid_t pid, unsigned long long start_ticks);
  Status Heartbeat(const std::string& run_id);
  Status SetRunFields(const std::string& run_id, const std::map<std::string, std::string>& text);

  // Queue: atomically moves `run_id` from Queued to Preparing if it is the oldest Queued run of
  // its target and fewer than `capacity` runs of that target hold a slot. Returns whether it did.
  Result<bool> TryClaimSlot(const std::string& run_id, const std::string& target, int capacity);

  Status SetTag(const std::string& run_id, const std::string& key, const std::string& value);
  Result<std::vector<std::pair<std::string, std::string>>> Tags(const std::string& run_id);

  Status ReplaceFiles(const std::string& run_id, const std::vector<FileRecord>& files);
  Result<std::vector<FileRecord>> Files(const std::string& run_id);

  Status PutTarget(const TargetRecord& target);
  Result<std::optional<TargetRecord>> GetTarget(const std::string& name);
  Result<std::vector<TargetRecord>> ListTargets();
  Status RemoveTarget(const std::string& name);

  // Registered environments and data assets (store/assets.cc). PutAsset stores a new version:
  // when asset->version is empty it becomes the next integer (1 + the highest integer version of
  // that name, 1 for a new name); an existing name:version is AlreadyExists (versions are never
  // replaced). Fills in created_at.
  Status PutAsset(AssetKind kind, AssetRecord* asset);
  // `version` "" or "latest": the highest integer version when every version of the name is an
  // integer, else the one created last. NotFound (naming what exists) otherwise.
  Result<AssetRecord> GetAsset(AssetKind kind, const std::string& name, const std::string& version);
  // Every version of `name` ("" = of every name), by name then creation.
  Result<std::vector<AssetRecord>> ListAssets(AssetKind kind, const std::string& name = "");

  // Finds runs whose supervisor is gone (dead pid on this host, or no heartbeat for
  // `stale_after_micros` — 10 minutes when its process is still alive) while not terminal, and
  // marks them Failed with the reason.
  // Returns how many were marked. Cheap; called by most CLI commands. Does nothing (returns 0)
  // on a workspace opened read-only. A dead supervisor's reserved space (kDiskReserveName) is
  // removed first, which also lets the mark be stored on a full disk.
  // Sweeps are left alone: their controller is restarted instead (ClaimOrphanedSweeps).
  Result<int> ReapOrphans(int64_t stale_after_micros = 15'000'000);

  // The sweeps (not terminal) whose controller is gone (dead pid on this host; or no controller
  // and no heartbeat for `stale_after_micros`), each claimed atomically for a restart: its
  // supervisor pid is cleared and its heartbeat set to now, so that the next caller does not
  // claim it again while the new controller starts.
  Result<std::vector<std::string>> ClaimOrphanedSweeps(int64_t stale_after_micros = 15'000'000);

 private:
  Workspace(std::string dir, std::unique_ptr<Db> db) : dir_(std::move(dir)), db_(std::move(db)) {}
  Status Migrate();
  Status MigrateLocked();  // under a write transaction
  Status SetStatusLocked(const std::string& run_id, RunStatus status, const StatusUpdate& update);
  // The columns ReadRun reads, for this schema version.
  std::string RunColumns() const;

  std::string dir_;
  std::unique_ptr<Db> db_;
  int schema_version_ = 0;
};

// The workspace folder: `flag` if non-empty, else $TRAINYARD_WORKSPACE, else ~/.trainyard.
// `source` (optional) receives how it was chosen.
std::string ResolveWorkspaceDir(const std::string& flag, std::string* source = nullptr);

// A new run id: "<experiment>_<unix seconds>_<8 hex chars>".
std::string NewRunId(const std::string& experiment);

}  // namespace trainyard::store
