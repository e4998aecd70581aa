// Implements models/registry.h.
//
// Terms used below:
//   stage      a temporary folder <ws>/tmp/model-XXXXXX holding an empty ".trainyardignore" and
//              the model's file or folder under its own name (hard links where possible). The
//              empty rule file makes the snapshot take everything (it is the chosen rule file, so
//              no .gitignore below applies); it is part of every model manifest and removed again
//              wherever a version's files are restored.
//   marker     ".trainyard-digest" in a materialized <ws>/models/<name>/<version> folder: the
//              digest it was restored from. A folder whose marker is not the row's digest (a
//              deleted version whose number was given again) is replaced.
#include "models/registry.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/files.h"
#include "common/json_number.h"
#include "common/strings.h"
#include "models/staging.h"
#include "snapshot/snapshot.h"
#include "snapshot/stat_cache.h"
#include "store/metrics.h"

namespace trainyard::models {
namespace {

constexpr size_t kMaxNameLength = 255;
constexpr char kRuleFile[] = ".trainyardignore";
constexpr char kMarker[] = ".trainyard-digest";

Status CheckName(const std::string& name, const std::string& text) {
  const std::string quoted = "\"" + EscapeBytes(text) + "\"";
  if (name.empty()) return InvalidArgument("model name is empty in " + quoted);
  if (name.size() > kMaxNameLength) {
    return InvalidArgument("model name in " + quoted + " is longer than 255 characters");
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return InvalidArgument("model name " + quoted +
                             " may hold only letters, digits, '-', '_' and '.'");
    }
  }
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) {
    return InvalidArgument("model name " + quoted + " must start with a letter or a digit");
  }
  return Status::Ok();
}

std::string VersionDir(store::Workspace* ws, const store::ModelRecord& model) {
  return ws->dir() + "/models/" + model.name + "/" + std::to_string(model.version);
}

// Removes the temporary folder (and the stat cache the snapshot wrote for it) at scope exit.
class StageGuard {
 public:
  StageGuard(std::string stage, std::string cache)
      : stage_(std::move(stage)), cache_(std::move(cache)) {}
  ~StageGuard() {
    RemoveTree(stage_).IgnoreError();
    if (!cache_.empty()) unlink(cache_.c_str());
  }
  StageGuard(const StageGuard&) = delete;
  StageGuard& operator=(const StageGuard&) = delete;

 private:
  std::string stage_, cache_;
};

Result<std::string> MapToJson(const std::map<std::string, std::string>& map, const char* what) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : map) {
    if (k.empty()) return InvalidArgument(std::string(what) + " with an empty key");
    RETURN_IF_ERROR(CheckUtf8(std::string(what) + " key", k));
    RETURN_IF_ERROR(CheckUtf8(std::string(what) + " value for '" + k + "'", v));
    j[k] = v;
  }
  return j.dump();
}

// The file or folder to register.
struct Source {
  std::string abs_path;  // what to stage
  std::string name;      // its file or folder name (the model's `path`)
};

Result<Source> LocalSource(store::Workspace* ws, const std::string& path) {
  if (path.empty()) return InvalidArgument("model register: --path is empty");
  RETURN_IF_ERROR(CheckNoNul("--path", path));
  Source s;
  s.abs_path = AbsolutePath(ExpandHome(path));
  struct stat st {};
  if (stat(s.abs_path.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFound("no such file or folder: " + path);
    return ErrnoError("cannot read " + path, errno);
  }
  s.name = std::filesystem::path(s.abs_path).filename().string();
  if (s.name.empty()) return InvalidArgument("cannot register the root folder " + path);
  // Staging happens inside the workspace: a folder holding it would copy itself forever.
  char real_source[PATH_MAX];
  char real_ws[PATH_MAX];
  if (S_ISDIR(st.st_mode) && realpath(s.abs_path.c_str(), real_source) != nullptr &&
      realpath(ws->dir().c_str(), real_ws) != nullptr &&
      StartsWith(std::string(real_ws) + "/", std::string(real_source) + "/")) {
    return InvalidArgument("cannot register " + path + ": it holds the workspace " + ws->dir());
  }
  return s;
}

// A path inside the run's folder: relative, never leaving it (also not through symlinks).
Result<Source> RunSource(store::Workspace* ws, const store::RunRecord& run, const std::string& path,
                         std::string* run_path) {
  if (path.empty()) return InvalidArgument("model register: --path is empty");
  RETURN_IF_ERROR(CheckNoNul("--path", path));
  std::filesystem::path rel = std::filesystem::path(path).lexically_normal();
  std::string rel_text = rel.string();
  while (rel_text.size() > 1 && rel_text.back() == '/') rel_text.pop_back();
  if (rel.is_absolute() || rel_text == "." || rel_text == ".." || StartsWith(rel_text, "../")) {
    return InvalidArgument("--path " + path + " is not a path inside run " + run.id +
                           "'s folder (give it relative to the folder, e.g. outputs/model.pt)");
  }
  const std::string run_dir = ws->RunDir(run.id);
  char real_dir[PATH_MAX];
  char real_path[PATH_MAX];
  if (realpath(run_dir.c_str(), real_dir) == nullptr ||
      realpath((run_dir + "/" + rel_text).c_str(), real_path) == nullptr) {
    std::vector<std::string> outputs;
    auto files = ws->Files(run.id);
    if (files.ok()) {
      for (const auto& f : files.value()) {
        if (StartsWith(f.path, "outputs/")) outputs.push_back(f.path);
      }
    }
    std::string known =
        outputs.empty() ? "it has no outputs/ files" : "its outputs: " + Join(outputs, ", ");
    std::string note;
    if (!store::IsTerminal(run.status)) {
      note = "; the run is " + std::string(store::RunStatusName(run.status)) +
             ": its outputs/ are kept when it ends";
    }
    return NotFound("run " + run.id + " has no file or folder " + rel_text + " (" + known + note +
                    ")");
  }
  const std::string inside = std::string(real_dir) + "/";
  if (!StartsWith(std::string(real_path) + "/", inside) || std::string(real_path) == real_dir) {
    return InvalidArgument("--path " + path + " leads out of run " + run.id + "'s folder");
  }
  *run_path = rel_text;
  Source s;
  s.abs_path = real_path;
  s.name = rel.filename().string();
  if (s.name.empty()) s.name = std::filesystem::path(rel_text).filename().string();
  return s;
}

// {"metric": last value} of the run's scalar metrics.
Result<std::string> FinalMetrics(store::Workspace* ws, const store::RunRecord& run) {
  ASSIGN_OR_RETURN(auto summaries, store::SummarizeMetrics(ws->db(), run.seq));
  nlohmann::json j = nlohmann::json::object();
  for (const auto& m : summaries) j[m.name] = JsonNumber(m.last);
  return j.dump();
}

// Stages `source`, snapshots it into the workspace's store and fills in the model's digest,
// path, is_dir, files and bytes.
Status StoreFiles(store::Workspace* ws, const Source& source, store::ModelRecord* model) {
  if (source.name == kRuleFile || source.name == kMarker) {
    return InvalidArgument("a model cannot be named " + source.name +
                           " (a name trainyard uses in model folders); rename it");
  }
  const std::string store_dir = AbsolutePath(ws->SnapshotsDir());
  ASSIGN_OR_RETURN(std::string stage, MakeTempDir(ws->dir() + "/tmp", "model-"));
  StageGuard guard(stage, snapshot::StatCache::PathFor(store_dir, AbsolutePath(stage)));
  RETURN_IF_ERROR(WriteFileAtomic(stage + "/" + kRuleFile, ""));
  RETURN_IF_ERROR(StageTree(source.abs_path, stage + "/" + source.name));

  snapshot::SnapshotOptions options;
  options.stat_cache_min_age_ms = 0;
  ASSIGN_OR_RETURN(snapshot::SnapshotInfo info, snapshot::TakeSnapshot(stage, store_dir, options));
  model->digest = info.id;
  model->path = source.name;
  model->is_dir = IsDirectory(source.abs_path);
  model->files = static_cast<int64_t>(info.files) - 1;  // the rule file is not the model's
  model->bytes = static_cast<int64_t>(info.bytes);
  return Status::Ok();
}

// Restores the version's files into the new folder `dir` (the model at dir/<path>, nothing else).
Status RestoreModel(store::Workspace* ws, const store::ModelRecord& model, const std::string& dir) {
  RETURN_IF_ERROR(snapshot::Restore(ws->SnapshotsDir(), model.digest, dir)
                      .WithContext("model " + model.name + ":" + std::to_string(model.version)));
  if (unlink((dir + "/" + kRuleFile).c_str()) != 0 && errno != ENOENT) {
    return ErrnoError("cannot remove " + dir + "/" + kRuleFile, errno);
  }
  return Status::Ok();
}

bool Materialized(const std::string& dir, const store::ModelRecord& model) {
  auto marker = ReadFile(dir + "/" + kMarker);
  return marker.ok() && marker.value() == model.digest && PathExists(dir + "/" + model.path);
}

}  // namespace

std::string ModelRef::ToString() const {
  return version ? name + ":" + std::to_string(*version) : name;
}

Result<ModelRef> ParseModelRef(const std::string& text) {
  ModelRef ref;
  size_t colon = text.find(':');
  ref.name = text.substr(0, colon);
  RETURN_IF_ERROR(CheckName(ref.name, text));
  if (colon == std::string::npos) return ref;
  std::string v = text.substr(colon + 1);
  if (v == "latest") return ref;
  bool digits = !v.empty() && v.size() <= 18;
  for (char c : v) digits = digits && std::isdigit(static_cast<unsigned char>(c));
  if (!digits || std::stoll(v) <= 0) {
    return InvalidArgument("model version in \"" + EscapeBytes(text) +
                           "\" is not a positive integer or \"latest\"");
  }
  ref.version = std::stoll(v);
  return ref;
}

Result<Registered> Register(store::Workspace* ws, const RegisterRequest& request) {
  RETURN_IF_ERROR(CheckName(request.name, request.name));
  RETURN_IF_ERROR(CheckUtf8("model description", request.description));
  store::ModelRecord model;
  model.name = request.name;
  model.description = request.description;
  ASSIGN_OR_RETURN(model.tags_json, MapToJson(request.tags, "tag"));
  ASSIGN_OR_RETURN(model.properties_json, MapToJson(request.properties, "property"));

  Source source;
  if (request.run_id.empty()) {
    ASSIGN_OR_RETURN(source, LocalSource(ws, request.path));
  } else {
    ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(request.run_id));
    ASSIGN_OR_RETURN(source, RunSource(ws, run, request.path, &model.run_path));
    model.run_id = run.id;
    model.experiment = run.experiment;
    ASSIGN_OR_RETURN(model.metrics_json, FinalMetrics(ws, run));
  }
  RETURN_IF_ERROR(ws->CheckWritable());
  RETURN_IF_ERROR(StoreFiles(ws, source, &model));

  // Looking for the digest and storing the row in one transaction: two processes registering the
  // same bytes at once get one version.
  ASSIGN_OR_RETURN(auto tx, store::Transaction::Begin(ws->db()));
  ASSIGN_OR_RETURN(std::optional<store::ModelRecord> existing,
                   store::FindModelByDigest(ws, model.name, model.digest));
  if (existing) return Registered{*existing, true};
  RETURN_IF_ERROR(store::PutModel(ws, &model));
  RETURN_IF_ERROR(tx->Commit());
  return Registered{model, false};
}

Result<store::ModelRecord> Resolve(store::Workspace* ws, const ModelRef& ref) {
  RETURN_IF_ERROR(CheckName(ref.name, ref.ToString()));
  return store::GetModel(ws, ref.name, ref.version);
}

Result<std::string> ModelDir(store::Workspace* ws, const store::ModelRecord& model) {
  RETURN_IF_ERROR(CheckName(model.name, model.name));
  const std::string dir = VersionDir(ws, model);
  if (Materialized(dir, model)) return dir;
  const std::string parent = ws->dir() + "/models/" + model.name;
  const std::string tag = "." + std::to_string(model.version) + ".";
  ASSIGN_OR_RETURN(std::string tmp, MakeTempDir(parent, tag + "tmp-"));
  Status restored = RestoreModel(ws, model, tmp);
  if (restored.ok()) restored = MakeTreeReadOnly(tmp + "/" + model.path);
  if (restored.ok()) restored = WriteFileAtomic(tmp + "/" + kMarker, model.digest);
  if (restored.ok() && chmod((tmp + "/" + kMarker).c_str(), 0444) != 0) {
    restored = ErrnoError("cannot set the mode of " + tmp + "/" + kMarker, errno);
  }
  if (restored.ok() && chmod(tmp.c_str(), 0755) != 0) {
    restored = ErrnoError("cannot set the mode of " + tmp, errno);
  }
  if (!restored.ok()) {
    RemoveTree(tmp).IgnoreError();
    return restored;
  }
  // Another process may publish the same folder at once: the first rename wins and the others
  // find its folder complete. A stale folder (another digest) is moved aside and replaced.
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (rename(tmp.c_str(), dir.c_str()) == 0) return dir;
    const int err = errno;
    if (err != ENOTEMPTY && err != EEXIST) {
      RemoveTree(tmp).IgnoreError();
      return ErrnoError("cannot publish " + dir, err);
    }
    if (Materialized(dir, model)) {
      RemoveTree(tmp).IgnoreError();
      return dir;
    }
    // A stale copy: move it aside (into a fresh temporary folder's place) and remove it.
    auto old = MakeTempDir(parent, tag + "old-");
    if (old.ok()) {
      // Fails when another process moved it first; either way the copy goes.
      static_cast<void>(rename(dir.c_str(), old.value().c_str()));
      RemoveTree(old.value()).IgnoreError();
    }
  }
  RemoveTree(tmp).IgnoreError();
  return FailedPrecondition("cannot publish " + dir + ": it keeps changing");
}

Status Download(store::Workspace* ws, const store::ModelRecord& model,
                const std::string& dest_dir) {
  const std::string dest = AbsolutePath(ExpandHome(dest_dir.empty() ? "." : dest_dir));
  const std::string target = dest + "/" + model.path;
  if (PathExists(target)) {
    return AlreadyExists(target + " exists; remove it or download into another folder");
  }
  ASSIGN_OR_RETURN(std::string tmp, MakeTempDir(dest, ".ty-download-"));
  Status s = RestoreModel(ws, model, tmp);
  if (s.ok() && renameat2(AT_FDCWD, (tmp + "/" + model.path).c_str(), AT_FDCWD, target.c_str(),
                          RENAME_NOREPLACE) != 0) {
    s = errno == EEXIST
            ? AlreadyExists(target + " exists; remove it or download into another folder")
            : ErrnoError("cannot move the model to " + target, errno);
  }
  RemoveTree(tmp).IgnoreError();
  return s;
}

Status Delete(store::Workspace* ws, const std::string& name, int64_t version) {
  RETURN_IF_ERROR(CheckName(name, name));
  RETURN_IF_ERROR(store::DeleteModel(ws, name, version));
  store::ModelRecord gone;
  gone.name = name;
  gone.version = version;
  const std::string dir = VersionDir(ws, gone);
  if (!PathExists(dir)) return Status::Ok();
  // Moved aside first, so that no reader sees a half-removed folder.
  const std::string parent = ws->dir() + "/models/" + name;
  ASSIGN_OR_RETURN(std::string old, MakeTempDir(parent, "." + std::to_string(version) + ".old-"));
  if (rename(dir.c_str(), old.c_str()) != 0 && errno != ENOENT) {
    RemoveTree(old).IgnoreError();
    return ErrnoError("model " + name + ":" + std::to_string(version) +
                          " is deleted, but its copy cannot be removed: " + dir,
                      errno);
  }
  RETURN_IF_ERROR(RemoveTree(old));
  rmdir(parent.c_str());  // the name's last version: its folder goes too (fails when not empty)
  return Status::Ok();
}

}  // namespace trainyard::models
