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

}  // namespace

void RegisterEnv(CLI::App& app, Context& ctx) {
  struct Flags {
    std::string hash;
    bool json = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "env", "manage cached Python environments (built for pip_packages; see TRAINYARD_PIP_*)");
  cmd->require_subcommand(1);

  CLI::App* list = cmd->add_subcommand("list", "list the environments of the workspace");
  list->add_flag("--json", f->json, "machine-readable output");
  list->callback([&ctx, f] {
    auto ws = ctx.Workspace();
    if (!ws.ok()) return void(ctx.exit_code = Fail(ws.status()));
    auto envs = env::ListEnvs(EnvsDir(*ws));
    if (!envs.ok()) return void(ctx.exit_code = Fail(envs.status()));
    if (f->json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& e : *envs) out.push_back(EnvToJson(e));
      std::printf("%s\n", out.dump(2).c_str());
      return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : *envs) {
      std::string what = Join(e.packages, " ");
      if (e.kind == "conda") what = "conda: " + Join(e.conda_packages, " ") + " " + what;
      if (!e.requirements.empty()) what += (what.empty() ? "" : " ") + std::string("-r ...");
      rows.push_back({e.hash.substr(0, 12), FormatLocal(e.created_at),
                      e.kind == "conda" ? e.conda : e.interpreter + " " + e.python_version, what});
    }
    PrintTable({"HASH", "CREATED", "INTERPRETER", "PACKAGES"}, rows, ctx.stdout_tty);
  });

  CLI::App* show = cmd->add_subcommand("show", "show one environment");
  show->add_option("hash", f->hash, "environment hash (or a unique prefix)")->required();
  show->add_flag("--json", f->json, "machine-readable output");
  show->callback([&ctx, f] {
    auto ws = ctx.Workspace();
    if (!ws.ok()) return void(ctx.exit_code = Fail(ws.status()));
    auto e = env::FindEnv(EnvsDir(*ws), f->hash);
    if (!e.ok()) return void(ctx.exit_code = Fail(e.status()));
    if (f->json) {
      std::printf("%s\n", EnvToJson(*e).dump(2).c_str());
      return;
    }
    std::printf("hash:         %s\n", e->hash.c_str());
    std::printf("python:       %s\n", e->python.c_str());
    std::printf("interpreter:  %s (Python %s)\n", e->interpreter.c_str(),
                e->python_version.c_str());
    if (e->kind == "conda") {
      std::printf("conda:        %s\n", e->conda.c_str());
      std::printf("conda pkgs:   %s\n", Join(e->conda_packages, " ").c_str());
      std::printf("channels:     %s\n", Join(e->conda_channels, ", ").c_str());
    }
    std::printf("packages:     %s\n", Join(e->packages, " ").c_str());
    if (!e->requirements.empty()) {
      std::printf("requirements:\n%s", e->requirements.c_str());
      if (e->requirements.back() != '\n') std::printf("\n");
    }
    if (!e->index_url.empty()) std::printf("index url:    %s\n", e->index_url.c_str());
    if (!e->extra_index_url.empty()) {
      std::printf("extra index:  %s\n", e->extra_index_url.c_str());
    }
    if (!e->find_links.empty()) {
      std::printf("find links:   %s\n", Join(e->find_links, ":").c_str());
    }
    std::printf("created:      %s (built in %.1f s)\n", FormatLocal(e->created_at).c_str(),
                e->build_seconds);
  });

  // Run by the supervisor on hosts that do not share a folder with this machine (through the
  // target's launch agent): builds or reuses the environment of a request in a cache on that
  // host. Needs no workspace; the progress goes to stdout for the run's environment.log.
  struct BuildFlags {
    std::string envs_dir;
    std::string request = "-";
  };
  auto b = std::make_shared<BuildFlags>();
  CLI::App* build = cmd->add_subcommand(
      "build", "build (or reuse) the environment of a request in ENVS_DIR (used on remote hosts)");
  build->add_option("--envs-dir", b->envs_dir, "the environment cache folder")->required();
  build->add_option("--request", b->request, "the request (environment.json; - for stdin)");
  build->callback([&ctx, b] {
    std::string text;
    if (b->request == "-") {
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) text.append(buf, n);
    } else {
      auto read = ReadFile(b->request);
      if (!read.ok()) return void(ctx.exit_code = Fail(read.status()));
      text = *read;
    }
    auto request = env::EnvRequestFromJson(text);
    if (!request.ok()) return void(ctx.exit_code = Fail(request.status()));
    std::printf("trainyard env build on %s in %s\n", HostName().c_str(), b->envs_dir.c_str());
    auto built = env::EnsureEnv(*request, b->envs_dir, [](const std::string& line) {
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    });
    if (!built.ok()) return void(ctx.exit_code = Fail(built.status()));
    std::printf("environment %s %s: %s\n", built->hash.c_str(), built->reused ? "reused" : "built",
                built->python.c_str());
  });

  CLI::App* prune = cmd->add_subcommand(
      "prune", "remove the environments that no queued or active run uses (and failed builds)");
  prune->add_flag("--json", f->json, "machine-readable output");
  prune->callback([&ctx, f] {
    auto ws = ctx.Workspace();
    if (!ws.ok()) return void(ctx.exit_code = Fail(ws.status()));
    auto keep = HashesInUse(*ws);
    if (!keep.ok()) return void(ctx.exit_code = Fail(keep.status()));
    auto removed = env::PruneEnvs(EnvsDir(*ws), *keep);
    if (!removed.ok()) return void(ctx.exit_code = Fail(removed.status()));
    if (f->json) {
      std::printf("%s\n", nlohmann::json({{"removed", *removed}}).dump(2).c_str());
      return;
    }
    for (const auto& h : *removed) std::printf("removed %s\n", h.substr(0, 12).c_str());
    std::printf("%zu environment(s) removed, %zu in use kept\n", removed->size(), keep->size());
  });
}

}  // namespace trainyard::cli
