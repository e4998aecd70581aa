// The model registry: named, versioned, immutable, content-addressed model files with lineage.
//
//   Register  stores a local file or folder (or one from a run's folder) as the next version of a
//             name. The files go into the workspace's content-addressed snapshot store
//             (snapshot/snapshot.h; nothing ignored, symlinks refused) and the row into the
//             models table (store/models.h). Registering bytes identical to an existing version
//             of the same name stores nothing new and returns that version, saying so.
//   Lineage   a version registered from a run records the run, its experiment, the path in the
//             run's folder and the run's final metrics (the last value of each scalar metric).
//   Files     ModelDir() is a read-only copy of a version's files under
//             <workspace>/models/<name>/<version>/<path>, restored on first use and then shared
//             by every server; Download() copies them elsewhere.
//
// Functions take the caller's Workspace (one thread, see store/workspace.h). Concurrent
// processes may register and materialize at once.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/models.h"
#include "store/workspace.h"

namespace trainyard::models {

// "NAME", "NAME:VERSION" or "NAME:latest" -> name and version (nullopt = latest).
// InvalidArgument naming the text when the name is empty or has characters other than letters,
// digits, '-', '_' and '.' (at most 255), or the version is not a positive integer.
struct ModelRef {
  std::string name;
  std::optional<int64_t> version;
  std::string ToString() const;  // "NAME:VERSION" or "NAME" (latest)
};
Result<ModelRef> ParseModelRef(const std::string& text);

struct RegisterRequest {
  std::string name;
  // A local file or folder; or, with run_id, a path inside the run's folder ("outputs/model.pt").
  std::string path;
  std::string run_id;  // "" = a local path
  std::string description;
  std::map<std::string, std::string> tags, properties;
};

struct Registered {
  store::ModelRecord model;
  bool already_registered = false;  // the same bytes were this version already
};

// Validates the name and path (NotFound naming the path or run; InvalidArgument for a bad name),
// stores the files and the row. Safe against concurrent registrations of the same name.
Result<Registered> Register(store::Workspace* ws, const RegisterRequest& request);

// The version a reference names (latest when unversioned); NotFound naming what exists.
Result<store::ModelRecord> Resolve(store::Workspace* ws, const ModelRef& ref);

// The folder holding the version's files: <workspace>/models/<name>/<version>. The model itself
// is <ModelDir>/<model.path> (a file or a folder). Restores it on first use (atomically).
Result<std::string> ModelDir(store::Workspace* ws, const store::ModelRecord& model);

// Copies the version's files to `dest_dir`/<model.path> (creating dest_dir); fails with
// AlreadyExists when that exists.
Status Download(store::Workspace* ws, const store::ModelRecord& model, const std::string& dest_dir);

// Removes a version (its row and its materialized copy; blobs stay, shared with snapshots).
// FailedPrecondition naming the deployments that use it.
Status Delete(store::Workspace* ws, const std::string& name, int64_t version);

}  // namespace trainyard::models
