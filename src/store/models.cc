// Implements store/models.h: the rows of the model registry.
#include "store/models.h"

#include "common/clock.h"
#include "common/strings.h"

namespace trainyard::store {
namespace {

constexpr char kColumns[] =
    "name, version, digest, path, is_dir, files, bytes, description, tags_json, properties_json, "
    "run_id, experiment, run_path, metrics_json, created_at";

ModelRecord ReadModel(const Stmt& s) {
  ModelRecord m;
  m.name = s.Text(0);
  m.version = s.Int(1);
  m.digest = s.Text(2);
  m.path = s.Text(3);
  m.is_dir = s.Int(4) != 0;
  m.files = s.Int(5);
  m.bytes = s.Int(6);
  m.description = s.Text(7);
  m.tags_json = s.Text(8);
  m.properties_json = s.Text(9);
  m.run_id = s.Text(10);
  m.experiment = s.Text(11);
  m.run_path = s.Text(12);
  m.metrics_json = s.Text(13);
  m.created_at = s.Int(14);
  return m;
}

// "registered: a, b" or "none registered", for NotFound messages.
Result<std::string> KnownNames(Workspace* ws) {
  ASSIGN_OR_RETURN(Stmt s, ws->db()->Prepare("SELECT DISTINCT name FROM models ORDER BY name"));
  std::vector<std::string> names;
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) { names.push_back(row.Text(0)); }));
  if (names.empty()) return std::string("none registered");
  return "registered: " + Join(names, ", ");
}

Status UnknownName(Workspace* ws, const std::string& name) {
  ASSIGN_OR_RETURN(std::string known, KnownNames(ws));
  return NotFound("no model named \"" + name + "\" in the workspace (" + known + ")");
}

std::string VersionList(const std::vector<ModelRecord>& versions) {
  std::vector<std::string> v;
  for (const auto& m : versions) v.push_back(std::to_string(m.version));
  return Join(v, ", ");
}

}  // namespace

Status PutModel(Workspace* ws, ModelRecord* model) {
  if (model->name.empty()) return InvalidArgument("model: name is empty");
  model->created_at = NowMicros();
  // One statement picks the next version and inserts it, so it is atomic on its own and also
  // inside a caller's transaction (models::Register looks for the digest first, in one).
  ASSIGN_OR_RETURN(
      Stmt s, ws->db()->Prepare(
                  std::string("INSERT INTO models(") + kColumns +
                  ") SELECT ?1, COALESCE(MAX(version), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                  "?10, ?11, ?12, ?13, ?14 FROM models WHERE name = ?1"));
  RETURN_IF_ERROR(s.Bind(1, model->name)
                      .Bind(2, model->digest)
                      .Bind(3, model->path)
                      .Bind(4, static_cast<int64_t>(model->is_dir ? 1 : 0))
                      .Bind(5, model->files)
                      .Bind(6, model->bytes)
                      .Bind(7, model->description)
                      .Bind(8, model->tags_json)
                      .Bind(9, model->properties_json)
                      .Bind(10, model->run_id)
                      .Bind(11, model->experiment)
                      .Bind(12, model->run_path)
                      .Bind(13, model->metrics_json)
                      .Bind(14, model->created_at)
                      .Run());
  const int64_t seq = ws->db()->LastInsertId();
  ASSIGN_OR_RETURN(Stmt q, ws->db()->Prepare("SELECT version FROM models WHERE seq = ?"));
  q.Bind(1, seq);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Internal("model " + model->name + ": the stored row is gone");
  model->version = q.Int(0);
  return Status::Ok();
}

Result<std::vector<ModelRecord>> ListModels(Workspace* ws, const std::string& name) {
  ASSIGN_OR_RETURN(Stmt s, ws->db()->Prepare(std::string("SELECT ") + kColumns + " FROM models" +
                                             (name.empty() ? "" : " WHERE name = ?") +
                                             " ORDER BY name, version"));
  if (!name.empty()) s.Bind(1, name);
  std::vector<ModelRecord> out;
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) { out.push_back(ReadModel(row)); }));
  return out;
}

Result<ModelRecord> GetModel(Workspace* ws, const std::string& name,
                             std::optional<int64_t> version) {
  ASSIGN_OR_RETURN(std::vector<ModelRecord> versions, ListModels(ws, name));
  if (versions.empty()) return UnknownName(ws, name);
  if (!version) return versions.back();
  for (const auto& m : versions) {
    if (m.version == *version) return m;
  }
  return NotFound("model " + name + " has no version " + std::to_string(*version) +
                  " (versions: " + VersionList(versions) + ")");
}

Result<std::optional<ModelRecord>> FindModelByDigest(Workspace* ws, const std::string& name,
                                                     const std::string& digest) {
  ASSIGN_OR_RETURN(Stmt s, ws->db()->Prepare(std::string("SELECT ") + kColumns +
                                             " FROM models WHERE name = ? AND digest = ? "
                                             "ORDER BY version LIMIT 1"));
  s.Bind(1, name).Bind(2, digest);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<ModelRecord>();
  return std::optional<ModelRecord>(ReadModel(s));
}

Status DeleteModel(Workspace* ws, const std::string& name, int64_t version) {
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(ws->db()));
  RETURN_IF_ERROR(GetModel(ws, name, version).status());
  std::vector<std::string> users;
  {
    ASSIGN_OR_RETURN(Stmt s, ws->db()->Prepare("SELECT deployment FROM deployment_models "
                                               "WHERE model = ? AND version = ? "
                                               "ORDER BY deployment"));
    s.Bind(1, name).Bind(2, version);
    RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) { users.push_back(row.Text(0)); }));
  }
  if (!users.empty()) {
    return FailedPrecondition(
        "model " + name + ":" + std::to_string(version) + " is used by " +
        (users.size() == 1 ? "deployment " : "deployments ") + Join(users, ", ") + "; delete " +
        (users.size() == 1 ? "it" : "them") + " first (trainyard deployment delete NAME)");
  }
  {
    ASSIGN_OR_RETURN(Stmt s,
                     ws->db()->Prepare("DELETE FROM models WHERE name = ? AND version = ?"));
    RETURN_IF_ERROR(s.Bind(1, name).Bind(2, version).Run());
  }
  return tx->Commit();
}

}  // namespace trainyard::store
