// Fuzzes the job-file reader: every input is read as a YAML job file and as a JSON one
// (ParseJobText). It must return a spec or an error, never crash, hang or exhaust memory; a
// spec it returns must satisfy the limits the reader promises.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "spec/parse.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void ReadAs(const std::string& text, const char* origin) {
  auto spec = trainyard::spec::ParseJobText(text, origin, "/fuzz/base");
  if (!spec.ok()) {
    Check(!spec.status().message().empty());
    return;
  }
  Check(spec->node_count >= 1 && spec->node_count <= trainyard::spec::kMaxNodeCount);
  Check(spec->process_count_per_node >= 1 &&
        spec->process_count_per_node <= trainyard::spec::kMaxProcessesPerNode);
  Check(spec->max_run_duration_seconds >= 0 &&
        spec->max_run_duration_seconds <= trainyard::spec::kMaxRunSeconds);
  for (const auto& param : spec->script_params) {
    Check(param.flag.find('\0') == std::string::npos);
    Check(!param.value || param.value->find('\0') == std::string::npos);
  }
  for (const auto& arg : spec->extra_args) Check(arg.find('\0') == std::string::npos);
  for (const auto& [name, value] : spec->environment_variables) {
    Check(!name.empty() && name.find('=') == std::string::npos);
    Check(value.find('\0') == std::string::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  ReadAs(text, "job.yaml");
  ReadAs(text, "job.json");
  return 0;
}
