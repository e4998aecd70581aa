#include "collective/transport_registry.h"

#include "common/strings.h"

#if TRAINYARD_HAVE_MPI
#include "collective/transport/mpi/mpi_world.h"
#endif

namespace trainyard::collective {

std::vector<std::string> BuiltTransports() {
  std::vector<std::string> out;
#if TRAINYARD_HAVE_MPI
  out.push_back("mpi");
#endif
  return out;
}

Result<World> CreateWorld(const std::string& transport, const Config& config) {
#if TRAINYARD_HAVE_MPI
  if (transport == "mpi") return CreateMpiWorld(config);
#else
  (void)config;
#endif
  std::vector<std::string> built = BuiltTransports();
  return Unavailable("collective transport '" + transport +
                     "' is not built into trainyard (built: " +
                     (built.empty() ? std::string("none") : Join(built, ", ")) + ")");
}

}  // namespace trainyard::collective
