// Implements runner/deployment.h: deploy (prepare, record, start), the supervisor, liveness and
// delete.
#include "runner/deployment.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/strings.h"
#include "env/interpreter.h"
#include "env/python_env.h"
#include "models/registry.h"
#include "runner/assets.h"
#include "runner/runner.h"
#include "snapshot/snapshot.h"

namespace trainyard::runner {
namespace {

using nlohmann::json;

constexpr char kIdVariable[] = "TRAINYARD_DEPLOYMENT_ID";
constexpr int kMaxCrashes = 5;  // exits within kCrashWindowMicros: Failed
constexpr int64_t kCrashWindowMicros = 60'000'000;
constexpr int kMaxBackoffSeconds = 30;
constexpr int64_t kNoSupervisorMicros = 30'000'000;  // a row without a supervisor this long: Failed

// "<ws>/deployments/<name>": what a deployment's processes carry in TRAINYARD_DEPLOYMENT_ID.
std::string DeploymentId(const store::Workspace& ws, const std::string& name) {
  return DeploymentDir(ws, name);
}

Status CheckName(const std::string& name) {
  auto ref = models::ParseModelRef(name);
  if (name.find(':') != std::string::npos || !ref.ok()) {
    return InvalidArgument("deployment name \"" + name +
                           "\": use letters, digits, '-', '_' and '.' (at most 255)");
  }
  return Status::Ok();
}

Status CheckPositive(const char* flag, int value, int min) {
  if (value < min) {
    return InvalidArgument(std::string(flag) + " must be at least " + std::to_string(min) +
                           " (got " + std::to_string(value) + ")");
  }
  return Status::Ok();
}

// The entry relative to `source` (both made absolute, symlinks resolved): InvalidArgument when it
// lies outside, NotFound when it is not a file.
Result<std::string> EntryInSource(const std::string& source, const std::string& entry) {
  std::string path = StartsWith(entry, "/") ? entry : source + "/" + entry;
  char real_path[PATH_MAX], real_source[PATH_MAX];
  if (realpath(path.c_str(), real_path) == nullptr) {
    return NotFound("--entry " + entry + ": no such file (looked for " + path + ")");
  }
  if (realpath(source.c_str(), real_source) == nullptr) {
    return NotFound("--source " + source + ": no such folder");
  }
  struct stat st {};
  if (stat(real_path, &st) != 0 || !S_ISREG(st.st_mode)) {
    return InvalidArgument("--entry " + entry + ": not a file");
  }
  std::string prefix = std::string(real_source) + "/";
  if (!StartsWith(real_path, prefix)) {
    return InvalidArgument("--entry " + entry + ": must lie inside the source folder " +
                           real_source + " (give --source)");
  }
  return std::string(real_path).substr(prefix.size());
}

// The scoring interpreter: the environment of --conda-file / --pip (built or reused in
// <ws>/envs), else the interpreter runs use (env::ResolveInterpreter). Also says whether it has a
// real azureml package (then the compatibility one stays off its path).
struct ScoringPython {
  std::string python;
  std::string env_hash;
  bool has_azureml = false;
};

Result<ScoringPython> MakeScoringPython(store::Workspace* ws, const DeployRequest& r) {
  ASSIGN_OR_RETURN(env::InterpreterInfo info, env::ResolveInterpreter("", ws->CacheDir()));
  ScoringPython out{info.path, "", info.has_azureml};
  if (r.conda_file.empty() && r.pip.empty()) return out;
  std::vector<std::string> pip = r.pip, conda;
  if (!r.conda_file.empty()) {
    if (!PathExists(r.conda_file))
      return NotFound("--conda-file " + r.conda_file + ": no such file");
    // The conda file is read as a registered environment's conda_file is (runner/assets.h).
    std::string yaml = ws->CacheDir() + "/deploy-env-" + std::to_string(getpid()) + ".yml";
    RETURN_IF_ERROR(MakeDirs(ws->CacheDir()));
    RETURN_IF_ERROR(WriteFileAtomic(
        yaml, "name: deployment\nconda_file: " + json(AbsolutePath(r.conda_file)).dump() + "\n"));
    auto rec = EnvironmentFromYaml(yaml, "", "");
    unlink(yaml.c_str());
    if (!rec.ok()) return Status(rec.status().code(), "--conda-file: " + rec.status().message());
    json def = json::parse(rec->definition_json);
    for (const auto& p : def.value("pip", std::vector<std::string>())) pip.push_back(p);
    conda = def.value("conda", std::vector<std::string>());
  }
  env::EnvRequest req;
  req.interpreter = info.path;
  req.python_version = info.python_version;
  req.packages = env::NormalizePackages(pip);
  env::SetPipSourcesFromEnvironment(&req);
  if (!env::WithoutProvidedPackages(conda).empty()) {
    std::string exe = env::FindConda();
    if (exe.empty()) {
      return InvalidArgument("--conda-file asks for conda packages (" + Join(conda, " ") +
                             ") and no conda, mamba or micromamba was found; set TRAINYARD_CONDA "
                             "or list them as pip packages");
    }
    if (!pip.empty()) conda.push_back("pip");
    env::SetCondaFromEnvironment(exe, conda, &req);
    req.interpreter.clear();
    req.python_version.clear();
  } else {
    req.provided = conda;
  }
  env::SetProvidedPackages(&req);
  ASSIGN_OR_RETURN(env::EnvInfo built,
                   env::EnsureEnv(req, ws->dir() + "/envs", [&](const std::string& line) {
                     if (r.progress) r.progress("[environment] " + line);
                   }));
  out.python = built.python;
  out.env_hash = built.hash;
  return out;
}

// A program to run from another folder: a relative path made absolute; a bare name (looked up on
// PATH) kept.
std::string ProgramPath(const std::string& program) {
  return program.find('/') == std::string::npos ? program : AbsolutePath(program);
}

// Spawns `argv` detached (new session, adopted by init) in `cwd`, output appended to `log`.
Status StartDetached(const std::vector<std::string>& argv, const std::string& cwd,
                     const std::string& log) {
  int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return ErrnoError("cannot open " + log, errno);
  SpawnOptions options;
  options.cwd = cwd;  // not the caller's folder, which may go away
  options.stdout_fd = out;
  options.stderr_fd = out;
  options.detach = true;
  options.close_other_fds = true;  // no workspace database descriptor travels along
  Result<pid_t> started = Spawn(argv, CurrentEnvironment(), options);
  close(out);
  if (!started.ok()) {
    return Status(started.status().code(),
                  "could not start the deployment's supervisor: " + started.status().message());
  }
  return Status::Ok();
}

}  // namespace

std::string DeploymentDir(const store::Workspace& ws, const std::string& name) {
  return ws.dir() + "/deployments/" + name;
}

std::string DeploymentLogPath(const store::Workspace& ws, const std::string& name) {
  return DeploymentDir(ws, name) + "/logs/server.log";
}

std::string ScoringUri(const store::DeploymentRecord& d) {
  if (d.port <= 0) return "";
  std::string host = "127.0.0.1";
  auto spec = json::parse(d.spec_json, nullptr, false);
  if (spec.is_object()) host = spec.value("host", host);
  if (host == "0.0.0.0" || host == "::" || host.empty()) host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(d.port) + "/score";
}

std::string DeploymentEntry(const store::DeploymentRecord& d) {
  auto spec = json::parse(d.spec_json, nullptr, false);
  return spec.is_object() ? spec.value("entry", "") : "";
}

Result<std::string> ServeExe() {
  if (const char* env = std::getenv("TRAINYARD_SERVE_BIN"); env && *env) {
    if (access(env, X_OK) != 0) {
      return NotFound(std::string("TRAINYARD_SERVE_BIN=") + env + " is not an executable");
    }
    return ProgramPath(env);
  }
  // Beside this program, beside the trainyard executable (this program may be python3, running
  // the SDK), then the build tree: <build>/src/cli/trainyard -> <build>/src/serve/trainyard-serve.
  std::vector<std::string> programs = {TrainyardExe(), TRAINYARD_BUILD_BIN};
  char self[PATH_MAX];
  if (ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1); n > 0) {
    programs.insert(programs.begin(), std::string(self, static_cast<size_t>(n)));
  }
  std::vector<std::string> tried;
  for (const std::string& program : programs) {
    if (program.find('/') == std::string::npos) continue;  // a bare name found on PATH
    std::string folder = ProgramPath(program);
    folder.resize(folder.find_last_of('/') + 1);
    for (const std::string& candidate :
         {folder + "trainyard-serve", folder + "../serve/trainyard-serve"}) {
      if (access(candidate.c_str(), X_OK) == 0) return ProgramPath(candidate);
      tried.push_back(candidate);
    }
  }
  return NotFound("cannot find trainyard-serve (looked at " + Join(tried, ", ") +
                  "); set TRAINYARD_SERVE_BIN");
}

Result<store::DeploymentRecord> Deploy(store::Workspace* ws, const DeployRequest& r) {
  RETURN_IF_ERROR(CheckName(r.name));
  RETURN_IF_ERROR(CheckPositive("--batch-size", r.batch_size, 1));
  RETURN_IF_ERROR(CheckPositive("--max-batch-delay-ms", r.max_batch_delay_ms, 0));
  RETURN_IF_ERROR(CheckPositive("--instances", r.instances, 1));
  RETURN_IF_ERROR(CheckPositive("--workers", r.workers, 1));
  if (r.port < 0 || r.port > 65535) {
    return InvalidArgument("--port must be 0 (any free port) to 65535 (got " +
                           std::to_string(r.port) + ")");
  }
  if (r.entry.empty()) {
    if (!r.source.empty())
      return InvalidArgument("--source is the folder of --entry: give --entry");
    if (!r.conda_file.empty() || !r.pip.empty()) {
      return InvalidArgument("--conda-file and --pip are for a scoring script: give --entry");
    }
    if (r.models.empty()) {
      return InvalidArgument("give at least one --model (or a scoring script with --entry)");
    }
  }
  if (auto existing = store::GetDeployment(ws, r.name); existing.ok()) {
    return AlreadyExists("deployment " + r.name + " exists (" + existing->state +
                         "); delete it first");
  }

  // The models, resolved now: a deployment serves fixed versions.
  std::vector<store::ModelRecord> resolved;
  for (const auto& text : r.models) {
    ASSIGN_OR_RETURN(models::ModelRef ref, models::ParseModelRef(text));
    ASSIGN_OR_RETURN(store::ModelRecord m, models::Resolve(ws, ref));
    bool seen = false;
    for (const auto& other : resolved) seen |= other.name == m.name && other.version == m.version;
    if (!seen) resolved.push_back(m);
  }
  std::string source, entry;
  if (!r.entry.empty()) {
    source = AbsolutePath(r.source.empty() ? "." : r.source);
    if (!IsDirectory(source)) return NotFound("--source " + source + ": no such folder");
    ASSIGN_OR_RETURN(entry, EntryInSource(source, r.entry));
  }
  RETURN_IF_ERROR(ws->CheckWritable());

  std::string snapshot_id;
  ScoringPython python;
  if (!entry.empty()) {
    snapshot::SnapshotOptions snap_opts;
    snap_opts.max_bytes = SnapshotLimitBytes();
    snap_opts.skip_dir = ws->dir();
    snap_opts.max_bytes_hint =
        " Or raise the limit with TRAINYARD_SNAPSHOT_LIMIT=BYTES (0 for none).";
    auto snap = snapshot::TakeSnapshot(source, ws->SnapshotsDir(), snap_opts);
    if (!snap.ok()) {
      return Status(snap.status().code(),
                    "--source: snapshot of " + source + " failed: " + snap.status().message());
    }
    RETURN_IF_ERROR(ws->PutSnapshot({snap->id, snap->source_dir, static_cast<int64_t>(snap->files),
                                     static_cast<int64_t>(snap->bytes), snap->git_commit,
                                     snap->git_dirty, snap->in_git}));
    snapshot_id = snap->id;
    if (r.progress) {
      r.progress("snapshot " + snap->id.substr(0, 12) + " of " + source + " (" +
                 std::to_string(snap->files) + " files)");
    }
    ASSIGN_OR_RETURN(python, MakeScoringPython(ws, r));
  }

  // The server's command line (without --port and --port-file, which the supervisor adds).
  const std::string dir = DeploymentDir(*ws, r.name);
  ASSIGN_OR_RETURN(std::string serve_exe, ServeExe());
  std::vector<std::string> argv = {serve_exe};  // absolute: the supervisor runs elsewhere
  json models_json = json::array();
  for (const auto& m : resolved) {
    ASSIGN_OR_RETURN(std::string model_dir, models::ModelDir(ws, m));
    std::string id = m.name + ":" + std::to_string(m.version);
    argv.push_back("--model");
    argv.push_back(id + "=" + model_dir + "/" + m.path);
    if (!m.tags_json.empty() && m.tags_json != "{}") {
      argv.push_back("--model-tags");
      argv.push_back(m.tags_json);
    }
    models_json.push_back(
        {{"name", m.name}, {"version", m.version}, {"path", model_dir + "/" + m.path}});
  }
  std::map<std::string, std::string> env = {{kIdVariable, DeploymentId(*ws, r.name)}};
  if (!entry.empty()) {
    argv.insert(argv.end(), {"--entry", dir + "/code/" + entry, "--source", dir + "/code",
                             "--python", python.python, "--workers", std::to_string(r.workers)});
    // The scoring script imports `azureml.core.model` and `trainyard` as a run's script does.
    std::string path = PythonPackageDir();
    if (!python.has_azureml) path += ":" + PythonCompatDir() + "/azureml";
    if (const char* pp = std::getenv("PYTHONPATH"); pp && *pp) path += ":" + std::string(pp);
    env["PYTHONPATH"] = path;
  }
  argv.insert(argv.end(), {"--host", r.host, "--batch-size", std::to_string(r.batch_size),
                           "--max-batch-delay-ms", std::to_string(r.max_batch_delay_ms),
                           "--instances", std::to_string(r.instances)});
  if (r.gpu) argv.push_back("--gpu");

  json spec = {{"name", r.name},
               {"models", r.models},
               {"resolved_models", models_json},
               {"entry", entry},
               {"source", source},
               {"snapshot_id", snapshot_id},
               {"port", r.port},
               {"host", r.host},
               {"batch_size", r.batch_size},
               {"max_batch_delay_ms", r.max_batch_delay_ms},
               {"instances", r.instances},
               {"workers", r.workers},
               {"gpu", r.gpu},
               {"conda_file", r.conda_file.empty() ? "" : AbsolutePath(r.conda_file)},
               {"pip", r.pip},
               {"python", python.python},
               {"env_hash", python.env_hash},
               {"server", {{"argv", argv}, {"env", env}}}};
  store::DeploymentRecord rec;
  rec.name = r.name;
  rec.state = store::kDeployTransitioning;
  rec.spec_json = spec.dump(-1, ' ', false, json::error_handler_t::replace);
  rec.port = r.port;
  for (const auto& m : resolved) rec.models.emplace_back(m.name, m.version);
  RETURN_IF_ERROR(store::CreateDeployment(ws, &rec));

  // From here the name is ours; a failure is recorded on the row.
  auto fail = [&](const Status& s) {
    store::DeploymentUpdate u;
    u.state = store::kDeployFailed;
    u.error = s.message();
    store::UpdateDeployment(ws, r.name, u).IgnoreError();
    return s;
  };
  if (PathExists(dir)) {
    if (Status s = RemoveAll(dir); !s.ok()) return fail(s);
  }
  if (Status s = MakeDirs(dir + "/logs"); !s.ok()) return fail(s);
  if (!snapshot_id.empty()) {
    if (Status s = snapshot::Restore(ws->SnapshotsDir(), snapshot_id, dir + "/code"); !s.ok()) {
      return fail(Status(s.code(), "restoring the code into " + dir + "/code: " + s.message()));
    }
  }
  std::string exe = ProgramPath(r.supervisor_exe.empty() ? TrainyardExe() : r.supervisor_exe);
  if (Status s = StartDetached({exe, "deployment", "supervise", "--workspace", ws->dir(), r.name},
                               dir, dir + "/logs/supervisor.log");
      !s.ok()) {
    return fail(s);
  }
  return rec;
}

Result<store::DeploymentRecord> WaitForDeployment(
    store::Workspace* ws, const std::string& name, double timeout_seconds,
    const std::function<void(const store::DeploymentRecord&)>& on_change) {
  const int64_t deadline = NowMicros() + static_cast<int64_t>(timeout_seconds * 1e6);
  std::string last_state;
  int64_t last_restarts = -1;
  while (true) {
    (void)ReapDeployments(ws);
    ASSIGN_OR_RETURN(store::DeploymentRecord d, store::GetDeployment(ws, name));
    if (on_change && (d.state != last_state || d.restarts != last_restarts)) on_change(d);
    last_state = d.state;
    last_restarts = d.restarts;
    if (d.state == store::kDeployHealthy || d.state == store::kDeployFailed) return d;
    if (d.state == store::kDeployDeleting) {
      return FailedPrecondition("deployment " + name + " is being deleted");
    }
    if (NowMicros() >= deadline) {
      return Timeout("deployment " + name + " is still " + d.state + " after " +
                     std::to_string(static_cast<int>(timeout_seconds)) +
                     " s (it goes on; see `trainyard deployment logs " + name + "`)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

Result<int> ReapDeployments(store::Workspace* ws) {
  if (ws->db()->read_only()) return 0;
  ASSIGN_OR_RETURN(auto all, store::ListDeployments(ws));
  int marked = 0;
  const int64_t now = NowMicros();
  for (const auto& d : all) {
    if (d.state == store::kDeployFailed || d.state == store::kDeployDeleting) continue;
    std::string why;
    if (d.supervisor_pid > 0) {
      if (ProcessAlive(static_cast<pid_t>(d.supervisor_pid),
                       static_cast<unsigned long long>(d.supervisor_start))) {
        continue;
      }
      why = "supervisor died (pid " + std::to_string(d.supervisor_pid) +
            "); delete the deployment and deploy it again";
    } else if (now - d.created_at > kNoSupervisorMicros) {
      why = "the supervisor never started (see " + DeploymentDir(*ws, d.name) +
            "/logs/supervisor.log)";
    } else {
      continue;
    }
    store::DeploymentUpdate u;
    u.state = store::kDeployFailed;
    u.error = why;
    u.server_pid = 0;
    RETURN_IF_ERROR(store::UpdateDeployment(ws, d.name, u));
    ++marked;
  }
  return marked;
}

Status DeleteDeployment(store::Workspace* ws, const std::string& name, double wait_seconds) {
  ASSIGN_OR_RETURN(store::DeploymentRecord d, store::GetDeployment(ws, name));
  RETURN_IF_ERROR(
      store::UpdateDeployment(ws, name, {.state = std::string(store::kDeployDeleting)}));
  const pid_t sup = static_cast<pid_t>(d.supervisor_pid);
  const auto ticks = static_cast<unsigned long long>(d.supervisor_start);
  if (sup > 0 && ProcessAlive(sup, ticks)) {
    kill(sup, SIGTERM);
    const int64_t deadline = NowMicros() + static_cast<int64_t>(wait_seconds * 1e6);
    while (ProcessAlive(sup, ticks) && NowMicros() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (ProcessAlive(sup, ticks)) kill(sup, SIGKILL);
  }
  // Whatever is left of it (a server whose supervisor was killed, scoring workers).
  StopReport report =
      StopProcessesWithEnvironment(std::string(kIdVariable) + "=" + DeploymentId(*ws, name), 5000);
  if (!report.failed.empty()) {
    return FailedPrecondition("deployment " + name + ": could not stop pid " +
                              std::to_string(report.failed[0].first) + " (" +
                              report.failed[0].second + "); it stays Deleting");
  }
  RETURN_IF_ERROR(store::RemoveDeployment(ws, name));
  return RemoveAll(DeploymentDir(*ws, name));
}

// ---------------------------------------------------------------------------------------------
// The supervisor.

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnStopSignal(int) { g_stop = 1; }

// GET http://127.0.0.1:PORT/PATH: the HTTP status (0 when no answer) and the body.
std::pair<long, std::string> HttpGet(const std::string& host, int64_t port,
                                     const std::string& path) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::string h = (host == "0.0.0.0" || host == "::" || host.empty()) ? "127.0.0.1" : host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  std::string url = "http://" + h + ":" + std::to_string(port) + path;
  std::string body;
  CURL* c = curl_easy_init();
  if (c == nullptr) return {0, ""};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t size, size_t n, void* out) -> size_t {
        static_cast<std::string*>(out)->append(p, size * n);
        return size * n;
      });
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  long code = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(c);
  return {code, body};
}

// The server log from byte `offset` on.
std::string LogSince(const std::string& log, int64_t offset) {
  auto text = ReadFile(log);
  if (!text.ok() || static_cast<int64_t>(text->size()) <= offset) return "";
  return text->substr(static_cast<size_t>(offset));
}

int64_t FileSize(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

// The first "... failed to load: MESSAGE" line of `text` (contract B), from "model"/the start.
std::string LoadFailure(const std::string& text) {
  size_t at = text.find("failed to load: ");
  if (at == std::string::npos) return "";
  size_t begin = text.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  size_t end = text.find('\n', at);
  std::string line = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  if (size_t model = line.find("model "); model != std::string::npos && model < at) {
    line = line.substr(model);
  }
  return Trim(line);
}

// The "... failed to load: MESSAGE" of a 503 body of /v2/health/ready ({"error": ...}); "" while
// it is still loading.
std::string ReadyFailure(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_string()) return "";
  std::string error = j["error"].get<std::string>();
  return error.find("failed to load: ") == std::string::npos ? "" : Trim(error);
}

// The last `n` non-empty lines of `text`, joined by " | ".
std::string LastLines(const std::string& text, size_t n) {
  std::vector<std::string> lines;
  for (const auto& l : Split(text, '\n')) {
    if (!Trim(l).empty()) lines.push_back(Trim(l));
  }
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<long>(n));
  return Join(lines, " | ");
}

// SIGTERM to the server, up to 10 s, then SIGKILL to its process group; reaps it.
void StopServer(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    int status = 0;
    if (WaitPid(pid, &status, WNOHANG) == pid) {
      kill(-pid, SIGKILL);  // stragglers of its group
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  int status = 0;
  WaitPid(pid, &status);
}

// Appends one line to the server's log (what the supervisor did, for `deployment logs`).
void AppendLog(const std::string& log, const std::string& line) {
  int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  std::string text = line + "\n";
  (void)!write(fd, text.data(), text.size());
  close(fd);
}

// Sleeps `seconds` unless a stop is asked for; returns whether one was.
bool SleepUnlessStopped(double seconds) {
  const int64_t until = NowMicros() + static_cast<int64_t>(seconds * 1e6);
  while (!g_stop && NowMicros() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return g_stop != 0;
}

}  // namespace

namespace {

// One deployment's supervisor: starts the server, watches it, restarts it (runner/deployment.h).
class Supervisor {
 public:
  Supervisor(store::Workspace* ws, std::string name) : ws_(ws), name_(std::move(name)) {}

  int Run(const store::DeploymentRecord& rec) {
    if (rec.state == store::kDeployDeleting) return 0;
    {
      store::DeploymentUpdate u;
      u.supervisor_pid = getpid();
      u.supervisor_start = static_cast<int64_t>(ProcessStartTicks(getpid()));
      Update(u);
    }
    json spec = json::parse(rec.spec_json, nullptr, false);
    if (!spec.is_object() || !spec.contains("server")) {
      return Fail("the deployment's spec is unreadable");
    }
    argv_ = spec["server"].value("argv", std::vector<std::string>());
    env_ = EnvironmentWith(spec["server"].value("env", std::map<std::string, std::string>()), {});
    host_ = spec.value("host", "127.0.0.1");
    port_ = spec.value("port", 0);
    log_ = DeploymentLogPath(*ws_, name_);
    port_file_ = DeploymentDir(*ws_, name_) + "/server.port";
    int64_t restarts = rec.restarts;
    std::deque<int64_t> crashes;  // when the server ended on its own, within the window

    while (!g_stop) {
      const int64_t offset = FileSize(log_);
      End end = StartAndWatch(offset);
      if (end.kind == End::kStopped) break;
      if (end.kind == End::kLoadFailed) return Fail(end.message);
      // It exited on its own (or could not be started).
      const int64_t now = NowMicros();
      crashes.push_back(now);
      while (!crashes.empty() && now - crashes.front() > kCrashWindowMicros) crashes.pop_front();
      const int window_s = static_cast<int>(kCrashWindowMicros / 1'000'000);
      if (static_cast<int>(crashes.size()) >= kMaxCrashes) {
        AppendLog(log_, "[trainyard] " + end.message + "; giving up (" +
                            std::to_string(kMaxCrashes) + " times within " +
                            std::to_string(window_s) + " s)");
        return Fail("the server ended " + std::to_string(kMaxCrashes) + " times within " +
                    std::to_string(window_s) + " s; last: " + end.message + Tail(offset));
      }
      ++restarts;
      int backoff = std::min(kMaxBackoffSeconds,
                             1 << std::min<int>(10, static_cast<int>(crashes.size()) - 1));
      Say(end.message + "; restart " + std::to_string(restarts) + " in " + std::to_string(backoff) +
          " s");
      AppendLog(log_, "[trainyard] " + end.message + "; restart " + std::to_string(restarts) +
                          " in " + std::to_string(backoff) + " s");
      store::DeploymentUpdate u;
      u.state = store::kDeployUnhealthy;
      u.restarts = restarts;
      u.server_pid = 0;
      u.error = end.message + Tail(offset);
      Update(u);
      if (SleepUnlessStopped(backoff)) break;
    }
    Say("stopped");
    Update({.server_pid = int64_t{0}});
    auto cur = store::GetDeployment(ws_, name_);
    if (cur.ok() && cur->state != store::kDeployDeleting && cur->state != store::kDeployFailed) {
      // Stopped by a signal that was not a delete: nothing serves it any more.
      Fail("the supervisor was stopped by a signal");
    }
    return 0;
  }

  void Say(const std::string& line) {
    std::fprintf(stderr, "[%s] %s\n", FormatIso8601(NowMicros()).c_str(), line.c_str());
    std::fflush(stderr);
  }

  int Fail(const std::string& why) {
    Say("failed: " + why);
    store::DeploymentUpdate u;
    u.state = store::kDeployFailed;
    u.error = why;
    u.server_pid = 0;
    Update(u);
    return 1;
  }

 private:
  // How one server process ended.
  struct End {
    enum Kind { kStopped, kExited, kLoadFailed } kind = kStopped;
    std::string message;  // kExited: "server exited with code N"; kLoadFailed: the loader's
  };

  void Update(const store::DeploymentUpdate& u) {
    Status s = store::UpdateDeployment(ws_, name_, u);
    if (!s.ok()) Say("cannot record the state: " + s.message());
  }

  // ": the last lines of the server's output since `offset`" ("" when none).
  std::string Tail(int64_t offset) const {
    std::string tail = LastLines(LogSince(log_, offset), 3);
    return tail.empty() ? "" : ": " + tail;
  }

  // Starts the server (output appended to the log from `offset`) and watches it until it ends,
  // a stop is asked for (SIGTERM, or the row turned Deleting), or it reports a load failure.
  End StartAndWatch(int64_t offset) {
    unlink(port_file_.c_str());
    std::vector<std::string> argv = argv_;
    argv.insert(argv.end(), {"--port", std::to_string(port_), "--port-file", port_file_});
    AppendLog(log_, "[trainyard] starting " + Join(argv, " "));
    int out = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) return {End::kExited, "cannot open " + log_ + ": " + std::strerror(errno)};
    SpawnOptions options;
    options.stdout_fd = out;
    options.stderr_fd = out;
    options.new_process_group = true;
    options.die_with_parent = true;
    options.close_other_fds = true;
    Result<pid_t> started = Spawn(argv, env_, options);
    close(out);
    if (!started.ok()) {
      return {End::kExited, "cannot start the server: " + started.status().message()};
    }
    const pid_t pid = *started;
    Say("server started (pid " + std::to_string(pid) + ")");
    Update({.state = std::string(store::kDeployTransitioning), .server_pid = int64_t{pid}});
    bool healthy = false;
    int64_t next_state_check = 0;
    while (true) {
      if (g_stop) {
        StopServer(pid);
        return {End::kStopped, ""};
      }
      int status = 0;
      if (WaitPid(pid, &status, WNOHANG) == pid) {
        kill(-pid, SIGKILL);  // its group's stragglers
        if (std::string failure = LoadFailure(LogSince(log_, offset)); !failure.empty()) {
          return {End::kLoadFailed, failure};
        }
        return {End::kExited, "server exited with code " + std::to_string(ExitCodeOf(status))};
      }
      if (NowMicros() >= next_state_check) {  // a delete may not have reached us by signal
        next_state_check = NowMicros() + 1'000'000;
        auto cur = store::GetDeployment(ws_, name_);
        if (!cur.ok() || cur->state == store::kDeployDeleting) g_stop = 1;
      }
      if (port_ == 0) {
        auto text = ReadFile(port_file_);
        if (text.ok() && !Trim(*text).empty()) {
          port_ = std::strtoll(Trim(*text).c_str(), nullptr, 10);
          Update({.port = port_});
        }
      }
      if (!healthy) {
        std::string failure;
        if (port_ > 0) {
          auto [code, body] = HttpGet(host_, port_, "/v2/health/ready");
          if (code == 200) {
            healthy = true;
            Say("healthy on port " + std::to_string(port_));
            Update({.state = std::string(store::kDeployHealthy), .error = std::string()});
          } else {
            failure = ReadyFailure(body);  // the whole message ("... failed to load: ...")
          }
        }
        if (!healthy && failure.empty()) failure = LoadFailure(LogSince(log_, offset));
        if (!failure.empty()) {
          StopServer(pid);
          return {End::kLoadFailed, failure};
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  store::Workspace* ws_;
  const std::string name_;
  std::vector<std::string> argv_;  // the server's, without --port and --port-file
  std::map<std::string, std::string> env_;
  std::string host_, log_, port_file_;
  int64_t port_ = 0;  // 0 until the first server has chosen one; then kept across restarts
};

}  // namespace

int SuperviseDeployment(const std::string& workspace_dir, const std::string& name) {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  auto opened = store::Workspace::Open(workspace_dir);
  if (!opened.ok()) {
    std::fprintf(stderr, "cannot open the workspace: %s\n", opened.status().message().c_str());
    return 1;
  }
  Supervisor supervisor(opened->get(), name);
  auto rec = store::GetDeployment(opened->get(), name);
  if (!rec.ok()) {
    supervisor.Say(rec.status().message());
    return 1;
  }
  return supervisor.Run(*rec);
}

nlohmann::json DeploymentToJson(const store::Workspace& ws, const store::DeploymentRecord& d) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& [name, version] : d.models) {
    models.push_back({{"name", name}, {"version", version}});
  }
  return {{"name", d.name},
          {"state", d.state},
          {"scoring_uri", ScoringUri(d)},
          {"port", d.port},
          {"models", models},
          {"entry", DeploymentEntry(d)},
          {"error", d.error},
          {"restarts", d.restarts},
          {"created_at", FormatIso8601(d.created_at)},
          {"updated_at", FormatIso8601(d.updated_at)},
          {"logs", DeploymentLogPath(ws, d.name)}};
}

Result<std::string> DeploymentLogText(store::Workspace* ws, const std::string& name, int tail) {
  RETURN_IF_ERROR(store::GetDeployment(ws, name).status());
  std::string path = DeploymentLogPath(*ws, name);
  if (!PathExists(path)) return std::string();  // the server has not started yet
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  if (tail > 0) {
    size_t at = text.size();
    if (at > 0 && text[at - 1] == '\n') --at;
    for (int n = 0; n < tail && at != std::string::npos && at > 0; ++n) {
      at = text.rfind('\n', at - 1);
    }
    if (at != std::string::npos && at > 0) text = text.substr(at + 1);
  }
  return text;
}

}  // namespace trainyard::runner
