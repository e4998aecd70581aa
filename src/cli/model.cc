// trainyard model register|list|show|download|delete: the model registry (models/registry.h).
#include "cli/cli.h"

namespace trainyard::cli {

void RegisterModel(CLI::App& /*app*/, Context& /*ctx*/) {}

}  // namespace trainyard::cli
