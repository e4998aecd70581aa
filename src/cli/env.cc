// trainyard env list|show|prune: the cached Python environments of the workspace.
#include <cstdio>
#include <set>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/strings.h"
#include "env/python_env.h"

namespace trainyard::cli {
namespace {

std::string EnvsDir(store::Workspace* ws) { return ws->dir() + "/envs"; }

nlohmann::json EnvToJson(const env::EnvInfo& e) {
  return {{"hash", e.hash},
          {"kind", e.kind},
          {"conda", e.conda},
          {"conda_packages", e.conda_packages},
          {"conda_channels", e.conda_channels},
          {"dir", e.dir},
          {"python", e.python},
          {"interpreter", e.interpreter},
          {"python_version", e.python_version},
          {"packages", e.packages},
          {"requirements", e.requirements},
          {"index_url", e.index_url},
          {"extra_index_url", e.extra_index_url},
          {"find_links", e.find_links},
          {"created_at", FormatIso8601(e.created_at)},
          {"build_seconds", e.build_seconds}};
}

// Hashes of the environments that runs not yet ended use (their interpreter lies in envs/).
Result<std::set<std::string>> HashesInUse(store::Workspace* ws) {
  ASSIGN_OR_RETURN(auto runs, ws->ListRuns({}));
  std::set<std::string> in_use;
  std::string prefix = EnvsDir(ws) + "/";
  for (const auto& r : runs) {
    if (store::IsTerminal(r.status) || !StartsWith(r.interpreter, prefix)) continue;
    std::string rest = r.interpreter.substr(prefix.size());
    in_use.insert(rest.substr(0, rest.find('/')));
  }
  return in_use;
}

struct EnvFlags {
  std::string hash;
  bool json = false;
};

struct BuildFlags {
  std::string envs_dir;
  std::string request = "-";
};

Status EnvList(Context& ctx, const EnvFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(std::vector<env::EnvInfo> envs, env::ListEnvs(EnvsDir(ws)));
  if (f.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : envs) out.push_back(EnvToJson(e));
    std::printf("%s\n", JsonText(out).c_str());
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : envs) {
    std::string what = Join(e.packages, " ");
    if (e.kind == "conda") what = "conda: " + Join(e.conda_packages, " ") + " " + what;
    if (!e.requirements.empty()) what += (what.empty() ? "" : " ") + std::string("-r ...");
    rows.push_back({e.hash.substr(0, 12), FormatLocal(e.created_at),
                    e.kind == "conda" ? e.conda : e.interpreter + " " + e.python_version, what});
  }
  PrintTable({"HASH", "CREATED", "INTERPRETER", "PACKAGES"}, rows, ctx.stdout_tty);
  return Status::Ok();
}

Status EnvShow(Context& ctx, const EnvFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(env::EnvInfo e, env::FindEnv(EnvsDir(ws), f.hash));
  if (f.json) {
    std::printf("%s\n", JsonText(EnvToJson(e)).c_str());
    return Status::Ok();
  }
  std::printf("hash:         %s\n", e.hash.c_str());
  std::printf("python:       %s\n", e.python.c_str());
  std::printf("interpreter:  %s (Python %s)\n", e.interpreter.c_str(), e.python_version.c_str());
  if (e.kind == "conda") {
    std::printf("conda:        %s\n", e.conda.c_str());
    std::printf("conda pkgs:   %s\n", Join(e.conda_packages, " ").c_str());
    std::printf("channels:     %s\n", Join(e.conda_channels, ", ").c_str());
  }
  std::printf("packages:     %s\n", Join(e.packages, " ").c_str());
  if (!e.requirements.empty()) {
    std::printf("requirements:\n%s", e.requirements.c_str());
    if (e.requirements.back() != '\n') std::printf("\n");
  }
  if (!e.index_url.empty()) std::printf("index url:    %s\n", e.index_url.c_str());
  if (!e.extra_index_url.empty()) std::printf("extra index:  %s\n", e.extra_index_url.c_str());
  if (!e.find_links.empty()) std::printf("find links:   %s\n", Join(e.find_links, ":").c_str());
  std::printf("created:      %s (built in %.1f s)\n", FormatLocal(e.created_at).c_str(),
              e.build_seconds);
  return Status::Ok();
}

// `env build`: see RegisterEnv.
Status EnvBuild(const BuildFlags& b) {
  std::string text;
  if (b.request == "-") {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) text.append(buf, n);
  } else {
    ASSIGN_OR_RETURN(text, ReadFile(b.request));
  }
  ASSIGN_OR_RETURN(env::EnvRequest request, env::EnvRequestFromJson(text));
  std::printf("trainyard env build on %s in %s\n", HostName().c_str(), b.envs_dir.c_str());
  auto progress = [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  ASSIGN_OR_RETURN(env::EnvInfo built, env::EnsureEnv(request, b.envs_dir, progress));
  std::printf("environment %s %s: %s\n", built.hash.c_str(), built.reused ? "reused" : "built",
              built.python.c_str());
  return Status::Ok();
}

Status EnvPrune(Context& ctx, const EnvFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(std::set<std::string> keep, HashesInUse(ws));
  ASSIGN_OR_RETURN(std::vector<std::string> removed, env::PruneEnvs(EnvsDir(ws), keep));
  if (f.json) {
    std::printf("%s\n", JsonText(nlohmann::json({{"removed", removed}})).c_str());
    return Status::Ok();
  }
  for (const auto& h : removed) std::printf("removed %s\n", h.substr(0, 12).c_str());
  std::printf("%zu environment(s) removed, %zu in use kept\n", removed.size(), keep.size());
  return Status::Ok();
}

}  // namespace

void RegisterEnv(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<EnvFlags>();
  CLI::App* cmd = app.add_subcommand(
      "env", "manage cached Python environments (built for pip_packages; see TRAINYARD_PIP_*)");
  cmd->require_subcommand(1);

  CLI::App* list = cmd->add_subcommand("list", "list the environments of the workspace");
  list->add_flag("--json", f->json, "machine-readable output");
  OnRun(list, ctx, [&ctx, f] { return EnvList(ctx, *f); });

  CLI::App* show = cmd->add_subcommand("show", "show one environment");
  show->add_option("hash", f->hash, "environment hash (or a unique prefix)")->required();
  show->add_flag("--json", f->json, "machine-readable output");
  OnRun(show, ctx, [&ctx, f] { return EnvShow(ctx, *f); });

  // Run by the supervisor on hosts that do not share a folder with this machine (through the
  // target's launch agent): builds or reuses the environment of a request in a cache on that
  // host. Needs no workspace; the progress goes to stdout for the run's environment.log.
  auto b = std::make_shared<BuildFlags>();
  CLI::App* build = cmd->add_subcommand(
      "build", "build (or reuse) the environment of a request in ENVS_DIR (used on remote hosts)");
  build->add_option("--envs-dir", b->envs_dir, "the environment cache folder")->required();
  build->add_option("--request", b->request, "the request (environment.json; - for stdin)");
  OnRun(build, ctx, [b] { return EnvBuild(*b); });

  CLI::App* prune = cmd->add_subcommand(
      "prune", "remove the environments that no queued or active run uses (and failed builds)");
  prune->add_flag("--json", f->json, "machine-readable output");
  OnRun(prune, ctx, [&ctx, f] { return EnvPrune(ctx, *f); });
}

}  // namespace trainyard::cli
