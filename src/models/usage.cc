// Implements models/usage.h.
#include "models/usage.h"

namespace trainyard::models {

Result<std::vector<std::string>> DeploymentsUsing(store::Workspace* ws, const std::string& name,
                                                  int64_t version) {
  ASSIGN_OR_RETURN(store::Stmt s,
                   ws->db()->Prepare("SELECT deployment FROM deployment_models WHERE model = ? "
                                     "AND version = ? ORDER BY deployment"));
  s.Bind(1, name).Bind(2, version);
  std::vector<std::string> out;
  RETURN_IF_ERROR(s.ForEachRow([&](const store::Stmt& row) { out.push_back(row.Text(0)); }));
  return out;
}

}  // namespace trainyard::models
