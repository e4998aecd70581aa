// The workspace server: one process that serves a workspace folder over HTTP or HTTPS (the JSON
// API under /api/v1 and the web UI, docs/api.md and docs/server.md), with every route group of
// api.h registered behind the token check (auth.h).
//
// What every request goes through, in order: a request with an Origin header that is not the
// server's own origin is refused (403, no CORS headers are ever sent); bodies over
// max_body_bytes are refused (413); a route's role is checked (401/403/429, api.h Routes); every
// response carries the security headers (nosniff, DENY framing, no referrer, a same-origin CSP);
// unknown routes get a JSON 404, a known path with another method a JSON 405 with Allow.
//
// Thread-safety: Stop() may be called from any thread (a signal's watcher); the other members
// belong to the thread that started the server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "server/api.h"
#include "server/auth.h"

namespace trainyard::server {

struct ServerOptions {
  std::string workspace_dir;  // a folder (created when absent), never a URL
  std::string host = "127.0.0.1";
  int port = 8470;  // 0: any free port (port() and url() say which)
  // HTTPS when both are set: PEM files of the certificate (chain) and its private key.
  std::string tls_cert, tls_key;
  // How clients reach this server ("https://ml.example.com"); default scheme://host:port. Links
  // and runs use it, and its origin is accepted as the server's own (behind a proxy).
  std::string public_url;
  std::string trainyard_exe;  // the executable that supervises submitted runs ("" = this one)
  // Threads serving connections: each live stream (SSE) holds one for as long as it lasts, so
  // this bounds the concurrent streams; requests beyond it wait for a free thread.
  size_t threads = 256;
  // The largest request body (a snapshot blob upload is the largest thing sent): 413 above it.
  size_t max_body_bytes = size_t{64} << 20;
  int read_timeout_s = 30, write_timeout_s = 30;  // per socket read / write
  int keep_alive_s = 5;                           // an idle keep-alive connection is closed after
  bool access_log = false;  // one stderr line per request: address method path status ms
  // Rate limit of failed token attempts (local_without_tokens is set by Start from `host`).
  AuthOptions auth;
  // More route groups (tests), registered after the standard ones.
  std::function<void(Routes&, ServerContext&)> extra_routes;
};

// Whether `host` names only this machine: localhost, 127.0.0.0/8, ::1 (bracketed or not).
bool IsLoopbackHost(const std::string& host);

class Server {
 public:
  // Opens the workspace, checks it may serve it on `host` (beyond loopback it refuses unless the
  // workspace has a token: FailedPrecondition saying how to create one), loads the TLS files
  // (InvalidArgument naming them), binds (Unavailable when the address cannot be had) and starts
  // serving on a thread of its own. Returns once it accepts connections.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();  // Stop() and Wait()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Stops accepting, tells streams to end (ServerContext::stopping) and returns at once.
  void Stop();
  // Returns once the server stopped and every request in flight ended.
  void Wait();
  bool stopping() const;

  int port() const;
  // "http(s)://host:port" as bound (the real port when options.port was 0).
  const std::string& url() const;
  // Where clients reach it (options.public_url, else url()).
  const std::string& public_url() const;
  bool local_mode_possible() const;  // loopback only: no tokens means every request is admin
  ServerContext& context();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainyard::server
