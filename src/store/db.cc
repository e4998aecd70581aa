#include "store/db.h"

#include <memory>

#include "common/clock.h"

namespace trainyard::store {

namespace {
Status SqlError(sqlite3* db, const std::string& what) {
  return IoError(what + ": " + sqlite3_errmsg(db));
}
}  // namespace

Stmt& Stmt::Check(int rc, int i) {
  if (rc != SQLITE_OK && bind_error_.ok()) {
    bind_error_ = SqlError(
        db_, "sqlite bind of parameter " + std::to_string(i) + " (" + sqlite3_sql(stmt_) + ")");
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
    return SqlError(db_, std::string("sqlite step (") + sqlite3_sql(stmt_) + ")");
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

Result<std::unique_ptr<Db>> Db::Open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close(raw);
    return IoError("cannot open workspace database " + path + ": " + msg);
  }
  std::unique_ptr<Db> db(new Db(raw, path));
  sqlite3_busy_timeout(raw, 30000);
  RETURN_IF_ERROR(
      db->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
               "PRAGMA foreign_keys=ON;"));
  return db;
}

Db::~Db() { sqlite3_close(db_); }

Status Db::Exec(const std::string& sql) {
  int64_t deadline = MonotonicMicros() + 30'000'000;
  while (true) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return Status::Ok();
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && MonotonicMicros() < deadline) {
      SleepMicros(2000);
      continue;
    }
    return IoError("sqlite (" + sql.substr(0, 80) + "): " + msg);
  }
}

Result<Stmt> Db::Prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return SqlError(db_, "sqlite prepare (" + sql + ")");
  return Stmt(db_, stmt);
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
