// trainyard model register|list|show|download|path|delete: the model registry
// (models/registry.h): named versions of a model file or folder, from a run's folder or a local
// path, content-addressed and immutable, with the run's lineage.
#include <cstdio>
#include <map>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/strings.h"
#include "models/json.h"
#include "models/registry.h"
#include "models/usage.h"

namespace trainyard::cli {
namespace {

struct ModelFlags {
  std::string name;  // register: --name; else NAME[:VERSION]
  std::string path;
  std::string run;
  std::vector<std::string> tags, properties;
  std::string description;
  std::string dir;
  bool json = false;
};

nlohmann::json ParseObject(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : nlohmann::json::object();
}

std::string Id(const store::ModelRecord& m) { return m.name + ":" + std::to_string(m.version); }

// "k=v, k2=v2" of a {"k": value} object.
std::string Pairs(const std::string& json) {
  std::vector<std::string> out;
  const nlohmann::json object = ParseObject(json);
  for (const auto& [k, v] : object.items()) {
    out.push_back(k + "=" + (v.is_string() ? v.get<std::string>() : v.dump()));
  }
  return Join(out, ", ");
}

Result<std::map<std::string, std::string>> KeyValues(const std::vector<std::string>& items,
                                                     const char* flag) {
  std::map<std::string, std::string> out;
  for (const std::string& item : items) {
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument(std::string(flag) + " " + item + ": expected KEY=VALUE");
    }
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

Result<store::ModelRecord> ResolveText(store::Workspace* ws, const std::string& text) {
  ASSIGN_OR_RETURN(models::ModelRef ref, models::ParseModelRef(text));
  return models::Resolve(ws, ref);
}

Status ModelRegister(Context& ctx, const ModelFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  models::RegisterRequest request;
  request.name = f.name;
  request.path = f.path;
  request.run_id = f.run;
  request.description = f.description;
  ASSIGN_OR_RETURN(request.tags, KeyValues(f.tags, "--tag"));
  ASSIGN_OR_RETURN(request.properties, KeyValues(f.properties, "--property"));
  ASSIGN_OR_RETURN(models::Registered r, models::Register(ws, request));
  const store::ModelRecord& m = r.model;
  if (f.json) {
    nlohmann::json j = models::ModelToJson(m);
    j["already_registered"] = r.already_registered;
    std::printf("%s\n", JsonText(j).c_str());
    return Status::Ok();
  }
  if (r.already_registered) {
    std::printf("already registered as %s (same bytes)\n", Id(m).c_str());
  } else {
    std::string from = m.run_id.empty() ? "" : " from run " + m.run_id + " (" + m.run_path + ")";
    std::printf("registered %s %s (%lld %s, %s)%s\n", m.is_dir ? "folder" : "file", m.path.c_str(),
                static_cast<long long>(m.files), m.files == 1 ? "file" : "files",
                HumanBytes(static_cast<uint64_t>(m.bytes)).c_str(), from.c_str());
  }
  std::printf("%s\n", Id(m).c_str());
  return Status::Ok();
}

Status ModelList(Context& ctx, const ModelFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  if (!f.name.empty()) RETURN_IF_ERROR(models::ParseModelRef(f.name).status());
  ASSIGN_OR_RETURN(auto all, store::ListModels(ws, f.name));  // none of an unknown name
  if (f.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& m : all) out.push_back(models::ModelToJson(m));
    std::printf("%s\n", JsonText(out).c_str());
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : all) {
    rows.push_back({m.name, std::to_string(m.version), m.path + (m.is_dir ? "/" : ""),
                    HumanBytes(static_cast<uint64_t>(m.bytes)), m.run_id.empty() ? "-" : m.run_id,
                    FormatLocal(m.created_at), m.description});
  }
  PrintTable({"NAME", "VERSION", "PATH", "SIZE", "RUN", "CREATED", "DESCRIPTION"}, rows,
             ctx.stdout_tty);
  return Status::Ok();
}

Status ModelShow(Context& ctx, const ModelFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::ModelRecord m, ResolveText(ws, f.name));
  ASSIGN_OR_RETURN(std::vector<std::string> users, models::DeploymentsUsing(ws, m.name, m.version));
  if (f.json) {
    nlohmann::json j = models::ModelToJson(m);
    j["deployments"] = users;
    std::printf("%s\n", JsonText(j).c_str());
    return Status::Ok();
  }
  auto line = [](const char* key, const std::string& value) {
    std::printf("%-13s%s\n", key, value.c_str());
  };
  line("id:", Id(m));
  line("path:", m.path + (m.is_dir ? "/ (folder, " : " (file, ") + std::to_string(m.files) +
                    (m.files == 1 ? " file, " : " files, ") +
                    HumanBytes(static_cast<uint64_t>(m.bytes)) + ")");
  line("digest:", m.digest);
  line("created:", FormatLocal(m.created_at));
  if (!m.description.empty()) line("description:", m.description);
  if (m.tags_json != "{}") line("tags:", Pairs(m.tags_json));
  if (m.properties_json != "{}") line("properties:", Pairs(m.properties_json));
  if (m.run_id.empty()) {
    line("lineage:", "registered from a local path");
  } else {
    line("run:", m.run_id + " (experiment " + m.experiment + ")");
    line("run path:", m.run_path);
    line("metrics:", m.metrics_json == "{}" ? "none logged" : Pairs(m.metrics_json));
  }
  line("deployments:", users.empty() ? "none" : Join(users, ", "));
  return Status::Ok();
}

Status ModelDownload(Context& ctx, const ModelFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::ModelRecord m, ResolveText(ws, f.name));
  const std::string dir = AbsolutePath(ExpandHome(f.dir.empty() ? "." : f.dir));
  RETURN_IF_ERROR(models::Download(ws, m, dir));
  std::printf("%s\n", (dir + "/" + m.path).c_str());
  return Status::Ok();
}

Status ModelPath(Context& ctx, const ModelFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::ModelRecord m, ResolveText(ws, f.name));
  ASSIGN_OR_RETURN(std::string dir, models::ModelDir(ws, m));
  std::printf("%s\n", (AbsolutePath(dir) + "/" + m.path).c_str());
  return Status::Ok();
}

Status ModelDelete(Context& ctx, const ModelFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(models::ModelRef ref, models::ParseModelRef(f.name));
  if (!ref.version) {
    return InvalidArgument("model delete: give the version to delete, NAME:VERSION (not " + f.name +
                           ")");
  }
  RETURN_IF_ERROR(models::Delete(ws, ref.name, *ref.version));
  std::printf("deleted model %s\n", ref.ToString().c_str());
  return Status::Ok();
}

}  // namespace

void RegisterModel(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<ModelFlags>();
  CLI::App* cmd = app.add_subcommand(
      "model", "the model registry: named, versioned model files and folders (from runs)");
  cmd->require_subcommand(1);

  CLI::App* reg = cmd->add_subcommand(
      "register",
      "register a file or folder as the next version of a model; the same bytes again name the "
      "version that has them");
  reg->add_option("--name", f->name, "the model's name (letters, digits, - _ .)")->required();
  reg->add_option("--path", f->path,
                  "a local file or folder; with --run, a path in the run's folder "
                  "(outputs/model.pt)")
      ->required();
  reg->add_option("--run", f->run, "the run whose folder holds --path (its lineage is recorded)");
  reg->add_option("--tag", f->tags, "a tag K=V (repeat)")->allow_extra_args(false);
  reg->add_option("--property", f->properties, "a property K=V (repeat)")->allow_extra_args(false);
  reg->add_option("--description", f->description, "a description");
  reg->add_flag("--json", f->json, "machine-readable output");
  OnRun(reg, ctx, [&ctx, f] { return ModelRegister(ctx, *f); });

  CLI::App* list = cmd->add_subcommand("list", "list the models (every version)");
  list->add_option("name", f->name, "only this model's versions");
  list->add_flag("--json", f->json, "machine-readable output");
  OnRun(list, ctx, [&ctx, f] { return ModelList(ctx, *f); });

  CLI::App* show = cmd->add_subcommand(
      "show", "show a model version: its files, lineage and the deployments that use it");
  show->add_option("model", f->name, "NAME (the latest version) or NAME:VERSION")->required();
  show->add_flag("--json", f->json, "machine-readable output");
  OnRun(show, ctx, [&ctx, f] { return ModelShow(ctx, *f); });

  CLI::App* download =
      cmd->add_subcommand("download", "copy a model version's file or folder into a folder");
  download->add_option("model", f->name, "NAME (the latest version) or NAME:VERSION")->required();
  download->add_option("--dir,-o", f->dir, "the folder to put it in (default: the current one)");
  OnRun(download, ctx, [&ctx, f] { return ModelDownload(ctx, *f); });

  CLI::App* path = cmd->add_subcommand(
      "path", "print the path of a model version's read-only copy in the workspace");
  path->add_option("model", f->name, "NAME (the latest version) or NAME:VERSION")->required();
  OnRun(path, ctx, [&ctx, f] { return ModelPath(ctx, *f); });

  CLI::App* del =
      cmd->add_subcommand("delete", "delete a model version (refused while a deployment uses it)");
  del->add_option("model", f->name, "NAME:VERSION")->required();
  OnRun(del, ctx, [&ctx, f] { return ModelDelete(ctx, *f); });
}

}  // namespace trainyard::cli
