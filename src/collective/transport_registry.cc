#include "collective/transport_registry.h"

#include <algorithm>
#include <cstdlib>

#include "collective/transport/inproc/inproc_world.h"
#include "common/strings.h"

#if TRAINYARD_HAVE_MPI
#include "collective/transport/mpi/mpi_world.h"
#endif
#if TRAINYARD_HAVE_GLOO
#include "collective/transport/c10d/gloo_world.h"
#endif
#if TRAINYARD_HAVE_NCCL
#include "collective/transport/c10d/nccl_communicator.h"
#endif

namespace trainyard::collective {
namespace {

std::string BuiltText() {
  std::vector<std::string> built = BuiltTransports();
  return built.empty() ? std::string("none") : Join(built, ", ");
}

}  // namespace

std::vector<std::string> BuiltTransports() {
  std::vector<std::string> out;
#if TRAINYARD_HAVE_MPI
  out.push_back("mpi");
#endif
#if TRAINYARD_HAVE_GLOO
  out.push_back("gloo");
#endif
  return out;
}

bool TransportBuilt(const std::string& name) {
  std::vector<std::string> built = BuiltTransports();
  return std::find(built.begin(), built.end(), name) != built.end();
}

bool NcclCompiled() {
#if TRAINYARD_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

Result<std::string> ResolveTransport(const std::string& requested, const Config& config,
                                     const LaunchEnv& env) {
  if (!requested.empty() && requested != "auto") return requested;
  if (!config.transport.empty()) return config.transport;
  if (env.open_mpi && TransportBuilt("mpi")) return std::string("mpi");
  if (env.torch && env.size > 1 && TransportBuilt("gloo")) return std::string("gloo");
  if (env.open_mpi && env.ompi_size > 1) {
    return Unavailable(
        "launched by Open MPI with " + std::to_string(env.ompi_size) +
        " ranks, but the MPI transport is not built into trainyard (built: " + BuiltText() + ")");
  }
  if (env.torch && env.size > 1) {
    return Unavailable("RANK/WORLD_SIZE describe " + std::to_string(env.size) +
                       " ranks, but the Gloo transport is not built into trainyard (built: " +
                       BuiltText() + "; it needs libtorch at build time)");
  }
  return std::string("single");
}

namespace {

Result<World> CreateHostWorld(const std::string& chosen, const Config& config,
                              const LaunchEnv& env) {
  if (chosen == "single") {
    // The communicator keeps the in-process world's state alive.
    InProcWorld world(1);
    return world.Connect(0);
  }
#if TRAINYARD_HAVE_MPI
  if (chosen == "mpi") return CreateMpiWorld(config);
#endif
#if TRAINYARD_HAVE_GLOO
  if (chosen == "gloo") return CreateGlooWorld(config, env);
#endif
  (void)config;
  (void)env;
  return Unavailable("collective transport '" + chosen +
                     "' is not built into trainyard (built: " + BuiltText() + ")");
}

}  // namespace

Result<World> CreateWorld(const std::string& transport, const Config& config) {
  const EnvLookup lookup = [](const char* name) { return std::getenv(name); };
  ASSIGN_OR_RETURN(LaunchEnv env, ReadLaunchEnv(lookup));
  ASSIGN_OR_RETURN(std::string chosen, ResolveTransport(transport, config, env));
  ASSIGN_OR_RETURN(World world, CreateHostWorld(chosen, config, env));
#if TRAINYARD_HAVE_NCCL
  // CUDA tensors go to NCCL whatever carries the coordination (MPI, Gloo, a single rank).
  RETURN_IF_ERROR(AttachNcclDevice(world, config.gloo_timeout_seconds));
#endif
  return world;
}

}  // namespace trainyard::collective
