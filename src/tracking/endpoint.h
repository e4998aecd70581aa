// The HTTP side of the tracking client: one run's ingestion endpoint (protocol.h).
//
// Errors: Unavailable for what is worth retrying (connection refused or reset, timeouts, 5xx, among
// them 507 and 503 from an endpoint that cannot store what it was sent: a full disk);
// FailedPrecondition / InvalidArgument / NotFound for answers that a retry will not change (4xx).
//
// Thread safety: PostBatch reuses one keep-alive connection and must be called from one thread at
// a time (the Recorder's sender thread); the other methods open their own connection and may be
// called from any thread, concurrently with PostBatch.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/status.h"

namespace httplib {
class Client;
}

namespace trainyard::tracking {

class Endpoint {
 public:
  // `uri` is "http://host:port" or "https://host:port", optionally followed by a path prefix.
  // InvalidArgument for anything else.
  static Result<std::unique_ptr<Endpoint>> Create(const std::string& uri, const std::string& run_id,
                                                  const std::string& token, double timeout_s);
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  // POSTs an encoded batch; returns the acknowledged seq from {"acked_seq": N}. `pending` (sent
  // as X-Trainyard-Pending) is how many records wait behind this batch in the client, so that
  // an endpoint that cannot store the batch knows how much is at stake.
  Result<int64_t> PostBatch(const std::string& body, uint64_t pending = 0);
  // PUTs bytes as the run's file `name` (a relative path).
  Status PutBytes(const std::string& name, const std::string& bytes);
  // PUTs a local file (streamed, never held in memory whole) as the run's file `name`.
  Status PutFile(const std::string& name, const std::string& local_path, uint64_t size);
  // GET .../metrics[?name=N]: the JSON body (see metrics_json.h).
  Result<std::string> GetMetricsJson(const std::optional<std::string>& name);

  const std::string& uri() const { return uri_; }

 private:
  Endpoint(std::string uri, std::string scheme_host_port, std::string run_path, std::string token,
           double timeout_s);
  std::unique_ptr<httplib::Client> NewClient() const;

  const std::string uri_;
  const std::string scheme_host_port_;
  const std::string run_path_;  // "<prefix>/v1/runs/<run_id>"
  const std::string token_;
  const double timeout_s_;
  std::unique_ptr<httplib::Client> batch_client_;  // PostBatch only
};

// Percent-encodes a query parameter value (RFC 3986 unreserved characters are kept).
std::string UrlEncode(const std::string& s);

}  // namespace trainyard::tracking
