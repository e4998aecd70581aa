#include "collective/config.h"

#include <cctype>
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

// "mpi" or "gloo", case-insensitive.
Status ReadTransport(const EnvLookup& lookup, const char* name, std::string* out) {
  const char* v = lookup(name);
  if (v == nullptr || *v == '\0') return Status::Ok();
  std::string s = v;
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (s != "mpi" && s != "gloo") return BadValue(name, v, "mpi or gloo");
  *out = s;
  return Status::Ok();
}

}  // namespace

Result<Config> ConfigFromEnv(const EnvLookup& lookup) {
  Config c;
  RETURN_IF_ERROR(ReadDouble(lookup, "HOROVOD_CYCLE_TIME", 0, &c.cycle_time_ms));
  RETURN_IF_ERROR(ReadInt(lookup, "HOROVOD_FUSION_THRESHOLD", 0, &c.fusion_threshold_bytes));
  RETURN_IF_ERROR(
      ReadInt(lookup, "TRAINYARD_FUSION_BUFFER_MAX_BYTES", -1, &c.fusion_buffer_max_bytes));
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
  RETURN_IF_ERROR(ReadDouble(lookup, "TRAINYARD_STALL_FAIL_SECONDS", 0, &c.stall_fail_seconds));
  if (const char* t = lookup("HOROVOD_TIMELINE")) c.timeline_path = t;
  RETURN_IF_ERROR(ReadBool(lookup, "HOROVOD_TIMELINE_MARK_CYCLES", &c.timeline_mark_cycles));
  RETURN_IF_ERROR(ReadBool(lookup, "HOROVOD_MPI_THREADS_DISABLE", &c.mpi_threads_disable));
  std::string cpu_ops;
  std::string controller;
  RETURN_IF_ERROR(ReadTransport(lookup, "HOROVOD_CPU_OPERATIONS", &cpu_ops));
  RETURN_IF_ERROR(ReadTransport(lookup, "HOROVOD_CONTROLLER", &controller));
  if (!cpu_ops.empty() && !controller.empty() && cpu_ops != controller) {
    return InvalidArgument("HOROVOD_CPU_OPERATIONS=" + cpu_ops + " and HOROVOD_CONTROLLER=" +
                           controller + " disagree: trainyard uses one transport for both");
  }
  c.transport = cpu_ops.empty() ? controller : cpu_ops;
  RETURN_IF_ERROR(ReadDouble(lookup, "HOROVOD_GLOO_TIMEOUT_SECONDS", 0, &c.gloo_timeout_seconds));
  if (c.gloo_timeout_seconds <= 0) {
    return InvalidArgument("HOROVOD_GLOO_TIMEOUT_SECONDS must be > 0");
  }
  return c;
}

Result<LaunchEnv> ReadLaunchEnv(const EnvLookup& lookup) {
  LaunchEnv env;
  int64_t v = -1;
  RETURN_IF_ERROR(ReadInt(lookup, "OMPI_COMM_WORLD_SIZE", 0, &v));
  if (v >= 1) {
    env.open_mpi = true;
    env.ompi_size = static_cast<int>(v);
  }
  int64_t rank = -1;
  int64_t size = -1;
  RETURN_IF_ERROR(ReadInt(lookup, "RANK", 0, &rank));
  RETURN_IF_ERROR(ReadInt(lookup, "WORLD_SIZE", 0, &size));
  if (rank >= 0 && size >= 1) {
    if (rank >= size) {
      return InvalidArgument("RANK=" + std::to_string(rank) +
                             " is not below WORLD_SIZE=" + std::to_string(size));
    }
    env.torch = true;
    env.rank = static_cast<int>(rank);
    env.size = static_cast<int>(size);
  }
  int64_t local = -1;
  RETURN_IF_ERROR(ReadInt(lookup, "LOCAL_RANK", 0, &local));
  env.local_rank = static_cast<int>(local);
  local = -1;
  RETURN_IF_ERROR(ReadInt(lookup, "LOCAL_WORLD_SIZE", 1, &local));
  env.local_size = static_cast<int>(local);
  if (env.local_rank >= 0 && env.local_size >= 1 && env.local_rank >= env.local_size) {
    return InvalidArgument("LOCAL_RANK=" + std::to_string(env.local_rank) +
                           " is not below LOCAL_WORLD_SIZE=" + std::to_string(env.local_size));
  }
  const char* addr = lookup("HOROVOD_GLOO_RENDEZVOUS_ADDR");
  int64_t port = 0;
  if (addr != nullptr && *addr != '\0') {
    env.rendezvous_addr = addr;
    RETURN_IF_ERROR(ReadInt(lookup, "HOROVOD_GLOO_RENDEZVOUS_PORT", 1, &port));
    if (port > 65535) {
      return InvalidArgument("HOROVOD_GLOO_RENDEZVOUS_PORT=" + std::to_string(port) +
                             ": expected a port 1..65535");
    }
  } else if ((addr = lookup("MASTER_ADDR")) != nullptr && *addr != '\0') {
    env.rendezvous_addr = addr;
    RETURN_IF_ERROR(ReadInt(lookup, "MASTER_PORT", 1, &port));
    if (port >= 65535) {
      return InvalidArgument(
          "MASTER_PORT=" + std::to_string(port) +
          ": expected a port 1..65534 (the collective runtime uses MASTER_PORT + "
          "1; set HOROVOD_GLOO_RENDEZVOUS_PORT to choose another)");
    }
    if (port > 0) ++port;
  }
  env.rendezvous_port = static_cast<int>(port);
  return env;
}

Result<Config> ConfigFromEnv() {
  return ConfigFromEnv([](const char* name) { return std::getenv(name); });
}

std::string EncodeSharedConfig(const Config& c) {
  std::ostringstream os;
  os.precision(17);
  os << c.cycle_time_ms << ' ' << c.fusion_threshold_bytes << ' ' << c.fusion_buffer_max_bytes
     << ' ' << c.fusion_small_tensor_bytes << ' ' << c.cache_capacity << ' ' << c.stall_check << ' '
     << c.stall_warning_seconds << ' ' << c.stall_shutdown_seconds << ' ' << c.stall_fail_seconds;
  return os.str();
}

Status DecodeSharedConfig(const std::string& bytes, Config* c) {
  std::istringstream is(bytes);
  Config t = *c;
  is >> t.cycle_time_ms >> t.fusion_threshold_bytes >> t.fusion_buffer_max_bytes >>
      t.fusion_small_tensor_bytes >> t.cache_capacity >> t.stall_check >> t.stall_warning_seconds >>
      t.stall_shutdown_seconds >> t.stall_fail_seconds;
  if (is.fail()) return Internal("corrupt settings received from rank 0: '" + bytes + "'");
  *c = t;
  return Status::Ok();
}

}  // namespace trainyard::collective
