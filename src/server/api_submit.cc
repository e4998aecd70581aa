// Submitting through the server (docs/api.md "Submitting", "CLI over a server"): the snapshot
// upload (which blobs are missing, PUT of each, the manifest), POST /api/v1/runs (the run is
// recorded and supervised on this machine, from the uploaded source), and POST /api/v1/cli (an
// allowed verb run on this workspace by this server's own trainyard executable, its output streamed
// back as NDJSON).
#include <errno.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <set>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "runner/records_json.h"
#include "runner/runner.h"
#include "runner/sweep.h"
#include "server/api.h"
#include "server/cli_verbs.h"
#include "snapshot/atomic_file.h"
#include "snapshot/blob_store.h"
#include "snapshot/manifest.h"
#include "snapshot/snapshot.h"
#include "spec/parse.h"
#include "spec/sweep_spec.h"

namespace trainyard::server {
namespace {

constexpr size_t kMaxBlobsPerQuery = 10000;
constexpr size_t kMaxCliWords = 64;
constexpr size_t kMaxCliWordBytes = 4096;
constexpr int kMaxCliProcesses = 32;            // commands running at once; more get 503
constexpr int64_t kCliPingMicros = 15'000'000;  // a quiet command still writes this often

std::atomic<int> g_cli_processes{0};

// Writes `bytes` as the blob `sha256` of the store unless it is there already; true when written.
Result<bool> PutBlob(const std::string& store, const std::string& sha256,
                     const std::string& bytes) {
  snapshot::BlobStore blobs(store);
  if (blobs.Has(sha256, bytes.size())) return false;
  const std::string path = blobs.BlobPath(sha256);
  const std::string dir = path.substr(0, path.rfind('/'));
  RETURN_IF_ERROR(MakeDirs(dir));
  ASSIGN_OR_RETURN(snapshot::TempFile tmp, snapshot::TempFile::Create(dir));
  RETURN_IF_ERROR(tmp.Write(bytes));
  RETURN_IF_ERROR(tmp.Close(0444));
  return tmp.PublishNoReplace(path, bytes.size());
}

// Records a manifest whose blobs are all in the store; returns the entries.
Result<std::vector<snapshot::ManifestEntry>> PutManifest(const std::string& store,
                                                         const std::string& text, std::string* id) {
  auto entries = snapshot::ParseManifest(text);
  if (!entries.ok()) return InvalidArgument("manifest: " + entries.status().message());
  if (snapshot::SerializeManifest(*entries) != text) {
    return InvalidArgument(
        "manifest: not in the canonical form (sorted paths, keys in order, one line)");
  }
  snapshot::BlobStore blobs(store);
  size_t missing = 0;
  std::string first_missing;
  for (const auto& e : *entries) {
    if (e.is_symlink() || blobs.Has(e.sha256, e.size)) continue;
    if (missing++ == 0) first_missing = e.path;
  }
  if (missing > 0) {
    return FailedPrecondition(std::to_string(missing) + " file" + (missing == 1 ? "" : "s") +
                              " of the manifest " + (missing == 1 ? "has" : "have") +
                              " no uploaded contents (first: " + first_missing +
                              "); upload the missing blobs first");
  }
  *id = Sha256Hex(text);
  RETURN_IF_ERROR(MakeDirs(store + "/manifests"));
  ASSIGN_OR_RETURN(snapshot::TempFile tmp, snapshot::TempFile::Create(store + "/manifests"));
  RETURN_IF_ERROR(tmp.Write(text));
  RETURN_IF_ERROR(tmp.Close(0444));
  ASSIGN_OR_RETURN(bool created,
                   tmp.PublishNoReplace(store + "/manifests/" + *id + ".json", text.size()));
  (void)created;  // the same manifest uploaded before is just as good
  return entries;
}

// The folder holding the uploaded snapshot `id`'s files: <ws>/uploads/<id>, restored once
// (into a temporary folder, then renamed, so a concurrent request sees all of it or none).
Result<std::string> UploadedSource(store::Workspace* ws, const std::string& id) {
  ASSIGN_OR_RETURN(std::vector<snapshot::ManifestEntry> entries,
                   snapshot::ReadManifest(ws->SnapshotsDir(), id));
  (void)entries;
  const std::string uploads = ws->dir() + "/uploads";
  const std::string dest = uploads + "/" + id;
  if (IsDirectory(dest)) return dest;
  RETURN_IF_ERROR(MakeDirs(uploads));
  std::random_device rd;
  const std::string tmp = uploads + "/.tmp-" + id.substr(0, 16) + "-" + std::to_string(rd());
  Status restored = snapshot::Restore(ws->SnapshotsDir(), id, tmp);
  if (!restored.ok()) {
    RemoveAll(tmp).IgnoreError();
    return restored;
  }
  if (rename(tmp.c_str(), dest.c_str()) != 0) {
    int e = errno;
    RemoveAll(tmp).IgnoreError();
    if (!IsDirectory(dest)) return ErrnoError("rename " + tmp + " to " + dest, e);
  }
  return dest;
}

// `path` under `from` moved under `to`; "" when it is not under `from`.
std::string Relocated(const std::string& path, const std::string& from, const std::string& to) {
  if (from.empty()) return "";
  if (path == from) return to;
  if (StartsWith(path, from + "/")) return to + path.substr(from.size());
  return "";
}

// Points the spec at the uploaded source `uploaded` (the client's source folder was
// spec->source_directory): local paths inside that folder move with it; any other local path
// names the client's machine and is refused.
Status RelocateSpec(spec::JobSpec* spec, const std::string& uploaded) {
  const std::string client_source = spec->source_directory;
  spec->source_directory = uploaded;
  for (spec::Input& in : spec->inputs) {
    if (in.kind == spec::Input::Kind::kLiteral || !in.asset.empty()) continue;
    std::string moved = Relocated(in.value, client_source, uploaded);
    if (moved.empty()) {
      return InvalidArgument("inputs." + in.name + ": " + in.value +
                             " is a local path outside the source folder; a job submitted to a "
                             "server can use local paths only inside its source folder (or a data "
                             "asset azureml:NAME:VERSION, or an http(s) URL)");
    }
    in.value = moved;
  }
  if (!spec->image_build_context.empty()) {
    std::string moved = Relocated(spec->image_build_context, client_source, uploaded);
    if (moved.empty()) {
      return InvalidArgument("environment.build.path: " + spec->image_build_context +
                             " is outside the source folder; a job submitted to a server can "
                             "build only a context inside its source folder");
    }
    spec->image_build_context = moved;
  }
  return Status::Ok();
}

// The "snapshot" of a submit body: "" when absent or null.
Result<std::string> SnapshotOf(const nlohmann::json& body) {
  if (!body.contains("snapshot") || body["snapshot"].is_null()) return std::string();
  if (!body["snapshot"].is_string()) return InvalidArgument("\"snapshot\" must be a string");
  std::string id = body["snapshot"].get<std::string>();
  if (!snapshot::IsSha256Hex(id))
    return InvalidArgument("\"snapshot\" is not a snapshot id: " + id);
  return id;
}

// Points a parsed job at its uploaded snapshot (see RelocateSpec); refuses local paths when the
// job has no source folder.
Status UseUploadedSource(store::Workspace* ws, const std::string& snapshot_id,
                         spec::JobSpec& spec) {
  if (!spec.source_directory.empty()) {
    if (snapshot_id.empty()) {
      return InvalidArgument(
          "the job has a source folder but no \"snapshot\": upload the folder first "
          "(POST /api/v1/blobs/missing, PUT /api/v1/blobs/{sha256}, POST /api/v1/snapshots)");
    }
    auto uploaded = UploadedSource(ws, snapshot_id);
    if (!uploaded.ok()) {
      if (uploaded.status().code() == StatusCode::kNotFound) {
        return NotFound("snapshot " + snapshot_id + " was not uploaded to this server");
      }
      return uploaded.status();
    }
    return RelocateSpec(&spec, *uploaded);
  }
  for (const spec::Input& in : spec.inputs) {
    if (in.kind != spec::Input::Kind::kLiteral && in.asset.empty()) {
      return InvalidArgument("inputs." + in.name + ": " + in.value +
                             " is a local path; a job without a source folder submitted to a "
                             "server cannot use local paths");
    }
  }
  if (!spec.image_build_context.empty()) {
    return InvalidArgument("environment.build.path: " + spec.image_build_context +
                           " is a local path; a job without a source folder submitted to a server "
                           "cannot build an image from a folder (put it in the job's code)");
  }
  return Status::Ok();
}

// POST /api/v1/runs: {"spec", "snapshot", "experiment", "tags"}.
Result<nlohmann::json> SubmitRun(ServerContext& ctx, const nlohmann::json& body) {
  if (!body.contains("spec") || !body["spec"].is_object()) {
    return InvalidArgument("\"spec\" must be the job's spec as a JSON object");
  }
  ASSIGN_OR_RETURN(std::string snapshot_id, SnapshotOf(body));
  ASSIGN_OR_RETURN(WorkspacePool::Lease ws, ctx.pool.Acquire());
  // The origin ends in .json: strict JSON, and the size limits of a job file apply.
  ASSIGN_OR_RETURN(spec::JobSpec spec,
                   spec::ParseJobText(body["spec"].dump(), "submitted spec.json", ws->dir()));
  RETURN_IF_ERROR(UseUploadedSource(ws.get(), snapshot_id, spec));
  if (body.contains("experiment") && body["experiment"].is_string() &&
      !body["experiment"].get<std::string>().empty()) {
    spec.experiment_name = body["experiment"].get<std::string>();
  }
  if (body.contains("tags") && !body["tags"].is_null()) {
    if (!body["tags"].is_object()) return InvalidArgument("\"tags\" must be an object");
    for (const auto& [k, v] : body["tags"].items()) {
      if (!v.is_string()) return InvalidArgument("tags." + k + " must be a string");
      auto it = std::find_if(spec.tags.begin(), spec.tags.end(),
                             [&k = k](const auto& tag) { return tag.first == k; });
      if (it != spec.tags.end()) {
        it->second = v.get<std::string>();
      } else {
        spec.tags.emplace_back(k, v.get<std::string>());
      }
    }
  }
  runner::SubmitOptions options;
  options.supervisor_exe = ctx.trainyard_exe;
  ASSIGN_OR_RETURN(runner::Submission sub, runner::Submit(ws.get(), spec, options));
  return runner::RunToJson(ws.get(), sub.run, true);
}

// POST /api/v1/sweeps: {"spec": the sweep (spec::SweepToJson), "snapshot"}.
Result<nlohmann::json> SubmitSweepRun(ServerContext& ctx, const nlohmann::json& body) {
  if (!body.contains("spec") || !body["spec"].is_object()) {
    return InvalidArgument("\"spec\" must be the sweep's spec as a JSON object");
  }
  ASSIGN_OR_RETURN(std::string snapshot_id, SnapshotOf(body));
  ASSIGN_OR_RETURN(WorkspacePool::Lease ws, ctx.pool.Acquire());
  ASSIGN_OR_RETURN(spec::SweepSpec spec,
                   spec::ParseSweepText(body["spec"].dump(), "submitted sweep.json", ws->dir()));
  RETURN_IF_ERROR(UseUploadedSource(ws.get(), snapshot_id, spec.trial));
  runner::SweepSubmitOptions options;
  options.supervisor_exe = ctx.trainyard_exe;
  ASSIGN_OR_RETURN(runner::SweepSubmission sub, runner::SubmitSweep(ws.get(), spec, options));
  return runner::RunToJson(ws.get(), sub.run, true);
}

// A running `trainyard` verb whose output is streamed to the client.
struct CliProcess {
  pid_t pid = -1;
  int fds[2] = {-1, -1};   // stdout, stderr (read ends); -1 once at end of file
  std::string pending[2];  // bytes read but not sent: an incomplete UTF-8 character
  bool finished = false;
  int64_t last_write_us = MonotonicMicros();  // when the client was last sent anything

  ~CliProcess() {
    for (int& fd : fds) {
      if (fd >= 0) close(fd);
    }
    if (pid > 0 && !finished) {
      // The client went away (or the server stops): stop the command and everything it started.
      kill(-pid, SIGTERM);
      int status = 0;
      for (int i = 0; i < 50 && WaitPid(pid, &status, WNOHANG) == 0; ++i) usleep(100'000);
      if (WaitPid(pid, &status, WNOHANG) == 0) {
        kill(-pid, SIGKILL);
        WaitPid(pid, &status);
      }
    }
    g_cli_processes.fetch_sub(1);
  }
};

// The length of `s`'s prefix that ends on a UTF-8 character boundary (an incomplete character
// at the end waits for its other bytes).
size_t CompleteUtf8(const std::string& s) {
  size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return len > back ? n - back : n;
  }
  return n;
}

std::string NdjsonLine(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// Starts `exe --workspace DIR argv...` with its output on two pipes.
Result<std::shared_ptr<CliProcess>> StartCli(const ServerContext& ctx,
                                             const std::vector<std::string>& argv) {
  if (g_cli_processes.fetch_add(1) >= kMaxCliProcesses) {
    g_cli_processes.fetch_sub(1);
    return Unavailable("too many commands are running on this server; try again shortly");
  }
  auto proc = std::make_shared<CliProcess>();
  std::vector<std::string> full = {
      ctx.trainyard_exe.empty() ? runner::TrainyardExe() : ctx.trainyard_exe, "--workspace",
      ctx.pool.dir()};
  full.insert(full.end(), argv.begin(), argv.end());
  int out[2], err[2];
  RETURN_IF_ERROR(OutputPipes(out, err));
  std::map<std::string, std::string> env = CurrentEnvironment();
  for (const char* key : {"TRAINYARD_WORKSPACE", "TRAINYARD_TOKEN"}) env.erase(key);
  SpawnOptions options;
  options.cwd = ctx.pool.dir();
  options.stdout_fd = out[1];
  options.stderr_fd = err[1];
  options.new_process_group = true;
  options.close_other_fds = true;
  auto pid = Spawn(full, env, options);
  close(out[1]);
  close(err[1]);
  proc->fds[0] = out[0];
  proc->fds[1] = err[0];
  if (!pid.ok()) return pid.status();
  proc->pid = *pid;
  return proc;
}

// One step of the stream: waits up to a second for output, sends what arrived; at the end sends
// the exit code. False when the client is gone. When the caller's token no longer holds
// (`recheck`, Routes::Recheck), the last line is {"refused": why} and the command is stopped
// (~CliProcess).
bool PumpCli(const ServerContext& ctx, CliProcess* proc,
             const std::function<std::string()>& recheck, httplib::DataSink& sink) {
  if (ctx.stopping()) return false;
  if (std::string why = recheck(); !why.empty()) {
    std::string line = NdjsonLine({{"refused", why}});
    if (!sink.write(line.data(), line.size())) return false;
    sink.done();
    return true;
  }
  pollfd pfds[2];
  nfds_t n = 0;
  int which[2];
  for (int k = 0; k < 2; ++k) {
    if (proc->fds[k] < 0) continue;
    pfds[n] = {proc->fds[k], POLLIN, 0};
    which[n++] = k;
  }
  if (n > 0) {
    int ready = poll(pfds, n, 1000);
    if (ready < 0 && errno != EINTR) return false;
    for (nfds_t i = 0; ready > 0 && i < n; ++i) {
      if ((pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const int k = which[i];
      char buf[65536];
      ssize_t got = read(proc->fds[k], buf, sizeof buf);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      std::string& pending = proc->pending[k];
      if (got > 0) pending.append(buf, static_cast<size_t>(got));
      size_t send = got <= 0 ? pending.size() : CompleteUtf8(pending);
      if (got <= 0) {
        close(proc->fds[k]);
        proc->fds[k] = -1;
      }
      if (send > 0) {
        std::string line = NdjsonLine({{k == 0 ? "stdout" : "stderr", pending.substr(0, send)}});
        pending.erase(0, send);
        if (!sink.write(line.data(), line.size())) return false;
        proc->last_write_us = MonotonicMicros();
      }
    }
    // A quiet command (`wait`, `logs --follow` on an idle run) still writes now and then: a
    // client that went away is noticed only by a failed write, and its command would hold a
    // process and one of the kMaxCliProcesses slots until the run ends. Clients skip the line.
    if (MonotonicMicros() - proc->last_write_us >= kCliPingMicros) {
      std::string ping = NdjsonLine({{"ping", true}});
      if (!sink.write(ping.data(), ping.size())) return false;
      proc->last_write_us = MonotonicMicros();
    }
    return true;
  }
  int status = 0;
  WaitPid(proc->pid, &status);
  proc->finished = true;
  std::string line = NdjsonLine({{"exit", ExitCodeOf(status)}});
  if (!sink.write(line.data(), line.size())) return false;
  sink.done();
  return true;
}

void HandleCli(ServerContext& ctx, const Routes& routes, const httplib::Request& req,
               httplib::Response& res, const Caller& caller) {
  auto body = ParseJsonBody(req);
  if (!body.ok()) return ReplyStatus(res, body.status());
  const nlohmann::json& words = (*body)["argv"];
  if (!words.is_array() || words.empty() || words.size() > kMaxCliWords) {
    return ReplyError(res, 400,
                      "\"argv\" must be a list of 1 to " + std::to_string(kMaxCliWords) +
                          " strings: the command's words after `trainyard`");
  }
  std::vector<std::string> argv;
  for (const auto& w : words) {
    if (!w.is_string() || w.get<std::string>().size() > kMaxCliWordBytes) {
      return ReplyError(
          res, 400,
          "\"argv\" must hold strings of at most " + std::to_string(kMaxCliWordBytes) + " bytes");
    }
    argv.push_back(w.get<std::string>());
  }
  auto verb = CheckForwardedArgv(argv);
  if (!verb.ok()) return ReplyStatus(res, verb.status());
  if (static_cast<int>(caller.role) < static_cast<int>(verb->role)) {
    return ReplyError(res, 403,
                      "token \"" + caller.name + "\" has role " + RoleName(caller.role) +
                          "; `trainyard " + verb->name + "` needs " + RoleName(verb->role));
  }
  auto proc = StartCli(ctx, argv);
  if (!proc.ok()) return ReplyStatus(res, proc.status());
  std::shared_ptr<CliProcess> p = *proc;
  res.status = 200;
  res.set_chunked_content_provider(
      "application/x-ndjson",
      [&ctx, p, recheck = routes.Recheck(req, verb->role, ctx.recheck_micros)](
          size_t, httplib::DataSink& sink) { return PumpCli(ctx, p.get(), recheck, sink); });
}

Result<nlohmann::json> BlobsMissing(ServerContext& ctx, const nlohmann::json& body) {
  const nlohmann::json& blobs = body.contains("blobs") ? body["blobs"] : nlohmann::json();
  if (!blobs.is_array() || blobs.size() > kMaxBlobsPerQuery) {
    return InvalidArgument("\"blobs\" must be a list of at most " +
                           std::to_string(kMaxBlobsPerQuery) + " {\"sha256\", \"size\"}");
  }
  snapshot::BlobStore store(ctx.pool.dir() + "/snapshots");
  nlohmann::json missing = nlohmann::json::array();
  for (const auto& b : blobs) {
    if (!b.is_object() || !b.contains("sha256") || !b["sha256"].is_string() ||
        !b.contains("size") || !b["size"].is_number_unsigned()) {
      return InvalidArgument("each of \"blobs\" must be {\"sha256\": hex, \"size\": bytes}");
    }
    std::string sha = b["sha256"].get<std::string>();
    if (!snapshot::IsSha256Hex(sha)) return InvalidArgument("not a SHA-256: " + sha);
    if (!store.Has(sha, b["size"].get<uint64_t>())) missing.push_back(sha);
  }
  return nlohmann::json{{"missing", missing}};
}

}  // namespace

void AddSubmitRoutes(Routes& routes, ServerContext& ctx) {
  routes.Post(R"(/api/v1/blobs/missing)", Role::kSubmit,
              [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
                auto body = ParseJsonBody(req);
                if (!body.ok()) return ReplyStatus(res, body.status());
                auto answer = BlobsMissing(ctx, *body);
                if (!answer.ok()) return ReplyStatus(res, answer.status());
                ReplyJson(res, *answer);
              });

  routes.Put(R"(/api/v1/blobs/([0-9a-f]{64}))", Role::kSubmit,
             [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
               const std::string sha = PathParam(req, 1);
               if (Sha256Hex(req.body) != sha) {
                 return ReplyError(res, 400,
                                   "the uploaded bytes (" + std::to_string(req.body.size()) +
                                       ") do not hash to " + sha);
               }
               auto written = PutBlob(ctx.pool.dir() + "/snapshots", sha, req.body);
               if (!written.ok()) return ReplyStatus(res, written.status());
               ReplyJson(res, {{"sha256", sha}, {"size", req.body.size()}, {"new", *written}},
                         *written ? 201 : 200);
             });

  routes.Post(R"(/api/v1/snapshots)", Role::kSubmit,
              [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
                auto body = ParseJsonBody(req);
                if (!body.ok()) return ReplyStatus(res, body.status());
                if (!body->contains("manifest") || !(*body)["manifest"].is_string()) {
                  return ReplyError(res, 400, "\"manifest\" must be the manifest's text");
                }
                std::string id;
                auto entries = PutManifest(ctx.pool.dir() + "/snapshots",
                                           (*body)["manifest"].get<std::string>(), &id);
                if (!entries.ok()) return ReplyStatus(res, entries.status());
                uint64_t bytes = 0;
                for (const auto& e : *entries) bytes += e.size;
                ReplyJson(res, {{"id", id}, {"files", entries->size()}, {"bytes", bytes}}, 201);
              });

  routes.Post(R"(/api/v1/runs)", Role::kSubmit,
              [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
                auto body = ParseJsonBody(req);
                if (!body.ok()) return ReplyStatus(res, body.status());
                auto run = SubmitRun(ctx, *body);
                if (!run.ok()) return ReplyStatus(res, run.status());
                ReplyJson(res, *run, 201);
              });

  routes.Post(R"(/api/v1/sweeps)", Role::kSubmit,
              [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
                auto body = ParseJsonBody(req);
                if (!body.ok()) return ReplyStatus(res, body.status());
                auto run = SubmitSweepRun(ctx, *body);
                if (!run.ok()) return ReplyStatus(res, run.status());
                ReplyJson(res, *run, 201);
              });

  routes.Post(R"(/api/v1/cli)", Role::kRead,
              [&ctx, &routes](const httplib::Request& req, httplib::Response& res,
                              const Caller& caller) { HandleCli(ctx, routes, req, res, caller); });
}

}  // namespace trainyard::server
