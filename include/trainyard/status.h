// Status and Result<T>: recoverable errors as values.
//
// A Status is OK or carries a code and a message meant for a person ("script_params[\"--lr\"]:
// expected a scalar"). Context is prepended on the way up with WithContext(). Result<T> holds
// either a T or a non-OK Status. Both are cheap to move and safe to pass between threads (they are
// plain values; sharing one object between threads needs external locking, like any value).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace trainyard {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the user's input is wrong (job file, flags)
  kNotFound,         // a named thing does not exist (run, file, experiment)
  kAlreadyExists,
  kFailedPrecondition,  // the system is not in a state that allows the operation
  kUnavailable,         // a dependency is missing or busy (interpreter, database lock)
  kIo,                  // file system or process error
  kInternal,            // a bug
  kUnimplemented,
  kTimeout,
  kCanceled,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "context: message" (OK stays OK).
  Status WithContext(const std::string& context) const;
  // "InvalidArgument: message" or "OK".
  std::string ToString() const;

  // Explicitly drops an error (use sparingly, for best-effort cleanup).
  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

Status InvalidArgument(std::string message);
Status NotFound(std::string message);
Status AlreadyExists(std::string message);
Status FailedPrecondition(std::string message);
Status Unavailable(std::string message);
Status IoError(std::string message);
Status Internal(std::string message);
Status Unimplemented(std::string message);
Status Timeout(std::string message);
// "<what>: <strerror(errno_value)>".
Status ErrnoError(const std::string& what, int errno_value);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error; OK when the result holds a value.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace trainyard

#define TY_CONCAT_INNER(a, b) a##b
#define TY_CONCAT(a, b) TY_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                \
  do {                                       \
    ::trainyard::Status ty_status_ = (expr); \
    if (!ty_status_.ok()) return ty_status_; \
  } while (0)

// NOLINTBEGIN(bugprone-macro-parentheses): `lhs` is a declaration and cannot be parenthesized.
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

// ASSIGN_OR_RETURN(auto x, Compute()); declares x from the Result or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(TY_CONCAT(ty_result_, __LINE__), lhs, expr)
// NOLINTEND(bugprone-macro-parentheses)
