// trainyard deploy NAME --model M[:V]... and trainyard deployment list|show|logs|delete
// (runner/deployment.h); `deployment supervise NAME` (hidden) is a deployment's supervisor.
#include <cstdio>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/strings.h"
#include "runner/deployment.h"
#include "store/deployments.h"

namespace trainyard::cli {
namespace {

std::string ModelsText(const store::DeploymentRecord& d) {
  std::vector<std::string> parts;
  for (const auto& [name, version] : d.models)
    parts.push_back(name + ":" + std::to_string(version));
  return parts.empty() ? "-" : Join(parts, ", ");
}

struct DeployFlags {
  runner::DeployRequest request;
  bool no_wait = false, json = false;
  double timeout = 600;
};

Result<int> Deploy(Context& ctx, DeployFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  f.request.progress = [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  };
  auto deployed = runner::Deploy(ws, f.request);
  if (!deployed.ok()) return deployed.status();
  const std::string& name = f.request.name;
  if (f.no_wait) {
    if (f.json) {
      std::printf("%s\n", JsonText(runner::DeploymentToJson(*ws, *deployed)).c_str());
    } else {
      std::printf("deployment %s: %s (not waiting; `trainyard deployment show %s`)\n", name.c_str(),
                  deployed->state.c_str(), name.c_str());
    }
    return kExitOk;
  }
  auto done = runner::WaitForDeployment(ws, name, f.timeout, [&](const store::DeploymentRecord& d) {
    std::string line = "deployment " + name + ": " + d.state;
    if (d.restarts > 0) line += " (restarts " + std::to_string(d.restarts) + ")";
    if (d.state == store::kDeployUnhealthy && !d.error.empty()) line += ": " + d.error;
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  });
  if (!done.ok()) return done.status();
  if (f.json) std::printf("%s\n", JsonText(runner::DeploymentToJson(*ws, *done)).c_str());
  if (done->state == store::kDeployFailed) {
    std::fprintf(stderr, "trainyard: deployment %s failed: %s\n", name.c_str(),
                 done->error.c_str());
    return kExitRunFailed;
  }
  if (!f.json) std::printf("%s\n", runner::ScoringUri(*done).c_str());
  return kExitOk;
}

struct DeploymentFlags {
  std::string name;
  bool json = false;
  int tail = 0;
};

Status List(Context& ctx, const DeploymentFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  (void)runner::ReapDeployments(ws);
  ASSIGN_OR_RETURN(auto all, store::ListDeployments(ws));
  if (f.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : all) out.push_back(runner::DeploymentToJson(*ws, d));
    std::printf("%s\n", JsonText(out).c_str());
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : all) {
    std::string uri = runner::ScoringUri(d);
    rows.push_back({d.name, StatusColoured(d.state, ctx.stdout_tty), ModelsText(d),
                    std::to_string(d.restarts), uri.empty() ? "-" : uri});
  }
  PrintTable({"NAME", "STATE", "MODELS", "RESTARTS", "SCORING URI"}, rows, ctx.stdout_tty);
  return Status::Ok();
}

Status Show(Context& ctx, const DeploymentFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  (void)runner::ReapDeployments(ws);
  auto found = store::GetDeployment(ws, f.name);
  if (!found.ok()) return found.status();
  const store::DeploymentRecord& d = *found;
  if (f.json) {
    std::printf("%s\n", JsonText(runner::DeploymentToJson(*ws, d)).c_str());
    return Status::Ok();
  }
  std::string entry = runner::DeploymentEntry(d);
  std::string uri = runner::ScoringUri(d);
  std::printf("name:         %s\n", d.name.c_str());
  std::printf("state:        %s\n", d.state.c_str());
  std::printf("scoring uri:  %s\n", uri.empty() ? "(not yet known)" : uri.c_str());
  std::printf("models:       %s\n", ModelsText(d).c_str());
  std::printf("entry:        %s\n", entry.empty() ? "(none: TorchScript models)" : entry.c_str());
  std::printf("restarts:     %lld\n", static_cast<long long>(d.restarts));
  if (!d.error.empty()) std::printf("error:        %s\n", d.error.c_str());
  std::printf("created:      %s\n", FormatLocal(d.created_at).c_str());
  std::printf("updated:      %s\n", FormatLocal(d.updated_at).c_str());
  std::printf("logs:         %s\n", runner::DeploymentLogPath(*ws, d.name).c_str());
  return Status::Ok();
}

Status Logs(Context& ctx, const DeploymentFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(std::string text, runner::DeploymentLogText(ws, f.name, f.tail));
  std::fwrite(text.data(), 1, text.size(), stdout);
  return Status::Ok();
}

Status Delete(Context& ctx, const DeploymentFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  Status s = runner::DeleteDeployment(ws, f.name);
  if (!s.ok()) return s;
  std::printf("deleted deployment %s\n", f.name.c_str());
  return Status::Ok();
}

}  // namespace

void RegisterDeploy(CLI::App& app, Context& ctx) {
  auto d = std::make_shared<DeployFlags>();
  CLI::App* deploy = app.add_subcommand(
      "deploy", "serve registered models as a supervised deployment (returns once it answers)");
  runner::DeployRequest& r = d->request;
  deploy->add_option("name", r.name, "the deployment's name")->required();
  deploy->add_option("--model,-m", r.models, "a registered model, NAME or NAME:VERSION (repeat)")
      ->allow_extra_args(false);
  deploy->add_option("--entry", r.entry, "a scoring script with init() and run(raw_data)");
  deploy->add_option("--source", r.source,
                     "the entry's folder, snapshotted (default: the current folder)");
  deploy->add_option("--port", r.port, "the port (default 0: any free port, kept on restarts)");
  deploy->add_option("--host", r.host, "the address to listen on (default 127.0.0.1)");
  deploy->add_option("--batch-size", r.batch_size, "dynamic batching: most requests per batch");
  deploy->add_option("--max-batch-delay-ms", r.max_batch_delay_ms,
                     "dynamic batching: longest wait for a batch to fill");
  deploy->add_option("--instances", r.instances, "model instances per model");
  deploy->add_option("--workers", r.workers, "Python worker processes of a scoring script");
  deploy->add_flag("--gpu", r.gpu, "run the models on the GPU");
  deploy->add_option("--conda-file", r.conda_file,
                     "a conda environment file: the scoring environment's packages");
  deploy->add_option("--pip", r.pip, "a pip package for the scoring environment (repeat)")
      ->allow_extra_args(false);
  deploy->add_flag("--no-wait", d->no_wait, "return once started, without waiting for it");
  deploy->add_option("--timeout", d->timeout, "seconds to wait for it to answer (default 600)");
  deploy->add_flag("--json", d->json, "machine-readable output");
  OnRun(deploy, ctx, [&ctx, d]() -> Result<int> { return Deploy(ctx, *d); });

  auto f = std::make_shared<DeploymentFlags>();
  CLI::App* cmd =
      app.add_subcommand("deployment", "list, show, read the logs of, delete deployments");
  cmd->require_subcommand(1);
  CLI::App* list = cmd->add_subcommand("list", "the deployments and their state");
  list->add_flag("--json", f->json, "machine-readable output");
  OnRun(list, ctx, [&ctx, f] { return List(ctx, *f); });
  CLI::App* show = cmd->add_subcommand("show", "one deployment");
  show->add_option("name", f->name, "the deployment")->required();
  show->add_flag("--json", f->json, "machine-readable output");
  OnRun(show, ctx, [&ctx, f] { return Show(ctx, *f); });
  CLI::App* logs = cmd->add_subcommand("logs", "the server's output");
  logs->add_option("name", f->name, "the deployment")->required();
  logs->add_option("--tail", f->tail, "only the last N lines");
  OnRun(logs, ctx, [&ctx, f] { return Logs(ctx, *f); });
  CLI::App* del = cmd->add_subcommand("delete", "stop the server and remove the deployment");
  del->add_option("name", f->name, "the deployment")->required();
  OnRun(del, ctx, [&ctx, f] { return Delete(ctx, *f); });
  CLI::App* supervise = cmd->add_subcommand("supervise", "(internal) a deployment's supervisor");
  supervise->group("");  // hidden from --help
  supervise->add_option("name", f->name)->required();
  OnRun(supervise, ctx, [&ctx, f]() -> Result<int> {
    return runner::SuperviseDeployment(store::ResolveWorkspaceDir(ctx.workspace_flag), f->name);
  });
}

}  // namespace trainyard::cli
