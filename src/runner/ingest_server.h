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
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/mutex.h"
#include "common/status.h"

namespace httplib {
class Server;
struct Request;
}  // namespace httplib

namespace trainyard::store {
class Workspace;
}  // namespace trainyard::store

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

// Counts what an endpoint was sent for one run but could not store, until a later try stores it.
// Thread-safe.
class IngestLedger {
 public:
  // A client's batch `seq` (and `records` records, with those waiting behind it) was not stored.
  void BatchFailed(const Status& error, const std::string& client, int64_t seq, int64_t records)
      TY_EXCLUDES(mu_);
  // A client's batch `seq` was stored: what it failed to store up to `seq` no longer counts.
  void BatchStored(const std::string& client, int64_t seq) TY_EXCLUDES(mu_);
  void FileFailed(const Status& error, const std::string& name, int64_t bytes) TY_EXCLUDES(mu_);
  void FileStored(const std::string& name) TY_EXCLUDES(mu_);
  // Any other failure to store (the MLflow subset's writes): only the error is kept.
  void NoteError(const Status& error) TY_EXCLUDES(mu_);
  IngestLoss Losses() const TY_EXCLUDES(mu_);

 private:
  struct Unstored {
    int64_t seq = 0;
    int64_t records = 0;
  };
  mutable Mutex mu_;
  std::map<std::string, Unstored> unstored_ TY_GUARDED_BY(mu_);     // by client
  std::map<std::string, int64_t> failed_files_ TY_GUARDED_BY(mu_);  // name -> bytes
  bool disk_full_ TY_GUARDED_BY(mu_) = false;
  std::string first_error_ TY_GUARDED_BY(mu_);
};

// The run a tracking request logs into, once its path and its credentials were checked.
struct IngestRun {
  std::string id;
  int64_t seq = 0;
  std::string dir;                 // the run's folder: uploads land there
  IngestLedger* ledger = nullptr;  // where failures are counted; nullptr: not counted
};

// The answer to a request that may not log into the run it names: an HTTP status (401 without
// valid credentials, 403 for credentials that may not log into this run, 404 for a run that does
// not exist, 500 when the credentials could not be checked) and a message.
struct IngestRefusal {
  int http_status = 401;
  std::string message;
};

// Decides whether a request (its Authorization header, ...) may log into run `run_id` (the id in
// its path), and which run that is. Called on the server's threads, concurrently.
using IngestResolver = std::function<Status(const httplib::Request& req, const std::string& run_id,
                                            IngestRun* run, IngestRefusal* refusal)>;

// Runs `fn` with a workspace connection that no other thread uses meanwhile (one connection under
// a mutex, or a connection leased from a pool); returns fn's status, or why no connection could be
// had.
using WorkspaceAccess =
    std::function<Status(const std::function<Status(store::Workspace& ws)>& fn)>;

// The tracking protocol's routes (docs/tracking.md) on `server` under `prefix` (a literal path
// without regular-expression characters, "" for none): POST <prefix>/v1/runs/<id>/batch,
// PUT <prefix>/v1/runs/<id>/files?name=, GET <prefix>/v1/runs/<id>/metrics[?name=]. Every request
// is checked by `resolve` before anything is read or stored. Used by the run's IngestServer and by
// the workspace server (/api/v1/tracking).
void AddIngestRoutes(httplib::Server& server, const std::string& prefix,
                     const IngestResolver& resolve, const WorkspaceAccess& access);

// Run-scoped tracking tokens: what a run that reports through a workspace server gives its ranks
// (TRAINYARD_TRACKING_TOKEN). Only the SHA-256 of a token is stored (table run_tokens); a token
// logs into its own run only and is removed when the run ends.
inline constexpr char kRunTokenPrefix[] = "tyrun_";
// A new token for run `run_seq`, stored hashed.
Result<std::string> MintRunToken(store::Workspace& ws, int64_t run_seq);
// The run a token belongs to; nullopt for a token that is not (or no longer) a run token.
Result<std::optional<int64_t>> RunSeqOfToken(store::Workspace& ws, const std::string& token);
// Removes the run's tokens (the run ended).
Status DeleteRunTokens(store::Workspace& ws, int64_t run_seq);

// The environment variable that tells a supervisor to have its ranks report to a workspace server
// ("<server url>/api/v1/tracking"; the server sets it for the runs it starts) instead of to the
// supervisor's own endpoint.
inline constexpr char kServerTrackingUriEnv[] = "TRAINYARD_SERVER_TRACKING_URI";

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
