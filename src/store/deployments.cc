// Implements store/deployments.h.
#include "store/deployments.h"

#include "common/clock.h"

namespace trainyard::store {
namespace {

constexpr const char* kColumns =
    "name, state, spec_json, port, supervisor_pid, supervisor_start, server_pid, restarts, error, "
    "created_at, updated_at";

DeploymentRecord ReadDeployment(const Stmt& s) {
  DeploymentRecord d;
  d.name = s.Text(0);
  d.state = s.Text(1);
  d.spec_json = s.Text(2);
  d.port = s.Int(3);
  d.supervisor_pid = s.Int(4);
  d.supervisor_start = s.Int(5);
  d.server_pid = s.Int(6);
  d.restarts = s.Int(7);
  d.error = s.Text(8);
  d.created_at = s.Int(9);
  d.updated_at = s.Int(10);
  return d;
}

Status ReadModels(Db* db, DeploymentRecord* d) {
  ASSIGN_OR_RETURN(Stmt s, db->Prepare("SELECT model, version FROM deployment_models "
                                       "WHERE deployment = ? ORDER BY rowid"));
  s.Bind(1, d->name);
  d->models.clear();
  return s.ForEachRow([&](const Stmt& row) { d->models.emplace_back(row.Text(0), row.Int(1)); });
}

// "a, b" or "none".
std::string Names(const std::vector<DeploymentRecord>& all) {
  std::string out;
  for (const auto& d : all) out += (out.empty() ? "" : ", ") + d.name;
  return out.empty() ? "none" : out;
}

}  // namespace

Status CreateDeployment(Workspace* ws, DeploymentRecord* deployment) {
  if (deployment->name.empty()) return InvalidArgument("deployment: name is empty");
  Db* db = ws->db();
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db));
  {
    ASSIGN_OR_RETURN(Stmt s, db->Prepare("SELECT state FROM deployments WHERE name = ?"));
    s.Bind(1, deployment->name);
    ASSIGN_OR_RETURN(bool exists, s.Step());
    if (exists) {
      return AlreadyExists("deployment " + deployment->name + " exists (" + s.Text(0) +
                           "); delete it first");
    }
  }
  deployment->created_at = deployment->updated_at = NowMicros();
  {
    ASSIGN_OR_RETURN(Stmt s, db->Prepare(std::string("INSERT INTO deployments(") + kColumns +
                                         ") VALUES(?,?,?,?,?,?,?,?,?,?,?)"));
    RETURN_IF_ERROR(s.Bind(1, deployment->name)
                        .Bind(2, deployment->state)
                        .Bind(3, deployment->spec_json)
                        .Bind(4, deployment->port)
                        .Bind(5, deployment->supervisor_pid)
                        .Bind(6, deployment->supervisor_start)
                        .Bind(7, deployment->server_pid)
                        .Bind(8, deployment->restarts)
                        .Bind(9, deployment->error)
                        .Bind(10, deployment->created_at)
                        .Bind(11, deployment->updated_at)
                        .Run());
  }
  {
    ASSIGN_OR_RETURN(Stmt s, db->Prepare("INSERT OR IGNORE INTO deployment_models(deployment, "
                                         "model, version) VALUES(?,?,?)"));
    for (const auto& [model, version] : deployment->models) {
      RETURN_IF_ERROR(s.Reset());
      RETURN_IF_ERROR(s.Bind(1, deployment->name).Bind(2, model).Bind(3, version).Run());
    }
  }
  return tx->Commit();
}

Result<DeploymentRecord> GetDeployment(Workspace* ws, const std::string& name) {
  Db* db = ws->db();
  ASSIGN_OR_RETURN(
      Stmt s, db->Prepare(std::string("SELECT ") + kColumns + " FROM deployments WHERE name = ?"));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool found, s.Step());
  if (!found) {
    ASSIGN_OR_RETURN(auto all, ListDeployments(ws));
    return NotFound("no deployment named \"" + name + "\" (deployments: " + Names(all) + ")");
  }
  DeploymentRecord d = ReadDeployment(s);
  RETURN_IF_ERROR(ReadModels(db, &d));
  return d;
}

Result<std::vector<DeploymentRecord>> ListDeployments(Workspace* ws) {
  Db* db = ws->db();
  ASSIGN_OR_RETURN(
      Stmt s, db->Prepare(std::string("SELECT ") + kColumns + " FROM deployments ORDER BY name"));
  std::vector<DeploymentRecord> out;
  RETURN_IF_ERROR(s.ForEachRow([&](const Stmt& row) { out.push_back(ReadDeployment(row)); }));
  for (auto& d : out) RETURN_IF_ERROR(ReadModels(db, &d));
  return out;
}

Status UpdateDeployment(Workspace* ws, const std::string& name, const DeploymentUpdate& update) {
  Db* db = ws->db();
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db));
  std::string state;
  {
    ASSIGN_OR_RETURN(Stmt s, db->Prepare("SELECT state FROM deployments WHERE name = ?"));
    s.Bind(1, name);
    ASSIGN_OR_RETURN(bool found, s.Step());
    if (!found) return NotFound("no deployment named \"" + name + "\"");
    state = s.Text(0);
  }
  std::string sql = "UPDATE deployments SET updated_at = ?";
  std::vector<std::pair<std::string, std::string>> texts;
  std::vector<std::pair<std::string, int64_t>> ints;
  // Only delete moves a Deleting deployment on (it removes the row): a supervisor's late write
  // never brings it back to life.
  if (update.state && !(state == kDeployDeleting && *update.state != kDeployDeleting)) {
    texts.emplace_back("state", *update.state);
  }
  if (update.error) texts.emplace_back("error", *update.error);
  if (update.port) ints.emplace_back("port", *update.port);
  if (update.supervisor_pid) ints.emplace_back("supervisor_pid", *update.supervisor_pid);
  if (update.supervisor_start) ints.emplace_back("supervisor_start", *update.supervisor_start);
  if (update.server_pid) ints.emplace_back("server_pid", *update.server_pid);
  if (update.restarts) ints.emplace_back("restarts", *update.restarts);
  for (const auto& [column, value] : texts) sql += ", " + column + " = ?";
  for (const auto& [column, value] : ints) sql += ", " + column + " = ?";
  sql += " WHERE name = ?";
  {
    ASSIGN_OR_RETURN(Stmt s, db->Prepare(sql));
    int i = 1;
    s.Bind(i++, NowMicros());
    for (const auto& [column, value] : texts) s.Bind(i++, value);
    for (const auto& [column, value] : ints) s.Bind(i++, value);
    s.Bind(i, name);
    RETURN_IF_ERROR(s.Run());
  }
  return tx->Commit();
}

Status RemoveDeployment(Workspace* ws, const std::string& name) {
  Db* db = ws->db();
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(db));
  // deployment_models is emptied here, not left to ON DELETE CASCADE (foreign keys are off unless
  // a connection turns them on).
  for (const char* sql : {"DELETE FROM deployment_models WHERE deployment = ?",
                          "DELETE FROM deployments WHERE name = ?"}) {
    ASSIGN_OR_RETURN(Stmt s, db->Prepare(sql));
    RETURN_IF_ERROR(s.Bind(1, name).Run());
  }
  if (db->Changes() == 0) return NotFound("no deployment named \"" + name + "\"");
  return tx->Commit();
}

}  // namespace trainyard::store
