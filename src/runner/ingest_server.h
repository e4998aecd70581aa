// The run's ingestion endpoint: an HTTP server inside the supervisor that receives what training
// processes log (tracking/protocol.h) and stores it in the workspace. Ranks reach it through
// TRAINYARD_TRACKING_URI with the run's secret token, from this machine or (later) from other
// hosts. Serves: POST batch, PUT files, GET metrics. See docs/tracking.md.
//
// Thread-safety: Start/Stop from the supervisor's thread; requests are served on the server's
// own threads, sharing one database connection under a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace trainyard::runner {

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

  int port() const { return port_; }
  const std::string& token() const { return token_; }
  // "http://<address>:<port>".
  std::string uri() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string address_;
  int port_ = 0;
  std::string token_;
};

// Checks a file name given by a script (upload_file): relative, no "..", not inside the run's
// own folders (work/, inputs/, logs/). Returns the normalized name.
Result<std::string> CheckUploadName(const std::string& name);

}  // namespace trainyard::runner
