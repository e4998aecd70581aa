// Implements server/auth.h.
#include "server/auth.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <utility>

#include "store/tokens.h"

namespace trainyard::server {
namespace {

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "".
std::string CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t end = header.find(';');
    std::string_view pair = Trim(header.substr(0, end));
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos && Trim(pair.substr(0, eq)) == name) {
      std::string_view value = Trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return std::string(value);
    }
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return "";
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string HostHeaderName(const std::string& host_header) {
  std::string h = Lower(std::string(Trim(host_header)));
  if (!h.empty() && h.front() == '[') {
    size_t close = h.find(']');
    return close == std::string::npos ? h.substr(1) : h.substr(1, close - 1);
  }
  size_t colon = h.find(':');
  // One colon: a port. More: an IPv6 address without brackets (no port).
  if (colon != std::string::npos && h.find(':', colon + 1) == std::string::npos) {
    h.resize(colon);
  }
  if (!h.empty() && h.back() == '.') h.pop_back();  // "localhost." is localhost
  return h;
}

bool IsLoopbackName(const std::string& name) {
  std::string n = Lower(name);
  if (n == "localhost" || n == "::1" || n == "0:0:0:0:0:0:0:1") return true;
  if (n.size() > 10 && n.substr(n.size() - 10) == ".localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, n.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, n.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    // ::ffff:127.x.y.z
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

std::string RequestToken(const httplib::Request& req) {
  std::string auth = req.get_header_value("Authorization");
  if (!auth.empty()) {
    std::string_view v = Trim(auth);
    // The scheme is case-insensitive (RFC 7235).
    if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) {
      return std::string(Trim(v.substr(7)));
    }
    return "";  // some other scheme: no token we know
  }
  size_t cookies = req.get_header_value_count("Cookie");
  for (size_t i = 0; i < cookies; ++i) {
    std::string value = CookieValue(req.get_header_value("Cookie", i), kSessionCookie);
    if (!value.empty()) return value;
  }
  return "";
}

FailureLimiter::FailureLimiter(int max_failures, int64_t window_s, size_t max_addresses)
    : max_failures_(max_failures),
      window_s_(window_s),
      max_addresses_(std::max<size_t>(max_addresses, 1)) {}

int64_t FailureLimiter::RetryAfter(const std::string& address, int64_t now_s) {
  MutexLock lock(mu_);
  auto it = windows_.find(address);
  if (it == windows_.end()) return 0;
  int64_t ends = it->second.start_s + window_s_;
  if (now_s >= ends) {
    windows_.erase(it);
    return 0;
  }
  return it->second.failures >= max_failures_ ? ends - now_s : 0;
}

void FailureLimiter::NoteFailure(const std::string& address, int64_t now_s) {
  MutexLock lock(mu_);
  auto it = windows_.find(address);
  if (it != windows_.end() && now_s >= it->second.start_s + window_s_) {
    windows_.erase(it);
    it = windows_.end();
  }
  if (it == windows_.end()) {
    if (windows_.size() >= max_addresses_) DropOldest(now_s);
    it = windows_.emplace(address, Window{now_s, 0}).first;
  }
  ++it->second.failures;
}

void FailureLimiter::DropOldest(int64_t now_s) {
  // Expired windows first; when every window is live, the oldest one (an attacker with more
  // addresses than the bound can only make us forget its own oldest windows).
  for (auto it = windows_.begin(); it != windows_.end();) {
    it = now_s >= it->second.start_s + window_s_ ? windows_.erase(it) : std::next(it);
  }
  if (windows_.size() < max_addresses_) return;
  auto oldest = std::min_element(
      windows_.begin(), windows_.end(),
      [](const auto& a, const auto& b) { return a.second.start_s < b.second.start_s; });
  windows_.erase(oldest);
}

size_t FailureLimiter::tracked() {
  MutexLock lock(mu_);
  return windows_.size();
}

TokenAuth::TokenAuth(WorkspacePool* pool, AuthOptions options)
    : pool_(pool),
      options_(std::move(options)),
      limiter_(options_.max_failures, options_.window_s, options_.max_addresses) {}

AuthResult TokenAuth::Authenticate(const httplib::Request& req) {
  std::string host = req.get_header_value("Host");
  // Behind a reverse proxy every request arrives from loopback, often with the Host the proxy
  // chose: a relayed request is never the local user of the tokenless mode.
  std::string proxy_header;
  for (const char* name : {"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP"}) {
    if (req.has_header(name)) proxy_header = name;
  }
  return Check(RequestToken(req), req.remote_addr, &host, proxy_header);
}

AuthResult TokenAuth::CheckToken(std::string_view token, const std::string& address) {
  return Check(token, address, nullptr);
}

AuthResult TokenAuth::Check(std::string_view token, const std::string& address,
                            const std::string* host_header, const std::string& proxy_header) {
  AuthResult result;
  int64_t now = NowSeconds();
  if (int64_t wait = limiter_.RetryAfter(address, now); wait > 0) {
    result.http_status = 429;
    result.retry_after_s = wait;
    result.message = "too many failed attempts from " + address + "; try again in " +
                     std::to_string(wait) + " s";
    return result;
  }
  auto lease = pool_->Acquire();
  if (!lease.ok()) {
    result.http_status = 500;
    result.message = "cannot read the workspace's tokens: " + lease.status().message();
    return result;
  }
  if (options_.local_without_tokens && host_header != nullptr) {
    auto count = store::CountApiTokens(lease->get(), /*include_revoked=*/true);
    if (!count.ok()) {
      result.http_status = 500;
      result.message = "cannot read the workspace's tokens: " + count.status().message();
      return result;
    }
    if (*count == 0) {
      if (!proxy_header.empty()) {
        result.http_status = 403;
        result.message =
            "this server has no tokens, so it answers only requests made on this "
            "machine; this one came through a proxy (" +
            proxy_header + "): create a token to serve through one";
        return result;
      }
      std::string name = HostHeaderName(*host_header);
      if (!IsLoopbackName(name) && name != Lower(options_.public_host)) {
        result.http_status = 403;
        result.message =
            "this server has no tokens, so it answers only requests for localhost, "
            "127.0.0.1 or [::1]; this one was for \"" +
            name + "\" (create a token to serve other names)";
        return result;
      }
      result.caller = Caller{"local", Role::kAdmin};
      return result;
    }
  }
  if (token.empty()) {
    result.http_status = 401;
    result.message =
        "this needs a token: send \"Authorization: Bearer <token>\" or log in (POST /api/v1/login)";
    return result;
  }
  auto found = store::LookupApiToken(lease->get(), token);
  if (!found.ok()) {
    result.http_status = 500;
    result.message = "cannot read the workspace's tokens: " + found.status().message();
    return result;
  }
  if (!found->has_value()) {
    limiter_.NoteFailure(address, now);
    result.http_status = 401;
    result.message = "invalid or revoked token";
    return result;
  }
  std::optional<Role> role = ParseRole((*found)->role);
  result.caller = Caller{(*found)->name, role.value_or(Role::kRead)};
  return result;
}

}  // namespace trainyard::server
