#include "env/python_env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "env/build_steps.h"

extern char** environ;

namespace trainyard::env {
namespace {

using nlohmann::json;

constexpr int kFormat = 1;
constexpr char kMarker[] = "trainyard-env.json";
constexpr char kRequirements[] = "trainyard-requirements.txt";
constexpr size_t kErrorTailLines = 15;
// pip's own source settings: removed so that only the hashed ones apply.
constexpr const char* kPipSourceEnv[] = {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS",
                                         "PIP_NO_INDEX"};

std::string RealPathOr(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return path;
  return buf;
}

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

std::string Short(const std::string& hash) { return hash.substr(0, 12); }

// Runs argv with pip's own source settings removed, so that only the hashed ones apply.
Result<int> RunStreaming(const std::vector<std::string>& argv,
                         const std::function<void(const std::string&)>& on_line) {
  StreamingOptions options;
  options.unset_env.assign(std::begin(kPipSourceEnv), std::end(kPipSourceEnv));
  options.set_env["PYTHONUNBUFFERED"] = "1";
  return env::RunStreaming(argv, on_line, options);
}

json RequestJson(const EnvRequest& r) {
  json j = {{"interpreter", r.interpreter}, {"python_version", r.python_version},
            {"packages", r.packages},       {"requirements", r.requirements},
            {"index_url", r.index_url},     {"extra_index_url", r.extra_index_url},
            {"find_links", r.find_links}};
  // Only conda requests carry the conda keys, so pip requests keep the hashes (and the cached
  // environments) they had before conda existed.
  if (r.kind == "conda") {
    j["kind"] = r.kind;
    j["conda"] = r.conda;
    j["conda_packages"] = r.conda_packages;
    j["conda_channels"] = r.conda_channels;
  }
  // Only when there are any, so requests without keep their JSON; never part of the hash.
  if (!r.provided.empty()) j["provided"] = r.provided;
  return j;
}

Result<EnvRequest> RequestFromJson(const json& j) {
  try {
    EnvRequest r;
    r.kind = j.value("kind", "pip");
    if (r.kind != "pip" && r.kind != "conda") {
      return InvalidArgument("malformed environment request: unknown kind \"" + r.kind + "\"");
    }
    r.interpreter = j.at("interpreter").get<std::string>();
    r.python_version = j.at("python_version").get<std::string>();
    r.packages = j.at("packages").get<std::vector<std::string>>();
    r.requirements = j.at("requirements").get<std::string>();
    r.index_url = j.at("index_url").get<std::string>();
    r.extra_index_url = j.at("extra_index_url").get<std::string>();
    r.find_links = j.at("find_links").get<std::vector<std::string>>();
    if (r.kind == "conda") {
      r.conda = j.at("conda").get<std::string>();
      r.conda_packages = j.at("conda_packages").get<std::vector<std::string>>();
      r.conda_channels = j.at("conda_channels").get<std::vector<std::string>>();
    }
    r.provided = j.value("provided", std::vector<std::string>{});
    return r;
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("malformed environment request: ") + e.what());
  }
}

// The cached environment as a request describes it (everything but the build facts).
EnvInfo InfoFor(const EnvRequest& r, const std::string& envs_dir, const std::string& hash) {
  EnvInfo info;
  info.kind = r.kind;
  info.hash = hash;
  info.dir = envs_dir + "/" + hash;
  info.python = r.kind == "conda" ? info.dir + "/bin/python3" : EnvPython(envs_dir, hash);
  info.interpreter = r.interpreter;
  info.python_version = r.python_version;
  info.packages = r.packages;
  info.requirements = r.requirements;
  info.index_url = r.index_url;
  info.extra_index_url = r.extra_index_url;
  info.find_links = r.find_links;
  info.conda = r.conda;
  info.conda_packages = r.conda_packages;
  info.conda_channels = r.conda_channels;
  return info;
}

// The marker of <envs_dir>/<hash>, or an error when the folder is not a complete environment.
Result<EnvInfo> ReadMarker(const std::string& envs_dir, const std::string& hash) {
  std::string dir = envs_dir + "/" + hash;
  ASSIGN_OR_RETURN(std::string text, ReadFile(dir + "/" + kMarker));
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || j.value("format", 0) != kFormat) {
    return InvalidArgument("malformed marker in " + dir);
  }
  ASSIGN_OR_RETURN(EnvRequest r, RequestFromJson(j));
  EnvInfo info = InfoFor(r, envs_dir, hash);
  info.created_at = j.value("created_at", int64_t{0});
  info.build_seconds = j.value("build_seconds", 0.0);
  return info;
}

bool IsHash(const std::string& name) {
  return name.size() == 64 && std::all_of(name.begin(), name.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

// Names in `dir` ({} when it cannot be read).
std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// Builds the venv in <envs_dir>/<hash> (the caller holds the lock and removed any partial folder).
Status Build(const EnvRequest& request, const std::string& envs_dir, const std::string& hash,
             const std::function<void(const std::string&)>& emit) {
  std::string dir = envs_dir + "/" + hash;
  std::deque<std::string> tail;
  auto on_line = [&](const std::string& line) {
    tail.push_back(line);
    if (tail.size() > kErrorTailLines) tail.pop_front();
    emit(line);
  };
  auto step = [&](const std::string& what, const std::vector<std::string>& argv) -> Status {
    emit("$ " + Join(argv, " "));
    tail.clear();
    ASSIGN_OR_RETURN(int code, RunStreaming(argv, on_line));
    if (code == 0) return Status::Ok();
    std::string msg = what + " failed (exit code " + std::to_string(code) + ")";
    if (!tail.empty()) msg += ":\n" + Join({tail.begin(), tail.end()}, "\n");
    return FailedPrecondition(msg);
  };
  std::string python;
  if (request.kind == "conda") {
    RETURN_IF_ERROR(step("conda create", CondaCreateArgs(request, dir)));
    python = dir + "/bin/python3";
    if (access(python.c_str(), X_OK) != 0) {
      return FailedPrecondition("conda create succeeded, but " + python +
                                " is missing (list python among conda_packages)");
    }
    if (request.packages.empty() && request.requirements.empty()) return Status::Ok();
  } else {
    // Without pip of its own: the system's pip is visible through --system-site-packages, which
    // saves seconds per build; ensurepip only when the interpreter has no pip.
    RETURN_IF_ERROR(
        step("creating the virtual environment",
             {request.interpreter, "-m", "venv", "--system-site-packages", "--without-pip", dir}));
    python = dir + "/bin/python";
  }
  ASSIGN_OR_RETURN(int has_pip, RunStreaming({python, "-m", "pip", "--version"}, emit));
  if (has_pip != 0) {
    RETURN_IF_ERROR(
        step("installing pip (ensurepip)", {python, "-m", "ensurepip", "--default-pip"}));
  }
  std::string req_path = dir + "/" + kRequirements;
  if (!request.requirements.empty()) {
    RETURN_IF_ERROR(WriteFileAtomic(req_path, request.requirements));
  }
  std::vector<std::string> argv = {python, "-m", "pip"};
  for (auto& a : PipInstallArgs(request, req_path)) argv.push_back(a);
  return step("pip install", argv);
}

}  // namespace

std::string NormalizePackage(const std::string& package) {
  std::string p = Trim(package);
  size_t end = 0;
  while (end < p.size() && IsNameChar(p[end])) ++end;
  std::string name;
  for (size_t i = 0; i < end; ++i) {
    char c = p[i];
    if (c == '-' || c == '_' || c == '.') {
      if (name.empty() || name.back() != '-') name += '-';
    } else {
      name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  std::string rest;
  for (size_t i = end; i < p.size(); ++i) {
    if (!std::isspace(static_cast<unsigned char>(p[i]))) rest += p[i];
  }
  return name + rest;
}

std::vector<std::string> NormalizePackages(const std::vector<std::string>& packages) {
  std::set<std::string> out;
  for (const auto& p : packages) {
    std::string n = NormalizePackage(p);
    if (!n.empty()) out.insert(n);
  }
  return {out.begin(), out.end()};
}

bool IsProvidedPackage(const std::string& package) {
  std::string p = Trim(package);
  if (size_t channel = p.find("::"); channel != std::string::npos) p = p.substr(channel + 2);
  std::string normalized = NormalizePackage(p);
  size_t end = 0;
  while (end < normalized.size() && IsNameChar(normalized[end])) ++end;
  std::string name = normalized.substr(0, end);
  return name == "azureml" || StartsWith(name, "azureml-");
}

std::vector<std::string> WithoutProvidedPackages(const std::vector<std::string>& packages) {
  std::vector<std::string> kept;
  for (const auto& p : packages) {
    if (!IsProvidedPackage(p)) kept.push_back(p);
  }
  return kept;
}

std::string ProvidedNote(const std::string& package) {
  return package + ": provided by trainyard's azureml compatibility package (not installed)";
}

void SetProvidedPackages(EnvRequest* request) {
  std::set<std::string> provided(request->provided.begin(), request->provided.end());
  auto take = [&](std::vector<std::string>* list) {
    std::vector<std::string> kept;
    for (const auto& p : *list) {
      if (IsProvidedPackage(p)) {
        provided.insert(Trim(p));
      } else {
        kept.push_back(p);
      }
    }
    *list = std::move(kept);
  };
  take(&request->packages);
  take(&request->conda_packages);
  if (!request->requirements.empty()) {
    std::vector<std::string> lines = Split(request->requirements, '\n');
    bool changed = false, left = false;
    for (auto& line : lines) {
      std::string text = Trim(line);
      if (text.empty() || text[0] == '#') continue;
      // A requirement's own comment (" # ...") is not part of it.
      std::string requirement = Trim(text.substr(0, text.find(" #")));
      if (text[0] == '-' || !IsProvidedPackage(requirement)) {
        left = true;  // a requirement, or an option (-r, --index-url, ...): kept
        continue;
      }
      provided.insert(requirement);
      line = "# " + ProvidedNote(requirement) + ": " + text;
      changed = true;
    }
    if (changed) request->requirements = left ? Join(lines, "\n") : "";
  }
  request->provided.assign(provided.begin(), provided.end());
}

bool NeedsEnvironment(const EnvRequest& request) {
  return !request.packages.empty() || !request.requirements.empty() ||
         (request.kind == "conda" && !request.conda_packages.empty());
}

void SetPipSourcesFromEnvironment(EnvRequest* request) {
  auto get = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  request->index_url = get("TRAINYARD_PIP_INDEX_URL");
  request->extra_index_url = get("TRAINYARD_PIP_EXTRA_INDEX_URL");
  request->find_links.clear();
  for (const auto& f : Split(get("TRAINYARD_PIP_FIND_LINKS"), ':')) {
    if (!Trim(f).empty()) request->find_links.push_back(AbsolutePath(ExpandHome(Trim(f))));
  }
}

std::string EnvHash(const EnvRequest& request) {
  json key = RequestJson(request);
  key.erase("provided");  // nothing of the environment depends on them
  key["format"] = kFormat;
  key["interpreter"] = RealPathOr(request.interpreter);
  if (request.kind == "conda") key["conda"] = RealPathOr(request.conda);
  return Sha256Hex(key.dump());
}

std::string EnvPython(const std::string& envs_dir, const std::string& hash) {
  return envs_dir + "/" + hash + "/bin/python";
}

std::string DescribeInstall(const EnvRequest& request) {
  std::string out;
  if (request.kind == "conda") {
    out = request.conda.substr(request.conda.find_last_of('/') + 1) + " create";
    for (const auto& p : request.conda_packages) out += " " + p;
    if (request.packages.empty() && request.requirements.empty()) return out;
    out += ", then ";
  }
  out += "pip install";
  for (const auto& p : request.packages) out += " " + p;
  if (!request.requirements.empty()) out += " -r requirements";
  return out;
}

std::string EnvPythonFor(const EnvRequest& request, const std::string& envs_dir) {
  std::string hash = EnvHash(request);
  return request.kind == "conda" ? envs_dir + "/" + hash + "/bin/python3"
                                 : EnvPython(envs_dir, hash);
}

std::vector<std::string> CondaCreateArgs(const EnvRequest& request, const std::string& prefix) {
  std::vector<std::string> args = {request.conda, "create", "--yes", "--prefix", prefix};
  for (const auto& c : request.conda_channels) {
    args.push_back("-c");
    args.push_back(c);
  }
  for (const auto& p : request.conda_packages) args.push_back(p);
  return args;
}

std::string FindConda() {
  if (const char* v = std::getenv("TRAINYARD_CONDA"); v != nullptr && *v != '\0') {
    return FindOnPath(ExpandHome(v));
  }
  for (const char* c : {"micromamba", "mamba", "conda"}) {
    if (std::string found = FindOnPath(c); !found.empty()) return found;
  }
  return "";
}

void SetCondaFromEnvironment(const std::string& conda, const std::vector<std::string>& packages,
                             EnvRequest* request) {
  request->kind = "conda";
  request->conda = conda.empty() ? conda : AbsolutePath(conda);
  std::set<std::string> unique;
  for (const auto& p : packages) {
    if (!Trim(p).empty()) unique.insert(Trim(p));
  }
  request->conda_packages.assign(unique.begin(), unique.end());
  request->conda_channels.clear();
  const char* channels = std::getenv("TRAINYARD_CONDA_CHANNELS");
  for (const auto& c : Split(channels != nullptr ? channels : "", ',')) {
    if (!Trim(c).empty()) request->conda_channels.push_back(Trim(c));
  }
}

std::vector<std::string> PipInstallArgs(const EnvRequest& request,
                                        const std::string& requirements_path) {
  std::vector<std::string> args = {"install", "--no-input", "--disable-pip-version-check"};
  if (!request.index_url.empty()) {
    args.push_back("--index-url");
    args.push_back(request.index_url);
  }
  if (!request.extra_index_url.empty()) {
    args.push_back("--extra-index-url");
    args.push_back(request.extra_index_url);
  }
  for (const auto& f : request.find_links) {
    args.push_back("--find-links");
    args.push_back(f);
  }
  if (!request.find_links.empty() && request.index_url.empty() && request.extra_index_url.empty()) {
    args.push_back("--no-index");
  }
  for (const auto& p : request.packages) args.push_back(p);
  if (!request.requirements.empty()) {
    args.push_back("-r");
    args.push_back(requirements_path);
  }
  return args;
}

std::string EnvRequestToJson(const EnvRequest& request) {
  return RequestJson(request).dump(2) + "\n";
}

Result<EnvRequest> EnvRequestFromJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return InvalidArgument("malformed environment request (not a JSON object)");
  return RequestFromJson(j);
}

Result<EnvInfo> EnsureEnv(const EnvRequest& request, const std::string& envs_dir,
                          const std::function<void(const std::string& line)>& progress) {
  auto emit = [&](const std::string& line) {
    if (progress) progress(line);
  };
  for (const auto& p : request.provided) emit(ProvidedNote(p));
  if (!NeedsEnvironment(request)) {
    EnvInfo none;
    none.kind = request.kind;
    none.python = request.interpreter;
    none.interpreter = request.interpreter;
    none.python_version = request.python_version;
    none.reused = true;
    emit("nothing else to install: no environment needed" +
         (request.interpreter.empty() ? std::string()
                                      : " (the runs use " + request.interpreter + ")"));
    return none;
  }
  std::string hash = EnvHash(request);
  if (auto hit = ReadMarker(envs_dir, hash); hit.ok()) {
    emit("reusing environment " + hash + " (built " + FormatIso8601(hit->created_at) + ")");
    hit->reused = true;
    return hit;
  }
  RETURN_IF_ERROR(MakeDirs(envs_dir));
  FileLock lock;
  std::string lock_path = envs_dir + "/" + hash + ".lock";
  ASSIGN_OR_RETURN(bool got, lock.Acquire(lock_path, /*wait=*/false));
  if (!got) {
    emit("waiting for another build of environment " + Short(hash));
    ASSIGN_OR_RETURN(got, lock.Acquire(lock_path, /*wait=*/true));
  }
  if (auto hit = ReadMarker(envs_dir, hash); hit.ok()) {  // built while we waited
    emit("reusing environment " + hash + " (built " + FormatIso8601(hit->created_at) + ")");
    hit->reused = true;
    return hit;
  }
  std::string dir = envs_dir + "/" + hash;
  RETURN_IF_ERROR(RemoveAll(dir));  // a partial build (no marker)
  std::string log_path = envs_dir + "/" + hash + ".log";
  std::FILE* log = std::fopen(log_path.c_str(), "w");
  auto log_and_emit = [&](const std::string& line) {
    if (log != nullptr) {
      std::fprintf(log, "%s\n", line.c_str());
      std::fflush(log);
    }
    emit(line);
  };
  if (log != nullptr) {  // said to `progress` above already
    for (const auto& p : request.provided) std::fprintf(log, "%s\n", ProvidedNote(p).c_str());
  }
  log_and_emit("building environment " + hash + " (" + DescribeInstall(request) + ") with " +
               (request.kind == "conda" ? request.conda : request.interpreter) + " on " +
               HostName());
  int64_t start = MonotonicMicros();
  Status built = Build(request, envs_dir, hash, log_and_emit);
  EnvInfo info;
  if (built.ok()) {
    info = InfoFor(request, envs_dir, hash);
    info.created_at = NowMicros();
    info.build_seconds = static_cast<double>(MonotonicMicros() - start) / 1e6;
    json marker = RequestJson(request);
    marker["format"] = kFormat;
    marker["hash"] = hash;
    marker["created_at"] = info.created_at;
    marker["created"] = FormatIso8601(info.created_at);
    marker["build_seconds"] = info.build_seconds;
    built = WriteFileAtomic(dir + "/" + kMarker, marker.dump(2) + "\n");
  }
  if (!built.ok()) {
    log_and_emit("build failed; removing " + dir);
    RemoveAll(dir).IgnoreError();
  } else {
    log_and_emit("environment " + Short(hash) + " ready in " +
                 std::to_string(static_cast<int>(info.build_seconds * 1000)) + " ms");
  }
  if (log != nullptr) std::fclose(log);
  if (!built.ok()) {
    return Status(built.code(),
                  "building environment " + Short(hash) + " failed: " + built.message());
  }
  return info;
}

Result<EnvInfo> FindEnv(const std::string& envs_dir, const std::string& hash) {
  if (hash.empty()) return InvalidArgument("no environment hash given");
  std::vector<std::string> matches;
  for (const auto& name : Entries(envs_dir)) {
    if (IsHash(name) && StartsWith(name, hash) &&
        PathExists(envs_dir + "/" + name + "/" + kMarker)) {
      matches.push_back(name);
    }
  }
  if (matches.empty()) return NotFound("no environment " + hash + " in " + envs_dir);
  if (matches.size() > 1) {
    return InvalidArgument("environment prefix " + hash + " is ambiguous: " + Join(matches, ", "));
  }
  return ReadMarker(envs_dir, matches[0]);
}

Result<std::vector<EnvInfo>> ListEnvs(const std::string& envs_dir) {
  std::vector<EnvInfo> out;
  for (const auto& name : Entries(envs_dir)) {
    if (!IsHash(name)) continue;
    auto info = ReadMarker(envs_dir, name);
    if (info.ok()) out.push_back(*std::move(info));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const EnvInfo& a, const EnvInfo& b) { return a.created_at < b.created_at; });
  return out;
}

Result<std::vector<std::string>> PruneEnvs(const std::string& envs_dir,
                                           const std::set<std::string>& keep) {
  std::set<std::string> hashes;
  for (const auto& name : Entries(envs_dir)) {
    std::string h = name.substr(0, name.find('.'));
    if (IsHash(h) && !keep.count(h)) hashes.insert(h);
  }
  std::vector<std::string> removed;
  for (const auto& h : hashes) {
    std::string base = envs_dir + "/" + h;
    FileLock lock;
    ASSIGN_OR_RETURN(bool got, lock.Acquire(base + ".lock", /*wait=*/false));
    if (!got) continue;  // being built
    RETURN_IF_ERROR(RemoveAll(base));
    RETURN_IF_ERROR(RemoveAll(base + ".log"));
    // The lock file stays: removing it could let a waiting builder and a new one lock different
    // files.
    removed.push_back(h);
  }
  return removed;
}

}  // namespace trainyard::env
