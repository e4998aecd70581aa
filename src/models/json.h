// The JSON of a model version (issue 16, contract A): one rendering for `trainyard model ...
// --json` and the Python SDK (trainyard._sdk).
#pragma once

#include <nlohmann/json.hpp>

#include "store/models.h"

namespace trainyard::models {

// {"name", "version", "id" ("NAME:VERSION"), "digest", "path", "is_dir", "files", "bytes",
//  "description", "tags", "properties", "run_id", "experiment", "run_path", "metrics",
//  "created_at" (ISO-8601)}. Tags, properties and metrics that are not a JSON object are {}.
// Callers add "already_registered" (register) and "deployments" (show).
nlohmann::json ModelToJson(const store::ModelRecord& model);

}  // namespace trainyard::models
