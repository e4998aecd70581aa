// Deployments: supervised model servers recorded in the workspace (store/deployments.h).
//
//   Deploy      validates the request (the name, the models through the registry, the entry
//               inside its folder), snapshots the entry's folder like a run's code, builds or
//               reuses the scoring environment (env/python_env.h) when packages are asked,
//               materializes the models (models::ModelDir), renders the server's command line
//               (`trainyard-serve`, contract B of issue 16) into the row's spec_json, records the
//               row (Transitioning), restores the code into <ws>/deployments/<name>/code and
//               starts the detached supervisor. It returns at once; WaitForDeployment waits.
//   Supervise   the supervisor's body (`trainyard deployment supervise NAME`): runs the server as
//               its child (output appended to <ws>/deployments/<name>/logs/server.log), keeps the
//               row's state current: Transitioning until GET /v2/health/ready answers 200, then
//               Healthy. A model or scoring script that fails to load ("... failed to load: MSG"
//               in the server's log) fails the deployment with that message (Failed; the server is
//               stopped). A server that exits on its own is restarted (Unhealthy, restarts + 1)
//               after 1, 2, 4, ... 30 s on the same port (a port 0 deployment keeps the first
//               port it got); the 5th exit within 60 s gives up (Failed). SIGTERM: stops the
//               server, exits.
//   Liveness    ReapDeployments marks a deployment whose supervisor is gone (pid and start ticks,
//               like runs) Failed "supervisor died": it is not restarted (delete it and deploy
//               again). The server dies with its supervisor (PR_SET_PDEATHSIG).
//   Delete      Deleting; SIGTERM to the supervisor, which stops the server; every process left
//               with the deployment's TRAINYARD_DEPLOYMENT_ID is stopped; the row goes (which
//               frees its models for `model delete`), then the folder.
//
// Functions take the caller's Workspace (one thread, see store/workspace.h).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/deployments.h"
#include "store/workspace.h"

namespace trainyard::runner {

struct DeployRequest {
  std::string name;                 // letters, digits, '-', '_', '.' (like model names)
  std::vector<std::string> models;  // "NAME" (latest) or "NAME:VERSION"
  // A scoring script (init()/run()), relative to `source` (or absolute inside it); "" = the
  // models are TorchScript files served without Python.
  std::string entry;
  std::string source;  // the entry's folder, snapshotted; "" = the current folder
  int port = 0;        // 0 = any free port (kept across restarts once chosen)
  std::string host = "127.0.0.1";
  int batch_size = 1, max_batch_delay_ms = 5, instances = 1, workers = 1;
  bool gpu = false;
  std::string conda_file;        // a conda environment file for the scoring environment
  std::vector<std::string> pip;  // pip packages for the scoring environment
  // Lines for the user while preparing (snapshot, environment build); may be empty.
  std::function<void(const std::string&)> progress;
  // The trainyard executable to run as the supervisor ("" = TrainyardExe()).
  std::string supervisor_exe;
};

// Prepares and records the deployment and starts its supervisor; returns the row as recorded
// (Transitioning). Refusals before anything is recorded: InvalidArgument (a bad name, flag value,
// entry outside its folder, packages without an entry), NotFound (an unknown model or version,
// a missing entry or conda file), AlreadyExists ("deployment NAME exists (STATE); delete it
// first"). Once recorded, a failure to restore the code or start the supervisor marks it Failed
// and is returned.
Result<store::DeploymentRecord> Deploy(store::Workspace* ws, const DeployRequest& request);

// Polls (ReapDeployments, then the row) until the deployment is Healthy or Failed, or
// `timeout_seconds` pass (Timeout naming the state). `on_change` gets the row whenever its state
// or restarts change (and first). A deployment removed meanwhile is NotFound.
Result<store::DeploymentRecord> WaitForDeployment(
    store::Workspace* ws, const std::string& name, double timeout_seconds,
    const std::function<void(const store::DeploymentRecord&)>& on_change = {});

// The supervisor's body; returns the process exit code (0 when stopped by SIGTERM or a delete,
// 1 when the deployment Failed or could not be read).
int SuperviseDeployment(const std::string& workspace_dir, const std::string& name);

// Marks Failed every deployment (not Failed or Deleting) whose supervisor is gone, or that has
// had none for 30 s since it was created. Returns how many. Called by list, show and waits.
Result<int> ReapDeployments(store::Workspace* ws);

// Stops and removes a deployment (see above). NotFound naming the deployments that exist.
Status DeleteDeployment(store::Workspace* ws, const std::string& name, double wait_seconds = 30);

// <workspace>/deployments/<name>, its code/ folder and its server log.
std::string DeploymentDir(const store::Workspace& ws, const std::string& name);
std::string DeploymentLogPath(const store::Workspace& ws, const std::string& name);

// "http://127.0.0.1:PORT/score" ("" while the port is unknown); a server on 0.0.0.0 or :: is
// reached at 127.0.0.1.
std::string ScoringUri(const store::DeploymentRecord& deployment);
// The entry the row's spec names ("" without a scoring script).
std::string DeploymentEntry(const store::DeploymentRecord& deployment);

// The JSON of a deployment (issue 16, contract C), for `trainyard deploy|deployment ... --json`
// and the Python SDK: {"name", "state", "scoring_uri", "port", "models": [{"name", "version"}],
// "entry", "error", "restarts", "created_at", "updated_at" (ISO-8601), "logs" (the server log's
// path)}.
nlohmann::json DeploymentToJson(const store::Workspace& ws, const store::DeploymentRecord& d);

// The server log's text (its last `tail` lines when tail > 0); "" before the server started.
// NotFound when there is no such deployment.
Result<std::string> DeploymentLogText(store::Workspace* ws, const std::string& name, int tail = 0);

// The `trainyard-serve` executable, absolute: $TRAINYARD_SERVE_BIN, else the first found beside
// the running program, beside TrainyardExe(), or in the build tree (<bin>/../serve/). NotFound
// naming the places looked at.
Result<std::string> ServeExe();

}  // namespace trainyard::runner
