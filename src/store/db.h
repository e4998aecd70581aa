// A thin SQLite wrapper: one Db per thread (a Db must not be shared between threads), prepared
// statements, and IMMEDIATE transactions. Every error carries SQLite's message and the SQL, except
// a full or read-only file system, which is said in the user's words at one place (StorageError):
// "workspace disk is full (<folder>): ..." and "workspace is read-only (<folder>): ...".
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "common/status.h"

namespace trainyard::store {

// A prepared statement. Bind() records the first error SQLite reports (a wrong index, a value too
// big) and Step()/Run()/ForEachRow() return it, so bindings chain: s.Bind(1, a).Bind(2, b).Run().
class Stmt {
 public:
  Stmt(const class Db* owner, sqlite3* db, sqlite3_stmt* stmt)
      : owner_(owner), db_(db), stmt_(stmt) {}
  Stmt(Stmt&& o) noexcept
      : owner_(o.owner_),
        db_(o.db_),
        stmt_(o.stmt_),
        bind_error_(std::move(o.bind_error_)),
        in_rows_(o.in_rows_) {
    o.stmt_ = nullptr;
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }

  // Parameters are 1-based, as in SQLite.
  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  Stmt& Bind(int i, double v);
  Stmt& Bind(int i, const std::string& v);
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string(v)); }
  Stmt& Bind(int i, const std::optional<int64_t>& v);
  Stmt& BindNull(int i);

  // Returns true when a row is available, false when done; an error (a failed Bind, SQLite's
  // error) is an error, never the end of the rows. For one row; loops use ForEachRow.
  Result<bool> Step();
  // Calls fn(row) for every row, where row is this statement (read it with Int(), Text(), ...).
  // fn returns void, or Status to stop at the first error, which is returned.
  template <typename Fn>
  Status ForEachRow(Fn&& fn);
  // Steps to completion (for statements without rows).
  Status Run();
  // Makes the statement ready to be bound and run again (clears bindings and a Bind error).
  Status Reset();

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const;
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::optional<int64_t> OptInt(int col) const;

 private:
  // Records the first failed bind (rc != SQLITE_OK) for the next Step.
  Stmt& Check(int rc, int i);

  const class Db* owner_;
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  Status bind_error_;
  bool in_rows_ = false;  // a row was returned since the last reset: a busy retry would repeat it
};

template <typename Fn>
Status Stmt::ForEachRow(Fn&& fn) {
  while (true) {
    ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
    if constexpr (std::is_same_v<std::invoke_result_t<Fn&, const Stmt&>, Status>) {
      RETURN_IF_ERROR(fn(static_cast<const Stmt&>(*this)));
    } else {
      fn(static_cast<const Stmt&>(*this));
    }
  }
}

// The start of the message of an error caused by a full file system, and of one caused by a
// read-only one (see Db::Open).
inline constexpr char kDiskFullMessage[] = "workspace disk is full";
inline constexpr char kReadOnlyMessage[] = "workspace is read-only";
// Whether `status` says that the workspace's file system is full (kDiskFullMessage).
bool IsDiskFull(const Status& status);
// Whether `status` says that the workspace's file system is full or read-only.
bool IsStorageUnwritable(const Status& status);
// The kDiskFullMessage error when the file system of `folder` has less than `min_free_bytes`
// free, the kReadOnlyMessage one when it is mounted read-only; OK otherwise (or when it cannot
// tell).
Status CheckFolderWritable(const std::string& folder, uint64_t min_free_bytes);

class Db {
 public:
  // Opens (creating) the database file in WAL mode with a busy timeout, so that many processes
  // may read and write the same workspace. Opening writes nothing when the file is already in WAL
  // mode. When the file system is full or read-only and the database cannot be opened for writing
  // (SQLite must create its shared-memory file), an existing database whose write-ahead log is
  // empty is opened read-only instead (read_only() is then true and every write fails with
  // kDiskFullMessage or kReadOnlyMessage), so that old runs stay readable.
  static Result<std::unique_ptr<Db>> Open(const std::string& path);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  Status Exec(const std::string& sql);
  Result<Stmt> Prepare(const std::string& sql);
  int64_t LastInsertId() const { return sqlite3_last_insert_rowid(db_); }
  int Changes() const { return sqlite3_changes(db_); }
  const std::string& path() const { return path_; }
  // "wal", "delete", ... (reads only).
  Result<std::string> JournalMode();
  // True when opened read-only because the file system is full or read-only.
  bool read_only() const { return !read_only_reason_.empty(); }

  // The error for SQLite's result `rc` of `what` on this connection: a full or read-only file
  // system in the user's words, else SQLite's message.
  Status Error(int rc, const std::string& what) const;

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::string read_only_reason_;  // kDiskFullMessage or kReadOnlyMessage; "" when writable
};

// BEGIN IMMEDIATE on construction (retrying while the database is busy); ROLLBACK on destruction
// unless Commit() succeeded.
class Transaction {
 public:
  static Result<std::unique_ptr<Transaction>> Begin(Db* db);
  ~Transaction();
  Status Commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;
  bool done_ = false;
};

}  // namespace trainyard::store
