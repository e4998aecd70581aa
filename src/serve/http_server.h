// The HTTP front end of a model server (`trainyard-serve`): routes requests to the ModelServices
// (model_service.h) and the scoring script (python_pool.h) it is given, and answers JSON.
//
// Endpoints (docs/serving.md has the bodies):
//   POST /score                                  the scoring script's run(); without one, the only
//                                                tensor model ({"data": ...} -> nested lists)
//   POST /predictions/{model}[/{version}]        TorchServe's path, same bodies as /score
//   POST /v2/models/{model}[/versions/{v}]/infer Open Inference Protocol inference
//   GET  /v2/models/{model}[/versions/{v}]       OIP model metadata
//   GET  /v2/models/{model}[/versions/{v}]/ready OIP model readiness (200 or 503)
//   GET  /v2, /v2/health/live, /v2/health/ready  OIP server metadata, liveness, readiness
//   GET  /ping (TorchServe's), /health (every model's state), /metrics (Prometheus text)
// A request without a version goes to the model's highest version.
//
// Every failure is answered with a JSON body {"error": "reason"}: 400 bad JSON (naming where),
// bad dtype or shape; 404 unknown route, model or version (naming what is served); 405 a known
// path with the wrong method; 413 a body over max_body_bytes; 503 a model still loading, failed
// or with a full queue; 504 past the deadline (timeout_ms after the request arrived); 500
// otherwise. Status codes from the services map as model_service.h says. One request's failure
// never stops the server.
//
// Every request is counted in Metrics (model, version, endpoint, code); inference requests also
// record their latency. Library code: it prints nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "serve/metrics.h"
#include "serve/model_service.h"
#include "serve/python_pool.h"

namespace trainyard::serve {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;       // 0 = any free port
  int threads = 128;  // connection threads (each keep-alive client holds one)
  size_t max_body_bytes = size_t{100} << 20;  // larger bodies: 413
  int timeout_ms = 30000;                     // per request, from arrival to answer: 504
  // The name the scoring script's requests carry in /metrics' model label.
  std::string script_name = "score";
};

// Safe to share between threads: Stop() and port() may be called from any thread (not from a
// signal handler).
class HttpServer {
 public:
  // Binds host:port and starts serving on background threads; returns once the port is bound
  // (connections made from then on are answered). `models` (one per name and version) and
  // `pool` (nullptr without a scoring script) are served; they and `metrics` are not owned and
  // must outlive the server. InvalidArgument when there is nothing to serve, a name:version
  // repeats or options are bad; Unavailable when the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Start(const std::vector<ModelService*>& models,
                                                   ScoringPool* pool, Metrics* metrics,
                                                   const HttpServerOptions& options);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port bound (the chosen one when options.port was 0).
  int port() const;
  // Stops accepting, finishes the requests in flight (idle keep-alive connections close within
  // their 5 s keep-alive timeout) and returns. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainyard::serve
