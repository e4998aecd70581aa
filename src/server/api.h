// The pieces every part of the workspace server shares: roles, the caller of a request, the
// server's context (its workspace connections), the route table with its access check, and the
// JSON reply helpers. Each group of endpoints lives in its own file and adds itself to the table
// with its Add*Routes function (docs/api.md lists every endpoint and the role it needs).
//
// Thread-safety: Routes is filled before the server starts and read-only afterwards; handlers run
// on the server's threads, concurrently. ServerContext is safe to share between threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "store/workspace.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace trainyard::server {

// The version GET /api/v1 reports (the command's --version).
inline constexpr char kTrainyardVersion[] = "0.1.0";

// What a token may do; each role may do everything the ones before it may.
// read: look at everything. submit: also submit, cancel, upload snapshots, log metrics.
// admin: also delete (models, deployments), change targets, and manage tokens over the API.
enum class Role { kRead = 0, kSubmit = 1, kAdmin = 2 };
const char* RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

// Who made a request: the token's name and role.
struct Caller {
  std::string name;
  Role role = Role::kRead;
};

// Pooled workspace connections (a store::Workspace is one SQLite connection and must not be
// shared between threads). A handler holds a lease only while it reads or writes: a stream that
// waits between events gives its lease back and takes another.
class WorkspacePool {
 public:
  explicit WorkspacePool(std::string workspace_dir);
  ~WorkspacePool();
  WorkspacePool(const WorkspacePool&) = delete;
  WorkspacePool& operator=(const WorkspacePool&) = delete;

  class Lease {
   public:
    Lease(WorkspacePool* pool, std::unique_ptr<store::Workspace> ws);
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    store::Workspace* operator->() const { return ws_.get(); }
    store::Workspace* get() const { return ws_.get(); }

   private:
    WorkspacePool* pool_;
    std::unique_ptr<store::Workspace> ws_;
  };

  // A connection: an idle one, else a new one (opening the workspace).
  Result<Lease> Acquire();
  const std::string& dir() const { return dir_; }

 private:
  void Release(std::unique_ptr<store::Workspace> ws);
  const std::string dir_;
  std::mutex mu_;
  std::vector<std::unique_ptr<store::Workspace>> idle_;  // guarded by mu_
};

// Who made a request, or why it is refused: `http_status` 401 (no valid token), 403 (a
// cross-origin request, or a tokenless request for a host name that is not this machine's), 429
// (too many failed attempts from this address) or 500 (the tokens could not be read), with a
// message.
struct AuthResult {
  std::optional<Caller> caller;
  int http_status = 401;
  std::string message;
  int64_t retry_after_s = 0;  // with 429: sent as Retry-After
};

// What the route groups share.
struct ServerContext {
  explicit ServerContext(std::string workspace_dir) : pool(std::move(workspace_dir)) {}
  WorkspacePool pool;
  // How clients reach this server: "http(s)://host:port" (what runs are told, what links use).
  std::string public_url;
  // The trainyard executable that supervises runs the server submits ("" = runner::TrainyardExe).
  std::string trainyard_exe;
  // Set when the server is shutting down: streams end, long waits return.
  std::function<bool()> stopping = [] { return false; };
  // Whether the server speaks HTTPS (the session cookie is then Secure).
  bool tls = false;
  // Checks the token of a login request (POST /api/v1/login): its caller, or the refusal (a
  // wrong token counts toward the rate limit of the request's address). Set by the server.
  std::function<AuthResult(const std::string& token, const httplib::Request& req)> login;
  // Why a request is refused as cross-origin ("" when it is not), for public routes that change
  // state (logout).
  std::function<std::string(const httplib::Request& req)> cross_origin;
  // How often a stream that outlives its request (events, log streams, /api/v1/cli) checks that
  // its caller's token still holds (Routes::Recheck).
  int64_t recheck_micros = 5'000'000;
};

using Handler =
    std::function<void(const httplib::Request&, httplib::Response&, const Caller& caller)>;

// Decides who made a request. Set by the server from the workspace's tokens; tests set their own.
using Authenticator = std::function<AuthResult(const httplib::Request&)>;

// The route table over an httplib::Server: every route needs a role, and a request is refused
// with 401 (no valid token) or 403 (a role that may not) before its handler runs. Patterns are
// httplib's regular expressions, matched against the whole path.
class Routes {
 public:
  Routes(httplib::Server* server, Authenticator authenticate);
  void Get(const std::string& pattern, Role role, Handler handler);
  void Post(const std::string& pattern, Role role, Handler handler);
  void Put(const std::string& pattern, Role role, Handler handler);
  void Delete(const std::string& pattern, Role role, Handler handler);
  // A route anyone may call without a token (the login endpoint, the UI's files).
  void GetPublic(const std::string& pattern,
                 std::function<void(const httplib::Request&, httplib::Response&)> handler);
  void PostPublic(const std::string& pattern,
                  std::function<void(const httplib::Request&, httplib::Response&)> handler);
  httplib::Server* http() const { return server_; }
  // The methods routed for `path` ("GET", "POST", ...; for 405 and its Allow header).
  std::vector<std::string> MethodsFor(const std::string& path) const;
  // Who made a request, as the guarded routes decide it (for routes that accept other
  // credentials too, such as /api/v1/tracking's run tokens).
  AuthResult Authenticate(const httplib::Request& req) const { return authenticate_(req); }
  // For an answer that outlives its request (a stream), called as often as it likes: once every
  // `every_micros` it checks the request's credentials again, and says why they no longer allow
  // `role` ("" while they do, and between checks). A token revoked while its stream is open thus
  // ends the stream. Only 401 and 403 count: a 429 (others failing from the same address) or an
  // unreadable workspace does not end a caller's stream.
  std::function<std::string()> Recheck(const httplib::Request& req, Role role,
                                       int64_t every_micros) const;

 private:
  Handler Guard(Role role, Handler handler) const;
  void Note(const char* method, const std::string& pattern);
  httplib::Server* server_;
  Authenticator authenticate_;
  std::vector<std::pair<std::string, std::string>> patterns_;  // (method, pattern), for 405
};

// AuthResult's refusal as a reply: {"error"} with its status, and Retry-After with 429.
void ReplyRefusal(httplib::Response& res, const AuthResult& refusal);

// Replies: JSON bodies, and errors as {"error": message} with the status. ReplyStatus maps a
// Status to HTTP: InvalidArgument 400, NotFound 404, AlreadyExists and FailedPrecondition 409,
// Unavailable 503, Timeout 504, Unimplemented 501, others 500.
void ReplyJson(httplib::Response& res, const nlohmann::json& body, int http_status = 200);
void ReplyError(httplib::Response& res, int http_status, const std::string& message);
void ReplyStatus(httplib::Response& res, const Status& status);
int HttpStatusFor(const Status& status);

// The request's JSON body: an object, else InvalidArgument naming the problem.
Result<nlohmann::json> ParseJsonBody(const httplib::Request& req);
// A query parameter (the first of that name), or `fallback` when absent.
std::string Query(const httplib::Request& req, const std::string& name,
                  const std::string& fallback = "");
// A query parameter as an integer in [lo, hi]; absent gives `fallback`; anything else is
// InvalidArgument naming the parameter.
Result<int64_t> QueryInt(const httplib::Request& req, const std::string& name, int64_t fallback,
                         int64_t lo, int64_t hi);
// A path segment captured by the pattern (matches[i]; the path is percent-decoded already).
std::string PathParam(const httplib::Request& req, size_t i);

// The route groups; each is defined in its own file (see docs/api.md).
void AddSessionRoutes(Routes& routes, ServerContext& ctx);   // session.cc: /api/v1, login, logout
void AddRunRoutes(Routes& routes, ServerContext& ctx);       // api_runs.cc: runs list, run, metrics
void AddStreamRoutes(Routes& routes, ServerContext& ctx);    // api_streams.cc: SSE status/logs
void AddFileRoutes(Routes& routes, ServerContext& ctx);      // api_files.cc: files, snapshot files
void AddResourceRoutes(Routes& routes, ServerContext& ctx);  // api_resources.cc: experiments,
                                                             // sweeps, targets, models, deployments
void AddSubmitRoutes(Routes& routes, ServerContext& ctx);    // api_submit.cc: blobs, snapshots,
                                                             // POST runs/sweeps, cancel, cli
void AddTrackingRoutes(Routes& routes, ServerContext& ctx);  // api_tracking.cc: /api/v1/tracking
void AddWebRoutes(Routes& routes, ServerContext& ctx);       // web.cc: the UI's files

}  // namespace trainyard::server
