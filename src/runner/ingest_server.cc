#include "runner/ingest_server.h"

#include <fcntl.h>
#include <httplib.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "common/clock.h"
#include "common/files.h"
#include "common/http_bind.h"
#include "common/json_number.h"
#include "common/mutex.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "store/db.h"
#include "store/metrics.h"
#include "store/workspace.h"
#include "tracking/limits.h"
#include "tracking/protocol.h"

namespace trainyard::runner {

Result<std::string> CheckUploadName(const std::string& name) {
  if (name.empty()) return InvalidArgument("file name is empty");
  if (name[0] == '/') return InvalidArgument("file name \"" + name + "\" must be relative");
  std::string norm = std::filesystem::path(name).lexically_normal().string();
  for (const auto& part : Split(norm, '/')) {
    if (part == "..") return InvalidArgument("file name \"" + name + "\" leaves the run's folder");
  }
  for (const char* reserved : {"work", "inputs", "logs", "supervisor.log"}) {
    if (norm == reserved || StartsWith(norm, std::string(reserved) + "/")) {
      return InvalidArgument("file name \"" + name + "\" is inside the run's own " + reserved +
                             " folder");
    }
  }
  return norm;
}

void IngestLedger::BatchFailed(const Status& error, const std::string& client, int64_t seq,
                               int64_t records) {
  MutexLock lock(mu_);
  disk_full_ = disk_full_ || store::IsDiskFull(error);
  if (first_error_.empty()) first_error_ = error.message();
  unstored_[client] = {seq, records};
}

void IngestLedger::BatchStored(const std::string& client, int64_t seq) {
  MutexLock lock(mu_);
  auto it = unstored_.find(client);
  if (it != unstored_.end() && it->second.seq <= seq) unstored_.erase(it);
}

void IngestLedger::FileFailed(const Status& error, const std::string& name, int64_t bytes) {
  MutexLock lock(mu_);
  disk_full_ = disk_full_ || store::IsDiskFull(error);
  if (first_error_.empty()) first_error_ = error.message();
  failed_files_[name] = std::max<int64_t>(bytes, 0);
}

void IngestLedger::FileStored(const std::string& name) {
  MutexLock lock(mu_);
  failed_files_.erase(name);
}

void IngestLedger::NoteError(const Status& error) {
  MutexLock lock(mu_);
  disk_full_ = disk_full_ || store::IsDiskFull(error);
  if (first_error_.empty()) first_error_ = error.message();
}

IngestLoss IngestLedger::Losses() const {
  MutexLock lock(mu_);
  IngestLoss loss;
  for (const auto& [client, u] : unstored_) loss.records += u.records;
  for (const auto& [name, bytes] : failed_files_) {
    ++loss.files;
    loss.file_bytes += bytes;
  }
  loss.disk_full = disk_full_;
  loss.first_error = first_error_;
  return loss;
}

namespace {

// Streams an upload into the run's file `name` (already checked by CheckUploadName). Returns 0,
// or the HTTP status of the failure and its message: 400 for an upload that ended early, 507 /
// 500 for one that could not be stored (counted in the run's ledger until a later try stores it).
std::pair<int, std::string> StoreUpload(const IngestRun& run, const std::string& name, int64_t size,
                                        const httplib::ContentReader& reader) {
  std::string dest = run.dir + "/" + name;
  auto not_stored = [&](int error) -> std::pair<int, std::string> {
    Status status = error == ENOSPC ? IoError(std::string(store::kDiskFullMessage) + " (" +
                                              run.dir + "): cannot store " + name)
                                    : ErrnoError("cannot store " + name, error);
    if (run.ledger) run.ledger->FileFailed(status, name, size);
    return {error == ENOSPC ? 507 : 500, status.message()};
  };
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dest).parent_path(), ec);
  if (ec) return not_stored(ec.value());
  std::string tmp = dest + ".upload." + std::to_string(gettid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return not_stored(errno);
  int error = 0;
  int64_t received = 0;
  bool ok = reader([&](const char* data, size_t len) {
    received += static_cast<int64_t>(len);
    while (len > 0) {
      ssize_t n = write(fd, data, len);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error = n < 0 ? errno : ENOSPC;
        return false;
      }
      data += n;
      len -= static_cast<size_t>(n);
    }
    return true;
  });
  if (close(fd) != 0 && ok) {
    ok = false;
    error = errno;
  }
  if (ok && rename(tmp.c_str(), dest.c_str()) != 0) {
    ok = false;
    error = errno;
  }
  if (!ok) {
    unlink(tmp.c_str());
    // A reader that stopped without a write error: the client went away mid-upload, or the
    // HTTP server stopped reading at its body limit (a workspace server's --max-body-mib).
    if (error == 0) {
      return {400, "upload of " + name + " ended early: " + std::to_string(received) + " of " +
                       std::to_string(size) +
                       " bytes received (the client went away, or the body is over the server's "
                       "limit)"};
    }
    return not_stored(error);
  }
  if (run.ledger) run.ledger->FileStored(name);
  return {0, ""};
}

int64_t Records(const tracking::Batch& b) {
  return static_cast<int64_t>(b.points.size() + b.rows.size() + b.images.size() + b.tags.size() +
                              b.properties.size());
}

// 507 Insufficient Storage for a full disk, 503 for any other storage error: both are worth
// retrying for the client (tracking/endpoint.h).
int StorageErrorCode(const Status& error) { return store::IsDiskFull(error) ? 507 : 503; }

void Fail(httplib::Response& res, int code, const std::string& msg) {
  res.status = code;
  res.set_content(nlohmann::json{{"error", msg}}.dump(), "application/json");
}

// 32 random bytes as 64 hex digits.
std::string RandomHex32() {
  std::random_device rd;
  static const char* kHex = "0123456789abcdef";
  std::string t;
  for (int i = 0; i < 64; ++i) t += kHex[rd() & 15];
  return t;
}

}  // namespace

void AddIngestRoutes(httplib::Server& server, const std::string& prefix,
                     const IngestResolver& resolve, const WorkspaceAccess& access) {
  const std::string runs = prefix + "/v1/runs/([^/]+)";
  // The run the request may log into, or false once the refusal is replied.
  auto admit = [resolve](const httplib::Request& req, httplib::Response& res, IngestRun* run) {
    IngestRefusal refusal;
    Status checked = resolve(req, req.matches[1].str(), run, &refusal);
    if (checked.ok()) return true;
    Fail(res, refusal.http_status, refusal.message.empty() ? checked.message() : refusal.message);
    return false;
  };

  server.Post(runs + "/batch", [=](const httplib::Request& req, httplib::Response& res) {
    IngestRun run;
    if (!admit(req, res, &run)) return;
    auto batch = tracking::DecodeBatch(req.body);
    if (!batch.ok()) return Fail(res, 400, batch.status().message());
    Status applied = access(
        [&](store::Workspace& ws) { return store::ApplyBatch(ws.db(), run.seq, *batch).status(); });
    if (!applied.ok()) {
      int64_t pending = 0;
      std::string header = req.get_header_value(kPendingHeader);
      if (!header.empty())
        pending = std::max<int64_t>(0, std::strtoll(header.c_str(), nullptr, 10));
      if (run.ledger) {
        run.ledger->BatchFailed(applied, batch->client, batch->seq, Records(*batch) + pending);
      }
      return Fail(res, StorageErrorCode(applied), "not stored: " + applied.message());
    }
    if (run.ledger) run.ledger->BatchStored(batch->client, batch->seq);
    res.set_content(nlohmann::json{{"acked_seq", batch->seq}}.dump(), "application/json");
  });

  server.Put(runs + "/files", [=](const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
    IngestRun run;
    if (!admit(req, res, &run)) return;
    auto name = CheckUploadName(req.get_param_value("name"));
    if (!name.ok()) return Fail(res, 400, name.status().message());
    int64_t size = std::strtoll(req.get_header_value("Content-Length").c_str(), nullptr, 10);
    auto [code, error] = StoreUpload(run, *name, size, reader);
    if (code != 0) return Fail(res, code, error);
    res.set_content(nlohmann::json{{"stored", *name}}.dump(), "application/json");
  });

  server.Get(runs + "/metrics", [=](const httplib::Request& req, httplib::Response& res) {
    IngestRun run;
    if (!admit(req, res, &run)) return;
    std::map<std::string, std::vector<store::MetricPoint>> metrics;
    Status read = access([&](store::Workspace& ws) -> Status {
      ASSIGN_OR_RETURN(metrics, store::ReadMetrics(ws.db(), run.seq, req.get_param_value("name")));
      return Status::Ok();
    });
    if (!read.ok()) return Fail(res, 500, read.message());
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, points] : metrics) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& p : points) {
        arr.push_back(
            {{"step", p.step}, {"ts", p.ts}, {"rank", p.rank}, {"value", JsonNumber(p.value)}});
      }
      out[name] = std::move(arr);
    }
    res.set_content(out.dump(), "application/json");
  });
}

Result<std::string> MintRunToken(store::Workspace& ws, int64_t run_seq) {
  std::string token = kRunTokenPrefix + RandomHex32();
  ASSIGN_OR_RETURN(auto insert,
                   ws.db()->Prepare("INSERT INTO run_tokens (hash, run_seq, created_at) "
                                    "VALUES (?, ?, ?)"));
  RETURN_IF_ERROR(insert.Bind(1, Sha256Hex(token)).Bind(2, run_seq).Bind(3, NowMicros()).Run());
  return token;
}

Result<std::optional<int64_t>> RunSeqOfToken(store::Workspace& ws, const std::string& token) {
  if (!StartsWith(token, kRunTokenPrefix)) return std::optional<int64_t>();
  ASSIGN_OR_RETURN(auto query, ws.db()->Prepare("SELECT run_seq FROM run_tokens WHERE hash = ?"));
  query.Bind(1, Sha256Hex(token));
  ASSIGN_OR_RETURN(bool row, query.Step());
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(query.Int(0));
}

Status DeleteRunTokens(store::Workspace& ws, int64_t run_seq) {
  ASSIGN_OR_RETURN(auto del, ws.db()->Prepare("DELETE FROM run_tokens WHERE run_seq = ?"));
  return del.Bind(1, run_seq).Run();
}

struct IngestServer::Impl {
  std::string ws_dir, run_id, run_dir;
  int64_t run_seq = 0;
  // For the MLflow subset (mlflow_api.cc-like part below): the run as MLflow shows it.
  std::string experiment, run_name;
  int64_t created_ms = 0;
  std::string mlflow_client;  // the client id of MLflow's requests (one per server)
  int64_t mlflow_seq TY_GUARDED_BY(db_mu) = 0;
  httplib::Server server;
  std::thread thread;
  Mutex db_mu;
  std::unique_ptr<store::Workspace> ws TY_GUARDED_BY(db_mu);
  IngestLedger ledger;

  IngestRun Run() {
    return IngestRun{.id = run_id, .seq = run_seq, .dir = run_dir, .ledger = &ledger};
  }
};

IngestLoss IngestServer::Losses() const { return impl_->ledger.Losses(); }

IngestServer::IngestServer(std::string workspace_dir, std::string run_id, int64_t run_seq)
    : impl_(std::make_unique<Impl>()), token_(RandomHex32().substr(0, 32)) {
  impl_->ws_dir = std::move(workspace_dir);
  impl_->run_id = std::move(run_id);
  impl_->run_seq = run_seq;
  impl_->run_dir = impl_->ws_dir + "/runs/" + impl_->run_id;
}

IngestServer::~IngestServer() { Stop(); }

std::string IngestServer::uri() const { return "http://" + address_ + ":" + std::to_string(port_); }

Status IngestServer::Start(const std::string& bind_address, const std::string& advertised_host) {
  {
    ASSIGN_OR_RETURN(auto ws, store::Workspace::Open(impl_->ws_dir));
    MutexLock lock(impl_->db_mu);
    impl_->ws = std::move(ws);
  }
  Impl* impl = impl_.get();
  const std::string bearer = "Bearer " + token_;
  // This endpoint serves its one run, to the holder of its secret.
  auto resolve = [impl, bearer](const httplib::Request& req, const std::string& run_id,
                                IngestRun* run, IngestRefusal* refusal) {
    if (run_id != impl->run_id) {
      *refusal = {404, "this tracking endpoint serves run " + impl->run_id + " only"};
      return NotFound(refusal->message);
    }
    if (req.get_header_value("Authorization") != bearer) {
      *refusal = {401, "missing or wrong tracking token"};
      return InvalidArgument(refusal->message);
    }
    *run = impl->Run();
    return Status::Ok();
  };
  auto access = [impl](const std::function<Status(store::Workspace&)>& fn) {
    MutexLock lock(impl->db_mu);
    return fn(*impl->ws);
  };
  AddIngestRoutes(impl->server, "", resolve, access);

  {
    MutexLock lock(impl->db_mu);
    if (auto run = impl->ws->GetRun(impl->run_id); run.ok()) {
      impl->experiment = run->experiment;
      impl->run_name = run->display_name.empty() ? run->id : run->display_name;
      impl->created_ms = run->started_at.value_or(run->created_at) / 1000;
    }
  }
  impl->mlflow_client = "mlflow-" + token_.substr(0, 8);
  AddMlflowRoutes(bearer);

  int port = BindHttpServer(impl->server, bind_address, 0);
  if (port <= 0) return IoError("cannot listen on " + bind_address + " for the tracking endpoint");
  address_ = advertised_host.empty() ? bind_address : advertised_host;
  port_ = port;
  impl->thread = std::thread([impl] { impl->server.listen_after_bind(); });
  // httplib's stop() does nothing before the server runs, and the listener would then wait in
  // accept() forever: a run that ends within a millisecond hung its supervisor in Stop().
  for (int i = 0; i < 50'000 && !impl->server.is_running(); ++i) {  // at most 5 s
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return Status::Ok();
}

namespace {

using nlohmann::json;

// MLflow's error shape: {"error_code": "INVALID_PARAMETER_VALUE", "message": "..."}.
void MlflowFail(httplib::Response& res, int http, const std::string& code,
                const std::string& message) {
  res.status = http;
  res.set_content(json{{"error_code", code}, {"message", message}}.dump(), "application/json");
}

// An int64 field of MLflow's JSON (a number, or a numeric string as protobuf's JSON writes it).
Result<int64_t> JsonInt(const json& body, const char* field, int64_t default_value) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return default_value;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) return static_cast<int64_t>(it->get<double>());
  if (it->is_string()) {
    const std::string& text = it->get_ref<const std::string&>();
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (!text.empty() && *end == '\0' && errno == 0) return static_cast<int64_t>(v);
  }
  return InvalidArgument(std::string("'") + field + "' must be an integer, got " + it->dump());
}

// A metric value: a number, or "NaN" / "Infinity" / "-Infinity" (protobuf's JSON).
Result<double> JsonDouble(const json& body, const char* field) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) {
    return InvalidArgument(std::string("missing value for required parameter '") + field + "'");
  }
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) {
    const std::string& t = it->get_ref<const std::string&>();
    if (t == "NaN" || t == "nan") return std::nan("");
    if (t == "Infinity" || t == "inf") return HUGE_VAL;
    if (t == "-Infinity" || t == "-inf") return -HUGE_VAL;
  }
  return InvalidArgument(std::string("'") + field + "' must be a number, got " + it->dump());
}

Result<std::string> JsonString(const json& body, const char* field, bool required = true) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) {
    if (!required) return std::string();
    return InvalidArgument(std::string("missing value for required parameter '") + field + "'");
  }
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number() || it->is_boolean()) return it->dump();
  return InvalidArgument(std::string("'") + field + "' must be a string, got " + it->dump());
}

Status AddMetric(const json& m, tracking::Batch* b) {
  ASSIGN_OR_RETURN(std::string key, JsonString(m, "key"));
  RETURN_IF_ERROR(tracking::CheckName("metric name", key));
  ASSIGN_OR_RETURN(double value, JsonDouble(m, "value"));
  ASSIGN_OR_RETURN(int64_t ts_ms, JsonInt(m, "timestamp", 0));
  if (ts_ms == 0) {
    ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  }
  ASSIGN_OR_RETURN(int64_t step, JsonInt(m, "step", 0));
  b->points.push_back({key, step, ts_ms * 1000, value});
  return Status::Ok();
}

Status AddKeyValue(const json& kv, const char* what, std::vector<tracking::KeyValue>* out) {
  ASSIGN_OR_RETURN(std::string key, JsonString(kv, "key"));
  RETURN_IF_ERROR(tracking::CheckName(what, key));
  ASSIGN_OR_RETURN(std::string value, JsonString(kv, "value", /*required=*/false));
  std::string value_json = json(value).dump();
  RETURN_IF_ERROR(tracking::CheckTagValueJson(value_json));
  out->push_back({key, value_json});
  return Status::Ok();
}

}  // namespace

// The MLflow subset: the run's own run only (MLFLOW_RUN_ID); params are the run's properties (set
// once, as MLflow's params), tags its tags, metrics its metrics (rank 0: MLflow does not say
// which process logs), artifacts its files. See docs/mlflow.md.
void IngestServer::AddMlflowRoutes(const std::string& bearer) {
  Impl* impl = impl_.get();
  const std::string api = "/api/2.0/mlflow/";
  auto authorized = [bearer](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") == bearer) return true;
    MlflowFail(res, 401, "UNAUTHENTICATED",
               "missing or wrong token: set MLFLOW_TRACKING_TOKEN to the run's token (trainyard "
               "sets it in the run's environment)");
    return false;
  };
  // The body of a POST, and the run it names (this run, or RESOURCE_DOES_NOT_EXIST).
  auto parse = [impl](const httplib::Request& req, httplib::Response& res, json* body,
                      bool needs_run) {
    *body = json::parse(req.body.empty() ? std::string("{}") : req.body, nullptr, false);
    if (body->is_discarded() || !body->is_object()) {
      MlflowFail(res, 400, "MALFORMED_REQUEST", "the request body is not a JSON object");
      return false;
    }
    if (!needs_run) return true;
    std::string run_id = body->value("run_id", body->value("run_uuid", std::string()));
    if (run_id.empty()) {
      MlflowFail(res, 400, "INVALID_PARAMETER_VALUE",
                 "missing value for required parameter 'run_id'");
      return false;
    }
    if (run_id != impl->run_id) {
      MlflowFail(res, 404, "RESOURCE_DOES_NOT_EXIST",
                 "Run '" + run_id + "' not found: this tracking endpoint serves run " +
                     impl->run_id + " only (MLFLOW_RUN_ID)");
      return false;
    }
    return true;
  };
  auto run_info = [impl]() {
    return json{{"run_id", impl->run_id},
                {"run_uuid", impl->run_id},
                {"run_name", impl->run_name},
                {"experiment_id", impl->experiment},
                {"user_id", ""},
                {"status", "RUNNING"},
                {"start_time", impl->created_ms},
                {"artifact_uri", "mlflow-artifacts:/" + impl->run_id},
                {"lifecycle_stage", "active"}};
  };
  // {"info": ..., "data": {"metrics": [latest of each], "params": [...], "tags": [...]}}.
  auto run_json = [impl, run_info]() -> Result<json> {
    json metrics = json::array(), params = json::array(), tags = json::array();
    MutexLock lock(impl->db_mu);
    ASSIGN_OR_RETURN(auto summaries, store::SummarizeMetrics(impl->ws->db(), impl->run_seq));
    for (const auto& m : summaries) {
      metrics.push_back({{"key", m.name},
                         {"value", JsonNumber(m.last)},
                         {"timestamp", m.last_ts / 1000},
                         {"step", m.last_step}});
    }
    ASSIGN_OR_RETURN(auto props, store::ReadProperties(impl->ws->db(), impl->run_seq));
    for (const auto& [k, v] : props) params.push_back({{"key", k}, {"value", v}});
    ASSIGN_OR_RETURN(auto tag_list, impl->ws->Tags(impl->run_id));
    for (const auto& [k, v] : tag_list) tags.push_back({{"key", k}, {"value", v}});
    return json{{"info", run_info()},
                {"data", {{"metrics", metrics}, {"params", params}, {"tags", tags}}}};
  };
  // Stores what a request logged. Params that change a logged value are refused, as MLflow does.
  auto store_batch = [impl](tracking::Batch batch, httplib::Response& res) {
    batch.client = impl->mlflow_client;
    Result<bool> applied = false;
    {
      MutexLock lock(impl->db_mu);
      if (!batch.properties.empty()) {
        auto props = store::ReadProperties(impl->ws->db(), impl->run_seq);
        if (!props.ok()) {
          applied = props.status();
        } else {
          std::map<std::string, std::string> logged(props->begin(), props->end());
          for (const auto& kv : batch.properties) {
            auto it = logged.find(kv.key);
            std::string value = json::parse(kv.value_json).get<std::string>();
            if (it != logged.end() && it->second != value) {
              MlflowFail(res, 400, "INVALID_PARAMETER_VALUE",
                         "Changing param values is not allowed. Param with key='" + kv.key +
                             "' was already logged with value='" + it->second + "' for run ID='" +
                             impl->run_id + "'. Attempted logging new value '" + value + "'.");
              return false;
            }
          }
        }
      }
      if (applied.ok()) {
        batch.seq = ++impl->mlflow_seq;
        applied = store::ApplyBatch(impl->ws->db(), impl->run_seq, batch);
      }
    }
    if (!applied.ok()) {
      impl->ledger.NoteError(applied.status());
      // 503: MLflow's client retries it.
      MlflowFail(res, 503, "TEMPORARILY_UNAVAILABLE", "not stored: " + applied.status().message());
      return false;
    }
    return true;
  };
  auto bad = [](httplib::Response& res, const Status& s) {
    MlflowFail(res, 400, "INVALID_PARAMETER_VALUE", s.message());
  };
  auto ok = [](httplib::Response& res, const json& body) {
    res.set_content(body.dump(), "application/json");
  };

  impl->server.Post(api + "runs/log-metric",
                    [=](const httplib::Request& req, httplib::Response& res) {
                      json body;
                      if (!authorized(req, res) || !parse(req, res, &body, true)) return;
                      tracking::Batch b;
                      if (Status s = AddMetric(body, &b); !s.ok()) return bad(res, s);
                      if (store_batch(std::move(b), res)) ok(res, json::object());
                    });
  impl->server.Post(api + "runs/log-parameter",
                    [=](const httplib::Request& req, httplib::Response& res) {
                      json body;
                      if (!authorized(req, res) || !parse(req, res, &body, true)) return;
                      tracking::Batch b;
                      if (Status s = AddKeyValue(body, "param key", &b.properties); !s.ok())
                        return bad(res, s);
                      if (store_batch(std::move(b), res)) ok(res, json::object());
                    });
  impl->server.Post(api + "runs/set-tag", [=](const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!authorized(req, res) || !parse(req, res, &body, true)) return;
    tracking::Batch b;
    if (Status s = AddKeyValue(body, "tag key", &b.tags); !s.ok()) return bad(res, s);
    if (store_batch(std::move(b), res)) ok(res, json::object());
  });
  impl->server.Post(api + "runs/log-batch", [=](const httplib::Request& req,
                                                httplib::Response& res) {
    json body;
    if (!authorized(req, res) || !parse(req, res, &body, true)) return;
    tracking::Batch b;
    auto list = [&](const char* field) {
      auto it = body.find(field);
      return it != body.end() && it->is_array() ? *it : json::array();
    };
    json metrics = list("metrics"), params = list("params"), tags = list("tags");
    // MLflow's limits on one batch.
    if (metrics.size() > 1000 || params.size() > 100 || tags.size() > 100 ||
        metrics.size() + params.size() + tags.size() > 1000) {
      return bad(res, InvalidArgument("A batch logging request can contain at most 1000 metrics, "
                                      "100 params and 100 tags, 1000 entities in all; got " +
                                      std::to_string(metrics.size()) + " metrics, " +
                                      std::to_string(params.size()) + " params and " +
                                      std::to_string(tags.size()) + " tags"));
    }
    for (const auto& m : metrics) {
      if (Status s = AddMetric(m, &b); !s.ok()) return bad(res, s);
    }
    for (const auto& p : params) {
      if (Status s = AddKeyValue(p, "param key", &b.properties); !s.ok()) return bad(res, s);
    }
    for (const auto& t : tags) {
      if (Status s = AddKeyValue(t, "tag key", &b.tags); !s.ok()) return bad(res, s);
    }
    if (b.empty() || store_batch(std::move(b), res)) ok(res, json::object());
  });
  auto get_run = [=](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    std::string run_id =
        req.has_param("run_id") ? req.get_param_value("run_id") : req.get_param_value("run_uuid");
    if (run_id != impl->run_id) {
      return MlflowFail(res, 404, "RESOURCE_DOES_NOT_EXIST",
                        "Run '" + run_id + "' not found: this tracking endpoint serves run " +
                            impl->run_id + " only (MLFLOW_RUN_ID)");
    }
    auto run = run_json();
    if (!run.ok()) return MlflowFail(res, 500, "INTERNAL_ERROR", run.status().message());
    ok(res, json{{"run", *run}});
  };
  impl->server.Get(api + "runs/get", get_run);
  // A run is created by trainyard: runs/create answers with it (its tags are stored).
  impl->server.Post(api + "runs/create", [=](const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!authorized(req, res) || !parse(req, res, &body, false)) return;
    tracking::Batch b;
    if (auto it = body.find("tags"); it != body.end() && it->is_array()) {
      for (const auto& t : *it) {
        if (Status s = AddKeyValue(t, "tag key", &b.tags); !s.ok()) return bad(res, s);
      }
    }
    if (!b.empty() && !store_batch(std::move(b), res)) return;
    auto run = run_json();
    if (!run.ok()) return MlflowFail(res, 500, "INTERNAL_ERROR", run.status().message());
    ok(res, json{{"run", *run}});
  });
  // The run's status is trainyard's (the supervisor's): an update is answered, not applied.
  impl->server.Post(api + "runs/update", [=](const httplib::Request& req, httplib::Response& res) {
    json body;
    if (!authorized(req, res) || !parse(req, res, &body, true)) return;
    ok(res, json{{"run_info", run_info()}});
  });
  // A logged model's metadata (MLmodel as JSON, sent by log_model after its files are uploaded):
  // appended to tag mlflow.log-model.history, a JSON list, as MLflow's server keeps it.
  impl->server.Post(
      api + "runs/log-model", [=](const httplib::Request& req, httplib::Response& res) {
        json body;
        if (!authorized(req, res) || !parse(req, res, &body, true)) return;
        auto model_text = JsonString(body, "model_json");
        if (!model_text.ok()) return bad(res, model_text.status());
        json model = json::parse(*model_text, nullptr, false);
        if (model.is_discarded() || !model.is_object()) {
          return bad(res, InvalidArgument("'model_json' must be a JSON object"));
        }
        const std::string kHistory = "mlflow.log-model.history";
        json history = json::array();
        {
          MutexLock lock(impl->db_mu);
          auto tags = impl->ws->Tags(impl->run_id);
          if (!tags.ok()) return MlflowFail(res, 500, "INTERNAL_ERROR", tags.status().message());
          for (const auto& [k, v] : *tags) {
            if (k != kHistory) continue;
            json old = json::parse(v, nullptr, false);
            if (old.is_array()) history = std::move(old);
          }
        }
        history.push_back(std::move(model));
        tracking::Batch b;
        b.tags.push_back({kHistory, json(history.dump()).dump()});
        if (Status s = tracking::CheckTagValueJson(b.tags.back().value_json); !s.ok()) {
          return bad(res, s);
        }
        if (store_batch(std::move(b), res)) ok(res, json::object());
      });
  auto experiment = [impl]() {
    return json{{"experiment_id", impl->experiment},
                {"name", impl->experiment},
                {"artifact_location", "mlflow-artifacts:/"},
                {"lifecycle_stage", "active"}};
  };
  auto no_experiment = [impl](httplib::Response& res, const std::string& what) {
    MlflowFail(res, 404, "RESOURCE_DOES_NOT_EXIST",
               "Could not find experiment with " + what + ": this run logs into experiment '" +
                   impl->experiment + "' only");
  };
  impl->server.Get(api + "experiments/get",
                   [=](const httplib::Request& req, httplib::Response& res) {
                     if (!authorized(req, res)) return;
                     std::string id = req.get_param_value("experiment_id");
                     if (id != impl->experiment) return no_experiment(res, "id '" + id + "'");
                     ok(res, json{{"experiment", experiment()}});
                   });
  impl->server.Get(api + "experiments/get-by-name",
                   [=](const httplib::Request& req, httplib::Response& res) {
                     if (!authorized(req, res)) return;
                     std::string name = req.get_param_value("experiment_name");
                     if (name != impl->experiment) return no_experiment(res, "name '" + name + "'");
                     ok(res, json{{"experiment", experiment()}});
                   });

  // Artifacts (the run's artifact_uri "mlflow-artifacts:/<run id>"): PUT stores a file of the
  // run, as upload_file does.
  impl->server.Put(R"(/api/2\.0/mlflow-artifacts/artifacts/(.+))",
                   [=](const httplib::Request& req, httplib::Response& res,
                       const httplib::ContentReader& reader) {
                     if (!authorized(req, res)) return;
                     std::string path = req.matches[1];
                     std::string prefix_run = impl->run_id + "/";
                     if (!StartsWith(path, prefix_run)) {
                       return MlflowFail(res, 404, "RESOURCE_DOES_NOT_EXIST",
                                         "artifact path '" + path + "' is not under run " +
                                             impl->run_id + "'s artifact_uri");
                     }
                     auto name = CheckUploadName(path.substr(prefix_run.size()));
                     if (!name.ok()) return bad(res, name.status());
                     int64_t size =
                         std::strtoll(req.get_header_value("Content-Length").c_str(), nullptr, 10);
                     auto [code, error] = StoreUpload(impl->Run(), *name, size, reader);
                     if (code == 400) return bad(res, InvalidArgument(error));
                     if (code != 0) return MlflowFail(res, 503, "TEMPORARILY_UNAVAILABLE", error);
                     ok(res, json::object());
                   });

  // Everything else of MLflow's API: ENDPOINT_NOT_FOUND, naming what is served.
  auto not_served = [](const httplib::Request& req, httplib::Response& res) {
    MlflowFail(res, 404, "ENDPOINT_NOT_FOUND",
               req.method + " " + req.path +
                   " is not served by trainyard's tracking endpoint, which serves MLflow's "
                   "runs/log-metric, runs/log-batch, runs/log-parameter, runs/set-tag, runs/get, "
                   "runs/create, runs/update, runs/log-model, experiments/get, "
                   "experiments/get-by-name and "
                   "artifact uploads (PUT mlflow-artifacts/artifacts) for the run itself; see "
                   "docs/mlflow.md");
  };
  const std::string any = R"(/api/2\.0/mlflow(-artifacts)?/.*)";
  impl->server.Get(any, not_served);
  impl->server.Post(any, not_served);
  impl->server.Put(any, not_served);
  impl->server.Delete(any, not_served);
  impl->server.Patch(any, not_served);
}

void IngestServer::Stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

}  // namespace trainyard::runner
