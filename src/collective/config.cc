#include "collective/config.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

namespace trainyard::collective {
namespace {

Status BadValue(const char* name, const char* value, const char* expected) {
  return InvalidArgument(std::string(name) + "=" + value + ": expected " + expected);
}

Status ReadDouble(const EnvLookup& lookup, const char* name, double min, double* out) {
  const char* v = lookup(name);
  if (v == nullptr || *v == '\0') return Status::Ok();
  char* end = nullptr;
  double d = std::strtod(v, &end);
  if (*end != '\0' || !(d >= min)) return BadValue(name, v, "a number >= 0");
  *out = d;
  return Status::Ok();
}

Status ReadInt(const EnvLookup& lookup, const char* name, int64_t min, int64_t* out) {
  const char* v = lookup(name);
  if (v == nullptr || *v == '\0') return Status::Ok();
  char* end = nullptr;
  long long n = std::strtoll(v, &end, 10);
  if (*end != '\0' || n < min) {
    return BadValue(name, v, min < 0 ? "an integer >= -1" : "an integer >= 0");
  }
  *out = n;
  return Status::Ok();
}

Status ReadBool(const EnvLookup& lookup, const char* name, bool* out) {
  const char* v = lookup(name);
  if (v == nullptr || *v == '\0') return Status::Ok();
  std::string s = v;
  if (s == "1" || s == "true" || s == "TRUE" || s == "True" || s == "yes") {
    *out = true;
  } else if (s == "0" || s == "false" || s == "FALSE" || s == "False" || s == "no") {
    *out = false;
  } else {
    return BadValue(name, v, "1 or 0");
  }
  return Status::Ok();
}

}  // namespace

Result<Config> ConfigFromEnv(const EnvLookup& lookup) {
  Config c;
  RETURN_IF_ERROR(ReadDouble(lookup, "HOROVOD_CYCLE_TIME", 0, &c.cycle_time_ms));
  RETURN_IF_ERROR(ReadInt(lookup, "HOROVOD_FUSION_THRESHOLD", 0, &c.fusion_threshold_bytes));
  RETURN_IF_ERROR(
      ReadInt(lookup, "TRAINYARD_FUSION_BUFFER_MAX_BYTES", 0, &c.fusion_buffer_max_bytes));
  RETURN_IF_ERROR(
      ReadInt(lookup, "TRAINYARD_FUSION_SMALL_TENSOR_BYTES", -1, &c.fusion_small_tensor_bytes));
  RETURN_IF_ERROR(ReadInt(lookup, "HOROVOD_CACHE_CAPACITY", 0, &c.cache_capacity));
  bool disable = false;
  RETURN_IF_ERROR(ReadBool(lookup, "HOROVOD_STALL_CHECK_DISABLE", &disable));
  c.stall_check = !disable;
  RETURN_IF_ERROR(
      ReadDouble(lookup, "HOROVOD_STALL_CHECK_TIME_SECONDS", 0, &c.stall_warning_seconds));
  RETURN_IF_ERROR(
      ReadDouble(lookup, "HOROVOD_STALL_SHUTDOWN_TIME_SECONDS", 0, &c.stall_shutdown_seconds));
  if (const char* t = lookup("HOROVOD_TIMELINE")) c.timeline_path = t;
  RETURN_IF_ERROR(ReadBool(lookup, "HOROVOD_TIMELINE_MARK_CYCLES", &c.timeline_mark_cycles));
  RETURN_IF_ERROR(ReadBool(lookup, "HOROVOD_MPI_THREADS_DISABLE", &c.mpi_threads_disable));
  return c;
}

Result<Config> ConfigFromEnv() {
  return ConfigFromEnv([](const char* name) { return std::getenv(name); });
}

std::string EncodeSharedConfig(const Config& c) {
  std::ostringstream os;
  os.precision(17);
  os << c.cycle_time_ms << ' ' << c.fusion_threshold_bytes << ' ' << c.fusion_buffer_max_bytes
     << ' ' << c.fusion_small_tensor_bytes << ' ' << c.cache_capacity << ' ' << c.stall_check << ' '
     << c.stall_warning_seconds << ' ' << c.stall_shutdown_seconds;
  return os.str();
}

Status DecodeSharedConfig(const std::string& bytes, Config* c) {
  std::istringstream is(bytes);
  Config t = *c;
  is >> t.cycle_time_ms >> t.fusion_threshold_bytes >> t.fusion_buffer_max_bytes >>
      t.fusion_small_tensor_bytes >> t.cache_capacity >> t.stall_check >> t.stall_warning_seconds >>
      t.stall_shutdown_seconds;
  if (is.fail()) return Internal("corrupt settings received from rank 0: '" + bytes + "'");
  *c = t;
  return Status::Ok();
}

}  // namespace trainyard::collective
