#include "env/cpp_build.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "env/build_steps.h"
#include "snapshot/blob_store.h"
#include "snapshot/snapshot.h"

namespace trainyard::env {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kFormat = 1;
constexpr char kMarker[] = "trainyard-build.json";
constexpr char kClientConfig[] = "trainyardConfig.cmake";
constexpr char kClientFiles[] = "trainyard-client-files.txt";
constexpr size_t kErrorLines = 12;

std::string RealPathOr(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return path;
  return buf;
}

// "size:mtime_ns" of a file, "" when it cannot be stat'ed.
std::string Stamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_size) + ":" +
         std::to_string(static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                        st.st_mtim.tv_nsec);
}

// The first line of `tool --version`, cached in <cache_dir>/cpp-toolchain.json by the tool's real
// path and stamp (a compiler upgrade changes both).
Result<std::string> ToolVersion(const std::string& tool, const std::string& cache_dir) {
  std::string real = RealPathOr(tool);
  std::string key = real + "|" + Stamp(real);
  std::string cache_path = cache_dir.empty() ? "" : cache_dir + "/cpp-toolchain.json";
  json cache = json::object();
  if (!cache_path.empty()) {
    if (auto text = ReadFile(cache_path); text.ok()) {
      cache = json::parse(*text, nullptr, false);
      if (!cache.is_object()) cache = json::object();
      if (cache.contains(key) && cache[key].is_string()) return cache[key].get<std::string>();
    }
  }
  CommandOptions options;
  options.timeout_seconds = 30;
  options.set_env["LC_ALL"] = "C";
  ASSIGN_OR_RETURN(CommandResult r, RunCommand({tool, "--version"}, options));
  if (r.exit_code != 0) {
    return FailedPrecondition(tool + " --version failed (exit code " + std::to_string(r.exit_code) +
                              "): " + Trim(r.err));
  }
  std::string first = Trim(r.out.substr(0, r.out.find('\n')));
  if (!cache_path.empty() && MakeDirs(cache_dir).ok()) {
    cache[key] = first;
    WriteFileAtomic(cache_path, cache.dump(2) + "\n").IgnoreError();  // only a cache
  }
  return first;
}

// The folder holding TorchConfig.cmake below `prefix` (itself, Torch/, share/cmake/Torch,
// lib/cmake/Torch, lib/<arch>/cmake/Torch); "" when there is none.
std::string FindTorchConfigDir(const std::string& prefix) {
  if (prefix.empty()) return "";
  for (const char* sub :
       {"", "/Torch", "/share/cmake/Torch", "/lib/cmake/Torch", "/lib/x86_64-linux-gnu/cmake/Torch",
        "/lib/aarch64-linux-gnu/cmake/Torch", "/cmake/Torch"}) {
    std::string dir = prefix + sub;
    if (PathExists(dir + "/TorchConfig.cmake")) return AbsolutePath(dir);
  }
  return "";
}

// PACKAGE_VERSION from TorchConfigVersion.cmake ("" when unknown).
std::string TorchVersion(const std::string& torch_dir) {
  auto text = ReadFile(torch_dir + "/TorchConfigVersion.cmake");
  if (!text.ok()) return "";
  size_t at = text->find("PACKAGE_VERSION \"");
  if (at == std::string::npos) return "";
  at += 17;
  return text->substr(at, text->find('"', at) - at);
}

// Whether the libtorch beside this CMake folder was built with CUDA (pip: torch/lib; Debian:
// /usr/lib/<arch>).
bool TorchHasCuda(const std::string& torch_dir) {
  for (const char* rel : {"/../../../lib", "/../..", "/../../lib"}) {
    std::string lib = torch_dir + rel;
    if (PathExists(lib + "/libtorch.so")) return PathExists(lib + "/libtorch_cuda.so");
  }
  return false;
}

Status ResolveTorch(const CppToolchainOptions& options, CppToolchain* tc) {
  if (!options.torch_prefix.empty()) {
    tc->torch_dir = FindTorchConfigDir(options.torch_prefix);
    if (tc->torch_dir.empty()) {
      return FailedPrecondition("TRAINYARD_TORCH_PREFIX=" + options.torch_prefix +
                                " holds no TorchConfig.cmake (libtorch's CMake package); point it "
                                "at a libtorch folder or at a pip torch's "
                                "torch.utils.cmake_prefix_path");
    }
    tc->torch_how = "$TRAINYARD_TORCH_PREFIX";
  } else if (std::string d = FindTorchConfigDir(options.python_torch_dir);
             !d.empty() && TorchHasCuda(d)) {
    tc->torch_dir = d;
    tc->torch_how = "interpreter's torch";
  } else {
    std::vector<std::string> prefixes;
    const char* env_prefixes = std::getenv("CMAKE_PREFIX_PATH");
    for (const auto& p : Split(env_prefixes != nullptr ? env_prefixes : "", ':')) {
      if (!p.empty()) prefixes.push_back(p);
    }
    for (const char* p : {"/usr/lib/x86_64-linux-gnu/cmake/Torch",
                          "/usr/lib/aarch64-linux-gnu/cmake/Torch", "/usr/lib/cmake/Torch",
                          "/usr/local/lib/cmake/Torch", "/usr/share/cmake/Torch", "/usr/local"}) {
      prefixes.emplace_back(p);
    }
    for (const auto& p : prefixes) {
      if (tc->torch_dir.empty()) tc->torch_dir = FindTorchConfigDir(p);
    }
    if (tc->torch_dir.empty()) {
      return FailedPrecondition(
          "C++ entry: libtorch's CMake package (TorchConfig.cmake) was not found; install it "
          "(Debian: apt-get install libtorch-dev) or set TRAINYARD_TORCH_PREFIX to a libtorch "
          "folder (or to a pip torch's torch.utils.cmake_prefix_path)");
    }
    tc->torch_how = "system";
  }
  tc->torch_version = TorchVersion(tc->torch_dir);
  tc->torch_cuda = TorchHasCuda(tc->torch_dir);
  return Status::Ok();
}

// The client package: its config must exist and every library it lists must be built.
Status ResolveClient(const std::string& dir, CppToolchain* tc) {
  tc->client_dir = dir;
  auto config = ReadFile(dir + "/" + kClientConfig);
  auto files = ReadFile(dir + "/" + kClientFiles);
  if (!config.ok() || !files.ok()) {
    return FailedPrecondition("C++ entry: the trainyard CMake package is missing (no " +
                              std::string(kClientConfig) + " in " + dir +
                              "); build trainyard with CMake, or set "
                              "TRAINYARD_CMAKE_PACKAGE_DIR to the folder that holds it");
  }
  std::string key = *config;
  // "required PATH" (trainyard::client) must be built; "optional PATH" (trainyard::dist) only
  // counts in the hash: a program that links it fails to link while it is missing.
  for (const auto& line : Split(*files, '\n')) {
    std::string l = Trim(line);
    size_t space = l.find(' ');
    if (space == std::string::npos) continue;
    std::string f = l.substr(space + 1);
    std::string stamp = Stamp(f);
    if (stamp.empty() && StartsWith(l, "required ")) {
      return FailedPrecondition(
          "C++ entry: the trainyard client library " + f +
          " is not built (cmake --build <build> --target trainyard_cpp_package)");
    }
    key += "\n" + f + "|" + (stamp.empty() ? "missing" : stamp);
  }
  tc->client_hash = Sha256Hex(key);
  return Status::Ok();
}

json ToolchainJson(const CppToolchain& t) {
  return {{"cmake", t.cmake},
          {"cmake_version", t.cmake_version},
          {"generator", t.generator},
          {"make_program", t.make_program},
          {"cxx", t.cxx},
          {"cxx_version", t.cxx_version},
          {"torch_dir", t.torch_dir},
          {"torch_version", t.torch_version},
          {"torch_cuda", t.torch_cuda},
          {"torch_how", t.torch_how},
          {"client_dir", t.client_dir},
          {"client_hash", t.client_hash},
          {"build_type", t.build_type}};
}

CppToolchain ToolchainFromJson(const json& j) {
  CppToolchain t;
  t.cmake = j.at("cmake").get<std::string>();
  t.cmake_version = j.at("cmake_version").get<std::string>();
  t.generator = j.at("generator").get<std::string>();
  t.make_program = j.at("make_program").get<std::string>();
  t.cxx = j.at("cxx").get<std::string>();
  t.cxx_version = j.at("cxx_version").get<std::string>();
  t.torch_dir = j.at("torch_dir").get<std::string>();
  t.torch_version = j.at("torch_version").get<std::string>();
  t.torch_cuda = j.at("torch_cuda").get<bool>();
  t.torch_how = j.at("torch_how").get<std::string>();
  t.client_dir = j.at("client_dir").get<std::string>();
  t.client_hash = j.at("client_hash").get<std::string>();
  t.build_type = j.at("build_type").get<std::string>();
  return t;
}

json RequestJson(const CppBuildRequest& r) {
  return {{"kind", r.kind},
          {"entry", r.entry},
          {"program", r.program},
          {"source_dir", r.source_dir},
          {"snapshot_id", r.snapshot_id},
          {"toolchain", ToolchainJson(r.toolchain)}};
}

Result<CppBuildInfo> ReadMarker(const std::string& builds_dir, const std::string& hash) {
  std::string dir = builds_dir + "/" + hash;
  ASSIGN_OR_RETURN(std::string text, ReadFile(dir + "/" + kMarker));
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || j.value("format", 0) != kFormat) {
    return InvalidArgument("malformed marker in " + dir);
  }
  CppBuildInfo info;
  info.hash = hash;
  info.dir = dir;
  info.program = j.value("program", "");
  info.binary = dir + "/bin/" + info.program;
  info.kind = j.value("kind", "");
  info.entry = j.value("entry", "");
  info.snapshot_id = j.value("snapshot_id", "");
  info.toolchain_hash = j.value("toolchain_hash", "");
  info.created_at = j.value("created_at", int64_t{0});
  info.build_seconds = j.value("build_seconds", 0.0);
  info.incremental = j.value("incremental", false);
  if (!PathExists(info.binary)) return NotFound("build " + hash + " has no " + info.binary);
  return info;
}

// The CMakeLists.txt of a single-file program: the file, the folder's root on the include path,
// libtorch and the trainyard client (a program that needs trainyard::dist brings a CMakeLists.txt).
std::string GeneratedCMakeLists(const CppBuildRequest& r, const std::string& src_dir) {
  return "# Generated by trainyard for entry_script: " + r.entry +
         "\ncmake_minimum_required(VERSION 3.18)\n"
         "project(trainyard_program CXX)\n"
         "set(CMAKE_CXX_STANDARD 17)\n"
         "set(CMAKE_CXX_STANDARD_REQUIRED ON)\n"
         "find_package(Torch REQUIRED)\n"
         "find_package(trainyard CONFIG REQUIRED)\n"
         "add_executable(" +
         r.program + " \"" + src_dir + "/" + r.entry + "\")\n" + "target_include_directories(" +
         r.program + " PRIVATE \"" + src_dir + "\")\n" + "target_link_libraries(" + r.program +
         " PRIVATE ${TORCH_LIBRARIES} trainyard::client)\n";
}

// Writes `contents` to `path` only when it differs, so that unchanged files keep their mtime
// (make/ninja then see nothing to rebuild).
Status WriteIfChanged(const std::string& path, const std::string& contents) {
  if (auto old = ReadFile(path); old.ok() && *old == contents) return Status::Ok();
  return WriteFileAtomic(path, contents);
}

// Makes <tree>/src hold exactly the snapshot's files, rewriting only those whose contents changed
// since the last sync (<tree>/synced.json: path -> sha256). Returns how many files were written.
Result<int> SyncTree(const std::string& snapshots_dir, const std::string& snapshot_id,
                     const std::string& tree) {
  ASSIGN_OR_RETURN(auto entries, snapshot::ReadManifest(snapshots_dir, snapshot_id));
  std::string src = tree + "/src";
  std::string synced_path = tree + "/synced.json";
  std::map<std::string, std::string> before;
  json synced = json::object();
  if (auto text = ReadFile(synced_path); text.ok()) {
    synced = json::parse(*text, nullptr, false);
    if (synced.is_object()) {
      for (const auto& [k, v] : synced.items()) {
        if (v.is_string()) before[k] = v.get<std::string>();
      }
    }
  }
  if (before.empty()) RETURN_IF_ERROR(RemoveAll(src));  // unknown state: start over
  RemoveAll(synced_path).IgnoreError();                 // a crash mid-sync must not trust src
  snapshot::BlobStore blobs(snapshots_dir);
  json now = json::object();
  int written = 0;
  std::set<std::string> present;
  for (const auto& e : entries) {
    present.insert(e.path);
    const std::string key = e.is_symlink() ? "symlink:" + e.symlink : e.sha256;
    now[e.path] = key;
    std::string dest = src + "/" + e.path;
    auto it = before.find(e.path);
    if (it != before.end() && it->second == key && PathExists(dest)) continue;
    RETURN_IF_ERROR(MakeDirs(fs::path(dest).parent_path().string()));
    RemoveAll(dest).IgnoreError();
    if (e.is_symlink()) {  // kept as a link; its target is inside the snapshot
      std::error_code ec;
      fs::create_symlink(e.symlink, dest, ec);
      if (ec) return IoError("cannot create the symlink " + dest + ": " + ec.message());
      ++written;
      continue;
    }
    RETURN_IF_ERROR(CopyFile(blobs.BlobPath(e.sha256), dest));
    chmod(dest.c_str(), e.executable ? 0755 : 0644);
    ++written;
  }
  for (const auto& [path, sha] : before) {
    if (!present.count(path)) RemoveAll(src + "/" + path).IgnoreError();
  }
  RETURN_IF_ERROR(MakeDirs(src));
  RETURN_IF_ERROR(WriteFileAtomic(synced_path, now.dump() + "\n"));
  return written;
}

// The built executable: <build>/bin/<program> (we set CMAKE_RUNTIME_OUTPUT_DIRECTORY), else the
// first executable file of that name in the build folder (a project that sets its own).
std::string FindBinary(const std::string& build, const std::string& program) {
  if (PathExists(build + "/bin/" + program)) return build + "/bin/" + program;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(build, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory(ec)) {
      if (it->path().filename() == "CMakeFiles") it.disable_recursion_pending();
      continue;
    }
    if (it->path().filename() == program && it->is_regular_file(ec) &&
        access(it->path().c_str(), X_OK) == 0) {
      return it->path().string();
    }
  }
  return "";
}

// Configures (first time only: ninja/make re-run cmake themselves when a CMakeLists.txt changes)
// and builds the program in <tree>/build; returns the binary's path.
Result<std::string> BuildInTree(const CppBuildRequest& r, const std::string& tree,
                                const std::function<void(const std::string&)>& emit,
                                std::vector<std::string>* output) {
  const CppToolchain& tc = r.toolchain;
  std::string src = tree + "/src";
  std::string project = src;
  if (r.kind == "file") {
    project = tree + "/gen";
    RETURN_IF_ERROR(MakeDirs(project));
    RETURN_IF_ERROR(WriteIfChanged(project + "/CMakeLists.txt", GeneratedCMakeLists(r, src)));
  }
  std::string build = tree + "/build";
  auto on_line = [&](const std::string& line) {
    output->push_back(line);
    emit(line);
  };
  StreamingOptions options;
  options.set_env["LC_ALL"] = "C";  // error lines are recognized by their English words
  options.unset_env = {"MAKEFLAGS", "CMAKE_BUILD_PARALLEL_LEVEL"};
  auto step = [&](const std::string& what, const std::vector<std::string>& argv) -> Status {
    emit("$ " + Join(argv, " "));
    output->clear();
    ASSIGN_OR_RETURN(int code, RunStreaming(argv, on_line, options));
    if (code == 0) return Status::Ok();
    return FailedPrecondition(what + " failed (exit code " + std::to_string(code) + "):\n" +
                              FirstErrorLines(*output, kErrorLines));
  };
  if (!PathExists(build + "/CMakeCache.txt")) {
    RETURN_IF_ERROR(step("configuring the C++ program (cmake)",
                         {tc.cmake, "-S", project, "-B", build, "-G", tc.generator,
                          "-DCMAKE_MAKE_PROGRAM=" + tc.make_program,
                          "-DCMAKE_CXX_COMPILER=" + tc.cxx, "-DCMAKE_BUILD_TYPE=" + tc.build_type,
                          "-DCMAKE_PREFIX_PATH=" + tc.torch_dir + ";" + tc.client_dir,
                          // Pinned as well: the prefix path alone would let a libtorch found
                          // elsewhere first (the system's) win over the chosen one.
                          "-DTorch_DIR=" + tc.torch_dir, "-Dtrainyard_DIR=" + tc.client_dir,
                          "-DCMAKE_RUNTIME_OUTPUT_DIRECTORY=" + build + "/bin"}));
  }
  RETURN_IF_ERROR(
      step("compiling the C++ program", {tc.cmake, "--build", build, "--target", r.program,
                                         "--parallel", std::to_string(CpuCores())}));
  std::string binary = FindBinary(build, r.program);
  if (binary.empty()) {
    return FailedPrecondition("the build succeeded but no executable named " + r.program +
                              " was found in " + build);
  }
  return binary;
}

bool LooksLikeError(const std::string& line) {
  return line.find("error:") != std::string::npos ||
         line.find("CMake Error") != std::string::npos ||
         line.find("undefined reference") != std::string::npos ||
         line.find("fatal error") != std::string::npos || line.find("Error:") != std::string::npos;
}

}  // namespace

std::string ClientPackageDir() {
  if (const char* v = std::getenv("TRAINYARD_CMAKE_PACKAGE_DIR"); v && *v) return v;
  return TRAINYARD_CMAKE_PACKAGE_DIR;
}

Result<CppToolchain> ProbeCppToolchain(const CppToolchainOptions& options) {
  CppToolchain tc;
  tc.cmake = FindOnPath("cmake");
  if (tc.cmake.empty()) {
    return FailedPrecondition(
        "C++ entry: cmake is not on PATH; it is needed to build the program (Debian: apt-get "
        "install cmake)");
  }
  tc.make_program = FindOnPath("ninja");
  tc.generator = "Ninja";
  if (tc.make_program.empty()) {
    tc.make_program = FindOnPath("make");
    tc.generator = "Unix Makefiles";
  }
  if (tc.make_program.empty()) {
    return FailedPrecondition(
        "C++ entry: neither ninja nor make is on PATH (Debian: apt-get install ninja-build)");
  }
  const char* cxx_env = std::getenv("CXX");
  for (const char* candidate : {cxx_env, "c++", "g++", "clang++"}) {
    if (tc.cxx.empty() && candidate != nullptr && *candidate != '\0') {
      tc.cxx = FindOnPath(candidate);
    }
  }
  if (tc.cxx.empty()) {
    return FailedPrecondition(
        std::string("C++ entry: no C++ compiler found (") +
        (cxx_env ? "$CXX=" + std::string(cxx_env) + ", " : "") +
        "c++, g++, clang++ on PATH); install one (Debian: apt-get install g++)");
  }
  tc.cxx = RealPathOr(tc.cxx);
  ASSIGN_OR_RETURN(tc.cmake_version, ToolVersion(tc.cmake, options.cache_dir));
  ASSIGN_OR_RETURN(tc.cxx_version, ToolVersion(tc.cxx, options.cache_dir));
  RETURN_IF_ERROR(ResolveTorch(options, &tc));
  RETURN_IF_ERROR(ResolveClient(options.client_dir, &tc));
  return tc;
}

std::string CppToolchainHash(const CppToolchain& toolchain) {
  json key = ToolchainJson(toolchain);
  key.erase("torch_how");  // how it was chosen does not change the binaries
  key["format"] = kFormat;
  return Sha256Hex(key.dump());
}

std::string DescribeToolchain(const CppToolchain& t) {
  return t.cxx_version + ", " + t.cmake_version + ", " + t.generator + ", libtorch " +
         (t.torch_version.empty() ? "?" : t.torch_version) + " (" +
         (t.torch_cuda ? "CUDA" : "CPU") + ", " + t.torch_how + ": " + t.torch_dir + ")";
}

std::string CppBuildHash(const CppBuildRequest& request) {
  json key = {{"format", kFormat},
              {"kind", request.kind},
              {"entry", request.entry},
              {"program", request.program},
              {"snapshot_id", request.snapshot_id},
              {"toolchain", CppToolchainHash(request.toolchain)}};
  return Sha256Hex(key.dump());
}

std::string CppBuildRequestToJson(const CppBuildRequest& request) {
  return RequestJson(request).dump(2) + "\n";
}

Result<CppBuildRequest> CppBuildRequestFromJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return InvalidArgument("malformed C++ build request (not a JSON object)");
  try {
    CppBuildRequest r;
    r.kind = j.at("kind").get<std::string>();
    r.entry = j.at("entry").get<std::string>();
    r.program = j.at("program").get<std::string>();
    r.source_dir = j.at("source_dir").get<std::string>();
    r.snapshot_id = j.at("snapshot_id").get<std::string>();
    r.toolchain = ToolchainFromJson(j.at("toolchain"));
    return r;
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("malformed C++ build request: ") + e.what());
  }
}

std::string FirstErrorLines(const std::vector<std::string>& lines, size_t max_lines) {
  size_t from = lines.size() > max_lines ? lines.size() - max_lines : 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (LooksLikeError(lines[i])) {
      // A compiler error is often preceded by "In function ..." / "In file included from ...".
      from = i > 0 && (lines[i - 1].find("In ") != std::string::npos) ? i - 1 : i;
      break;
    }
  }
  size_t to = std::min(lines.size(), from + max_lines);
  return Join({lines.begin() + static_cast<std::ptrdiff_t>(from),
               lines.begin() + static_cast<std::ptrdiff_t>(to)},
              "\n");
}

Result<CppBuildInfo> EnsureCppBuild(const CppBuildRequest& request, const std::string& builds_dir,
                                    const std::string& snapshots_dir,
                                    const std::function<void(const std::string& line)>& progress) {
  auto emit = [&](const std::string& line) {
    if (progress) progress(line);
  };
  std::string hash = CppBuildHash(request);
  std::string short_hash = hash.substr(0, 12);
  if (auto hit = ReadMarker(builds_dir, hash); hit.ok()) {
    emit("reusing C++ build " + hash + " (built " + FormatIso8601(hit->created_at) + ")");
    hit->reused = true;
    return hit;
  }
  RETURN_IF_ERROR(MakeDirs(builds_dir + "/trees"));
  FileLock lock;
  std::string lock_path = builds_dir + "/" + hash + ".lock";
  ASSIGN_OR_RETURN(bool got, lock.Acquire(lock_path, /*wait=*/false));
  if (!got) {
    emit("waiting for another build of " + short_hash);
    ASSIGN_OR_RETURN(got, lock.Acquire(lock_path, /*wait=*/true));
  }
  if (auto hit = ReadMarker(builds_dir, hash); hit.ok()) {  // built while we waited
    emit("reusing C++ build " + hash + " (built " + FormatIso8601(hit->created_at) + ")");
    hit->reused = true;
    return hit;
  }
  std::string dir = builds_dir + "/" + hash;
  std::string tmp = dir + ".tmp";
  RETURN_IF_ERROR(RemoveAll(dir));  // a partial build (no marker)
  RETURN_IF_ERROR(RemoveAll(tmp));
  std::FILE* log = std::fopen((builds_dir + "/" + hash + ".log").c_str(), "w");
  auto log_and_emit = [&](const std::string& line) {
    if (log != nullptr) {
      std::fprintf(log, "%s\n", line.c_str());
      std::fflush(log);
    }
    emit(line);
  };
  int64_t start = MonotonicMicros();
  // One tree per (toolchain, source folder, entry): a changed snapshot starts from its last build.
  std::string toolchain_hash = CppToolchainHash(request.toolchain);
  std::string tree_key = Sha256Hex(toolchain_hash + "\n" + request.source_dir + "\n" +
                                   request.kind + "\n" + request.entry)
                             .substr(0, 24);
  std::string tree = builds_dir + "/trees/" + tree_key;
  log_and_emit("building C++ " + std::string(request.kind == "file" ? "file " : "target ") +
               request.entry + " (build " + short_hash + ") with " +
               DescribeToolchain(request.toolchain));
  CppBuildInfo info;
  Status built = [&]() -> Status {
    FileLock tree_lock;
    ASSIGN_OR_RETURN(bool tree_free, tree_lock.Acquire(tree + ".lock", /*wait=*/false));
    if (!tree_free) {
      log_and_emit("waiting for another build of the same source folder");
      ASSIGN_OR_RETURN(tree_free, tree_lock.Acquire(tree + ".lock", /*wait=*/true));
    }
    info.incremental = PathExists(tree + "/build/CMakeCache.txt");
    ASSIGN_OR_RETURN(int written, SyncTree(snapshots_dir, request.snapshot_id, tree));
    log_and_emit(std::string(info.incremental ? "incremental build in " : "fresh build in ") +
                 tree + " (" + std::to_string(written) + " files changed)");
    std::vector<std::string> output;
    ASSIGN_OR_RETURN(std::string binary, BuildInTree(request, tree, log_and_emit, &output));
    RETURN_IF_ERROR(MakeDirs(tmp + "/bin"));
    RETURN_IF_ERROR(CopyFile(binary, tmp + "/bin/" + request.program));
    info.hash = hash;
    info.dir = dir;
    info.binary = dir + "/bin/" + request.program;
    info.program = request.program;
    info.kind = request.kind;
    info.entry = request.entry;
    info.snapshot_id = request.snapshot_id;
    info.toolchain_hash = toolchain_hash;
    info.created_at = NowMicros();
    info.build_seconds = static_cast<double>(MonotonicMicros() - start) / 1e6;
    json marker = RequestJson(request);
    marker["format"] = kFormat;
    marker["hash"] = hash;
    marker["toolchain_hash"] = toolchain_hash;
    marker["created_at"] = info.created_at;
    marker["created"] = FormatIso8601(info.created_at);
    marker["build_seconds"] = info.build_seconds;
    marker["incremental"] = info.incremental;
    RETURN_IF_ERROR(WriteFileAtomic(tmp + "/" + kMarker, marker.dump(2) + "\n"));
    std::error_code ec;
    fs::rename(tmp, dir, ec);
    if (ec) return IoError("cannot rename " + tmp + " to " + dir + ": " + ec.message());
    return Status::Ok();
  }();
  if (!built.ok()) {
    log_and_emit("build failed");
    RemoveAll(tmp).IgnoreError();
  } else {
    log_and_emit("C++ build " + short_hash + " ready in " +
                 std::to_string(static_cast<int>(info.build_seconds * 1000)) + " ms");
  }
  if (log != nullptr) std::fclose(log);
  if (!built.ok()) return built;
  return info;
}

Result<CppBuildInfo> FindCppBuild(const std::string& builds_dir, const std::string& hash) {
  return ReadMarker(builds_dir, hash);
}

}  // namespace trainyard::env
