#include "serve/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "common/http_bind.h"
#include "common/strings.h"
#include "serve/codec.h"

namespace trainyard::serve {
namespace {

using nlohmann::json;

constexpr char kJson[] = "application/json";
constexpr char kMetricsType[] = "text/plain; version=0.0.4";

// An answer: HTTP status and JSON body (or raw text with its content type).
struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = kJson;
  std::string allow;  // for 405
};

Reply JsonReply(int status, const json& body) {
  return {status, body.dump(-1, ' ', false, json::error_handler_t::replace), kJson, ""};
}

Reply ErrorReply(int status, const std::string& message) {
  return JsonReply(status, json{{"error", message}});
}

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kTimeout: return 504;
    default: return 500;
  }
}

Reply ErrorReply(const Status& status) {
  return ErrorReply(HttpStatusFor(status), status.message());
}

// The body as JSON; InvalidArgument saying where it is malformed.
Result<json> ParseBody(const std::string& body) {
  if (Trim(body).empty()) return InvalidArgument("the request body is empty; expected JSON");
  try {
    return json::parse(body);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    size_t bracket = what.find("] ");
    if (bracket != std::string::npos) what = what.substr(bracket + 2);
    return InvalidArgument("malformed JSON: " + what);
  }
}

std::string ModelId(const ModelInfo& info) { return info.name + ":" + info.version; }

// Numeric order of versions ("10" after "9"); text order for anything else.
bool VersionLess(const std::string& a, const std::string& b) {
  char* end_a = nullptr;
  char* end_b = nullptr;
  long long va = std::strtoll(a.c_str(), &end_a, 10);
  long long vb = std::strtoll(b.c_str(), &end_b, 10);
  if (!a.empty() && !b.empty() && *end_a == '\0' && *end_b == '\0') return va < vb;
  return a < b;
}

// Why `service` cannot answer now ("" when it can).
std::string NotReadyReason(const ModelService& service, const ModelInfo& info) {
  std::string error = service.LoadError();
  if (!error.empty()) return "model " + ModelId(info) + " failed to load: " + error;
  if (!service.Ready()) return "model " + ModelId(info) + " is still loading";
  return "";
}

std::string PoolNotReadyReason(const ScoringPool& pool, const std::string& name) {
  std::string error = pool.LoadError();
  if (!error.empty()) return "scoring script " + name + " failed to load: " + error;
  if (!pool.Ready()) return "scoring script " + name + " is still running init()";
  return "";
}

// A model served, by name then version.
struct Entry {
  ModelService* service = nullptr;
  ModelInfo info;  // name and version (the rest is read fresh per request)
};

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  ScoringPool* pool = nullptr;
  Metrics* metrics = nullptr;
  // name -> version -> model; immutable after Start.
  std::map<std::string, std::map<std::string, Entry>> models;
  std::map<std::string, std::string> latest;  // name -> its highest version
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::once_flag stop_once;
  std::atomic<bool> listen_ended{false};

  // The route, the endpoint label for /metrics and the answer of one request.
  Reply Handle(const std::string& method, const std::string& path, const std::string& body,
               std::string* endpoint, const Entry** entry);

  Result<const Entry*> Find(const std::string& name, const std::string& version) const;
  std::string Served() const;

  Reply Score(const std::string& body, Clock::time_point deadline, const Entry** entry);
  Reply Predict(const Entry& entry, const std::string& body, Clock::time_point deadline);
  Reply Infer(const Entry& entry, const std::string& body, Clock::time_point deadline);
  Reply ModelReady(const Entry& entry);
  // "" when every model and the script can answer; else the reasons, joined.
  std::string NotReady() const;
  bool AnyReady() const;
  Reply Health() const;
};

Result<const Entry*> HttpServer::Impl::Find(const std::string& name,
                                            const std::string& version) const {
  auto by_name = models.find(name);
  if (by_name == models.end()) {
    if (models.empty()) {
      return NotFound("no model '" + name + "': this server runs the scoring script " +
                      options.script_name + " (POST /score) and no tensor models");
    }
    return NotFound("no model '" + name + "'; served: " + Served());
  }
  auto by_version = by_name->second.find(version.empty() ? latest.at(name) : version);
  if (by_version == by_name->second.end()) {
    std::vector<std::string> versions;
    for (const auto& [v, e] : by_name->second) versions.push_back(v);
    std::sort(versions.begin(), versions.end(), VersionLess);
    return NotFound("model '" + name + "' has no version '" + version +
                    "'; served versions: " + Join(versions, ", "));
  }
  return &by_version->second;
}

std::string HttpServer::Impl::Served() const {
  std::vector<std::string> ids;
  for (const auto& [name, versions] : models) {
    std::vector<std::string> sorted;
    for (const auto& [version, e] : versions) sorted.push_back(version);
    std::sort(sorted.begin(), sorted.end(), VersionLess);
    for (const std::string& version : sorted) ids.push_back(name + ":" + version);
  }
  return Join(ids, ", ");
}

Reply HttpServer::Impl::Score(const std::string& body, Clock::time_point deadline,
                              const Entry** entry) {
  if (pool != nullptr) {
    std::string reason = PoolNotReadyReason(*pool, options.script_name);
    if (!reason.empty()) return ErrorReply(503, reason);
    Result<std::string> answer = pool->Score(body, deadline);
    if (!answer.ok()) return ErrorReply(answer.status());
    return {200, std::move(answer).value(), kJson, ""};
  }
  size_t count = 0;
  for (const auto& [name, versions] : models) count += versions.size();
  if (count != 1) {
    return ErrorReply(400,
                      "POST /score needs a scoring script or exactly one model; this server "
                      "runs " +
                          Served() +
                          ": use POST /predictions/{model} (or "
                          "/v2/models/{model}/infer)");
  }
  *entry = &models.begin()->second.begin()->second;
  return Predict(**entry, body, deadline);
}

Reply HttpServer::Impl::Predict(const Entry& entry, const std::string& body,
                                Clock::time_point deadline) {
  std::string reason = NotReadyReason(*entry.service, entry.info);
  if (!reason.empty()) return ErrorReply(503, reason);
  Result<json> parsed = ParseBody(body);
  if (!parsed.ok()) return ErrorReply(parsed.status());
  ModelInfo info = entry.service->Info();
  DType dtype = info.inputs.empty() ? DType::kFP32 : info.inputs[0].dtype;
  Result<Tensor> input = TensorFromData(*parsed, dtype);
  if (!input.ok()) return ErrorReply(input.status());
  if (!info.inputs.empty()) input->name = info.inputs[0].name;
  std::vector<Tensor> inputs;
  inputs.push_back(std::move(input).value());
  Result<std::vector<Tensor>> outputs = entry.service->Infer(std::move(inputs), deadline);
  if (!outputs.ok()) return ErrorReply(outputs.status());
  if (outputs->size() == 1) return JsonReply(200, TensorToNested((*outputs)[0]));
  json all = json::array();
  for (const Tensor& t : *outputs) all.push_back(TensorToNested(t));
  return JsonReply(200, all);
}

Reply HttpServer::Impl::Infer(const Entry& entry, const std::string& body,
                              Clock::time_point deadline) {
  std::string reason = NotReadyReason(*entry.service, entry.info);
  if (!reason.empty()) return ErrorReply(503, reason);
  Result<json> parsed = ParseBody(body);
  if (!parsed.ok()) return ErrorReply(parsed.status());
  ModelInfo info = entry.service->Info();
  Result<OipRequest> request = ParseOipRequest(*parsed, info.inputs);
  if (!request.ok()) return ErrorReply(request.status());
  Result<std::vector<Tensor>> outputs = entry.service->Infer(std::move(request->inputs), deadline);
  if (!outputs.ok()) return ErrorReply(outputs.status());
  std::vector<Tensor> chosen;
  if (request->output_names.empty()) {
    chosen = std::move(outputs).value();
  } else {
    for (const std::string& name : request->output_names) {
      auto it = std::find_if(outputs->begin(), outputs->end(),
                             [&](const Tensor& t) { return t.name == name; });
      if (it == outputs->end()) {
        std::vector<std::string> names;
        for (const Tensor& t : *outputs) names.push_back(t.name);
        return ErrorReply(400, "outputs: model " + ModelId(info) + " has no output '" + name +
                                   "'; it has " + Join(names, ", "));
      }
      chosen.push_back(*it);
    }
  }
  return JsonReply(200, OipResponse(entry.service->Info(), request->id, chosen));
}

Reply HttpServer::Impl::ModelReady(const Entry& entry) {
  std::string reason = NotReadyReason(*entry.service, entry.info);
  json body = {
      {"name", entry.info.name}, {"version", entry.info.version}, {"ready", reason.empty()}};
  if (!reason.empty()) body["error"] = reason;
  return JsonReply(reason.empty() ? 200 : 503, body);
}

std::string HttpServer::Impl::NotReady() const {
  std::vector<std::string> reasons;
  for (const auto& [name, versions] : models) {
    for (const auto& [version, e] : versions) {
      std::string reason = NotReadyReason(*e.service, e.info);
      if (!reason.empty()) reasons.push_back(reason);
    }
  }
  if (pool != nullptr) {
    std::string reason = PoolNotReadyReason(*pool, options.script_name);
    if (!reason.empty()) reasons.push_back(reason);
  }
  return Join(reasons, "; ");
}

bool HttpServer::Impl::AnyReady() const {
  if (pool != nullptr && pool->Ready()) return true;
  for (const auto& [name, versions] : models) {
    for (const auto& [version, e] : versions) {
      if (e.service->Ready()) return true;
    }
  }
  return false;
}

Reply HttpServer::Impl::Health() const {
  json list = json::array();
  for (const auto& [name, versions] : models) {
    for (const auto& [version, e] : versions) {
      std::string error = e.service->LoadError();
      list.push_back({{"name", name},
                      {"version", version},
                      {"state", !error.empty()       ? "Failed"
                                : e.service->Ready() ? "Ready"
                                                     : "Loading"},
                      {"error", error}});
    }
  }
  std::string reason = NotReady();
  json body = {{"status", reason.empty() ? "Healthy" : "Unhealthy"}, {"models", list}};
  if (pool != nullptr) {
    std::string error = pool->LoadError();
    body["script"] = {{"name", options.script_name},
                      {"state", !error.empty()  ? "Failed"
                                : pool->Ready() ? "Ready"
                                                : "Loading"},
                      {"error", error},
                      {"workers_started", pool->StartedWorkers()}};
  }
  if (!reason.empty()) body["error"] = reason;
  return JsonReply(reason.empty() ? 200 : 503, body);
}

Reply HttpServer::Impl::Handle(const std::string& method, const std::string& raw_path,
                               const std::string& body, std::string* endpoint,
                               const Entry** entry) {
  Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
  std::string path = raw_path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::vector<std::string> parts;
  for (const std::string& part : Split(path, '/')) {
    if (!part.empty()) parts.push_back(part);
  }
  // Checks the method of a known route: "" when it is `allowed`, else the 405 answer.
  Reply wrong_method;
  auto method_is = [&](const char* allowed) {
    if (method == allowed || (method == "HEAD" && std::string(allowed) == "GET")) return true;
    wrong_method = ErrorReply(405, method + " " + path + " is not allowed; use " + allowed);
    wrong_method.allow = allowed;
    return false;
  };
  auto find = [&](const std::string& name, const std::string& version, Reply* error) {
    Result<const Entry*> found = Find(name, version);
    if (!found.ok()) {
      *error = ErrorReply(found.status());
      return false;
    }
    *entry = *found;
    return true;
  };
  size_t n = parts.size();
  Reply error;
  if (n == 1 && parts[0] == "score") {
    *endpoint = "/score";
    if (!method_is("POST")) return wrong_method;
    return Score(body, deadline, entry);
  }
  if ((n == 2 || n == 3) && parts[0] == "predictions") {
    *endpoint = "/predictions";
    if (!method_is("POST")) return wrong_method;
    if (!find(parts[1], n == 3 ? parts[2] : "", &error)) return error;
    return Predict(**entry, body, deadline);
  }
  if (n == 1 && (parts[0] == "ping" || parts[0] == "health" || parts[0] == "metrics")) {
    *endpoint = "/" + parts[0];
    if (!method_is("GET")) return wrong_method;
    if (parts[0] == "metrics") return {200, metrics->Render(), kMetricsType, ""};
    if (parts[0] == "health") return Health();
    // TorchServe: "Healthy" when every worker runs, "Partial Healthy" when some do (200 both),
    // "Unhealthy" with 500 when none.
    if (NotReady().empty()) return JsonReply(200, json{{"status", "Healthy"}});
    if (AnyReady()) return JsonReply(200, json{{"status", "Partial Healthy"}});
    return JsonReply(500, json{{"status", "Unhealthy"}, {"error", NotReady()}});
  }
  if (n >= 1 && parts[0] == "v2") {
    if (n == 1) {
      *endpoint = "/v2";
      if (!method_is("GET")) return wrong_method;
      return JsonReply(
          200, json{{"name", "trainyard"}, {"version", "1"}, {"extensions", json::array()}});
    }
    if (n == 3 && parts[1] == "health" && (parts[2] == "live" || parts[2] == "ready")) {
      *endpoint = "/v2/health/" + parts[2];
      if (!method_is("GET")) return wrong_method;
      if (parts[2] == "live") return JsonReply(200, json{{"live", true}});
      std::string reason = NotReady();
      if (reason.empty()) return JsonReply(200, json{{"ready", true}});
      return JsonReply(503, json{{"ready", false}, {"error", reason}});
    }
    if (n >= 3 && parts[1] == "models") {
      // /v2/models/{m}[/versions/{v}][/ready|/infer]
      std::string version;
      size_t rest = 3;
      if (n >= 5 && parts[3] == "versions") {
        version = parts[4];
        rest = 5;
      }
      bool known = true;
      std::string action;
      if (n == rest + 1 && (parts[rest] == "ready" || parts[rest] == "infer")) {
        action = parts[rest];
      } else if (n != rest) {
        known = false;
      }
      if (known) {
        *endpoint = action.empty() ? "/v2/models" : "/v2/models/" + action;
        if (!method_is(action == "infer" ? "POST" : "GET")) return wrong_method;
        if (!find(parts[2], version, &error)) return error;
        if (action == "infer") return Infer(**entry, body, deadline);
        if (action == "ready") return ModelReady(**entry);
        return JsonReply(200, OipModelMetadata((*entry)->service->Info()));
      }
    }
  }
  *endpoint = "other";
  return ErrorReply(404, "no endpoint " + method + " " + path +
                             "; this server answers POST /score, POST /predictions/{model}"
                             "[/{version}], POST /v2/models/{model}[/versions/{version}]/infer, "
                             "GET /v2/models/{model}[/versions/{version}][/ready], GET "
                             "/v2/health/live, GET /v2/health/ready, GET /ping, GET /health, "
                             "GET /metrics");
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  std::call_once(impl_->stop_once, [this] {
    impl_->server.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
  });
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const std::vector<ModelService*>& models,
                                                      ScoringPool* pool, Metrics* metrics,
                                                      const HttpServerOptions& options) {
  if (metrics == nullptr) return InvalidArgument("http server: no metrics");
  if (models.empty() && pool == nullptr) {
    return InvalidArgument("nothing to serve: give a model or a scoring script");
  }
  if (options.threads < 1) return InvalidArgument("--threads must be at least 1");
  if (options.timeout_ms < 1) return InvalidArgument("--timeout-ms must be at least 1");
  if (options.max_body_bytes < 1) return InvalidArgument("--max-body-bytes must be at least 1");
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgument("--port " + std::to_string(options.port) + " is not a port (0-65535)");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->pool = pool;
  impl->metrics = metrics;
  for (ModelService* service : models) {
    ModelInfo info = service->Info();
    auto& versions = impl->models[info.name];
    if (versions.count(info.version) != 0) {
      return InvalidArgument("model " + ModelId(info) + " is given twice");
    }
    versions[info.version] = Entry{service, info};
  }
  for (auto& [name, versions] : impl->models) {
    std::string latest = versions.begin()->first;
    for (const auto& [v, e] : versions) {
      if (VersionLess(latest, v)) latest = v;
    }
    impl->latest[name] = latest;
  }

  Impl* raw = impl.get();
  httplib::Server& server = impl->server;
  int threads = options.threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Without it, an answer written as headers then body waits for the client's delayed ACK
  // (~40 ms per request on a kept-alive connection).
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(1000000);
  server.set_keep_alive_timeout(5);
  server.set_payload_max_length(options.max_body_bytes);
  auto handler = [raw](const httplib::Request& req, httplib::Response& res) {
    Clock::time_point start = Clock::now();
    std::string endpoint;
    const Entry* entry = nullptr;
    Reply reply = raw->Handle(req.method, req.path, req.body, &endpoint, &entry);
    res.status = reply.status;
    if (!reply.allow.empty()) res.set_header("Allow", reply.allow);
    res.body = std::move(reply.body);
    res.set_header("Content-Type", reply.content_type);
    std::string model = entry != nullptr ? entry->info.name : "";
    std::string version = entry != nullptr ? entry->info.version : "";
    if (entry == nullptr && endpoint == "/score" && raw->pool != nullptr) {
      model = raw->options.script_name;
    }
    raw->metrics->CountRequest(model, version, endpoint, reply.status);
    if (!model.empty()) {
      double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      raw->metrics->ObserveRequestSeconds(model, version, seconds);
    }
  };
  server.Get(".*", handler);
  server.Post(".*", handler);
  server.Put(".*", handler);
  server.Delete(".*", handler);
  server.Patch(".*", handler);
  server.Options(".*", handler);
  // Answers that httplib makes itself (413 for a large body, 400 for a bad request line) get a
  // JSON body too; ours already have one.
  server.set_error_handler(httplib::Server::HandlerWithResponse([raw](const httplib::Request&,
                                                                      httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    if (res.status == 413) {
      message = "the request body is larger than " + std::to_string(raw->options.max_body_bytes) +
                " bytes (the server's --max-body-bytes)";
    } else {
      message = "the server could not read the request (HTTP " + std::to_string(res.status) + ")";
    }
    res.set_content(json{{"error", message}}.dump(), kJson);
    raw->metrics->CountRequest("", "", "other", res.status);
    return httplib::Server::HandlerResponse::Handled;
  }));
  server.set_exception_handler(
      [raw](const httplib::Request&, httplib::Response& res, const std::exception_ptr& ep) {
        std::string message = "internal error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          message = std::string("internal error: ") + e.what();
        } catch (...) {
        }
        res.status = 500;
        res.set_content(json{{"error", message}}.dump(), kJson);
        raw->metrics->CountRequest("", "", "other", 500);
      });

  int port = BindHttpServer(server, options.host, options.port);
  if (port <= 0) {
    return Unavailable("cannot listen on " + options.host + ":" + std::to_string(options.port) +
                       " (address in use, or not an address of this machine)");
  }
  impl->port = port;
  impl->thread = std::thread([raw] {
    raw->server.listen_after_bind();
    raw->listen_ended = true;
  });
  // httplib's stop() does nothing until the loop runs: wait for it, so that Stop() always stops.
  while (!server.is_running() && !raw->listen_ended) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

}  // namespace trainyard::serve
