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

#include "common/files.h"
#include "common/json_number.h"
#include "common/mutex.h"
#include "common/strings.h"
#include "store/db.h"
#include "store/metrics.h"
#include "store/workspace.h"
#include "tracking/protocol.h"

namespace trainyard::runner {

namespace {

std::string RandomToken() {
  std::random_device rd;
  static const char* kHex = "0123456789abcdef";
  std::string t;
  for (int i = 0; i < 32; ++i) t += kHex[rd() & 15];
  return t;
}

}  // namespace

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

struct IngestServer::Impl {
  // A client's batch that could not be stored (and what waited behind it).
  struct Unstored {
    int64_t seq = 0;
    int64_t records = 0;
  };

  std::string ws_dir, run_id, run_dir;
  int64_t run_seq = 0;
  httplib::Server server;
  std::thread thread;
  Mutex db_mu;
  std::unique_ptr<store::Workspace> ws TY_GUARDED_BY(db_mu);
  Mutex loss_mu;
  std::map<std::string, Unstored> unstored TY_GUARDED_BY(loss_mu);     // by client
  std::map<std::string, int64_t> failed_files TY_GUARDED_BY(loss_mu);  // name -> bytes
  bool disk_full TY_GUARDED_BY(loss_mu) = false;
  std::string first_error TY_GUARDED_BY(loss_mu);

  void NoteError(const Status& error) TY_EXCLUDES(loss_mu) {
    MutexLock lock(loss_mu);
    disk_full = disk_full || store::IsDiskFull(error);
    if (first_error.empty()) first_error = error.message();
  }
};

namespace {

int64_t Records(const tracking::Batch& b) {
  return static_cast<int64_t>(b.points.size() + b.rows.size() + b.images.size() + b.tags.size() +
                              b.properties.size());
}

// 507 Insufficient Storage for a full disk, 503 for any other storage error: both are worth
// retrying for the client (tracking/endpoint.h).
int StorageErrorCode(const Status& error) { return store::IsDiskFull(error) ? 507 : 503; }

}  // namespace

IngestLoss IngestServer::Losses() const {
  Impl* impl = impl_.get();
  MutexLock lock(impl->loss_mu);
  IngestLoss loss;
  for (const auto& [client, u] : impl->unstored) loss.records += u.records;
  for (const auto& [name, bytes] : impl->failed_files) {
    ++loss.files;
    loss.file_bytes += bytes;
  }
  loss.disk_full = impl->disk_full;
  loss.first_error = impl->first_error;
  return loss;
}

IngestServer::IngestServer(std::string workspace_dir, std::string run_id, int64_t run_seq)
    : impl_(std::make_unique<Impl>()), token_(RandomToken()) {
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
  const std::string prefix = "/v1/runs/" + impl->run_id;
  const std::string bearer = "Bearer " + token_;
  auto authorized = [bearer](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") == bearer) return true;
    res.status = 401;
    res.set_content(R"({"error":"missing or wrong tracking token"})", "application/json");
    return false;
  };
  auto fail = [](httplib::Response& res, int code, const std::string& msg) {
    res.status = code;
    res.set_content(nlohmann::json{{"error", msg}}.dump(), "application/json");
  };

  impl->server.Post(prefix + "/batch", [=](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    auto batch = tracking::DecodeBatch(req.body);
    if (!batch.ok()) return fail(res, 400, batch.status().message());
    Result<bool> applied = false;
    {
      MutexLock lock(impl->db_mu);
      applied = store::ApplyBatch(impl->ws->db(), impl->run_seq, *batch);
    }
    if (!applied.ok()) {
      impl->NoteError(applied.status());
      int64_t pending = 0;
      std::string header = req.get_header_value(kPendingHeader);
      if (!header.empty())
        pending = std::max<int64_t>(0, std::strtoll(header.c_str(), nullptr, 10));
      {
        MutexLock lock(impl->loss_mu);
        impl->unstored[batch->client] = {batch->seq, Records(*batch) + pending};
      }
      return fail(res, StorageErrorCode(applied.status()),
                  "not stored: " + applied.status().message());
    }
    {
      MutexLock lock(impl->loss_mu);
      auto it = impl->unstored.find(batch->client);
      if (it != impl->unstored.end() && it->second.seq <= batch->seq) impl->unstored.erase(it);
    }
    res.set_content(nlohmann::json{{"acked_seq", batch->seq}}.dump(), "application/json");
  });

  impl->server.Put(prefix + "/files", [=](const httplib::Request& req, httplib::Response& res,
                                          const httplib::ContentReader& reader) {
    if (!authorized(req, res)) return;
    auto name = CheckUploadName(req.get_param_value("name"));
    if (!name.ok()) return fail(res, 400, name.status().message());
    std::string dest = impl->run_dir + "/" + *name;
    int64_t size = std::strtoll(req.get_header_value("Content-Length").c_str(), nullptr, 10);
    // A file that cannot be stored is counted until a later try stores it.
    auto not_stored = [&](int error) {
      Status status = error == ENOSPC ? IoError(std::string(store::kDiskFullMessage) + " (" +
                                                impl->run_dir + "): cannot store " + *name)
                                      : ErrnoError("cannot store " + *name, error);
      impl->NoteError(status);
      {
        MutexLock lock(impl->loss_mu);
        impl->failed_files[*name] = std::max<int64_t>(size, 0);
      }
      fail(res, error == ENOSPC ? 507 : 500, status.message());
    };
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(dest).parent_path(), ec);
    if (ec) return not_stored(ec.value());
    std::string tmp = dest + ".upload." + std::to_string(gettid());
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return not_stored(errno);
    int error = 0;
    bool ok = reader([&](const char* data, size_t len) {
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
      // A reader that stopped without a write error: the client went away mid-upload.
      if (error == 0) return fail(res, 400, "upload of " + *name + " ended early");
      return not_stored(error);
    }
    {
      MutexLock lock(impl->loss_mu);
      impl->failed_files.erase(*name);
    }
    res.set_content(nlohmann::json{{"stored", *name}}.dump(), "application/json");
  });

  impl->server.Get(prefix + "/metrics", [=](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    MutexLock lock(impl->db_mu);
    auto metrics = store::ReadMetrics(impl->ws->db(), impl->run_seq, req.get_param_value("name"));
    if (!metrics.ok()) return fail(res, 500, metrics.status().message());
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, points] : *metrics) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& p : points) {
        arr.push_back(
            {{"step", p.step}, {"ts", p.ts}, {"rank", p.rank}, {"value", JsonNumber(p.value)}});
      }
      out[name] = std::move(arr);
    }
    res.set_content(out.dump(), "application/json");
  });

  int port = impl->server.bind_to_any_port(bind_address);
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

void IngestServer::Stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

}  // namespace trainyard::runner
