#include "store/db.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <memory>

#include "common/clock.h"

namespace trainyard::store {

namespace {

std::string FolderOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// kDiskFullMessage, kReadOnlyMessage, or "" when the file system of `path` is neither full nor
// read-only (as statvfs says now).
std::string UnwritableReason(const std::string& path) {
  struct statvfs vfs {};
  if (statvfs(FolderOf(path).c_str(), &vfs) != 0) return "";
  if ((vfs.f_flag & ST_RDONLY) != 0) return kReadOnlyMessage;
  // A few free blocks are not enough for SQLite's next page either.
  if (vfs.f_bavail <= 2) return kDiskFullMessage;
  return "";
}

Status Unwritable(const std::string& reason, const std::string& db_path) {
  std::string folder = FolderOf(db_path);
  if (reason == kReadOnlyMessage) {
    return IoError(std::string(kReadOnlyMessage) + " (" + folder +
                   "): nothing can be stored; reading runs still works");
  }
  return IoError(std::string(kDiskFullMessage) + " (" + folder +
                 "): no space left on device; free some space there and try again");
}

}  // namespace

bool IsDiskFull(const Status& status) {
  return !status.ok() && status.message().find(kDiskFullMessage) != std::string::npos;
}

bool IsStorageUnwritable(const Status& status) {
  return IsDiskFull(status) ||
         (!status.ok() && status.message().find(kReadOnlyMessage) != std::string::npos);
}

Status CheckFolderWritable(const std::string& folder, uint64_t min_free_bytes) {
  struct statvfs vfs {};
  if (statvfs(folder.c_str(), &vfs) != 0) return Status::Ok();
  // Unwritable() names the folder of the path it is given.
  if ((vfs.f_flag & ST_RDONLY) != 0) return Unwritable(kReadOnlyMessage, folder + "/.");
  if (static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize < min_free_bytes) {
    return Unwritable(kDiskFullMessage, folder + "/.");
  }
  return Status::Ok();
}

Status Db::Error(int rc, const std::string& what) const {
  const int primary = rc & 0xff;
  const int sys_errno = sqlite3_system_errno(db_);
  if (primary == SQLITE_FULL || (primary == SQLITE_IOERR && sys_errno == ENOSPC)) {
    return Unwritable(kDiskFullMessage, path_);
  }
  if (primary == SQLITE_READONLY || sys_errno == EROFS) {
    return Unwritable(read_only() ? read_only_reason_ : std::string(kReadOnlyMessage), path_);
  }
  if (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN) {
    // SQLite does not always keep the errno (a failed mmap of its shared-memory file).
    std::string reason = UnwritableReason(path_);
    if (!reason.empty()) return Unwritable(reason, path_);
  }
  return IoError(what + ": " + sqlite3_errmsg(db_));
}

Stmt& Stmt::Check(int rc, int i) {
  if (rc != SQLITE_OK && bind_error_.ok()) {
    bind_error_ = owner_->Error(
        rc, "sqlite bind of parameter " + std::to_string(i) + " (" + sqlite3_sql(stmt_) + ")");
  }
  return *this;
}

Stmt& Stmt::Bind(int i, int64_t v) { return Check(sqlite3_bind_int64(stmt_, i, v), i); }
Stmt& Stmt::Bind(int i, double v) { return Check(sqlite3_bind_double(stmt_, i, v), i); }
Stmt& Stmt::Bind(int i, const std::string& v) {
  return Check(sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8), i);
}
Stmt& Stmt::Bind(int i, const std::optional<int64_t>& v) { return v ? Bind(i, *v) : BindNull(i); }
Stmt& Stmt::BindNull(int i) { return Check(sqlite3_bind_null(stmt_, i), i); }

Result<bool> Stmt::Step() {
  RETURN_IF_ERROR(bind_error_);
  // The busy handler covers most contention; SQLITE_BUSY can still surface when a read
  // transaction must be upgraded, so retry for a while (only before the first row: starting over
  // later would return rows twice).
  int64_t deadline = MonotonicMicros() + 30'000'000;
  while (true) {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
      in_rows_ = true;
      return true;
    }
    if (rc == SQLITE_DONE) {
      in_rows_ = false;
      return false;
    }
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && !in_rows_ && MonotonicMicros() < deadline) {
      sqlite3_reset(stmt_);
      SleepMicros(2000);
      continue;
    }
    return owner_->Error(rc, std::string("sqlite step (") + sqlite3_sql(stmt_) + ")");
  }
}

Status Stmt::Run() {
  return ForEachRow([](const Stmt&) {});
}

Status Stmt::Reset() {
  // sqlite3_reset repeats the last step's error, which Step already returned.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = Status::Ok();
  in_rows_ = false;
  return Status::Ok();
}

std::string Stmt::Text(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  if (!t) return "";
  return std::string(reinterpret_cast<const char*>(t),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::optional<int64_t> Stmt::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

namespace {

// Opens `path` (a file name or a file: URI) with `flags`; the error names the workspace file.
Result<sqlite3*> OpenRaw(const std::string& path, const std::string& name, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close(raw);
    std::string reason = UnwritableReason(path);
    if (!reason.empty()) return Unwritable(reason, path);
    return IoError("cannot open workspace database " + path + ": " + msg);
  }
  sqlite3_busy_timeout(raw, 30000);
  return raw;
}

// Percent-encodes what a file: URI cannot hold as is.
std::string UriPath(const std::string& path) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : path) {
    auto u = static_cast<unsigned char>(c);
    if (c == '%' || c == '?' || c == '#' || u < 0x21 || u >= 0x7f) {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Db>> Db::Open(const std::string& path) {
  ASSIGN_OR_RETURN(sqlite3 * raw, OpenRaw(path, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  std::unique_ptr<Db> db(new Db(raw, path));
  // Reading the journal mode writes nothing; setting it writes the header (once per workspace).
  Status opened = db->Exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
  if (opened.ok()) {
    Result<std::string> mode = db->JournalMode();
    if (mode.ok() && *mode == "wal") return db;
    opened = mode.ok() ? db->Exec("PRAGMA journal_mode=WAL") : mode.status();
    if (opened.ok()) return db;
  }
  // On a full or read-only file system SQLite cannot make its shared-memory file (-shm), so the
  // database cannot even be read the usual way. An immutable read-only connection needs none; it
  // sees everything when the write-ahead log is empty (no writer is active, none can be).
  std::string reason = UnwritableReason(path);
  struct stat wal {};
  bool wal_empty = stat((path + "-wal").c_str(), &wal) != 0 || wal.st_size == 0;
  struct stat db_file {};
  if (reason.empty() || !wal_empty || stat(path.c_str(), &db_file) != 0 || db_file.st_size == 0) {
    return opened;
  }
  db.reset();
  ASSIGN_OR_RETURN(raw, OpenRaw(path, "file:" + UriPath(path) + "?immutable=1",
                                SQLITE_OPEN_READONLY | SQLITE_OPEN_URI));
  db.reset(new Db(raw, path));
  db->read_only_reason_ = reason;
  RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys=ON;"));
  return db;
}

Db::~Db() { sqlite3_close(db_); }

Result<std::string> Db::JournalMode() {
  // Scoped: the statement must be finished before the mode can change.
  ASSIGN_OR_RETURN(Stmt mode, Prepare("PRAGMA journal_mode"));
  ASSIGN_OR_RETURN(bool row, mode.Step());
  return row ? mode.Text(0) : std::string();
}

Status Db::Exec(const std::string& sql) {
  int64_t deadline = MonotonicMicros() + 30'000'000;
  while (true) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return Status::Ok();
    sqlite3_free(err);  // the same as sqlite3_errmsg, which Error reads
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && MonotonicMicros() < deadline) {
      SleepMicros(2000);
      continue;
    }
    return Error(rc, "sqlite (" + sql.substr(0, 80) + ")");
  }
}

Result<Stmt> Db::Prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, "sqlite prepare (" + sql + ")");
  return Stmt(this, db_, stmt);
}

Result<std::unique_ptr<Transaction>> Transaction::Begin(Db* db) {
  RETURN_IF_ERROR(db->Exec("BEGIN IMMEDIATE"));
  return std::unique_ptr<Transaction>(new Transaction(db));
}

Transaction::~Transaction() {
  if (!done_) db_->Exec("ROLLBACK").IgnoreError();
}

Status Transaction::Commit() {
  RETURN_IF_ERROR(db_->Exec("COMMIT"));
  done_ = true;
  return Status::Ok();
}

}  // namespace trainyard::store
