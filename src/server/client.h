// The client side of a workspace server: what the CLI (`--workspace https://host:port`), the
// Python SDK (`Workspace(url=..., token=...)`) and remote submission use. One class over
// /api/v1 (docs/api.md) with the token in `Authorization: Bearer`.
//
// Errors: Unavailable when the server cannot be reached (naming the URL), InvalidArgument /
// NotFound / FailedPrecondition from the server's 400 / 404 / 409 with its message, and
// FailedPrecondition "the server refused the token ..." for 401 / 403 (saying which).
//
// Thread-safety: one Client per thread (each call may reuse one keep-alive connection).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "snapshot/snapshot.h"
#include "spec/job_spec.h"
#include "spec/sweep_spec.h"

namespace httplib {
class Client;
}

namespace trainyard::server {

// True when `workspace` names a server ("http://..." or "https://..."), never a folder.
bool IsWorkspaceUrl(std::string_view workspace);

// The token for a server workspace: `flag` when not empty, else $TRAINYARD_TOKEN, else "".
std::string ResolveToken(const std::string& flag = "");

class Client {
 public:
  // `url` is "http(s)://host[:port]" (a trailing '/' is fine). No request is made here.
  // InvalidArgument for anything else. For https, the server's certificate is checked against
  // the system's CAs, or $TRAINYARD_CA_CERT (a PEM file) when set.
  static Result<std::unique_ptr<Client>> Create(const std::string& url, const std::string& token);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& url() const { return url_; }

  // GET/POST/DELETE of a JSON resource; `path` starts with "/api/v1/".
  Result<nlohmann::json> GetJson(const std::string& path);
  Result<nlohmann::json> PostJson(const std::string& path, const nlohmann::json& body);
  Result<nlohmann::json> DeleteJson(const std::string& path);
  // GET of raw bytes (a file), streamed to `sink` chunk by chunk.
  Status GetStream(const std::string& path,
                   const std::function<bool(const char* data, size_t size)>& sink);
  // Follows a server-sent event stream until it ends or `on_event` returns false. A `refused`
  // event (the token was revoked while the stream was open) ends it with a 401's Status.
  Status FollowEvents(
      const std::string& path,
      const std::function<bool(const std::string& event, const std::string& data)>& on_event);

  // Uploads the files of `source_dir` that the server lacks (POST /api/v1/blobs/missing, then
  // PUT /api/v1/blobs/<sha256> for each), then its manifest (POST /api/v1/snapshots); returns
  // what the server recorded. The folder is read with the same ignore rules as a local snapshot.
  // The folder is snapshotted into the client's own store, $XDG_CACHE_HOME/trainyard/snapshots
  // (else ~/.cache/trainyard/snapshots): its stat cache makes an unchanged re-upload read no
  // file, and its blobs are what is sent. `new_blobs` of the result = blobs uploaded.
  Result<snapshot::SnapshotInfo> UploadSnapshot(const std::string& source_dir,
                                                const snapshot::SnapshotOptions& options = {});
  // What the last UploadSnapshot (or SubmitJob) sent.
  struct UploadReport {
    uint64_t files = 0;           // files (and symlinks) of the snapshot
    uint64_t files_uploaded = 0;  // files whose contents the server lacked
    uint64_t blobs_uploaded = 0;  // distinct contents sent
    uint64_t bytes_uploaded = 0;
  };
  const UploadReport& last_upload() const { return last_upload_; }

  // Submits a job: uploads its source folder (UploadSnapshot), then POST /api/v1/runs with the
  // spec and the snapshot id; the server records the run and supervises it on its targets.
  // Returns the run as the server describes it (runner::RunToJson, detailed). The CLI and the
  // Python SDK both submit through this.
  Result<nlohmann::json> SubmitJob(const spec::JobSpec& spec,
                                   const std::map<std::string, std::string>& tags = {});

  // Submits a sweep the same way: its trial's source folder uploaded, then POST /api/v1/sweeps;
  // returns the sweep's run (kind "sweep") as the server describes it.
  Result<nlohmann::json> SubmitSweep(const spec::SweepSpec& spec);

  // Runs a CLI verb on the server's workspace (POST /api/v1/cli): `argv` without the program
  // name or --workspace; what the verb prints arrives through `out` (is_stderr, text) as it is
  // printed; returns its exit code.
  Result<int> RunCli(const std::vector<std::string>& argv,
                     const std::function<void(bool is_stderr, std::string_view text)>& out);

 private:
  Client(std::string url, std::string token);
  // UploadSnapshot of a job's source folder: the snapshot id, or null for no folder.
  Result<nlohmann::json> UploadSource(const std::string& source_dir);
  std::string url_;
  std::string token_;
  std::unique_ptr<httplib::Client> http_;
  UploadReport last_upload_;
};

}  // namespace trainyard::server
