// `trainyard server`: serves a workspace over HTTP (src/server/), and its tokens.
#include "cli/cli.h"

namespace trainyard::cli {

// Placeholder until the server verb lands.
void RegisterServer(CLI::App& /*app*/, Context& /*ctx*/) {}

}  // namespace trainyard::cli
