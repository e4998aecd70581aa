#include "env/gpu.h"

#include <dirent.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>
#include <string_view>

#include "common/strings.h"

namespace trainyard::env {
namespace {

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Counts entries of `dir` whose name satisfies `accept`; 0 when the directory is missing.
template <typename Accept>
int CountEntries(const std::string& dir, Accept accept) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  int n = 0;
  while (const struct dirent* e = readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    if (accept(name)) ++n;
  }
  closedir(d);
  return n;
}

int CountPhysical(const GpuSources& sources) {
  int n = CountEntries(sources.proc_gpus_dir, [](std::string_view) { return true; });
  if (n > 0) return n;
  return CountEntries(sources.dev_dir, [](std::string_view name) {
    return StartsWith(name, "nvidia") && AllDigits(name.substr(6));
  });
}

}  // namespace

int CountGpusFrom(const GpuSources& sources) {
  int physical = CountPhysical(sources);
  if (!sources.cuda_visible_devices.has_value() || physical == 0) return physical;
  std::set<std::string> listed;
  for (const auto& raw : Split(*sources.cuda_visible_devices, ',')) {
    std::string id = Trim(raw);
    if (AllDigits(id)) {
      if (id.size() > 6 || std::stoi(id) >= physical) break;  // CUDA stops at an invalid index
      id = std::to_string(std::stoi(id));                     // "01" and "1" are the same device
    } else if (!StartsWith(id, "GPU-") && !StartsWith(id, "MIG-")) {
      break;  // "", "-1" and anything else end the list
    }
    listed.insert(id);
  }
  return std::min(static_cast<int>(listed.size()), physical);
}

int CountGpus() {
  GpuSources sources;
  if (const char* v = std::getenv("CUDA_VISIBLE_DEVICES")) sources.cuda_visible_devices = v;
  return CountGpusFrom(sources);
}

}  // namespace trainyard::env
