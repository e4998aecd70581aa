// The remote client (client.h) over cpp-httplib: one keep-alive connection per Client, the token
// as a Bearer header, the server's {"error": ...} bodies turned into Status.
#include "server/client.h"

#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <utility>

#include "common/files.h"
#include "common/strings.h"
#include "runner/runner.h"
#include "snapshot/blob_store.h"
#include "snapshot/manifest.h"
#include "spec/parse.h"

namespace trainyard::server {
namespace {

// A JSON call should answer well within this; a stream (events, a verb's output, a download)
// may stay quiet for long (a `wait` prints nothing until the run ends), so it gets a day.
constexpr time_t kCallTimeoutSeconds = 300;
constexpr time_t kStreamTimeoutSeconds = time_t{24} * 3600;
constexpr time_t kConnectTimeoutSeconds = 10;
// Blobs asked about per POST /api/v1/blobs/missing (keeps each body well under the server's
// body limit for folders with many files).
constexpr size_t kBlobsPerQuery = 2000;
// The Debian/Ubuntu CA bundle: used for https when $TRAINYARD_CA_CERT is not set.
constexpr char kSystemCaBundle[] = "/etc/ssl/certs/ca-certificates.crt";

// The server's message from an error body ({"error": "..."}), else the body, else the code.
std::string ServerMessage(int status, const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    return j["error"].get<std::string>();
  }
  std::string text = Trim(body);
  if (text.size() > 500) text = text.substr(0, 500) + "...";
  return text.empty() ? "HTTP status " + std::to_string(status) : text;
}

}  // namespace

bool IsWorkspaceUrl(std::string_view workspace) {
  return workspace.substr(0, 7) == "http://" || workspace.substr(0, 8) == "https://";
}

std::string ResolveToken(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("TRAINYARD_TOKEN");
  return env != nullptr ? std::string(env) : std::string();
}

Client::Client(std::string url, std::string token)
    : url_(std::move(url)), token_(std::move(token)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Create(const std::string& url, const std::string& token) {
  if (!IsWorkspaceUrl(url)) {
    return InvalidArgument("not a server URL: \"" + url + "\" (expected http(s)://host[:port])");
  }
  std::string base = url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const size_t host_start = base.find("://") + 3;
  if (base.find('/', host_start) != std::string::npos) {
    return InvalidArgument("a server URL is http(s)://host[:port] without a path, got \"" + url +
                           "\"");
  }
  if (host_start >= base.size())
    return InvalidArgument("server URL without a host: \"" + url + "\"");
  if (token.find_first_of("\r\n") != std::string::npos) {
    return InvalidArgument("the token holds a line break (check $TRAINYARD_TOKEN)");
  }
  std::unique_ptr<Client> client(new Client(base, token));
  client->http_ = std::make_unique<httplib::Client>(base);
  if (!client->http_->is_valid()) {
    return InvalidArgument("cannot use the server URL \"" + url + "\"");
  }
  client->http_->set_keep_alive(true);
  // Requests are written as headers, then body: without TCP_NODELAY, Nagle's algorithm holds the
  // body until the server's delayed ACK (40 ms), which made an upload of 2,000 small files take
  // 100 s instead of a few.
  client->http_->set_tcp_nodelay(true);
  client->http_->set_connection_timeout(kConnectTimeoutSeconds, 0);
  client->http_->set_read_timeout(kCallTimeoutSeconds, 0);
  client->http_->set_write_timeout(kCallTimeoutSeconds, 0);
  if (!token.empty()) client->http_->set_bearer_token_auth(token);
  if (StartsWith(base, "https://")) {
    const char* ca = std::getenv("TRAINYARD_CA_CERT");
    if (ca != nullptr && *ca != '\0') {
      if (!PathExists(ca)) return NotFound("$TRAINYARD_CA_CERT names no file: " + std::string(ca));
      client->http_->set_ca_cert_path(ca);
    } else if (PathExists(kSystemCaBundle)) {
      client->http_->set_ca_cert_path(kSystemCaBundle);
    }
    client->http_->enable_server_certificate_verification(true);
  }
  return client;
}

namespace {

// The Status for a request that got no response.
Status Unreachable(const std::string& url, const httplib::Result& r) {
  std::string hint;
  if (r.error() == httplib::Error::SSLServerVerification) {
    hint =
        " (its certificate is not trusted: set $TRAINYARD_CA_CERT to the server's certificate, "
        "a PEM file, if it is self-signed)";
  }
  return Unavailable("cannot reach the server at " + url + ": " + httplib::to_string(r.error()) +
                     hint);
}

// The Status for an error response: the server's message, with what the code means for the
// caller (client.h).
Status StatusForHttp(const std::string& url, bool had_token, int status, const std::string& body) {
  std::string message = ServerMessage(status, body);
  switch (status) {
    case 400:
    case 413: return InvalidArgument(message);
    case 404: return NotFound(message);
    case 409: return FailedPrecondition(message);
    case 401:
      return FailedPrecondition(
          "the server refused the token (401): " + message +
          (had_token ? "" : " (no token given: set $TRAINYARD_TOKEN or pass --token)"));
    case 403: return FailedPrecondition("the server refused the token (403): " + message);
    case 429: return Unavailable("the server at " + url + " refused (429): " + message);
    case 501: return Unimplemented(message);
    case 503: return Unavailable(message);
    case 504: return Timeout(message);
    default:
      return Internal("the server at " + url + " answered " + std::to_string(status) + ": " +
                      message);
  }
}

Result<nlohmann::json> JsonReply(const std::string& url, bool had_token, const httplib::Result& r) {
  if (!r) return Unreachable(url, r);
  if (r->status < 200 || r->status >= 300) return StatusForHttp(url, had_token, r->status, r->body);
  if (r->body.empty()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Internal("the server at " + url + " answered with invalid JSON");
  return j;
}
}  // namespace

Result<nlohmann::json> Client::GetJson(const std::string& path) {
  return JsonReply(url_, !token_.empty(), http_->Get(path));
}

Result<nlohmann::json> Client::PostJson(const std::string& path, const nlohmann::json& body) {
  return JsonReply(
      url_, !token_.empty(),
      http_->Post(path, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json"));
}

Result<nlohmann::json> Client::DeleteJson(const std::string& path) {
  return JsonReply(url_, !token_.empty(), http_->Delete(path));
}

namespace {

// One streamed request: `chunk` gets the body of a 2xx response as it arrives; an error
// response's body is collected and becomes the Status. `chunk` returning false stops the
// request (that is not an error).
Status Stream(httplib::Client* http, const std::string& url, bool had_token, httplib::Request req,
              const std::function<bool(const char*, size_t)>& chunk) {
  int status = 0;
  std::string error_body;
  bool stopped = false;
  req.response_handler = [&status](const httplib::Response& res) {
    status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (status < 200 || status >= 300) {
      if (error_body.size() < size_t{64} * 1024) error_body.append(data, size);
      return true;
    }
    if (!chunk(data, size)) {
      stopped = true;
      return false;
    }
    return true;
  };
  http->set_read_timeout(kStreamTimeoutSeconds, 0);
  httplib::Result r = http->send(req);
  http->set_read_timeout(kCallTimeoutSeconds, 0);
  if (stopped) return Status::Ok();
  if (!r) return Unreachable(url, r);
  if (r->status < 200 || r->status >= 300) {
    return StatusForHttp(url, had_token, r->status, error_body.empty() ? r->body : error_body);
  }
  return Status::Ok();
}

httplib::Request MakeRequest(const std::string& method, const std::string& path) {
  httplib::Request req;
  req.method = method;
  req.path = path;
  return req;
}

}  // namespace

Status Client::GetStream(const std::string& path,
                         const std::function<bool(const char* data, size_t size)>& sink) {
  return Stream(http_.get(), url_, !token_.empty(), MakeRequest("GET", path), sink);
}

Status Client::FollowEvents(
    const std::string& path,
    const std::function<bool(const std::string& event, const std::string& data)>& on_event) {
  httplib::Request req = MakeRequest("GET", path);
  req.headers.emplace("Accept", "text/event-stream");
  std::string buffer;
  std::string event, data;
  bool has_data = false;
  Status refused;
  // Server-sent events: lines "field: value"; a blank line ends an event; ':' starts a comment.
  auto on_line = [&](std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      bool go_on = true;
      if (event == "refused") {  // the stream's token was revoked: {"error"}, as a 401's body
        refused = StatusForHttp(url_, !token_.empty(), 401, data);
        go_on = false;
      } else if (has_data || !event.empty()) {
        go_on = on_event(event.empty() ? "message" : event, data);
      }
      event.clear();
      data.clear();
      has_data = false;
      return go_on;
    }
    if (line[0] == ':') return true;
    size_t colon = line.find(':');
    std::string field = line.substr(0, colon);
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    if (field == "event") {
      event = value;
    } else if (field == "data") {
      if (has_data) data += '\n';
      data += value;
      has_data = true;
    }
    return true;
  };
  Status streamed =
      Stream(http_.get(), url_, !token_.empty(), req, [&](const char* chunk, size_t size) {
        buffer.append(chunk, size);
        size_t start = 0;
        for (size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
          if (!on_line(buffer.substr(start, nl - start))) return false;
        }
        buffer.erase(0, start);
        return true;
      });
  RETURN_IF_ERROR(refused);
  return streamed;
}

namespace {

// Where the client keeps its own snapshot store (blobs it hashed, and the stat cache that makes
// an unchanged re-submit read nothing): $XDG_CACHE_HOME/trainyard/snapshots, else
// ~/.cache/trainyard/snapshots.
std::string ClientSnapshotStore() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  std::string base = xdg != nullptr && *xdg != '\0' ? std::string(xdg) : ExpandHome("~/.cache");
  return base + "/trainyard/snapshots";
}

}  // namespace

Result<snapshot::SnapshotInfo> Client::UploadSnapshot(const std::string& source_dir,
                                                      const snapshot::SnapshotOptions& options) {
  last_upload_ = UploadReport{};
  const std::string store = ClientSnapshotStore();
  RETURN_IF_ERROR(MakeDirs(store).WithContext("the client's snapshot cache"));
  ASSIGN_OR_RETURN(snapshot::SnapshotInfo info, snapshot::TakeSnapshot(source_dir, store, options));
  ASSIGN_OR_RETURN(std::vector<snapshot::ManifestEntry> entries,
                   snapshot::ReadManifest(store, info.id));
  ASSIGN_OR_RETURN(std::string manifest, ReadFile(store + "/manifests/" + info.id + ".json"));

  // Distinct blobs, in manifest order.
  std::vector<std::pair<std::string, uint64_t>> blobs;
  std::map<std::string, std::string> path_of;  // a file with those contents, for messages
  for (const auto& e : entries) {
    if (e.is_symlink() || !path_of.emplace(e.sha256, e.path).second) continue;
    blobs.emplace_back(e.sha256, e.size);
  }
  std::set<std::string> missing;
  for (size_t i = 0; i < blobs.size(); i += kBlobsPerQuery) {
    nlohmann::json query = {{"blobs", nlohmann::json::array()}};
    for (size_t k = i; k < std::min(blobs.size(), i + kBlobsPerQuery); ++k) {
      query["blobs"].push_back({{"sha256", blobs[k].first}, {"size", blobs[k].second}});
    }
    ASSIGN_OR_RETURN(nlohmann::json answer, PostJson("/api/v1/blobs/missing", query));
    if (!answer.contains("missing") || !answer["missing"].is_array()) {
      return Internal("the server's answer to /api/v1/blobs/missing has no \"missing\" list");
    }
    for (const auto& sha : answer["missing"]) {
      if (sha.is_string()) missing.insert(sha.get<std::string>());
    }
  }

  snapshot::BlobStore cache(store);
  for (const auto& [sha, size] : blobs) {
    if (missing.count(sha) == 0) continue;
    const std::string path = cache.BlobPath(sha);
    std::ifstream in(path, std::ios::binary);
    if (!in) return IoError("cannot read " + path + " (the client's snapshot cache)");
    std::vector<char> buffer(snapshot::BlobStore::kChunkBytes);
    bool read_failed = false;
    auto provider = [&](size_t offset, size_t length, httplib::DataSink& sink) {
      in.seekg(static_cast<std::streamoff>(offset));
      size_t n = std::min(length, buffer.size());
      in.read(buffer.data(), static_cast<std::streamsize>(n));
      if (static_cast<size_t>(in.gcount()) != n) {
        read_failed = true;
        return false;
      }
      return sink.write(buffer.data(), n);
    };
    httplib::Result r =
        http_->Put(("/api/v1/blobs/" + sha).c_str(), size, provider, "application/octet-stream");
    if (read_failed) return IoError("reading " + path + " failed while uploading it");
    RETURN_IF_ERROR(JsonReply(url_, !token_.empty(), r)
                        .status()
                        .WithContext("uploading " + info.source_dir + "/" + path_of[sha]));
    ++last_upload_.blobs_uploaded;
    last_upload_.bytes_uploaded += size;
  }
  for (const auto& e : entries) {
    if (!e.is_symlink() && missing.count(e.sha256) != 0) ++last_upload_.files_uploaded;
  }
  last_upload_.files = entries.size();

  ASSIGN_OR_RETURN(nlohmann::json recorded,
                   PostJson("/api/v1/snapshots", nlohmann::json{{"manifest", manifest}}));
  if (recorded.value("id", std::string()) != info.id) {
    return Internal("the server recorded snapshot " + recorded.value("id", std::string("?")) +
                    ", not " + info.id);
  }
  info.new_blobs = last_upload_.blobs_uploaded;
  return info;
}

Result<nlohmann::json> Client::UploadSource(const std::string& source_dir) {
  last_upload_ = UploadReport{};
  if (source_dir.empty()) return nlohmann::json(nullptr);  // a command job without code
  snapshot::SnapshotOptions options;
  options.max_bytes = runner::SnapshotLimitBytes();
  options.max_bytes_hint = " Or raise the limit with TRAINYARD_SNAPSHOT_LIMIT=BYTES (0 for none).";
  ASSIGN_OR_RETURN(snapshot::SnapshotInfo info, UploadSnapshot(source_dir, options));
  return nlohmann::json(info.id);
}

Result<nlohmann::json> Client::SubmitJob(const spec::JobSpec& spec,
                                         const std::map<std::string, std::string>& tags) {
  nlohmann::json body;
  auto spec_json = nlohmann::json::parse(spec::ToJson(spec), nullptr, false);
  if (spec_json.is_discarded()) return Internal("the job's spec did not render as JSON");
  body["spec"] = std::move(spec_json);
  body["experiment"] = spec.experiment_name;
  body["tags"] = tags;
  ASSIGN_OR_RETURN(body["snapshot"], UploadSource(spec.source_directory));
  return PostJson("/api/v1/runs", body);
}

Result<nlohmann::json> Client::SubmitSweep(const spec::SweepSpec& spec) {
  nlohmann::json body;
  auto spec_json = nlohmann::json::parse(spec::SweepToJson(spec), nullptr, false);
  if (spec_json.is_discarded()) return Internal("the sweep's spec did not render as JSON");
  body["spec"] = std::move(spec_json);
  ASSIGN_OR_RETURN(body["snapshot"], UploadSource(spec.trial.source_directory));
  return PostJson("/api/v1/sweeps", body);
}

Result<int> Client::RunCli(const std::vector<std::string>& argv,
                           const std::function<void(bool is_stderr, std::string_view text)>& out) {
  httplib::Request req = MakeRequest("POST", "/api/v1/cli");
  req.body =
      nlohmann::json{{"argv", argv}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  req.set_header("Content-Type", "application/json");
  std::string buffer;
  std::optional<int> exit_code;
  Status bad_line, refused;
  Status streamed =
      Stream(http_.get(), url_, !token_.empty(), req, [&](const char* data, size_t size) {
        buffer.append(data, size);
        size_t start = 0;
        for (size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
          std::string_view line(buffer.data() + start, nl - start);
          if (line.empty()) continue;
          auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
          if (!j.is_object()) {
            bad_line = Internal("the server sent a line that is not JSON in a command's output");
            return false;
          }
          if (j.contains("stdout") && j["stdout"].is_string())
            out(false, j["stdout"].get<std::string>());
          if (j.contains("stderr") && j["stderr"].is_string())
            out(true, j["stderr"].get<std::string>());
          if (j.contains("exit") && j["exit"].is_number_integer()) exit_code = j["exit"].get<int>();
          if (j.contains("refused") && j["refused"].is_string()) {  // the token was revoked
            refused = StatusForHttp(url_, !token_.empty(), 401,
                                    nlohmann::json{{"error", j["refused"]}}.dump());
          }
        }
        buffer.erase(0, start);
        return true;
      });
  RETURN_IF_ERROR(bad_line);
  RETURN_IF_ERROR(refused);
  RETURN_IF_ERROR(streamed);
  if (!exit_code) {
    return Unavailable("the server at " + url_ +
                       " ended the command's output without its exit code");
  }
  return *exit_code;
}

}  // namespace trainyard::server
