// Helpers shared by the env tests: a temporary directory per test, scoped environment variables,
// and fake interpreters (shell scripts that answer the probe with fixed output).
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "common/files.h"

namespace trainyard::env::testing {

// Creates a fresh directory under $TMPDIR (or /tmp) and removes it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ty_env_test.XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() { RemoveAll(path_).IgnoreError(); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& Path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Sets (or, with nullopt, unsets) an environment variable and restores it on destruction.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value) {
      setenv(name_.c_str(), value->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

inline void WriteExecutable(const std::string& path, const std::string& text) {
  ASSERT_TRUE(WriteFileAtomic(path, text).ok()) << path;
  ASSERT_EQ(chmod(path.c_str(), 0755), 0) << path;
}

// The start of a fake interpreter: count the run, then print what follows up to a "JSON" line.
inline std::string FakeHeader(const std::string& counter) {
  return "#!/bin/sh\necho run >> '" + counter + "'\n/bin/cat <<'JSON'\n";
}

// A fake interpreter whose "import torch" succeeds, reporting torch 9.9.9 installed in
// `torch_dir` (created here) over the reference BLAS. Each run appends a line to `counter`.
inline void WriteFakePythonWithTorch(const std::string& path, const std::string& torch_dir,
                                     const std::string& counter) {
  ASSERT_TRUE(MakeDirs(torch_dir).ok());
  WriteExecutable(path,
                  FakeHeader(counter) +
                      "TRAINYARD_PROBE_PY {\"python_version\": \"3.9.7\"}\n"
                      "TRAINYARD_PROBE_TORCH {\"ok\": true, \"version\": \"9.9.9\", \"dir\": \"" +
                      torch_dir +
                      "\", \"threads\": 3, \"mkl\": false, \"cuda\": false, \"cuda_count\": 0, "
                      "\"blas_libs\": [\"/usr/lib/x86_64-linux-gnu/blas/libblas.so.3\"]}\n"
                      "JSON\n");
}

// A fake interpreter without torch (the import fails as on pyenv's python3). Each run appends a
// line to `counter`.
inline void WriteFakePythonWithoutTorch(const std::string& path, const std::string& counter) {
  WriteExecutable(path,
                  FakeHeader(counter) +
                      "TRAINYARD_PROBE_PY {\"python_version\": \"3.12.1\"}\n"
                      "TRAINYARD_PROBE_TORCH {\"ok\": false, \"error\": \"ModuleNotFoundError: No "
                      "module named 'torch'\"}\n"
                      "JSON\n");
}

// Number of lines in a counter file written by the fakes (0 when missing).
inline int CountRuns(const std::string& counter) {
  auto text = ReadFile(counter);
  if (!text.ok()) return 0;
  int n = 0;
  for (char c : *text) n += c == '\n';
  return n;
}

}  // namespace trainyard::env::testing
