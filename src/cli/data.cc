// trainyard data create|list|show: named, versioned data assets of the workspace (a local file or
// folder, a workspace datastore path, or a web URL), which a command job's inputs name as
// `path: azureml:NAME:VERSION` or `azureml:NAME@latest` (runner/assets.h); trainyard data cache:
// the download cache of web inputs (runner/download.h).
#include <cstdio>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/strings.h"
#include "runner/assets.h"
#include "runner/download.h"

namespace trainyard::cli {
namespace {

struct DataFlags {
  std::string name;
  std::string path;
  std::string type;
  std::string version;
  std::string file;
  std::string description;
  std::string url;  // data cache
  bool list = false;
  bool json = false;
};

nlohmann::json DataToJson(const store::AssetRecord& a) {
  nlohmann::json def = nlohmann::json::parse(a.definition_json);
  return {{"name", a.name},
          {"version", a.version},
          {"type", def.value("type", "")},
          {"path", def.value("path", "")},
          {"description", a.description},
          {"created_at", FormatIso8601(a.created_at)}};
}

// NAME, NAME:VERSION or NAME@latest.
std::pair<std::string, std::string> SplitNameVersion(const std::string& text) {
  if (size_t at = text.find('@'); at != std::string::npos) {
    return {text.substr(0, at), text.substr(at + 1)};
  }
  if (size_t colon = text.rfind(':'); colon != std::string::npos) {
    return {text.substr(0, colon), text.substr(colon + 1)};
  }
  return {text, ""};
}

Status DataCreate(Context& ctx, const DataFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  if (f.file.empty() == f.path.empty()) {
    return InvalidArgument("data create: give --path P (with NAME) or --file data.yml");
  }
  store::AssetRecord rec;
  if (!f.file.empty()) {
    ASSIGN_OR_RETURN(rec, runner::DataFromYaml(ws, f.file, f.name, f.version));
    if (!f.type.empty() || !f.description.empty()) {
      return InvalidArgument(
          "data create: --type and --description go with --path (the file "
          "gives them)");
    }
  } else {
    if (f.name.empty()) return InvalidArgument("data create: NAME is required with --path");
    ASSIGN_OR_RETURN(rec, runner::DataFromPath(ws, f.path, f.type, f.description));
    rec.name = f.name;
    rec.version = f.version;
  }
  RETURN_IF_ERROR(ws->PutAsset(store::AssetKind::kData, &rec));
  if (f.json) {
    std::printf("%s\n", JsonText(DataToJson(rec)).c_str());
  } else {
    nlohmann::json j = DataToJson(rec);
    std::printf("data asset %s:%s (%s %s): use it as path: azureml:%s:%s\n", rec.name.c_str(),
                rec.version.c_str(), j["type"].get<std::string>().c_str(),
                j["path"].get<std::string>().c_str(), rec.name.c_str(), rec.version.c_str());
  }
  return Status::Ok();
}

Status DataList(Context& ctx, const DataFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(auto assets, ws->ListAssets(store::AssetKind::kData, f.name));
  if (f.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& a : assets) out.push_back(DataToJson(a));
    std::printf("%s\n", JsonText(out).c_str());
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : assets) {
    nlohmann::json j = DataToJson(a);
    rows.push_back({a.name, a.version, j["type"].get<std::string>(), FormatLocal(a.created_at),
                    j["path"].get<std::string>()});
  }
  PrintTable({"NAME", "VERSION", "TYPE", "CREATED", "PATH"}, rows, ctx.stdout_tty);
  return Status::Ok();
}

Status DataShow(Context& ctx, const DataFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  auto [name, version] = SplitNameVersion(f.name);
  if (!f.version.empty()) version = f.version;
  ASSIGN_OR_RETURN(store::AssetRecord a, ws->GetAsset(store::AssetKind::kData, name, version));
  nlohmann::json j = DataToJson(a);
  if (f.json) {
    std::printf("%s\n", JsonText(j).c_str());
    return Status::Ok();
  }
  std::printf("name:         %s\n", a.name.c_str());
  std::printf("version:      %s\n", a.version.c_str());
  std::printf("type:         %s\n", j["type"].get<std::string>().c_str());
  std::printf("path:         %s\n", j["path"].get<std::string>().c_str());
  if (!a.description.empty()) std::printf("description:  %s\n", a.description.c_str());
  std::printf("created:      %s\n", FormatLocal(a.created_at).c_str());
  return Status::Ok();
}

nlohmann::json CachedToJson(const runner::CachedFile& f) {
  return {{"url", f.url},
          {"path", f.path},
          {"size", f.size},
          {"etag", f.etag},
          {"last_modified", f.last_modified},
          {"stored_at", FormatIso8601(f.fetched_at)},
          {"pinned", f.pinned}};
}

// data cache URL FILE: FILE becomes URL's content in the download cache (pinned: a submit uses it
// without contacting the server), for machines without network. data cache URL: downloads (or
// revalidates) URL now, as a submit would, and unpins it. data cache --list: what is cached.
Status DataCache(Context& ctx, const DataFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  if (f.list) {
    if (!f.url.empty() || !f.path.empty()) {
      return InvalidArgument("data cache: --list takes no URL or FILE");
    }
    ASSIGN_OR_RETURN(auto cached, runner::ListCache(ws->dir()));
    if (f.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& c : cached) out.push_back(CachedToJson(c));
      std::printf("%s\n", JsonText(out).c_str());
      return Status::Ok();
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : cached) {
      rows.push_back({c.url, HumanBytes(static_cast<uint64_t>(c.size)),
                      c.pinned ? std::string("pinned") : (c.etag.empty() ? "-" : c.etag),
                      FormatLocal(c.fetched_at), c.path});
    }
    PrintTable({"URL", "SIZE", "ETAG", "STORED", "FILE"}, rows, ctx.stdout_tty);
    return Status::Ok();
  }
  if (f.url.empty()) return InvalidArgument("data cache: give URL [FILE], or --list");
  runner::CachedFile c;
  if (f.path.empty()) {
    runner::DownloadOptions options = runner::DownloadOptionsFromEnv();
    options.refresh = true;
    ASSIGN_OR_RETURN(c, runner::FetchToCache(ws->dir(), f.url, options));
  } else {
    ASSIGN_OR_RETURN(c, runner::PutInCache(ws->dir(), f.url, f.path));
  }
  if (f.json) {
    std::printf("%s\n", JsonText(CachedToJson(c)).c_str());
  } else {
    std::printf("%s\n", c.note.c_str());
  }
  return Status::Ok();
}

}  // namespace

void RegisterData(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<DataFlags>();
  CLI::App* cmd = app.add_subcommand(
      "data", "manage data assets (inputs' path: azureml:NAME:VERSION or azureml:NAME@latest)");
  cmd->require_subcommand(1);

  CLI::App* create =
      cmd->add_subcommand("create",
                          "register a version of a data asset: a local file or folder, or "
                          "azureml://datastores/NAME/paths/P (the workspace's datastores/NAME/P)");
  create->add_option("name", f->name, "the asset's name (with --file: overrides the file's)");
  create->add_option("--path", f->path, "the file or folder");
  create->add_option("--type", f->type, "uri_file or uri_folder (default: what the path is)");
  create->add_option("--version", f->version, "the version (default: the next integer)");
  create->add_option("--description", f->description, "a description");
  create->add_option("--file,-f", f->file,
                     "the hosted data asset YAML (name, version, type, path)");
  create->add_flag("--json", f->json, "machine-readable output");
  OnRun(create, ctx, [&ctx, f] { return DataCreate(ctx, *f); });

  CLI::App* list = cmd->add_subcommand("list", "list the data assets (every version)");
  list->add_option("name", f->name, "only this asset's versions");
  list->add_flag("--json", f->json, "machine-readable output");
  OnRun(list, ctx, [&ctx, f] { return DataList(ctx, *f); });

  CLI::App* show = cmd->add_subcommand("show", "show one version of a data asset");
  show->add_option("name", f->name, "NAME (the latest), NAME:VERSION or NAME@latest")->required();
  show->add_option("--version", f->version, "the version");
  show->add_flag("--json", f->json, "machine-readable output");
  OnRun(show, ctx, [&ctx, f] { return DataShow(ctx, *f); });

  CLI::App* cache = cmd->add_subcommand(
      "cache",
      "the download cache of web inputs (path: https://...): `data cache URL FILE` puts FILE "
      "there as URL's content, used at submit without contacting the server (for machines "
      "without network); `data cache URL` downloads URL now; `data cache --list`");
  cache->add_option("url", f->url, "an http:// or https:// URL");
  cache->add_option("file", f->path, "a local file: its bytes become URL's cached content");
  cache->add_flag("--list", f->list, "list the cached URLs");
  cache->add_flag("--json", f->json, "machine-readable output");
  OnRun(cache, ctx, [&ctx, f] { return DataCache(ctx, *f); });
}

}  // namespace trainyard::cli
