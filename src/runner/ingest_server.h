// The run's ingestion endpoint: an HTTP server inside the supervisor that receives what training
// processes log (tracking/protocol.h) and stores it in the workspace. Ranks reach it through
// TRAINYARD_TRACKING_URI with the run's secret token, from this machine or (later) from other
// hosts. Serves: POST batch, PUT files, GET metrics. See docs/tracking.md. It also serves a subset
// of MLflow's tracking REST API (/api/2.0/mlflow/..., /api/2.0/mlflow-artifacts/artifacts/...) for
// this run only, so that a stock MLflow client (MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN,
// MLFLOW_RUN_ID) logs into it. See docs/mlflow.md.
//
// What cannot be stored is never acknowledged: a batch answers 507 (the workspace disk is full) or
// 503 (another storage error), so the client keeps it and sends it again, and the server counts
// it until it is stored (Losses()). A client says in the X-Trainyard-Pending header how many
// records wait behind the batch, so that what it never got to send is counted too.
//
// Thread-safety: Start/Stop from the supervisor's thread; requests are served on the server's
// own threads, sharing one database connection under a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace trainyard::runner {

// What the endpoint was sent but could not store, as things stand (a batch stored on a later try
// no longer counts).
struct IngestLoss {
  int64_t records = 0;     // tracking records (metric points, rows, images, tags, properties)
  int64_t files = 0;       // uploads that failed and were not stored by a later try
  int64_t file_bytes = 0;  // their sizes
  bool disk_full = false;  // some failure was a full disk
  std::string first_error;

  bool any() const { return records > 0 || files > 0; }
};

// The header in which a client says how many records wait behind the batch it sends.
inline constexpr char kPendingHeader[] = "X-Trainyard-Pending";

class IngestServer {
 public:
  IngestServer(std::string workspace_dir, std::string run_id, int64_t run_seq);
  ~IngestServer();
  IngestServer(const IngestServer&) = delete;
  IngestServer& operator=(const IngestServer&) = delete;

  // Listens on `bind_address` (an ephemeral port) and serves on a background thread; ranks are
  // told to reach it at `advertised_host` ("" = the bind address).
  Status Start(const std::string& bind_address = "127.0.0.1",
               const std::string& advertised_host = "");
  // Stops accepting and waits for requests in progress to finish.
  void Stop();

  IngestLoss Losses() const;

  int port() const { return port_; }
  const std::string& token() const { return token_; }
  // "http://<address>:<port>".
  std::string uri() const;

 private:
  struct Impl;
  // The MLflow REST subset (docs/mlflow.md), with MLflow's error shapes.
  void AddMlflowRoutes(const std::string& bearer);
  std::unique_ptr<Impl> impl_;
  std::string address_;
  int port_ = 0;
  std::string token_;
};

// Checks a file name given by a script (upload_file): relative, no "..", not inside the run's
// own folders (work/, inputs/, logs/). Returns the normalized name.
Result<std::string> CheckUploadName(const std::string& name);

}  // namespace trainyard::runner
