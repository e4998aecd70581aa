#include "env/blas.h"

#include <dirent.h>
#include <sys/utsname.h>

#include <climits>
#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

#include "common/strings.h"

namespace trainyard::env {
namespace {

// realpath(3), or "" when the path does not resolve.
std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return "";
  return buf;
}

// The machine name from uname ("x86_64", "aarch64"), which starts Debian's multiarch tuple.
std::string MachineName() {
  struct utsname u {};
  if (uname(&u) != 0) return "";
  return u.machine;
}

bool Contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

}  // namespace

BlasInfo ClassifyBlasLibrary(const std::string& resolved_path) {
  BlasInfo info;
  info.path = resolved_path;
  std::string_view p = resolved_path;
  if (p.empty()) {
    info.kind = "none";
  } else if (Contains(p, "openblas")) {
    info.kind = "openblas";
  } else if (Contains(p, "blis")) {
    info.kind = "blis";
  } else if (Contains(p, "mkl")) {
    info.kind = "mkl";
  } else if (Contains(p, "atlas")) {
    info.kind = "atlas";
  } else if (Contains(p, "blas/libblas")) {
    info.kind = "reference";
    info.slow = true;
  } else {
    info.kind = "unknown";
  }
  return info;
}

BlasInfo DetectBlas(const std::string& alternatives_dir) {
  const std::string prefix = "libblas.so.3-";
  const std::string machine = MachineName();
  // Prefer the alternative for this machine's multiarch tuple; accept any other one after it.
  std::vector<std::string> candidates, others;
  if (!machine.empty())
    candidates.push_back(alternatives_dir + "/" + prefix + machine + "-linux-gnu");
  if (DIR* d = opendir(alternatives_dir.c_str())) {
    while (const struct dirent* e = readdir(d)) {
      std::string_view name = e->d_name;
      if (!StartsWith(name, prefix)) continue;
      bool ours = !machine.empty() && StartsWith(name.substr(prefix.size()), machine);
      std::string path = alternatives_dir;
      path.append("/").append(name);
      (ours ? candidates : others).push_back(std::move(path));
    }
    closedir(d);
  }
  for (auto& o : others) candidates.push_back(std::move(o));
  if (!machine.empty()) candidates.push_back("/usr/lib/" + machine + "-linux-gnu/libblas.so.3");
  candidates.push_back("/usr/lib/libblas.so.3");
  for (const auto& c : candidates) {
    std::string real = RealPath(c);
    if (!real.empty()) return ClassifyBlasLibrary(real);
  }
  return ClassifyBlasLibrary("");
}

std::string DescribeBlas(const BlasInfo& blas) {
  if (blas.kind == "none") return "none (no libblas.so.3 found)";
  if (blas.kind == "reference") return "reference (netlib, " + blas.path + ")";
  return blas.kind + " (" + blas.path + ")";
}

}  // namespace trainyard::env
