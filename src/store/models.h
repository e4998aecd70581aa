// The model registry's table (schema 6): named model versions, numbered 1, 2, ... per name, each
// immutable once stored. What the files are and where they live is models/registry.h; this is
// only the rows. Functions take the caller's Workspace (one thread, see workspace.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/workspace.h"

namespace trainyard::store {

struct ModelRecord {
  std::string name;
  int64_t version = 0;  // 1, 2, ... per name; assigned by PutModel
  std::string digest;   // the snapshot manifest id of the model's files (content address)
  std::string path;     // the file or folder name registered ("model.pt", "model")
  bool is_dir = false;
  int64_t files = 0, bytes = 0;
  std::string description;
  std::string tags_json = "{}";        // {"k": "v"}
  std::string properties_json = "{}";  // {"k": "v"}
  // Lineage (empty when registered from a local file): the run, its experiment, the path in the
  // run's folder ("outputs/model.pt") and the run's final metrics ({"name": value}).
  std::string run_id, experiment, run_path;
  std::string metrics_json = "{}";
  int64_t created_at = 0;  // microseconds since the epoch
};

// Stores a new version of model->name: model->version becomes 1 + the highest version of that
// name (1 for a new name); fills in created_at. Atomic against concurrent registrations.
Status PutModel(Workspace* ws, ModelRecord* model);
// `version` empty: the latest (highest) version. NotFound naming what exists otherwise.
Result<ModelRecord> GetModel(Workspace* ws, const std::string& name,
                             std::optional<int64_t> version = std::nullopt);
// Every version of `name` ("" = of every name), by name then version.
Result<std::vector<ModelRecord>> ListModels(Workspace* ws, const std::string& name = "");
// The version of `name` whose files have `digest`, if any.
Result<std::optional<ModelRecord>> FindModelByDigest(Workspace* ws, const std::string& name,
                                                     const std::string& digest);
// Removes one version. FailedPrecondition naming the deployments when a deployment (in the
// deployment_models table) uses it; NotFound when it does not exist.
Status DeleteModel(Workspace* ws, const std::string& name, int64_t version);

}  // namespace trainyard::store
