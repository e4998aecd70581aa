#include "env/interpreter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "common/files.h"
#include "common/process.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "env/blas.h"
#include "env/build_steps.h"

namespace trainyard::env {
namespace {

using nlohmann::json;

constexpr double kProbeTimeoutSeconds = 60;
// 2: has_azureml / has_horovod no longer count trainyard's own packages named by trainyard.pth.
// 3: has_mlflow.
constexpr int kCacheFormat = 3;
constexpr char kCacheFile[] = "interpreters.json";
constexpr std::string_view kPyTag = "TRAINYARD_PROBE_PY ";
constexpr std::string_view kTorchTag = "TRAINYARD_PROBE_TORCH ";

// Printed in two steps so that an `import torch` that kills the interpreter (a crash in a native
// library) still leaves the Python facts. Runs on Python 2 too, to report its version.
constexpr char kProbeScript[] = R"PY(
import json, os, sys
def emit(tag, d):
    sys.stdout.write("TRAINYARD_PROBE_%s %s\n" % (tag, json.dumps(d)))
    sys.stdout.flush()
def ours():
    # Folders trainyard's set-up put on the path (scripts/install_python.sh writes trainyard.pth):
    # its own SDK and compatibility packages, which are not the real azureml or horovod.
    out = []
    try:
        import site
        dirs = list(site.getsitepackages())
        if site.ENABLE_USER_SITE:
            dirs.append(site.getusersitepackages())
    except Exception:
        dirs = []
    for d in dirs:
        try:
            with open(os.path.join(d, "trainyard.pth")) as f:
                out += [os.path.realpath(l.strip()) + os.sep for l in f
                        if l.strip() and not l.startswith(("#", "import"))]
        except Exception:
            pass
    return out
OURS = ours()
def has(name):
    try:
        import importlib.util
        spec = importlib.util.find_spec(name)
        if spec is None:
            return False
        where = list(spec.submodule_search_locations or []) or [spec.origin or ""]
        return any(not any(os.path.realpath(w).startswith(o) for o in OURS) for w in where)
    except Exception:
        return False
emit("PY", {"python_version": "%d.%d.%d" % tuple(sys.version_info[:3]),
            "azureml": has("azureml"), "horovod": has("horovod"), "mlflow": has("mlflow")})
t = {"ok": False}
try:
    import torch
    t["ok"] = True
    t["version"] = str(torch.__version__)
    t["dir"] = os.path.dirname(os.path.realpath(torch.__file__))
    t["threads"] = int(torch.get_num_threads())
    try:
        t["mkl"] = bool(torch.backends.mkl.is_available())
    except Exception:
        t["mkl"] = False
    try:
        t["cuda"] = bool(torch.cuda.is_available())
        t["cuda_count"] = int(torch.cuda.device_count()) if t["cuda"] else 0
    except Exception:
        t["cuda"] = False
        t["cuda_count"] = 0
    libs = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                p = parts[-1] if len(parts) >= 6 else ""
                n = os.path.basename(p)
                if p.startswith("/") and p not in libs and any(
                        k in n for k in ("blas", "mkl", "blis", "atlas")):
                    libs.append(p)
    except Exception:
        pass
    t["blas_libs"] = libs
except BaseException as e:
    import traceback
    t["error"] = traceback.format_exception_only(type(e), e)[-1].strip()
emit("TORCH", t)
)PY";

// Environment variables that change what an interpreter imports or sees; part of the cache key.
constexpr const char* kKeyEnv[] = {"PYTHONPATH",  "PYTHONHOME",   "PYENV_VERSION",
                                   "VIRTUAL_ENV", "CONDA_PREFIX", "CUDA_VISIBLE_DEVICES"};

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return "";
  return buf;
}

std::string Describe(const std::string& path, const std::string& how) {
  return "interpreter " + path + " (" + how + ")";
}

std::string LastLine(std::string_view text) {
  std::string trimmed = Trim(text);
  size_t nl = trimmed.rfind('\n');
  return nl == std::string::npos ? trimmed : Trim(trimmed.substr(nl + 1));
}

// Checks that `path` is an executable file; errors name it and how it was chosen.
Result<InterpreterChoice> Check(const std::string& path, const std::string& how) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return NotFound(Describe(path, how) + " does not exist");
  }
  if (!S_ISREG(st.st_mode) || access(path.c_str(), X_OK) != 0) {
    return FailedPrecondition(Describe(path, how) + " is not an executable file");
  }
  return InterpreterChoice{path, how};
}

// A path, or a bare name searched on PATH.
Result<InterpreterChoice> CheckNamed(const std::string& name, const std::string& how) {
  if (name.find('/') != std::string::npos) return Check(AbsolutePath(ExpandHome(name)), how);
  std::string found = FindOnPath(name);
  if (found.empty()) return NotFound(Describe(name, how) + " was not found on PATH");
  return Check(AbsolutePath(found), how);
}

// --- the cache -----------------------------------------------------------------------------

struct FileStamp {
  bool exists = false;
  int64_t mtime_ns = 0;
  int64_t size = 0;
};

FileStamp Stamp(const std::string& path) {
  struct stat st {};
  FileStamp s;
  if (path.empty() || stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.size = static_cast<int64_t>(st.st_size);
  return s;
}

json EnvKey() {
  json env = json::object();
  for (const char* name : kKeyEnv) {
    if (const char* v = std::getenv(name)) env[name] = v;
  }
  return env;
}

// The parts of the key that depend on the torch installation found by a probe.
json TorchKey(const std::string& torch_dir) {
  FileStamp dir = Stamp(torch_dir);
  FileStamp version = Stamp(torch_dir + "/version.py");
  return {{"dir", torch_dir},
          {"dir_mtime_ns", dir.mtime_ns},
          {"version_py_mtime_ns", version.mtime_ns},
          {"version_py_size", version.size}};
}

json InterpreterKey(const FileStamp& stamp) {
  return {{"mtime_ns", stamp.mtime_ns}, {"size", stamp.size}, {"env", EnvKey()}};
}

json InfoToJson(const InterpreterInfo& info) {
  return {{"python_version", info.python_version}, {"has_torch", info.has_torch},
          {"torch_version", info.torch_version},   {"torch_error", info.torch_error},
          {"cuda_available", info.cuda_available}, {"cuda_device_count", info.cuda_device_count},
          {"torch_threads", info.torch_threads},   {"blas", info.blas},
          {"has_azureml", info.has_azureml},       {"has_horovod", info.has_horovod},
          {"has_mlflow", info.has_mlflow}};
}

// Throws nlohmann::json::exception on a malformed entry (callers treat it as a miss).
InterpreterInfo InfoFromJson(const json& j) {
  InterpreterInfo info;
  info.python_version = j.at("python_version").get<std::string>();
  info.has_torch = j.at("has_torch").get<bool>();
  info.torch_version = j.at("torch_version").get<std::string>();
  info.torch_error = j.at("torch_error").get<std::string>();
  info.cuda_available = j.at("cuda_available").get<bool>();
  info.cuda_device_count = j.at("cuda_device_count").get<int>();
  info.torch_threads = j.at("torch_threads").get<int>();
  info.blas = j.at("blas").get<std::string>();
  info.has_azureml = j.value("has_azureml", false);
  info.has_horovod = j.value("has_horovod", false);
  info.has_mlflow = j.value("has_mlflow", false);
  return info;
}

// The cache document, or an empty one when missing, unreadable or of another format.
json ReadCache(const std::string& path) {
  json empty = {{"format", kCacheFormat}, {"entries", json::object()}};
  auto text = ReadFile(path);
  if (!text.ok()) return empty;
  json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || doc.value("format", 0) != kCacheFormat || !doc.contains("entries") ||
      !doc["entries"].is_object()) {
    return empty;
  }
  return doc;
}

std::optional<InterpreterInfo> LookUp(const std::string& cache_path, const std::string& real,
                                      const FileStamp& stamp) {
  json doc = ReadCache(cache_path);
  auto it = doc["entries"].find(real);
  if (it == doc["entries"].end()) return std::nullopt;
  try {
    const json& entry = *it;
    if (entry.at("interpreter") != InterpreterKey(stamp)) return std::nullopt;
    const json& torch = entry.at("torch");
    if (torch != TorchKey(torch.at("dir").get<std::string>())) return std::nullopt;
    return InfoFromJson(entry.at("info"));
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

// Replaces the file through a uniquely named temporary, so that concurrent writers (threads or
// processes) never see or produce a partial file.
Status WriteUnique(const std::string& path, const std::string& contents) {
  std::string tmp = path + ".tmp.XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) return ErrnoError("cannot create a temporary file beside " + path, errno);
  fchmod(fd, 0644);
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      unlink(tmp.c_str());
      return ErrnoError("cannot write " + tmp, e);
    }
    done += static_cast<size_t>(n);
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    return ErrnoError("cannot rename " + tmp + " to " + path, e);
  }
  return Status::Ok();
}

Status Store(const std::string& cache_dir, const std::string& real, const FileStamp& stamp,
             const std::string& torch_dir, const InterpreterInfo& info) {
  RETURN_IF_ERROR(MakeDirs(cache_dir));
  std::string path = cache_dir + "/" + kCacheFile;
  json doc = ReadCache(path);  // re-read just before writing, to lose as little as possible
  json& entries = doc["entries"];
  for (auto it = entries.begin(); it != entries.end();) {  // forget removed interpreters
    it = PathExists(it.key()) ? std::next(it) : entries.erase(it);
  }
  entries[real] = {{"interpreter", InterpreterKey(stamp)},
                   {"torch", TorchKey(torch_dir)},
                   {"info", InfoToJson(info)}};
  return WriteUnique(path, doc.dump(2) + "\n");
}

// --- probing ---------------------------------------------------------------------------------

// "openblas (/usr/lib/.../openblas-pthread/libblas.so.3)" from the libraries torch mapped.
std::string DescribeLoadedBlas(const std::vector<std::string>& libs, bool torch_has_mkl) {
  auto find = [&](auto pred) -> std::string {
    for (const auto& lib : libs) {
      std::string base = lib.substr(lib.rfind('/') + 1);
      if (pred(base)) return lib;
    }
    return "";
  };
  // libblas.so.3 is what Debian's torch links; its resolved file says which BLAS it is.
  std::string lib = find([](const std::string& b) { return StartsWith(b, "libblas.so"); });
  if (lib.empty()) lib = find([](const std::string& b) { return b.find("mkl") != b.npos; });
  if (lib.empty()) lib = find([](const std::string& b) { return b.find("openblas") != b.npos; });
  if (lib.empty()) lib = find([](const std::string& b) { return b.find("blis") != b.npos; });
  if (!lib.empty()) return DescribeBlas(ClassifyBlasLibrary(lib));
  if (torch_has_mkl) return "mkl (built into torch)";
  return "unknown (torch loaded no separate BLAS library)";
}

struct Probe {
  InterpreterInfo info;
  std::string torch_dir;
};

Result<Probe> RunProbe(const InterpreterChoice& choice) {
  CommandOptions options;
  options.cwd = "/";  // so that a ./torch folder cannot shadow the real package
  options.timeout_seconds = kProbeTimeoutSeconds;
  options.unset_env = {"OMP_NUM_THREADS", "MKL_NUM_THREADS"};
  auto run = RunCommand({choice.path, "-c", kProbeScript}, options);
  std::string who = Describe(choice.path, choice.how);
  if (!run.ok()) return Unavailable(who + " cannot be started: " + run.status().message());
  if (run->timed_out) {
    return Timeout(who + " did not finish probing (python version, import torch) within " +
                   std::to_string(static_cast<int>(kProbeTimeoutSeconds)) + " s");
  }
  std::string py_line, torch_line;
  for (const auto& line : Split(run->out, '\n')) {
    if (StartsWith(line, kPyTag)) py_line = line.substr(kPyTag.size());
    if (StartsWith(line, kTorchTag)) torch_line = line.substr(kTorchTag.size());
  }
  std::string err_tail = LastLine(run->err);
  json py = json::parse(py_line, nullptr, false);
  if (!py.is_object()) {
    return Unavailable(who + " does not look like Python: the probe exited with code " +
                       std::to_string(run->exit_code) +
                       (err_tail.empty() ? "" : " (" + err_tail + ")"));
  }
  Probe probe;
  InterpreterInfo& info = probe.info;
  info.path = choice.path;
  info.how = choice.how;
  json torch = json::parse(torch_line, nullptr, false);
  try {
    info.python_version = py.at("python_version").get<std::string>();
    info.has_azureml = py.value("azureml", false);
    info.has_horovod = py.value("horovod", false);
    info.has_mlflow = py.value("mlflow", false);
    if (!torch.is_object()) {
      info.torch_error = "import torch killed the interpreter (exit code " +
                         std::to_string(run->exit_code) + ")" +
                         (err_tail.empty() ? "" : ": " + err_tail);
    } else if (torch.value("ok", false)) {
      info.has_torch = true;
      info.torch_version = torch.at("version").get<std::string>();
      probe.torch_dir = torch.at("dir").get<std::string>();
      info.torch_threads = torch.at("threads").get<int>();
      info.cuda_available = torch.at("cuda").get<bool>();
      info.cuda_device_count = torch.at("cuda_count").get<int>();
      info.blas = DescribeLoadedBlas(torch.at("blas_libs").get<std::vector<std::string>>(),
                                     torch.value("mkl", false));
    } else {
      info.torch_error = torch.value("error", std::string("import torch failed"));
    }
  } catch (const json::exception& e) {
    return Internal(who + ": malformed probe output: " + e.what());
  }
  return probe;
}

}  // namespace

Result<InterpreterChoice> ChooseInterpreter(const std::string& requested,
                                            const std::string& default_path) {
  if (!requested.empty()) return CheckNamed(requested, "job spec python");
  const char* from_env = std::getenv("TRAINYARD_PYTHON");
  if (from_env != nullptr && *from_env != '\0') return CheckNamed(from_env, "$TRAINYARD_PYTHON");
  if (PathExists(default_path)) return Check(default_path, default_path + " (default)");
  std::string on_path = FindOnPath("python3");
  if (!on_path.empty()) return Check(AbsolutePath(on_path), "python3 on PATH");
  return NotFound("no Python interpreter: " + default_path +
                  " does not exist and python3 is not on PATH. Install one (Debian: apt-get "
                  "install python3-torch), or name one with \"python:\" in the job file, "
                  "--set python=/path, or TRAINYARD_PYTHON.");
}

Result<InterpreterInfo> ResolveInterpreter(const std::string& requested,
                                           const std::string& cache_dir) {
  ASSIGN_OR_RETURN(InterpreterChoice choice, ChooseInterpreter(requested));
  std::string real = RealPath(choice.path);
  FileStamp stamp = Stamp(real);
  if (!cache_dir.empty() && stamp.exists) {
    if (auto hit = LookUp(cache_dir + "/" + kCacheFile, real, stamp)) {
      hit->path = choice.path;
      hit->how = choice.how;
      return *std::move(hit);
    }
  }
  // One probe per interpreter at a time: concurrent callers (20 submits on a new workspace) wait
  // for the first one's probe and then read its cached answer instead of each importing torch.
  // The lock is only an optimisation: when it cannot be taken, probe anyway.
  FileLock lock;
  if (!cache_dir.empty() && stamp.exists && MakeDirs(cache_dir).ok()) {
    std::string lock_path = cache_dir + "/interpreter-" + Sha256Hex(real).substr(0, 16) + ".lock";
    if (lock.Acquire(lock_path, /*wait=*/true).ok()) {
      if (auto hit = LookUp(cache_dir + "/" + kCacheFile, real, stamp)) {
        hit->path = choice.path;
        hit->how = choice.how;
        return *std::move(hit);
      }
    }
  }
  ASSIGN_OR_RETURN(Probe probe, RunProbe(choice));
  if (!cache_dir.empty() && stamp.exists && probe.info.has_torch) {
    // Best effort: a cache that cannot be written costs a re-probe next time, nothing else.
    Store(cache_dir, real, stamp, probe.torch_dir, probe.info).IgnoreError();
  }
  return std::move(probe.info);
}

std::string TorchInstallAdvice() {
  return "Install PyTorch for it (Debian: apt-get install python3-torch, which serves "
         "/usr/bin/python3), or choose another interpreter with \"python:\" in the job file, "
         "--set python=/path, or TRAINYARD_PYTHON.";
}

Status RequireTorch(const InterpreterInfo& info) {
  if (info.has_torch) return Status::Ok();
  std::string why = info.torch_error.empty() ? "import torch failed" : info.torch_error;
  return FailedPrecondition(Describe(info.path, info.how) + " cannot import torch: " + why + ". " +
                            TorchInstallAdvice());
}

}  // namespace trainyard::env
