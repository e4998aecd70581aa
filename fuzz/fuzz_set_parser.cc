// Fuzzes the --set parser: each line of the input is one `--set FIELD=VALUE`, applied on top of
// a small job file and on flags alone (ParseSetOverride, LoadFlagValue, the merge into the tree
// and validation). It must return a spec or an error, never crash, hang or exhaust memory.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "spec/overrides.h"
#include "spec/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  trainyard::spec::Overrides o;
  size_t start = 0;
  while (start <= text.size() && o.sets.size() < 64) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    auto parsed = trainyard::spec::ParseSetOverride(line);
    if (parsed.ok() && parsed->path.empty()) std::abort();
    o.sets.push_back(std::move(line));
    start = end + 1;
  }
  static const std::string kJob = "source_directory: .\nentry_script: train.py\n";
  auto spec = trainyard::spec::ParseJobText(kJob, "job.yaml", "/fuzz/base", o);
  if (!spec.ok() && spec.status().message().empty()) std::abort();
  o.entry = "train.py";
  auto flags = trainyard::spec::ParseFlags(o);
  if (!flags.ok() && flags.status().message().empty()) std::abort();
  return 0;
}
