// trainyard deploy and trainyard deployment list|logs|delete (runner/deployment.h).
#include "cli/cli.h"

namespace trainyard::cli {

void RegisterDeploy(CLI::App& /*app*/, Context& /*ctx*/) {}

}  // namespace trainyard::cli
