// The deployments table (schema 6): one row per deployment name, the models it serves (which
// DeleteModel refuses to remove while the row exists), and the state its supervisor keeps current
// (runner/deployment.h). Functions take the caller's Workspace (one thread, see workspace.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "store/workspace.h"

namespace trainyard::store {

// The hosted service's Webservice.state words.
inline constexpr char kDeployTransitioning[] = "Transitioning";  // starting, restarting
inline constexpr char kDeployHealthy[] = "Healthy";              // answering /v2/health/ready
inline constexpr char kDeployUnhealthy[] = "Unhealthy";          // the server died; restarting
inline constexpr char kDeployFailed[] = "Failed";                // gave up; `error` says why
inline constexpr char kDeployDeleting[] = "Deleting";

struct DeploymentRecord {
  std::string name;
  std::string state = kDeployTransitioning;
  std::string spec_json;  // what `trainyard deploy` was asked (runner/deployment.h)
  int64_t port = 0;       // where it listens (0 until known)
  int64_t supervisor_pid = 0, supervisor_start = 0;  // start ticks tell a reused pid apart
  int64_t server_pid = 0;
  int64_t restarts = 0;
  std::string error;
  int64_t created_at = 0, updated_at = 0;               // microseconds since the epoch
  std::vector<std::pair<std::string, int64_t>> models;  // (name, version) served
};

// Inserts the row and its models; fills in created_at/updated_at. AlreadyExists when the name is
// taken (naming its state).
Status CreateDeployment(Workspace* ws, DeploymentRecord* deployment);
Result<DeploymentRecord> GetDeployment(Workspace* ws, const std::string& name);
Result<std::vector<DeploymentRecord>> ListDeployments(Workspace* ws);
// Sets the given fields (unset ones kept) and updated_at. A Deleting deployment keeps that state
// (only RemoveDeployment moves it on), so that a supervisor's late write cannot revive it.
// NotFound when there is no such row.
struct DeploymentUpdate {
  std::optional<std::string> state, error;
  std::optional<int64_t> port, supervisor_pid, supervisor_start, server_pid, restarts;
};
Status UpdateDeployment(Workspace* ws, const std::string& name, const DeploymentUpdate& update);
// Removes the row and its models (which frees them for DeleteModel). NotFound when absent.
Status RemoveDeployment(Workspace* ws, const std::string& name);

}  // namespace trainyard::store
