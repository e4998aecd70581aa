#include "store/workspace.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "store/run_index.h"

namespace trainyard::store {

namespace {

// Each entry migrates from version i to i+1. Never edit a shipped entry; append a new one.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE experiments (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE TABLE snapshots (
  id TEXT PRIMARY KEY,
  source_dir TEXT NOT NULL,
  files INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  git_commit TEXT NOT NULL DEFAULT '',
  git_dirty INTEGER NOT NULL DEFAULT 0,
  in_git INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE TABLE runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  display_name TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  status_detail TEXT NOT NULL DEFAULT '',
  target TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  ended_at INTEGER,
  exit_code INTEGER,
  error TEXT NOT NULL DEFAULT '',
  spec_json TEXT NOT NULL,
  plan_json TEXT NOT NULL DEFAULT '',
  snapshot_id TEXT NOT NULL DEFAULT '',
  interpreter TEXT NOT NULL DEFAULT '',
  torch_version TEXT NOT NULL DEFAULT '',
  supervisor_pid INTEGER NOT NULL DEFAULT 0,
  supervisor_start INTEGER NOT NULL DEFAULT 0,
  heartbeat_at INTEGER,
  failed_rank INTEGER
);
CREATE INDEX runs_by_status ON runs(status, target, seq);
CREATE INDEX runs_by_experiment ON runs(experiment_id, seq);
CREATE TABLE run_status_history (
  run_id TEXT NOT NULL,
  status TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX history_by_run ON run_status_history(run_id);
CREATE TABLE run_arguments (
  run_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_id, position)
);
CREATE TABLE run_tags (
  run_id TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE run_properties (
  run_id TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE run_files (
  run_id TEXT NOT NULL,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (run_id, path)
);
CREATE TABLE targets (
  name TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  config_json TEXT NOT NULL
);
)sql",
    // 2: metrics, rows and images logged from inside runs; exactly-once batch bookkeeping.
    // A NaN value is stored as NULL (SQLite turns NaN into NULL anyway); no other NULL is stored.
    R"sql(
CREATE TABLE metric_names (
  id INTEGER PRIMARY KEY,
  run_seq INTEGER NOT NULL,
  name TEXT NOT NULL,
  UNIQUE (run_seq, name)
);
CREATE TABLE metrics (
  name_id INTEGER NOT NULL,
  step INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  rank INTEGER NOT NULL,
  value REAL
);
CREATE INDEX metrics_by_name ON metrics(name_id);
CREATE TABLE metric_rows (
  run_seq INTEGER NOT NULL,
  name TEXT NOT NULL,
  step INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  rank INTEGER NOT NULL,
  columns_json TEXT NOT NULL
);
CREATE INDEX rows_by_run ON metric_rows(run_seq, name);
CREATE TABLE metric_images (
  run_seq INTEGER NOT NULL,
  name TEXT NOT NULL,
  step INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  rank INTEGER NOT NULL,
  path TEXT NOT NULL
);
CREATE TABLE tracking_clients (
  run_seq INTEGER NOT NULL,
  client TEXT NOT NULL,
  last_seq INTEGER NOT NULL,
  PRIMARY KEY (run_seq, client)
);
)sql",
    // 3: what a run could not store (a full disk, an I/O error).
    R"sql(
ALTER TABLE runs ADD COLUMN lost_metric_points INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN lost_log_bytes INTEGER NOT NULL DEFAULT 0;
)sql",
    // 4: registered environments and data assets (named, versioned; see store/assets.cc).
    R"sql(
CREATE TABLE environments (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  definition_json TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (name, version)
);
CREATE TABLE data_assets (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  definition_json TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (name, version)
);
)sql",
    // 5: sweeps: a run's kind, its parent sweep and its index among the sweep's trials.
    R"sql(
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'run';
ALTER TABLE runs ADD COLUMN parent_id TEXT;
ALTER TABLE runs ADD COLUMN trial_index INTEGER;
CREATE UNIQUE INDEX runs_trials ON runs(parent_id, trial_index) WHERE parent_id IS NOT NULL;
)sql",
    // 6: the model registry (store/models.h, models/registry.h) and deployments
    // (store/deployments.h, runner/deployment.h). A model version's files are a snapshot manifest
    // (content-addressed, `digest`); `path` is the file or folder name it was registered with.
    R"sql(
CREATE TABLE models (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  digest TEXT NOT NULL,
  path TEXT NOT NULL,
  is_dir INTEGER NOT NULL DEFAULT 0,
  files INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  description TEXT NOT NULL DEFAULT '',
  tags_json TEXT NOT NULL DEFAULT '{}',
  properties_json TEXT NOT NULL DEFAULT '{}',
  run_id TEXT NOT NULL DEFAULT '',
  experiment TEXT NOT NULL DEFAULT '',
  run_path TEXT NOT NULL DEFAULT '',
  metrics_json TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  UNIQUE (name, version)
);
CREATE INDEX models_digest ON models(name, digest);
CREATE TABLE deployments (
  name TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  spec_json TEXT NOT NULL,
  port INTEGER NOT NULL DEFAULT 0,
  supervisor_pid INTEGER NOT NULL DEFAULT 0,
  supervisor_start INTEGER NOT NULL DEFAULT 0,
  server_pid INTEGER NOT NULL DEFAULT 0,
  restarts INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE deployment_models (
  deployment TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,
  model TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (deployment, model, version)
);
)sql",
    // 7: the shared workspace server (issue 17). API tokens and per-run tracking tokens (stored
    // as the SHA-256 of the token, never the token); per-run summaries of each metric and the
    // run's parameters, kept current as values arrive so that the runs list sorts and filters
    // 10,000 runs without a join over the points.
    R"sql(
CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('read', 'submit', 'admin')),
  hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER
);
CREATE TABLE metric_summary (
  run_seq INTEGER NOT NULL,
  name TEXT NOT NULL,
  count INTEGER NOT NULL,
  last_value REAL,
  last_step INTEGER NOT NULL,
  last_ts INTEGER NOT NULL,
  min_value REAL,
  max_value REAL,
  PRIMARY KEY (run_seq, name)
) WITHOUT ROWID;
CREATE INDEX metric_summary_by_last ON metric_summary(name, last_value);
CREATE INDEX metric_summary_by_min ON metric_summary(name, min_value);
CREATE INDEX metric_summary_by_max ON metric_summary(name, max_value);
INSERT INTO metric_summary (run_seq, name, count, last_value, last_step, last_ts, min_value,
                            max_value)
SELECT n.run_seq, n.name, a.c, l.value, l.step, l.ts, a.mn, a.mx
FROM metric_names n
JOIN (SELECT name_id, COUNT(*) AS c, MAX(rowid) AS last_row, MIN(value) AS mn, MAX(value) AS mx
      FROM metrics GROUP BY name_id) a ON a.name_id = n.id
JOIN metrics l ON l.rowid = a.last_row;
CREATE TABLE run_params (
  run_seq INTEGER NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  num REAL,
  PRIMARY KEY (run_seq, name)
) WITHOUT ROWID;
CREATE INDEX run_params_by_value ON run_params(name, num, value);
-- A run's parameters (store/run_index.h, RunParamsOf): the `--name value` / `--name=value` pairs of
-- the rank-0 argv, then a sweep trial's values (leading dashes dropped), which win.
WITH argv AS (
  SELECT r.seq AS seq, CAST(j.key AS INTEGER) AS i, j.value AS v
  FROM runs r, json_each(r.plan_json, '$.processes[0].argv') j
  WHERE json_valid(r.plan_json) AND j.type = 'text'
), pairs AS (
  SELECT a.seq AS seq, substr(a.v, 3, instr(a.v, '=') - 3) AS name,
         substr(a.v, instr(a.v, '=') + 1) AS value, a.i AS i
  FROM argv a WHERE a.v LIKE '--%=%'
  UNION ALL
  SELECT a.seq, substr(a.v, 3), b.v, a.i
  FROM argv a JOIN argv b ON b.seq = a.seq AND b.i = a.i + 1
  WHERE a.v LIKE '--%' AND instr(a.v, '=') = 0 AND b.v NOT LIKE '--%'
)
INSERT OR REPLACE INTO run_params (run_seq, name, value, num)
SELECT seq, name, value,
       CASE WHEN value = '' OR value GLOB '*[^0-9eE.+-]*' THEN NULL ELSE CAST(value AS REAL) END
FROM pairs WHERE name <> '' ORDER BY seq, i;
INSERT OR REPLACE INTO run_params (run_seq, name, value, num)
SELECT r.seq, ltrim(j.key, '-'), CAST(j.value AS TEXT),
       CASE WHEN CAST(j.value AS TEXT) = '' OR CAST(j.value AS TEXT) GLOB '*[^0-9eE.+-]*'
            THEN NULL ELSE CAST(j.value AS REAL) END
FROM runs r, json_each(r.spec_json, '$.search_space_values') j
WHERE json_valid(r.spec_json) AND ltrim(j.key, '-') <> '';
-- Long series are downsampled from blocks (store/run_index.h): block b of level L covers the steps
-- [b * 2^L, (b + 1) * 2^L); last_value is the value at last_step (the one logged last on a tie).
-- Ranges of raw points are read through metrics_by_step.
CREATE INDEX metrics_by_step ON metrics(name_id, step);
CREATE TABLE metric_blocks (
  name_id INTEGER NOT NULL,
  level INTEGER NOT NULL,
  block INTEGER NOT NULL,
  count INTEGER NOT NULL,
  first_step INTEGER NOT NULL,
  last_step INTEGER NOT NULL,
  last_value REAL,
  min_value REAL,
  max_value REAL,
  PRIMARY KEY (name_id, level, block)
) WITHOUT ROWID;
INSERT INTO metric_blocks (name_id, level, block, count, first_step, last_step, min_value,
                           max_value)
SELECT name_id, 4, step >> 4, COUNT(*), MIN(step), MAX(step), MIN(value), MAX(value)
FROM metrics GROUP BY name_id, step >> 4;
INSERT INTO metric_blocks (name_id, level, block, count, first_step, last_step, min_value,
                           max_value)
SELECT name_id, 8, block >> 4, SUM(count), MIN(first_step), MAX(last_step), MIN(min_value),
       MAX(max_value)
FROM metric_blocks WHERE level = 4 GROUP BY name_id, block >> 4;
INSERT INTO metric_blocks (name_id, level, block, count, first_step, last_step, min_value,
                           max_value)
SELECT name_id, 12, block >> 4, SUM(count), MIN(first_step), MAX(last_step), MIN(min_value),
       MAX(max_value)
FROM metric_blocks WHERE level = 8 GROUP BY name_id, block >> 4;
UPDATE metric_blocks SET last_value = (
  SELECT m.value FROM metrics m WHERE m.name_id = metric_blocks.name_id
  AND m.step = metric_blocks.last_step ORDER BY m.rowid DESC LIMIT 1);
CREATE TABLE run_tokens (
  hash TEXT PRIMARY KEY,
  run_seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
};

constexpr const char* kRunColumns =
    "r.id, r.seq, e.name, r.display_name, r.status, r.status_detail, r.target, r.created_at, "
    "r.started_at, r.ended_at, r.exit_code, r.error, r.spec_json, r.plan_json, r.snapshot_id, "
    "r.interpreter, r.torch_version, r.supervisor_pid, r.supervisor_start, r.heartbeat_at, "
    "r.failed_rank";

RunRecord ReadRun(const Stmt& s) {
  RunRecord r;
  r.id = s.Text(0);
  r.seq = s.Int(1);
  r.experiment = s.Text(2);
  r.display_name = s.Text(3);
  r.status = ParseRunStatus(s.Text(4)).value_or(RunStatus::kFailed);
  r.status_detail = s.Text(5);
  r.target = s.Text(6);
  r.created_at = s.Int(7);
  r.started_at = s.OptInt(8);
  r.ended_at = s.OptInt(9);
  r.exit_code = s.OptInt(10);
  r.error = s.Text(11);
  r.spec_json = s.Text(12);
  r.plan_json = s.Text(13);
  r.snapshot_id = s.Text(14);
  r.interpreter = s.Text(15);
  r.torch_version = s.Text(16);
  r.supervisor_pid = s.Int(17);
  r.supervisor_start = s.Int(18);
  r.heartbeat_at = s.OptInt(19);
  r.failed_rank = s.OptInt(20);
  r.lost_metric_points = s.Int(21);
  r.lost_log_bytes = s.Int(22);
  r.kind = s.Text(23);
  r.parent_id = s.Text(24);
  r.trial_index = s.OptInt(25);
  return r;
}

}  // namespace

namespace {
// "http://..." and "https://..." name a workspace server (server/client.h), never a folder.
bool IsServerUrl(std::string_view s) {
  return s.substr(0, 7) == "http://" || s.substr(0, 8) == "https://";
}
}  // namespace

std::string ResolveWorkspaceDir(const std::string& flag, std::string* source) {
  // A server's URL is returned as given (not made into a path under the current folder), so
  // that Workspace::Open can refuse it by name instead of creating a folder "http:".
  if (!flag.empty()) {
    if (source) *source = "--workspace";
    return IsServerUrl(flag) ? flag : AbsolutePath(ExpandHome(flag));
  }
  if (const char* env = std::getenv("TRAINYARD_WORKSPACE"); env && *env) {
    if (source) *source = "$TRAINYARD_WORKSPACE";
    return IsServerUrl(env) ? std::string(env) : AbsolutePath(ExpandHome(env));
  }
  if (source) *source = "default (~/.trainyard)";
  return AbsolutePath(ExpandHome("~/.trainyard"));
}

std::string NewRunId(const std::string& experiment) {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<uint64_t>(MonotonicMicros()) ^ static_cast<uint64_t>(getpid()));
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(gen() & 0xffffffffu));
  return experiment + "_" + std::to_string(NowMicros() / 1000000) + "_" + hex;
}

Result<std::unique_ptr<Workspace>> Workspace::Open(const std::string& dir) {
  if (IsServerUrl(dir)) {
    return FailedPrecondition(dir + " is a server; this command works on a local workspace folder");
  }
  for (const char* sub : {"", "/snapshots", "/runs", "/cache"}) {
    RETURN_IF_ERROR(MakeDirs(dir + sub).WithContext("workspace " + dir));
  }
  ASSIGN_OR_RETURN(auto db, Db::Open(dir + "/workspace.db"));
  std::unique_ptr<Workspace> ws(new Workspace(dir, std::move(db)));
  RETURN_IF_ERROR(ws->Migrate());
  return ws;
}

Status Workspace::Migrate() {
  constexpr int kCount = static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]);
  static_assert(kCount == kSchemaVersion);
  {
    // Scoped: a statement left open keeps a read snapshot, and a connection holding a stale
    // snapshot can never start the write transaction below (SQLITE_BUSY however long it waits).
    ASSIGN_OR_RETURN(Stmt v, db_->Prepare("PRAGMA user_version"));
    ASSIGN_OR_RETURN(bool row, v.Step());
    schema_version_ = row ? static_cast<int>(v.Int(0)) : 0;
  }
  if (schema_version_ > kSchemaVersion) {
    return FailedPrecondition("workspace " + dir_ + " has schema version " +
                              std::to_string(schema_version_) + ", newer than this trainyard (" +
                              std::to_string(kSchemaVersion) + "); upgrade trainyard");
  }
  if (schema_version_ == kSchemaVersion) return Status::Ok();
  if (db_->read_only()) return Status::Ok();  // an older schema is read as it is (RunColumns)
  Status migrated = MigrateLocked();
  // A workspace on a full disk stays readable; the migration is done by the next writer.
  if (IsStorageUnwritable(migrated) && schema_version_ >= 2) return Status::Ok();
  return migrated;
}

std::string Workspace::RunColumns() const {
  return std::string(kRunColumns) +
         (schema_version_ >= 3 ? ", r.lost_metric_points, r.lost_log_bytes" : ", 0, 0") +
         (schema_version_ >= 5 ? ", r.kind, r.parent_id, r.trial_index" : ", 'run', NULL, NULL");
}

Status Workspace::MigrateLocked() {
  constexpr int kCount = static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]);
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_.get()));
  // Re-read inside the write lock: another process may have migrated meanwhile.
  ASSIGN_OR_RETURN(Stmt v2, db_->Prepare("PRAGMA user_version"));
  ASSIGN_OR_RETURN(bool row2, v2.Step());
  int current = row2 ? static_cast<int>(v2.Int(0)) : 0;
  for (int i = current; i < kCount; ++i) {
    RETURN_IF_ERROR(db_->Exec(kMigrations[i])
                        .WithContext("migrating workspace to version " + std::to_string(i + 1)));
  }
  RETURN_IF_ERROR(db_->Exec("PRAGMA user_version=" + std::to_string(kSchemaVersion)));
  RETURN_IF_ERROR(tx->Commit());
  schema_version_ = kSchemaVersion;
  return Status::Ok();
}

Status Workspace::CheckWritable() const {
  if (db_->read_only()) return db_->Error(SQLITE_READONLY, "workspace " + dir_);
  return CheckFolderWritable(dir_, uint64_t{1} << 20);
}

Result<int64_t> Workspace::EnsureExperiment(const std::string& name) {
  ASSIGN_OR_RETURN(
      Stmt ins,
      db_->Prepare(
          "INSERT INTO experiments(name, created_at) VALUES(?, ?) ON CONFLICT(name) DO NOTHING"));
  RETURN_IF_ERROR(ins.Bind(1, name).Bind(2, NowMicros()).Run());
  ASSIGN_OR_RETURN(Stmt sel, db_->Prepare("SELECT id FROM experiments WHERE name = ?"));
  sel.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, sel.Step());
  if (!row) return Internal("experiment " + name + " vanished");
  return sel.Int(0);
}

Result<std::vector<ExperimentSummary>> Workspace::ListExperiments() {
  ASSIGN_OR_RETURN(
      Stmt s,
      db_->Prepare("SELECT e.name, e.created_at, COUNT(r.seq), "
                   "SUM(CASE WHEN r.status IN ('Completed','Failed','Canceled') OR r.seq IS NULL "
                   "THEN 0 ELSE 1 END), MAX(r.created_at) "
                   "FROM experiments e LEFT JOIN runs r ON r.experiment_id = e.id "
                   "GROUP BY e.id ORDER BY e.name"));
  std::vector<ExperimentSummary> out;
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) {
    out.push_back({row.Text(0), row.Int(1), row.Int(2), row.Int(3), row.OptInt(4)});
  }));
  return out;
}

Status Workspace::PutSnapshot(const SnapshotRecord& snap) {
  ASSIGN_OR_RETURN(
      Stmt s,
      db_->Prepare(
          "INSERT INTO snapshots(id, source_dir, files, bytes, git_commit, git_dirty, in_git, "
          "created_at) VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
          "git_commit=excluded.git_commit, git_dirty=excluded.git_dirty, in_git=excluded.in_git"));
  return s.Bind(1, snap.id)
      .Bind(2, snap.source_dir)
      .Bind(3, snap.files)
      .Bind(4, snap.bytes)
      .Bind(5, snap.git_commit)
      .Bind(6, snap.git_dirty ? 1 : 0)
      .Bind(7, snap.in_git ? 1 : 0)
      .Bind(8, NowMicros())
      .Run();
}

Result<SnapshotRecord> Workspace::GetSnapshot(const std::string& id) {
  ASSIGN_OR_RETURN(
      Stmt s,
      db_->Prepare(
          "SELECT id, source_dir, files, bytes, git_commit, git_dirty, in_git FROM snapshots "
          "WHERE id = ?"));
  s.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFound("snapshot " + id);
  return SnapshotRecord{s.Text(0), s.Text(1),     s.Int(2),     s.Int(3),
                        s.Text(4), s.Int(5) != 0, s.Int(6) != 0};
}

Status Workspace::CreateRun(RunRecord* run,
                            const std::vector<std::pair<std::string, std::string>>& tags) {
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_.get()));
  ASSIGN_OR_RETURN(int64_t exp_id, EnsureExperiment(run->experiment));
  if (run->id.empty()) run->id = NewRunId(run->experiment);
  run->created_at = NowMicros();
  run->status = RunStatus::kQueued;
  ASSIGN_OR_RETURN(
      Stmt s, db_->Prepare(
                  "INSERT INTO runs(id, experiment_id, display_name, status, target, created_at, "
                  "spec_json, plan_json, snapshot_id, interpreter, torch_version, kind, parent_id, "
                  "trial_index) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  if (run->parent_id.empty()) {
    s.BindNull(13);
  } else {
    s.Bind(13, run->parent_id);
  }
  RETURN_IF_ERROR(s.Bind(1, run->id)
                      .Bind(2, exp_id)
                      .Bind(3, run->display_name)
                      .Bind(4, RunStatusName(run->status))
                      .Bind(5, run->target)
                      .Bind(6, run->created_at)
                      .Bind(7, run->spec_json)
                      .Bind(8, run->plan_json)
                      .Bind(9, run->snapshot_id)
                      .Bind(10, run->interpreter)
                      .Bind(11, run->torch_version)
                      .Bind(12, run->kind)
                      .Bind(14, run->trial_index)
                      .Run());
  run->seq = db_->LastInsertId();
  ASSIGN_OR_RETURN(
      Stmt h, db_->Prepare("INSERT INTO run_status_history(run_id, status, at) VALUES(?,?,?)"));
  RETURN_IF_ERROR(h.Bind(1, run->id).Bind(2, "Queued").Bind(3, run->created_at).Run());
  for (const auto& [k, v] : tags) RETURN_IF_ERROR(SetTag(run->id, k, v));
  // The runs list sorts and filters on these (store/run_index.h).
  if (schema_version_ >= 7) {
    RETURN_IF_ERROR(IndexRunParams(db_.get(), run->seq, run->spec_json, run->plan_json));
  }
  return tx->Commit();
}

Result<RunRecord> Workspace::GetRun(const std::string& id_or_prefix) {
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT " + RunColumns() +
                                        " FROM runs r JOIN experiments e ON e.id = "
                                        "r.experiment_id WHERE r.id = ?"));
  s.Bind(1, id_or_prefix);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (row) return ReadRun(s);
  // A unique prefix also names a run.
  ASSIGN_OR_RETURN(Stmt p, db_->Prepare("SELECT " + RunColumns() +
                                        " FROM runs r JOIN experiments e ON e.id = "
                                        "r.experiment_id WHERE substr(r.id, 1, ?) = ? LIMIT 2"));
  p.Bind(1, static_cast<int64_t>(id_or_prefix.size())).Bind(2, id_or_prefix);
  ASSIGN_OR_RETURN(bool first, p.Step());
  if (!first || id_or_prefix.empty()) {
    return NotFound("no run \"" + id_or_prefix + "\" in workspace " + dir_ +
                    " (see: trainyard list)");
  }
  RunRecord r = ReadRun(p);
  ASSIGN_OR_RETURN(bool second, p.Step());
  if (second) {
    return InvalidArgument("\"" + id_or_prefix +
                           "\" matches more than one run; give more of "
                           "the id");
  }
  return r;
}

Result<std::vector<RunRecord>> Workspace::ListRuns(const RunFilter& f) {
  std::string sql = "SELECT " + RunColumns() +
                    " FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE 1=1";
  if (!f.experiment.empty()) sql += " AND e.name = ?1";
  if (f.status) sql += " AND r.status = ?2";
  if (f.parent && schema_version_ >= 5) {
    sql += f.parent->empty() ? " AND r.parent_id IS NULL" : " AND r.parent_id = ?3";
  } else if (f.parent && !f.parent->empty()) {
    sql += " AND 0";  // no sweeps before schema 5
  }
  sql += " ORDER BY r.seq DESC";
  if (f.limit > 0) sql += " LIMIT " + std::to_string(f.limit);
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(sql));
  if (!f.experiment.empty()) s.Bind(1, f.experiment);
  if (f.status) s.Bind(2, RunStatusName(*f.status));
  if (f.parent && !f.parent->empty()) s.Bind(3, *f.parent);
  std::vector<RunRecord> out;
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) { out.push_back(ReadRun(row)); }));
  return out;
}

Status Workspace::SetStatusLocked(const std::string& run_id, RunStatus status,
                                  const StatusUpdate& u) {
  std::string sql = "UPDATE runs SET status = ?1";
  if (u.detail) sql += ", status_detail = ?2";
  if (u.started_at) sql += ", started_at = ?3";
  if (u.ended_at) sql += ", ended_at = ?4";
  if (u.exit_code) sql += ", exit_code = ?5";
  if (u.error) sql += ", error = ?6";
  if (u.failed_rank) sql += ", failed_rank = ?7";
  if (u.lost_metric_points) sql += ", lost_metric_points = ?9";
  if (u.lost_log_bytes) sql += ", lost_log_bytes = ?10";
  sql += " WHERE id = ?8";
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(sql));
  s.Bind(1, RunStatusName(status)).Bind(8, run_id);
  if (u.detail) s.Bind(2, *u.detail);
  if (u.started_at) s.Bind(3, *u.started_at);
  if (u.ended_at) s.Bind(4, *u.ended_at);
  if (u.exit_code) s.Bind(5, *u.exit_code);
  if (u.error) s.Bind(6, *u.error);
  if (u.failed_rank) s.Bind(7, *u.failed_rank);
  if (u.lost_metric_points) s.Bind(9, *u.lost_metric_points);
  if (u.lost_log_bytes) s.Bind(10, *u.lost_log_bytes);
  RETURN_IF_ERROR(s.Run());
  // The history holds transitions: an update of the detail alone adds no row.
  ASSIGN_OR_RETURN(
      Stmt h, db_->Prepare("INSERT INTO run_status_history(run_id, status, at) SELECT ?1, ?2, ?3 "
                           "WHERE ?2 IS NOT (SELECT status FROM run_status_history "
                           "WHERE run_id = ?1 ORDER BY rowid DESC LIMIT 1)"));
  return h.Bind(1, run_id).Bind(2, RunStatusName(status)).Bind(3, NowMicros()).Run();
}

Status Workspace::SetStatus(const std::string& run_id, RunStatus status, const StatusUpdate& u) {
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_.get()));
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT status FROM runs WHERE id = ?"));
  s.Bind(1, run_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFound("run " + run_id);
  auto cur = ParseRunStatus(s.Text(0));
  if (cur && IsTerminal(*cur)) {
    return FailedPrecondition("run " + run_id + " already ended " + RunStatusName(*cur));
  }
  if (cur == status && !u.detail && !u.error) return Status::Ok();
  // A cancel request sticks until the run ends: progress updates do not overwrite it.
  if (cur == RunStatus::kCancelRequested && !IsTerminal(status)) return Status::Ok();
  RETURN_IF_ERROR(SetStatusLocked(run_id, status, u));
  return tx->Commit();
}

Result<bool> Workspace::CompareAndSetStatus(const std::string& run_id, RunStatus from,
                                            RunStatus status, const StatusUpdate& u) {
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_.get()));
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT status FROM runs WHERE id = ?"));
  s.Bind(1, run_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFound("run " + run_id);
  if (ParseRunStatus(s.Text(0)) != from) return false;
  RETURN_IF_ERROR(SetStatusLocked(run_id, status, u));
  RETURN_IF_ERROR(tx->Commit());
  return true;
}

Result<std::vector<std::pair<RunStatus, int64_t>>> Workspace::StatusHistory(
    const std::string& run_id) {
  ASSIGN_OR_RETURN(
      Stmt s,
      db_->Prepare("SELECT status, at FROM run_status_history WHERE run_id = ? ORDER BY rowid"));
  s.Bind(1, run_id);
  std::vector<std::pair<RunStatus, int64_t>> out;
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) {
    if (auto st = ParseRunStatus(row.Text(0))) out.emplace_back(*st, row.Int(1));
  }));
  return out;
}

Status Workspace::SetSupervisor(const std::string& run_id, pid_t pid,
                                unsigned long long start_ticks) {
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE runs SET supervisor_pid = ?, supervisor_start = ?, "
                                        "heartbeat_at = ? WHERE id = ?"));
  return s.Bind(1, static_cast<int64_t>(pid))
      .Bind(2, static_cast<int64_t>(start_ticks))
      .Bind(3, NowMicros())
      .Bind(4, run_id)
      .Run();
}

Status Workspace::Heartbeat(const std::string& run_id) {
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE runs SET heartbeat_at = ? WHERE id = ?"));
  return s.Bind(1, NowMicros()).Bind(2, run_id).Run();
}

Status Workspace::SetRunFields(const std::string& run_id,
                               const std::map<std::string, std::string>& text) {
  static const char* const kAllowed[] = {"plan_json", "interpreter", "torch_version", "snapshot_id",
                                         "status_detail"};
  for (const auto& [col, value] : text) {
    bool ok = false;
    for (const char* a : kAllowed) ok = ok || col == a;
    if (!ok) return Internal("SetRunFields: column " + col + " is not settable");
    ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE runs SET " + col + " = ? WHERE id = ?"));
    RETURN_IF_ERROR(s.Bind(1, value).Bind(2, run_id).Run());
  }
  return Status::Ok();
}

Result<bool> Workspace::TryClaimSlot(const std::string& run_id, const std::string& target,
                                     int capacity) {
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_.get()));
  ASSIGN_OR_RETURN(
      Stmt first,
      db_->Prepare(
          // Sweeps hold no slot: their controller only submits trials, which queue here.
          std::string("SELECT id FROM runs WHERE target = ? AND status = 'Queued'") +
          (schema_version_ >= 5 ? " AND kind != 'sweep'" : "") + " ORDER BY seq LIMIT 1"));
  first.Bind(1, target);
  ASSIGN_OR_RETURN(bool row, first.Step());
  if (!row || first.Text(0) != run_id) return false;
  ASSIGN_OR_RETURN(
      Stmt busy,
      db_->Prepare(
          std::string("SELECT COUNT(*) FROM runs WHERE target = ? AND status IN "
                      "('Preparing','Starting','Running','Finalizing','CancelRequested')") +
          (schema_version_ >= 5 ? " AND kind != 'sweep'" : "")));
  busy.Bind(1, target);
  ASSIGN_OR_RETURN(bool r2, busy.Step());
  if (r2 && busy.Int(0) >= capacity) return false;
  RETURN_IF_ERROR(SetStatusLocked(run_id, RunStatus::kPreparing, {}));
  RETURN_IF_ERROR(tx->Commit());
  return true;
}

Status Workspace::SetTag(const std::string& run_id, const std::string& key,
                         const std::string& value) {
  ASSIGN_OR_RETURN(Stmt s,
                   db_->Prepare("INSERT INTO run_tags(run_id, key, value) VALUES(?,?,?) "
                                "ON CONFLICT(run_id, key) DO UPDATE SET value = excluded.value"));
  return s.Bind(1, run_id).Bind(2, key).Bind(3, value).Run();
}

Result<std::vector<std::pair<std::string, std::string>>> Workspace::Tags(
    const std::string& run_id) {
  ASSIGN_OR_RETURN(Stmt s,
                   db_->Prepare("SELECT key, value FROM run_tags WHERE run_id = ? ORDER BY key"));
  s.Bind(1, run_id);
  std::vector<std::pair<std::string, std::string>> out;
  RETURN_IF_ERROR(
      s.ForEachRow([&](const Stmt& row) { out.emplace_back(row.Text(0), row.Text(1)); }));
  return out;
}

Status Workspace::ReplaceFiles(const std::string& run_id, const std::vector<FileRecord>& files) {
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_.get()));
  ASSIGN_OR_RETURN(Stmt d, db_->Prepare("DELETE FROM run_files WHERE run_id = ?"));
  RETURN_IF_ERROR(d.Bind(1, run_id).Run());
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO run_files(run_id, path, size) VALUES(?,?,?)"));
  for (const auto& f : files) {
    RETURN_IF_ERROR(s.Bind(1, run_id).Bind(2, f.path).Bind(3, f.size).Run());
    RETURN_IF_ERROR(s.Reset());
  }
  return tx->Commit();
}

Result<std::vector<FileRecord>> Workspace::Files(const std::string& run_id) {
  ASSIGN_OR_RETURN(Stmt s,
                   db_->Prepare("SELECT path, size FROM run_files WHERE run_id = ? ORDER BY path"));
  s.Bind(1, run_id);
  std::vector<FileRecord> out;
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) { out.push_back({row.Text(0), row.Int(1)}); }));
  return out;
}

Status Workspace::PutTarget(const TargetRecord& t) {
  ASSIGN_OR_RETURN(
      Stmt s,
      db_->Prepare(
          "INSERT INTO targets(name, type, config_json) VALUES(?,?,?) ON CONFLICT(name) DO UPDATE "
          "SET type = excluded.type, config_json = excluded.config_json"));
  return s.Bind(1, t.name).Bind(2, t.type).Bind(3, t.config_json).Run();
}

Result<std::optional<TargetRecord>> Workspace::GetTarget(const std::string& name) {
  ASSIGN_OR_RETURN(Stmt s,
                   db_->Prepare("SELECT name, type, config_json FROM targets WHERE name = ?"));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<TargetRecord>();
  return std::optional<TargetRecord>(TargetRecord{s.Text(0), s.Text(1), s.Text(2)});
}

Result<std::vector<TargetRecord>> Workspace::ListTargets() {
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT name, type, config_json FROM targets ORDER BY "
                                        "name"));
  std::vector<TargetRecord> out;
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) {
    out.push_back({row.Text(0), row.Text(1), row.Text(2)});
  }));
  return out;
}

Status Workspace::RemoveTarget(const std::string& name) {
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("DELETE FROM targets WHERE name = ?"));
  RETURN_IF_ERROR(s.Bind(1, name).Run());
  if (db_->Changes() == 0) return NotFound("no target named \"" + name + "\"");
  return Status::Ok();
}

// A supervisor whose process is alive on this machine may be busy for a while (copying code to
// hosts, a long SQLite wait): only a much longer silence means it hangs.
constexpr int64_t kLiveSupervisorStaleMicros = 600'000'000;

Result<int> Workspace::ReapOrphans(int64_t stale_after_micros) {
  if (db_->read_only()) return 0;  // nothing can be marked; the next writable open does it
  ASSIGN_OR_RETURN(
      Stmt s,
      db_->Prepare(
          std::string("SELECT id, supervisor_pid, supervisor_start, heartbeat_at, created_at, "
                      "status FROM runs WHERE status NOT IN ('Completed','Failed','Canceled')") +
          (schema_version_ >= 5 ? " AND kind != 'sweep'" : "")));
  struct Candidate {
    std::string id, reason;
  };
  std::vector<Candidate> dead;
  int64_t now = NowMicros();
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) {
    pid_t pid = static_cast<pid_t>(row.Int(1));
    auto start = static_cast<unsigned long long>(row.Int(2));
    int64_t last = row.IsNull(3) ? row.Int(4) : row.Int(3);
    if (pid > 0 && !ProcessAlive(pid, start)) {
      dead.push_back({row.Text(0), "the run's supervisor (pid " + std::to_string(pid) +
                                       ") died while the run was " + row.Text(5)});
    } else if (now - last > (pid > 0 ? std::max(stale_after_micros, kLiveSupervisorStaleMicros)
                                     : stale_after_micros)) {
      dead.push_back({row.Text(0), "no heartbeat from the run's supervisor for " +
                                       std::to_string((now - last) / 1000000) + " s"});
    }
  }));
  int marked = 0;
  for (const auto& c : dead) {
    unlink((RunDir(c.id) + "/" + kDiskReserveName).c_str());
    StatusUpdate u;
    u.error = c.reason;
    u.ended_at = now;
    // Re-check under the write lock so a run that just finished is not overwritten.
    ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db_.get()));
    ASSIGN_OR_RETURN(Stmt q, db_->Prepare("SELECT status, supervisor_pid, supervisor_start, "
                                          "heartbeat_at FROM runs WHERE id = ?"));
    q.Bind(1, c.id);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) continue;
    auto st = ParseRunStatus(q.Text(0));
    if (!st || IsTerminal(*st)) continue;
    RETURN_IF_ERROR(SetStatusLocked(c.id, RunStatus::kFailed, u));
    RETURN_IF_ERROR(tx->Commit());
    ++marked;
  }
  return marked;
}

Result<std::vector<std::string>> Workspace::ClaimOrphanedSweeps(int64_t stale_after_micros) {
  if (db_->read_only() || schema_version_ < 5) return std::vector<std::string>{};
  struct Candidate {
    std::string id;
    int64_t pid, start;
  };
  std::vector<Candidate> dead;
  const int64_t now = NowMicros();
  {
    ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT id, supervisor_pid, supervisor_start, "
                                          "heartbeat_at, created_at FROM runs WHERE kind = "
                                          "'sweep' AND status NOT IN "
                                          "('Completed','Failed','Canceled')"));
    RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) {
      const int64_t pid = row.Int(1);
      const int64_t start = row.Int(2);
      const int64_t last = row.IsNull(3) ? row.Int(4) : row.Int(3);
      const bool gone =
          pid > 0 ? !ProcessAlive(static_cast<pid_t>(pid), static_cast<unsigned long long>(start))
                  : now - last > stale_after_micros;
      if (gone) dead.push_back({row.Text(0), pid, start});
    }));
  }
  std::vector<std::string> claimed;
  for (const Candidate& c : dead) {
    // Claimed only if nobody changed its controller meanwhile.
    ASSIGN_OR_RETURN(Stmt u, db_->Prepare("UPDATE runs SET supervisor_pid = 0, "
                                          "supervisor_start = 0, heartbeat_at = ? WHERE id = ? "
                                          "AND supervisor_pid = ? AND supervisor_start = ? AND "
                                          "status NOT IN ('Completed','Failed','Canceled')"));
    RETURN_IF_ERROR(u.Bind(1, now).Bind(2, c.id).Bind(3, c.pid).Bind(4, c.start).Run());
    if (db_->Changes() == 1) claimed.push_back(c.id);
  }
  return claimed;
}

}  // namespace trainyard::store
