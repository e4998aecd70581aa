// trainyard serve NAME[:VERSION]...: resolves registered models and execs trainyard-serve (serve/).
#include "cli/cli.h"

namespace trainyard::cli {

void RegisterServe(CLI::App& /*app*/, Context& /*ctx*/) {}

}  // namespace trainyard::cli
