// C++ training programs: built with CMake against libtorch and the trainyard client library
// before the ranks start, and cached in the workspace.
//
// Toolchain (probed at submit time; see ProbeCppToolchain):
//   cmake       on PATH (refused at submit when missing)
//   generator   Ninja when `ninja` is on PATH, else Unix Makefiles (`make`)
//   compiler    $CXX, else c++, g++, clang++ on PATH (real path)
//   libtorch    the first of: $TRAINYARD_TORCH_PREFIX; the job interpreter's torch
//               (torch.utils.cmake_prefix_path) when it ships CMake files and is CUDA-enabled
//               (asked only for use_gpu jobs); the system's libtorch (TorchConfig.cmake under
//               /usr/lib/<arch>/cmake, /usr/lib/cmake, /usr/local/lib/cmake, /usr/share/cmake,
//               or $CMAKE_PREFIX_PATH)
//   trainyard   the CMake package `trainyard` (trainyardConfig.cmake, imported target
//               trainyard::client) in $TRAINYARD_CMAKE_PACKAGE_DIR, else this build's <build>/cmake
// Its hash covers the compiler's path and version, cmake's version, the generator, libtorch's
// folder, version and CUDA flag, the client package (its config file and the size and mtime of
// every library it lists) and the build type. `--version` answers are cached in
// <cache_dir>/cpp-toolchain.json keyed by the tool's real path, size and mtime, so a probe with a
// warm cache starts no process.
//
// Layout under <builds_dir> (<workspace>/builds):
//   <hash>/bin/<program>           the built program (hash: snapshot + toolchain + entry)
//   <hash>/trainyard-build.json    the marker: what was built, how long it took
//   <hash>.lock, <hash>.log        flock'ed while building; the last build's output
//   trees/<key>/{src,gen,build}    the incremental tree of one source folder + toolchain + entry:
//                                  src mirrors the last snapshot built (files rewritten only when
//                                  their contents changed, so make/ninja rebuild only what
//                                  changed), gen holds the generated CMakeLists.txt of a
//                                  single-file program, build is CMake's binary folder
//   trees/<key>.lock               flock'ed while the tree is used
// A build is assembled in <hash>.tmp and renamed to <hash> once it succeeded; a failed build
// leaves no <hash> folder (the tree and the log stay).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainyard::env {

struct CppToolchain {
  std::string cmake;          // absolute
  std::string cmake_version;  // "cmake version 3.25.1"
  std::string generator;      // "Ninja" or "Unix Makefiles"
  std::string make_program;   // ninja or make (absolute)
  std::string cxx;            // the compiler's real path
  std::string cxx_version;    // first line of `cxx --version`
  std::string torch_dir;      // the folder holding TorchConfig.cmake
  std::string torch_version;  // "1.13.1" (from TorchConfigVersion.cmake)
  bool torch_cuda = false;    // libtorch_cuda.so next to libtorch.so
  std::string torch_how;      // "$TRAINYARD_TORCH_PREFIX", "interpreter's torch", "system"
  std::string client_dir;     // the folder holding trainyardConfig.cmake
  std::string client_hash;    // of the config and the libraries it lists
  std::string build_type = "Release";
};

struct CppToolchainOptions {
  std::string torch_prefix;      // $TRAINYARD_TORCH_PREFIX ("" none)
  std::string python_torch_dir;  // the interpreter's CUDA torch's cmake prefix ("" none)
  std::string client_dir;        // ClientPackageDir()
  std::string cache_dir;         // "" disables the --version cache
};

// $TRAINYARD_CMAKE_PACKAGE_DIR, else the build tree's <build>/cmake. Thread-safe.
std::string ClientPackageDir();

// Finds the tools (see above). FailedPrecondition naming what is missing and how to get it:
// cmake, a compiler, ninja/make, libtorch's CMake files, the trainyard package or one of its
// libraries (not built). Reads the environment ($CXX, $CMAKE_PREFIX_PATH).
Result<CppToolchain> ProbeCppToolchain(const CppToolchainOptions& options);

// sha256 of everything that changes the binaries. Thread-safe.
std::string CppToolchainHash(const CppToolchain& toolchain);
// "g++ 12.2.0, cmake 3.25.1, Ninja, libtorch 1.13.1 (CPU, system)" for messages.
std::string DescribeToolchain(const CppToolchain& toolchain);

struct CppBuildRequest {
  std::string kind;         // "file" (one .cpp, generated CMakeLists) or "target" (the project's)
  std::string entry;        // the source file (relative) or the target name
  std::string program;      // the executable's name
  std::string source_dir;   // the submitted folder (keys the incremental tree)
  std::string snapshot_id;  // the code to build
  CppToolchain toolchain;
};

// sha256 of the snapshot, the toolchain hash, the kind and the entry. Thread-safe.
std::string CppBuildHash(const CppBuildRequest& request);

std::string CppBuildRequestToJson(const CppBuildRequest& request);
Result<CppBuildRequest> CppBuildRequestFromJson(const std::string& text);

struct CppBuildInfo {
  std::string hash;
  std::string dir;     // <builds_dir>/<hash>
  std::string binary;  // <dir>/bin/<program>
  std::string program;
  std::string kind, entry, snapshot_id, toolchain_hash;
  int64_t created_at = 0;    // micros since the epoch
  double build_seconds = 0;  // configure + build
  bool incremental = false;  // the build started from an earlier build of the same tree
  bool reused = false;       // EnsureCppBuild: a cache hit, nothing was built
};

// The program for `request`, building it when missing. `progress` (may be empty) gets every line
// of cmake's and the compiler's output and a few of trainyard's, on the calling thread. A hit
// reads the marker and starts nothing. Concurrent callers (threads, processes) with the same
// request build once; the others wait on the lock and reuse. Errors: FailedPrecondition when
// configuring or compiling fails, its message holding the first error lines of the output (the
// full output is in <hash>.log and went to `progress`); IoError for the folders.
Result<CppBuildInfo> EnsureCppBuild(const CppBuildRequest& request, const std::string& builds_dir,
                                    const std::string& snapshots_dir,
                                    const std::function<void(const std::string& line)>& progress);

// The complete build `hash` (full hash). NotFound when there is none. Thread-safe.
Result<CppBuildInfo> FindCppBuild(const std::string& builds_dir, const std::string& hash);

// The first error of a build's output: from the first line that looks like an error
// ("error:", "CMake Error", "undefined reference", "fatal error") on, at most `max_lines` lines;
// the last `max_lines` lines when none does. Thread-safe.
std::string FirstErrorLines(const std::vector<std::string>& lines, size_t max_lines);

}  // namespace trainyard::env
