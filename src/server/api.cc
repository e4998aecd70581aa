#include "server/api.h"

#include <httplib.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <regex>
#include <utility>

#include "common/clock.h"

namespace trainyard::server {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kRead: return "read";
    case Role::kSubmit: return "submit";
    case Role::kAdmin: return "admin";
  }
  return "read";
}

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "read") return Role::kRead;
  if (name == "submit") return Role::kSubmit;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

WorkspacePool::WorkspacePool(std::string workspace_dir) : dir_(std::move(workspace_dir)) {}
WorkspacePool::~WorkspacePool() = default;

WorkspacePool::Lease::Lease(WorkspacePool* pool, std::unique_ptr<store::Workspace> ws)
    : pool_(pool), ws_(std::move(ws)) {}
WorkspacePool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), ws_(std::move(other.ws_)) {}
WorkspacePool::Lease::~Lease() {
  if (ws_) pool_->Release(std::move(ws_));
}

Result<WorkspacePool::Lease> WorkspacePool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<store::Workspace> ws = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(ws));
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<store::Workspace> ws, store::Workspace::Open(dir_));
  return Lease(this, std::move(ws));
}

void WorkspacePool::Release(std::unique_ptr<store::Workspace> ws) {
  // Keep a bounded number of idle connections; the rest are closed.
  constexpr size_t kMaxIdle = 16;
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(ws));
}

Routes::Routes(httplib::Server* server, Authenticator authenticate)
    : server_(server), authenticate_(std::move(authenticate)) {}

Handler Routes::Guard(Role role, Handler handler) const {
  return [this, role, handler = std::move(handler)](const httplib::Request& req,
                                                    httplib::Response& res, const Caller&) {
    AuthResult auth = authenticate_(req);
    if (!auth.caller) {
      ReplyRefusal(res, auth);
      return;
    }
    if (static_cast<int>(auth.caller->role) < static_cast<int>(role)) {
      ReplyError(res, 403,
                 std::string("token \"") + auth.caller->name + "\" has role " +
                     RoleName(auth.caller->role) + "; this needs " + RoleName(role));
      return;
    }
    handler(req, res, *auth.caller);
  };
}

std::function<std::string()> Routes::Recheck(const httplib::Request& req, Role role,
                                             int64_t every_micros) const {
  auto copy = std::make_shared<httplib::Request>();
  copy->method = req.method;
  copy->path = req.path;
  copy->headers = req.headers;
  copy->remote_addr = req.remote_addr;
  copy->remote_port = req.remote_port;
  return [this, copy, role, every_micros, last = MonotonicMicros()]() mutable -> std::string {
    const int64_t now = MonotonicMicros();
    if (now - last < every_micros) return "";
    last = now;
    AuthResult auth = authenticate_(*copy);
    if (!auth.caller) {
      if (auth.http_status != 401 && auth.http_status != 403) return "";
      return auth.message.empty() ? "the request's token is no longer valid" : auth.message;
    }
    if (static_cast<int>(auth.caller->role) < static_cast<int>(role)) {
      return std::string("token \"") + auth.caller->name + "\" has role " +
             RoleName(auth.caller->role) + "; this needs " + RoleName(role);
    }
    return "";
  };
}

namespace {
template <typename Add>
void AddGuarded(Add add, Handler guarded) {
  add([guarded = std::move(guarded)](const httplib::Request& req, httplib::Response& res) {
    guarded(req, res, Caller{});
  });
}
}  // namespace

void Routes::Get(const std::string& pattern, Role role, Handler handler) {
  Note("GET", pattern);
  AddGuarded([&](httplib::Server::Handler h) { server_->Get(pattern, std::move(h)); },
             Guard(role, std::move(handler)));
}
void Routes::Post(const std::string& pattern, Role role, Handler handler) {
  Note("POST", pattern);
  AddGuarded([&](httplib::Server::Handler h) { server_->Post(pattern, std::move(h)); },
             Guard(role, std::move(handler)));
}
void Routes::Put(const std::string& pattern, Role role, Handler handler) {
  Note("PUT", pattern);
  AddGuarded([&](httplib::Server::Handler h) { server_->Put(pattern, std::move(h)); },
             Guard(role, std::move(handler)));
}
void Routes::Delete(const std::string& pattern, Role role, Handler handler) {
  Note("DELETE", pattern);
  AddGuarded([&](httplib::Server::Handler h) { server_->Delete(pattern, std::move(h)); },
             Guard(role, std::move(handler)));
}
void Routes::GetPublic(const std::string& pattern,
                       std::function<void(const httplib::Request&, httplib::Response&)> handler) {
  Note("GET", pattern);
  server_->Get(pattern, std::move(handler));
}
void Routes::PostPublic(const std::string& pattern,
                        std::function<void(const httplib::Request&, httplib::Response&)> handler) {
  Note("POST", pattern);
  server_->Post(pattern, std::move(handler));
}

void Routes::Note(const char* method, const std::string& pattern) {
  patterns_.emplace_back(method, pattern);
}

std::vector<std::string> Routes::MethodsFor(const std::string& path) const {
  std::vector<std::string> out;
  for (const auto& [method, pattern] : patterns_) {
    if (std::find(out.begin(), out.end(), method) != out.end()) continue;
    // httplib matches the same way (a pattern is a regular expression over the whole path).
    if (std::regex_match(path, std::regex(pattern))) out.push_back(method);
  }
  return out;
}

void ReplyRefusal(httplib::Response& res, const AuthResult& refusal) {
  if (refusal.retry_after_s > 0) {
    res.set_header("Retry-After", std::to_string(refusal.retry_after_s));
  }
  ReplyError(res, refusal.http_status, refusal.message.empty() ? "unauthorized" : refusal.message);
}

void ReplyJson(httplib::Response& res, const nlohmann::json& body, int http_status) {
  res.status = http_status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

void ReplyError(httplib::Response& res, int http_status, const std::string& message) {
  ReplyJson(res, nlohmann::json{{"error", message}}, http_status);
}

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kTimeout: return 504;
    case StatusCode::kUnimplemented: return 501;
    default: return 500;
  }
}

void ReplyStatus(httplib::Response& res, const Status& status) {
  ReplyError(res, HttpStatusFor(status), status.message());
}

Result<nlohmann::json> ParseJsonBody(const httplib::Request& req) {
  nlohmann::json body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return InvalidArgument("request body is not valid JSON");
  if (!body.is_object()) return InvalidArgument("request body must be a JSON object");
  return body;
}

std::string Query(const httplib::Request& req, const std::string& name,
                  const std::string& fallback) {
  return req.has_param(name.c_str()) ? req.get_param_value(name.c_str()) : fallback;
}

Result<int64_t> QueryInt(const httplib::Request& req, const std::string& name, int64_t fallback,
                         int64_t lo, int64_t hi) {
  if (!req.has_param(name.c_str())) return fallback;
  std::string text = req.get_param_value(name.c_str());
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi) {
    return InvalidArgument("query parameter " + name + " must be an integer from " +
                           std::to_string(lo) + " to " + std::to_string(hi) + ", got \"" + text +
                           "\"");
  }
  return value;
}

std::string PathParam(const httplib::Request& req, size_t i) {
  if (i >= req.matches.size()) return "";
  return req.matches[i].str();  // httplib matches the path after percent-decoding it
}

}  // namespace trainyard::server
