// Implements server/server.h.
#include "server/server.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <utility>

#include "common/http_bind.h"
#include "common/mutex.h"
#include "store/tokens.h"

namespace trainyard::server {
namespace {

// A same-origin single-page app: scripts, styles, fonts and API calls from this server only,
// images also as data: URLs (chart exports); no inline script, no framing, no plugins.
constexpr char kContentSecurityPolicy[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "http://h:80" -> "http://h" and "https://h:443" -> "https://h": browsers leave default ports
// out of Origin, and clients out of Host.
std::string WithoutDefaultPort(const std::string& origin) {
  auto strip = [&](const char* scheme, const char* port) -> std::optional<std::string> {
    std::string s(scheme), p(port);
    if (origin.rfind(s, 0) == 0 && origin.size() > s.size() + p.size() &&
        origin.compare(origin.size() - p.size(), p.size(), p) == 0) {
      return origin.substr(0, origin.size() - p.size());
    }
    return std::nullopt;
  };
  if (auto o = strip("http://", ":80")) return *o;
  if (auto o = strip("https://", ":443")) return *o;
  return origin;
}

// The origin ("scheme://host[:port]", lowercase, no default port) of a URL; "" when it has none.
std::string OriginOf(const std::string& url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "";
  size_t path = url.find_first_of("/?#", scheme_end + 3);
  return WithoutDefaultPort(Lower(url.substr(0, path)));
}

bool HasBody(const httplib::Request& req) {
  if (req.has_header("Transfer-Encoding")) return true;
  std::string length = req.get_header_value("Content-Length");
  return !length.empty() && length != "0";
}

// The access log's clock: the pre-routing handler and the post-routing one run on the same
// thread for a request.
thread_local std::chrono::steady_clock::time_point request_start;

// An Accept-Encoding value without its "br" entries ("gzip, deflate, br;q=1" -> "gzip, deflate").
std::string WithoutBrotli(const std::string& accept) {
  std::string out;
  size_t start = 0;
  while (start <= accept.size()) {
    size_t end = accept.find(',', start);
    if (end == std::string::npos) end = accept.size();
    std::string entry = accept.substr(start, end - start);
    size_t b = entry.find_first_not_of(' ');
    size_t e = entry.find_first_of("; ", b == std::string::npos ? 0 : b);
    std::string coding = b == std::string::npos
                             ? ""
                             : entry.substr(b, (e == std::string::npos ? entry.size() : e) - b);
    if (!coding.empty() && coding != "br") {
      if (!out.empty()) out += ", ";
      out += entry.substr(b);
    }
    start = end + 1;
  }
  return out;
}

std::string UrlHost(const std::string& host) {
  if (host == "0.0.0.0" || host == "::" || host.empty()) {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) == 0 && name[0] != '\0') return name;
    return "localhost";
  }
  if (host.find(':') != std::string::npos && host.front() != '[') return "[" + host + "]";
  return host;
}

// What httplib's own refusals mean (the ones no handler saw).
std::string ErrorWords(int status) {
  switch (status) {
    case 400: return "bad request";
    case 408: return "request timeout";
    case 414: return "request URI too long";
    case 416: return "range not satisfiable";
    case 431: return "request header fields too large";
    case 500: return "internal server error";
    case 503: return "service unavailable";
    default: return "HTTP " + std::to_string(status);
  }
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  std::string h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return IsLoopbackName(h);
}

struct Server::Impl {
  ServerOptions options;
  std::unique_ptr<ServerContext> ctx;
  std::unique_ptr<TokenAuth> auth;
  std::unique_ptr<httplib::Server> http;
  std::unique_ptr<Routes> routes;
  std::thread thread;
  Mutex join_mu;
  std::atomic<bool> stopping{false};
  bool tls = false;
  bool loopback = false;
  int port = 0;
  std::string url, public_url, public_origin;

  // Why a request is refused as cross-origin, or "" when it is not: it has an Origin header
  // that names neither this server as the request reached it (scheme + Host) nor public_url.
  std::string CrossOrigin(const httplib::Request& req) const {
    if (!req.has_header("Origin")) return "";
    std::string origin = WithoutDefaultPort(Lower(req.get_header_value("Origin")));
    std::string own =
        WithoutDefaultPort(Lower((tls ? "https://" : "http://") + req.get_header_value("Host")));
    if (origin == own || (!public_origin.empty() && origin == public_origin)) return "";
    return "cross-origin request refused: Origin " + origin + " is not this server (" + own + ")";
  }

  void ErrorBody(const httplib::Request& req, httplib::Response& res) const {
    if (res.status == 404) {
      std::vector<std::string> methods = routes->MethodsFor(req.path);
      if (!methods.empty()) {
        std::string allow;
        for (const std::string& m : methods) allow += (allow.empty() ? "" : ", ") + m;
        res.set_header("Allow", allow);
        ReplyError(res, 405,
                   req.method + " is not allowed on " + req.path + " (allowed: " + allow + ")");
        return;
      }
      ReplyError(res, 404,
                 (req.path.rfind("/api/", 0) == 0 ? "no such endpoint: " : "not found: ") +
                     req.method + " " + req.path);
      return;
    }
    if (res.status == 413) {
      ReplyError(res, 413,
                 "request body is larger than this server's limit of " +
                     std::to_string(options.max_body_bytes) + " bytes");
      return;
    }
    ReplyError(res, res.status, ErrorWords(res.status));
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  Stop();
  Wait();
  // Handlers hold pointers to the routes and the context: the listener goes first.
  impl_->http.reset();
  impl_->routes.reset();
}

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  if (options.workspace_dir.empty()) return InvalidArgument("server: no workspace folder");
  if (options.workspace_dir.find("://") != std::string::npos) {
    return InvalidArgument("server: the workspace must be a folder, not a URL (" +
                           options.workspace_dir + ")");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return InvalidArgument("server: TLS needs both --tls-cert and --tls-key");
  }
  if (!options.public_url.empty() && options.public_url.rfind("http://", 0) != 0 &&
      options.public_url.rfind("https://", 0) != 0) {
    return InvalidArgument("server: --public-url must start with http:// or https:// (got " +
                           options.public_url + ")");
  }
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgument("server: port " + std::to_string(options.port) + " is not in 0..65535");
  }
  auto impl = std::make_unique<Impl>();
  Impl* self = impl.get();
  impl->options = options;
  impl->tls = !options.tls_cert.empty();
  impl->loopback = IsLoopbackHost(options.host);
  impl->ctx = std::make_unique<ServerContext>(options.workspace_dir);
  ServerContext& ctx = *impl->ctx;
  {
    ASSIGN_OR_RETURN(WorkspacePool::Lease lease, ctx.pool.Acquire());
    ASSIGN_OR_RETURN(int64_t active, store::CountApiTokens(lease.get(), false));
    if (active == 0 && !impl->loopback) {
      return FailedPrecondition(
          "refusing to serve " + options.workspace_dir + " on " + options.host +
          ": the workspace has no tokens, so anyone who can reach the server could do anything; "
          "create one first (trainyard server token create --workspace " +
          options.workspace_dir +
          " --name NAME --role admin), or listen on 127.0.0.1 (the default) without tokens");
    }
    // A public URL that is not this machine means a reverse proxy in front: every request would
    // reach the tokenless server from loopback.
    std::string public_host;
    if (size_t scheme = options.public_url.find("://"); scheme != std::string::npos) {
      public_host = HostHeaderName(options.public_url.substr(scheme + 3));
    }
    if (active == 0 && !public_host.empty() && !IsLoopbackName(public_host)) {
      return FailedPrecondition(
          "refusing to serve " + options.workspace_dir + " as " + options.public_url +
          ": the workspace has no tokens, and that address reaches this server through a proxy, "
          "so anyone who can reach it could do anything; create one first (trainyard server "
          "token create --workspace " +
          options.workspace_dir + " --name NAME --role admin)");
    }
  }

  if (impl->tls) {
    auto ssl =
        std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
    if (!ssl->is_valid()) {
      return InvalidArgument("server: cannot load the TLS certificate " + options.tls_cert +
                             " with the key " + options.tls_key +
                             " (PEM files, readable, and the key must match the certificate)");
    }
    SSL_CTX_set_min_proto_version(ssl->ssl_context(), TLS1_2_VERSION);
    impl->http = std::move(ssl);
  } else {
    impl->http = std::make_unique<httplib::Server>();
  }
  httplib::Server& http = *impl->http;
  size_t threads = std::max<size_t>(options.threads, 4);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(options.max_body_bytes);
  http.set_read_timeout(options.read_timeout_s, 0);
  http.set_write_timeout(options.write_timeout_s, 0);
  http.set_keep_alive_timeout(options.keep_alive_s);
  http.set_keep_alive_max_count(1000);
  // Headers and body go out in separate writes: with Nagle's algorithm, a client that delays its
  // ACKs waits 40 ms for every answer's body.
  http.set_tcp_nodelay(true);
  http.set_default_headers({
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Content-Security-Policy", kContentSecurityPolicy},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
  });

  // Requests without a body are checked for their origin before anything else (files, streams,
  // unknown paths). One with a body is checked by the route's guard, after httplib read the
  // body: refusing it here would leave the body on the connection, to be read as the next
  // request (a cross-origin page could smuggle one).
  http.set_pre_routing_handler([self](const httplib::Request& req, httplib::Response& res) {
    if (self->options.access_log) request_start = std::chrono::steady_clock::now();
    // Debian's cpp-httplib compresses answers with brotli at its slowest setting whenever the
    // client offers it (every browser does): 360 ms for a 257 KB page of the runs list, against
    // 21 ms with gzip. Taking "br" out of what the client accepts leaves gzip. The request object
    // is httplib's own, not const; only its handler signature is.
    if (auto it = req.headers.find("Accept-Encoding");
        it != req.headers.end() && it->second.find("br") != std::string::npos) {
      std::string accept = WithoutBrotli(it->second);
      auto& headers = const_cast<httplib::Request&>(req).headers;
      headers.erase("Accept-Encoding");  // a multimap: set_header would add a second value
      headers.emplace("Accept-Encoding", accept);
    }
    if (!HasBody(req)) {
      std::string refusal = self->CrossOrigin(req);
      if (!refusal.empty()) {
        ReplyError(res, 403, refusal);
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [self](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty() || res.content_length_ > 0) {
          return httplib::Server::HandlerResponse::Unhandled;  // a handler's own error reply
        }
        self->ErrorBody(req, res);
        return httplib::Server::HandlerResponse::Handled;
      }));
  // A handler that throws (a bug) answers a plain JSON 500; httplib's own answer would copy the
  // exception's text into a response header.
  http.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, const std::exception_ptr&) {
        ReplyError(res, 500, "internal error while serving " + req.method + " " + req.path);
      });
  http.set_post_routing_handler([self](const httplib::Request& req, httplib::Response& res) {
    // API answers are per caller and may hold anything: never stored by a cache.
    if (req.path.rfind("/api/", 0) == 0 && !res.has_header("Cache-Control")) {
      res.set_header("Cache-Control", "no-store");
    }
    if (self->options.access_log) {
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                            request_start)
                      .count();
      char line[128];
      std::snprintf(line, sizeof line, " %d %.1f ms\n", res.status, ms);
      std::string text = req.remote_addr + " " + req.method + " " + req.path + line;
      std::fwrite(text.data(), 1, text.size(), stderr);  // one write: lines do not interleave
    }
  });

  impl->routes = std::make_unique<Routes>(&http, [self](const httplib::Request& req) {
    std::string refusal = self->CrossOrigin(req);
    if (!refusal.empty()) return AuthResult{std::nullopt, 403, refusal, 0};
    return self->auth->Authenticate(req);
  });
  ctx.tls = impl->tls;
  ctx.trainyard_exe = options.trainyard_exe;
  ctx.stopping = [self] { return self->stopping.load(); };
  ctx.cross_origin = [self](const httplib::Request& req) { return self->CrossOrigin(req); };
  ctx.login = [self](const std::string& token, const httplib::Request& req) {
    std::string refusal = self->CrossOrigin(req);
    if (!refusal.empty()) return AuthResult{std::nullopt, 403, refusal, 0};
    return self->auth->CheckToken(token, req.remote_addr);
  };

  // Bind before the routes are added: they may want the public URL (links, runs' tracking URI).
  std::string bind_host = options.host;
  if (bind_host.size() >= 2 && bind_host.front() == '[') {
    bind_host = bind_host.substr(1, bind_host.size() - 2);
  }
  impl->port = BindHttpServer(http, bind_host, options.port);
  if (impl->port <= 0) {
    return Unavailable("server: cannot listen on " + options.host + ":" +
                       std::to_string(options.port) +
                       " (the port is in use, or the address is not one of this machine's)");
  }
  impl->url = std::string(impl->tls ? "https://" : "http://") + UrlHost(options.host) + ":" +
              std::to_string(impl->port);
  impl->public_url = options.public_url.empty() ? impl->url : options.public_url;
  while (!impl->public_url.empty() && impl->public_url.back() == '/') impl->public_url.pop_back();
  impl->public_origin = OriginOf(impl->public_url);
  AuthOptions auth_options = options.auth;
  auth_options.local_without_tokens = impl->loopback;
  if (size_t scheme = impl->public_origin.find("://"); scheme != std::string::npos) {
    auth_options.public_host = HostHeaderName(impl->public_origin.substr(scheme + 3));
  }
  impl->auth = std::make_unique<TokenAuth>(&ctx.pool, auth_options);
  ctx.public_url = impl->public_url;

  Routes& routes = *impl->routes;
  AddSessionRoutes(routes, ctx);
  AddRunRoutes(routes, ctx);
  AddStreamRoutes(routes, ctx);
  AddFileRoutes(routes, ctx);
  AddResourceRoutes(routes, ctx);
  AddSubmitRoutes(routes, ctx);
  AddTrackingRoutes(routes, ctx);
  AddWebRoutes(routes, ctx);
  if (options.extra_routes) options.extra_routes(routes, ctx);

  impl->thread = std::thread([self] { self->http->listen_after_bind(); });
  // httplib's stop() does nothing until the listener runs: wait for it, so that a Stop() right
  // after Start() is not lost.
  for (int i = 0; i < 50'000 && !http.is_running(); ++i) {  // at most 5 s
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::Stop() {
  if (impl_->stopping.exchange(true)) return;
  impl_->http->stop();
}

void Server::Wait() {
  MutexLock lock(impl_->join_mu);
  if (impl_->thread.joinable()) impl_->thread.join();
}

bool Server::stopping() const { return impl_->stopping.load(); }
int Server::port() const { return impl_->port; }
const std::string& Server::url() const { return impl_->url; }
const std::string& Server::public_url() const { return impl_->public_url; }
bool Server::local_mode_possible() const { return impl_->loopback; }
ServerContext& Server::context() { return *impl_->ctx; }

}  // namespace trainyard::server
