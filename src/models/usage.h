// Which deployments use a model version: the rows of the deployments' deployment_models table
// (store/deployments.h) that name it. For `model show`; store::DeleteModel checks the same rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/workspace.h"

namespace trainyard::models {

// The names of the deployments that serve `name`:`version`, sorted; empty when none.
Result<std::vector<std::string>> DeploymentsUsing(store::Workspace* ws, const std::string& name,
                                                  int64_t version);

}  // namespace trainyard::models
