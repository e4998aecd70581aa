// trainyard env list|show|prune: the cached Python environments of the workspace; env create and
// the registered environments (named, versioned: `environment: azureml:NAME:VERSION` in a command
// job, runner/assets.h), which list and show show too.
#include <cstdio>
#include <set>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/strings.h"
#include "env/python_env.h"
#include "runner/assets.h"

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
  bool registered = false;  // list: only the registered environments
  std::string file;         // create
  std::string version;      // create
};

nlohmann::json RegisteredToJson(const store::AssetRecord& a) {
  nlohmann::json j = {{"name", a.name},
                      {"version", a.version},
                      {"description", a.description},
                      {"created_at", FormatIso8601(a.created_at)}};
  j.update(nlohmann::json::parse(a.definition_json));
  return j;
}

// What a registered environment is, in a few words.
std::string DescribeRegistered(const nlohmann::json& def) {
  if (!def.value("image", "").empty()) return "image " + def.value("image", std::string());
  if (def.contains("build")) return "build " + def["build"].value("path", std::string());
  std::vector<std::string> parts;
  if (!def.value("python", "").empty()) parts.push_back("python=" + def.value("python", ""));
  for (const auto& c : def.value("conda", std::vector<std::string>())) parts.push_back(c);
  for (const auto& p : def.value("pip", std::vector<std::string>())) parts.push_back(p);
  return "conda_file: " + Join(parts, " ");
}

// NAME, NAME:VERSION or NAME@latest.
std::pair<std::string, std::string> NameVersion(const std::string& text) {
  if (size_t at = text.find('@'); at != std::string::npos) {
    return {text.substr(0, at), text.substr(at + 1)};
  }
  if (size_t colon = text.rfind(':'); colon != std::string::npos) {
    return {text.substr(0, colon), text.substr(colon + 1)};
  }
  return {text, ""};
}

Status EnvCreate(Context& ctx, const EnvFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::AssetRecord rec, runner::EnvironmentFromYaml(f.file, f.hash, f.version));
  RETURN_IF_ERROR(ws->PutAsset(store::AssetKind::kEnvironment, &rec));
  if (f.json) {
    std::printf("%s\n", JsonText(RegisteredToJson(rec)).c_str());
  } else {
    std::printf("environment %s:%s (%s): use it as environment: azureml:%s:%s\n", rec.name.c_str(),
                rec.version.c_str(),
                DescribeRegistered(nlohmann::json::parse(rec.definition_json)).c_str(),
                rec.name.c_str(), rec.version.c_str());
  }
  return Status::Ok();
}

struct BuildFlags {
  std::string envs_dir;
  std::string request = "-";
};

Status EnvList(Context& ctx, const EnvFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(auto registered, ws->ListAssets(store::AssetKind::kEnvironment));
  if (f.registered && f.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& a : registered) out.push_back(RegisteredToJson(a));
    std::printf("%s\n", JsonText(out).c_str());
    return Status::Ok();
  }
  if (!f.json && (f.registered || !registered.empty())) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : registered) {
      rows.push_back({a.name, a.version, FormatLocal(a.created_at),
                      DescribeRegistered(nlohmann::json::parse(a.definition_json))});
    }
    std::printf("Registered environments (environment: azureml:NAME:VERSION):\n");
    PrintTable({"NAME", "VERSION", "CREATED", "DEFINITION"}, rows, ctx.stdout_tty);
    if (f.registered) return Status::Ok();
    std::printf("\nBuilt environments (cache):\n");
  }
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
  // A registered environment: NAME:VERSION, NAME@latest, or a registered NAME (its latest).
  auto [name, version] = NameVersion(f.hash);
  auto reg = ws->GetAsset(store::AssetKind::kEnvironment, name, version);
  if (reg.ok() || name != f.hash) {
    if (!reg.ok()) return reg.status();
    nlohmann::json j = RegisteredToJson(*reg);
    if (f.json) {
      std::printf("%s\n", JsonText(j).c_str());
      return Status::Ok();
    }
    std::printf("name:         %s\n", reg->name.c_str());
    std::printf("version:      %s\n", reg->version.c_str());
    if (!reg->description.empty()) std::printf("description:  %s\n", reg->description.c_str());
    std::printf("definition:   %s\n",
                DescribeRegistered(nlohmann::json::parse(reg->definition_json)).c_str());
    if (j.contains("conda_file")) {
      std::printf("conda file:   %s\n", j["conda_file"].get<std::string>().c_str());
    }
    std::printf("created:      %s\n", FormatLocal(reg->created_at).c_str());
    return Status::Ok();
  }
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
      "env",
      "manage registered environments (env create) and the cached Python environments (built "
      "for pip_packages; see TRAINYARD_PIP_*)");
  cmd->require_subcommand(1);

  CLI::App* create = cmd->add_subcommand(
      "create",
      "register a version of an environment from the hosted environment YAML (image, "
      "build, conda_file): environment: azureml:NAME:VERSION in a command job");
  create->add_option("name", f->hash, "the environment's name (default: the file's name)");
  create->add_option("--file,-f", f->file, "the environment YAML")->required();
  create->add_option("--version", f->version, "the version (default: the next integer)");
  create->add_flag("--json", f->json, "machine-readable output");
  OnRun(create, ctx, [&ctx, f] { return EnvCreate(ctx, *f); });

  CLI::App* list = cmd->add_subcommand(
      "list", "list the registered environments, then the built ones (--json: the built ones)");
  list->add_flag("--registered", f->registered, "only the registered environments");
  list->add_flag("--json", f->json, "machine-readable output");
  OnRun(list, ctx, [&ctx, f] { return EnvList(ctx, *f); });

  CLI::App* show = cmd->add_subcommand("show", "show one environment");
  show->add_option("hash", f->hash,
                   "a built environment's hash (or a unique prefix), or a registered "
                   "environment: NAME, NAME:VERSION, NAME@latest")
      ->required();
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
