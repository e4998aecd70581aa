#include "tracking/endpoint.h"

#include <httplib.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace trainyard::tracking {
namespace {

constexpr char kBatchContentType[] = "application/x-trainyard-batch";

Status HttpError(const std::string& what, const httplib::Result& res) {
  if (!res) {
    return Unavailable(what + ": " + httplib::to_string(res.error()));
  }
  std::string body = res->body.substr(0, 300);
  std::string message =
      what + ": HTTP " + std::to_string(res->status) + (body.empty() ? "" : " ") + Trim(body);
  if (res->status >= 500 || res->status == 408 || res->status == 429) {
    return Unavailable(message);
  }
  if (res->status == 404) return NotFound(message);
  if (res->status == 400 || res->status == 413) return InvalidArgument(message);
  return FailedPrecondition(message);
}

void SetTimeouts(httplib::Client& client, double timeout_s) {
  auto seconds = static_cast<time_t>(timeout_s);
  auto usec = static_cast<time_t>((timeout_s - static_cast<double>(seconds)) * 1e6);
  client.set_connection_timeout(seconds, usec);
  client.set_read_timeout(seconds, usec);
  client.set_write_timeout(seconds, usec);
}

}  // namespace

std::string UrlEncode(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

Result<std::unique_ptr<Endpoint>> Endpoint::Create(const std::string& uri,
                                                   const std::string& run_id,
                                                   const std::string& token, double timeout_s) {
  std::string_view rest(uri);
  std::string scheme;
  if (StartsWith(rest, "http://")) {
    scheme = "http://";
  } else if (StartsWith(rest, "https://")) {
    scheme = "https://";
  } else {
    return InvalidArgument("tracking URI '" + uri + "': expected http://host:port");
  }
  rest.remove_prefix(scheme.size());
  size_t slash = rest.find('/');
  std::string host_port(rest.substr(0, slash));
  std::string prefix(slash == std::string_view::npos ? "" : rest.substr(slash));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (host_port.empty()) return InvalidArgument("tracking URI '" + uri + "': no host");
  if (run_id.empty()) return InvalidArgument("tracking: empty run id");
  auto endpoint = std::unique_ptr<Endpoint>(new Endpoint(
      uri, scheme + host_port, prefix + "/v1/runs/" + UrlEncode(run_id), token, timeout_s));
  if (!endpoint->batch_client_->is_valid()) {
    return InvalidArgument("tracking URI '" + uri + "': cannot make an HTTP client for it");
  }
  return endpoint;
}

Endpoint::Endpoint(std::string uri, std::string scheme_host_port, std::string run_path,
                   std::string token, double timeout_s)
    : uri_(std::move(uri)),
      scheme_host_port_(std::move(scheme_host_port)),
      run_path_(std::move(run_path)),
      token_(std::move(token)),
      timeout_s_(timeout_s),
      batch_client_(NewClient()) {
  batch_client_->set_keep_alive(true);
}

Endpoint::~Endpoint() = default;

std::unique_ptr<httplib::Client> Endpoint::NewClient() const {
  auto client = std::make_unique<httplib::Client>(scheme_host_port_);
  SetTimeouts(*client, timeout_s_);
  if (!token_.empty()) client->set_bearer_token_auth(token_.c_str());
  return client;
}

Result<int64_t> Endpoint::PostBatch(const std::string& body, uint64_t pending) {
  httplib::Headers headers{{"X-Trainyard-Pending", std::to_string(pending)}};
  httplib::Result res = batch_client_->Post(run_path_ + "/batch", headers, body, kBatchContentType);
  if (!res || res->status != 200)
    return HttpError("POST " + scheme_host_port_ + run_path_ + "/batch", res);
  nlohmann::json answer = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  auto acked = answer.is_object() ? answer.find("acked_seq") : answer.end();
  if (!answer.is_object() || acked == answer.end() || !acked->is_number_integer()) {
    return Unavailable("POST " + scheme_host_port_ + run_path_ +
                       "/batch: answer without acked_seq: " + res->body.substr(0, 200));
  }
  return acked->get<int64_t>();
}

Status Endpoint::PutBytes(const std::string& name, const std::string& bytes) {
  std::unique_ptr<httplib::Client> client = NewClient();
  std::string path = run_path_ + "/files?name=" + UrlEncode(name);
  httplib::Result res = client->Put(path, bytes, "application/octet-stream");
  if (!res || res->status != 200) return HttpError("PUT " + scheme_host_port_ + path, res);
  return Status::Ok();
}

Status Endpoint::PutFile(const std::string& name, const std::string& local_path, uint64_t size) {
  std::FILE* file = std::fopen(local_path.c_str(), "rb");
  if (file == nullptr) return ErrnoError("upload: cannot open '" + local_path + "'", errno);
  std::unique_ptr<httplib::Client> client = NewClient();
  std::string path = run_path_ + "/files?name=" + UrlEncode(name);
  std::vector<char> buffer(1 << 20);
  bool read_error = false;
  httplib::Result res = client->Put(
      path, static_cast<size_t>(size),
      [&](size_t offset, size_t length, httplib::DataSink& sink) {
        size_t n = 0;
        if (fseeko(file, static_cast<off_t>(offset), SEEK_SET) == 0) {
          n = std::fread(buffer.data(), 1, std::min(length, buffer.size()), file);
        }
        if (n == 0) {
          read_error = true;
          return false;
        }
        return sink.write(buffer.data(), n);
      },
      "application/octet-stream");
  std::fclose(file);
  if (read_error) return IoError("upload: cannot read '" + local_path + "' (did it change?)");
  if (!res || res->status != 200) return HttpError("PUT " + scheme_host_port_ + path, res);
  return Status::Ok();
}

Result<std::string> Endpoint::GetMetricsJson(const std::optional<std::string>& name) {
  std::unique_ptr<httplib::Client> client = NewClient();
  std::string path = run_path_ + "/metrics";
  if (name) path += "?name=" + UrlEncode(*name);
  httplib::Result res = client->Get(path);
  if (!res || res->status != 200) return HttpError("GET " + scheme_host_port_ + path, res);
  return res->body;
}

}  // namespace trainyard::tracking
