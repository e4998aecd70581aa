// Who is calling the server: the API token a request carries (an `Authorization: Bearer` header,
// else the `trainyard_session` cookie that POST /api/v1/login sets), looked up in the workspace
// on every request, so that a token created or revoked with the CLI while the server runs counts
// at once. Failed attempts are rate-limited per remote address.
//
// Thread-safety: TokenAuth is safe to share between the server's threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/mutex.h"
#include "server/api.h"

namespace trainyard::server {

inline constexpr char kSessionCookie[] = "trainyard_session";

// The token a request carries: the Bearer header's, else the session cookie's; "" when none.
std::string RequestToken(const httplib::Request& req);

// The host name of a Host header ("h:8470" -> "h", "[::1]:80" -> "::1"), lowercase.
std::string HostHeaderName(const std::string& host_header);
// Whether `name` (no brackets, no port) is localhost, in 127.0.0.0/8 or ::1.
bool IsLoopbackName(const std::string& name);

struct AuthOptions {
  // Loopback only: when the workspace has never had a token (api_tokens is empty), every request
  // is Caller{"local", admin}, so that one person on one machine needs no token. Off for a server
  // that listens beyond loopback (it refuses to start without tokens, server.h).
  bool local_without_tokens = false;
  // In that mode a request must name this machine in its Host header (localhost, 127.0.0.0/8,
  // [::1], or this host name), so that a web page whose name resolves to 127.0.0.1 (DNS
  // rebinding) cannot use the tokenless server.
  std::string public_host;
  // More than `max_failures` requests with a wrong token from one address within `window_s`
  // seconds: that address gets 429 (with Retry-After) until the window ends, whatever it sends.
  int max_failures = 10;
  int64_t window_s = 60;
  // Addresses remembered at most (the memory bound); the oldest windows are dropped first.
  size_t max_addresses = 10'000;
};

// Counts failed attempts per address in fixed windows. Safe to share between threads.
class FailureLimiter {
 public:
  FailureLimiter(int max_failures, int64_t window_s, size_t max_addresses);
  // Seconds until `address` may try again, or 0 when it may now.
  int64_t RetryAfter(const std::string& address, int64_t now_s) TY_EXCLUDES(mu_);
  void NoteFailure(const std::string& address, int64_t now_s) TY_EXCLUDES(mu_);
  size_t tracked() TY_EXCLUDES(mu_);

 private:
  struct Window {
    int64_t start_s = 0;
    int failures = 0;
  };
  void DropOldest(int64_t now_s) TY_REQUIRES(mu_);
  const int max_failures_;
  const int64_t window_s_;
  const size_t max_addresses_;
  Mutex mu_;
  std::map<std::string, Window> windows_ TY_GUARDED_BY(mu_);
};

class TokenAuth {
 public:
  // `pool` must outlive this object.
  TokenAuth(WorkspacePool* pool, AuthOptions options);

  // Who sent `req` (see AuthResult): its token's name and role; 401 without a valid token (a
  // wrong one counts as a failure of its address), 429 while its address is blocked, 500 when the
  // workspace cannot be read.
  AuthResult Authenticate(const httplib::Request& req);
  // The same for a token given directly (POST /api/v1/login), from `address`.
  AuthResult CheckToken(std::string_view token, const std::string& address);

  const AuthOptions& options() const { return options_; }

 private:
  // `host_header` is null for a token given directly (login), which never gets local mode;
  // `proxy_header` names a header that says a proxy relayed the request ("" when none), which
  // never gets it either.
  AuthResult Check(std::string_view token, const std::string& address,
                   const std::string* host_header, const std::string& proxy_header = "");
  WorkspacePool* pool_;
  const AuthOptions options_;
  FailureLimiter limiter_;
};

}  // namespace trainyard::server
