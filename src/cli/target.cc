// trainyard target add|list|show|remove
#include "targets/target.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "cli/cli.h"
#include "common/strings.h"

namespace trainyard::cli {

namespace {

struct TargetFlags {
  std::string name, type = "local";
  std::vector<std::string> options;
  bool json = false;
};

Status TargetAdd(Context& ctx, const TargetFlags& f) {
  std::map<std::string, std::string> opts;
  for (const auto& kv : f.options) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      return InvalidArgument("--option \"" + EscapeBytes(kv) + "\": expected KEY=VALUE");
    }
    opts[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  RETURN_IF_ERROR(runner::AddTarget(ws, f.name, f.type, opts));
  std::printf("target %s (%s) saved\n", f.name.c_str(), f.type.c_str());
  return Status::Ok();
}

Status TargetList(Context& ctx, const TargetFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(std::vector<store::TargetRecord> all, ws->ListTargets());
  bool has_local = false;
  for (const auto& t : all) has_local |= t.name == "local";
  if (!has_local) all.insert(all.begin(), {"local", "local", "{}"});
  nlohmann::json arr = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : all) {
    auto impl = targets::MakeTarget(t);
    if (!impl.ok()) {
      rows.push_back({t.name, t.type, "-", impl.status().message()});
      continue;
    }
    arr.push_back(runner::TargetToJson(t, (*impl)->capacity()));
    rows.push_back({t.name, t.type, std::to_string((*impl)->capacity()), t.config_json});
  }
  if (f.json) {
    std::printf("%s\n", JsonText(arr).c_str());
    return Status::Ok();
  }
  PrintTable({"NAME", "TYPE", "CONCURRENT RUNS", "OPTIONS"}, rows, ctx.stdout_tty);
  return Status::Ok();
}

Status TargetShow(Context& ctx, const TargetFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(nlohmann::json j, runner::LookupTargetJson(ws, f.name));
  std::printf("%s\n", JsonText(j).c_str());
  return Status::Ok();
}

Status TargetRemove(Context& ctx, const TargetFlags& f) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  RETURN_IF_ERROR(ws->RemoveTarget(f.name));
  std::printf("target %s removed\n", f.name.c_str());
  return Status::Ok();
}

}  // namespace

void RegisterTarget(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<TargetFlags>();
  CLI::App* cmd = app.add_subcommand("target", "manage compute targets");
  cmd->require_subcommand(1);

  std::string option_help = "target option KEY=VALUE (repeatable). Options:";
  for (const auto& [type, opts] : targets::TargetTypes()) {
    for (const auto& o : opts) {
      option_help += "\n  " + type + ": " + o.name + " (" + o.type + ", default " +
                     o.default_value + "): " + o.help;
    }
  }
  CLI::App* add = cmd->add_subcommand("add", "add (or replace) a target");
  add->add_option("name", f->name, "target name")->required();
  add->add_option("--type", f->type, "target type (local)")->capture_default_str();
  add->add_option("--option,-o", f->options, option_help)->allow_extra_args(false);
  // Every option is also a flag of its own: --hosts h1:4,h2:4, --launch-agent ssh, ...
  std::set<std::string> names;
  for (const auto& [type, opts] : targets::TargetTypes()) {
    for (const auto& o : opts) names.insert(o.name);
  }
  for (const auto& name : names) {
    std::string flag = "--" + name;
    std::replace(flag.begin(), flag.end(), '_', '-');
    add->add_option_function<std::string>(
           flag, [f, name](const std::string& v) { f->options.push_back(name + "=" + v); },
           "same as -o " + name + "=VALUE")
        ->group("Target options");
  }
  OnRun(add, ctx, [&ctx, f] { return TargetAdd(ctx, *f); });

  CLI::App* list = cmd->add_subcommand("list", "list targets");
  list->add_flag("--json", f->json, "machine-readable output");
  OnRun(list, ctx, [&ctx, f] { return TargetList(ctx, *f); });

  CLI::App* show = cmd->add_subcommand("show", "show a target");
  show->add_option("name", f->name, "target name")->required();
  OnRun(show, ctx, [&ctx, f] { return TargetShow(ctx, *f); });

  CLI::App* remove = cmd->add_subcommand("remove", "remove a target");
  remove->add_option("name", f->name, "target name")->required();
  OnRun(remove, ctx, [&ctx, f] { return TargetRemove(ctx, *f); });
}

}  // namespace trainyard::cli
