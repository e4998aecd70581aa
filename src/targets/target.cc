#include "targets/target.h"

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "targets/local_target.h"
#include "targets/mpi_target.h"
#include "targets/slurm_target.h"

namespace trainyard::targets {

const std::map<std::string, std::vector<TargetOption>>& TargetTypes() {
  static const auto* types = new std::map<std::string, std::vector<TargetOption>>{
      {"local", LocalTarget::Options()},
      {"mpi", MpiTarget::Options()},
      {"slurm", SlurmTarget::Options()},
  };
  return *types;
}

Result<std::string> MakeTargetConfig(const std::string& type,
                                     const std::map<std::string, std::string>& options) {
  auto it = TargetTypes().find(type);
  if (it == TargetTypes().end()) {
    std::vector<std::string> names;
    for (const auto& [n, _] : TargetTypes()) names.push_back(n);
    return InvalidArgument("unknown target type \"" + type + "\" (known: " + Join(names, ", ") +
                           ")");
  }
  nlohmann::json config = nlohmann::json::object();
  std::vector<std::string> known;
  for (const auto& opt : it->second) known.push_back(opt.name);
  for (const auto& [k, v] : options) {
    const TargetOption* opt = nullptr;
    for (const auto& o : it->second) {
      if (o.name == k) opt = &o;
    }
    if (!opt) {
      std::string hint = DidYouMean(k, known);
      return InvalidArgument("unknown option \"" + k + "\" for a " + type + " target" +
                             (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)"));
    }
    if (opt->type == "int") {
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 1) {
        return InvalidArgument(k + ": expected a positive integer, got \"" + v + "\"");
      }
      config[k] = n;
    } else if (opt->type == "bool") {
      if (v != "true" && v != "false") {
        return InvalidArgument(k + ": expected true or false, got \"" + v + "\"");
      }
      config[k] = v == "true";
    } else {
      config[k] = v;
    }
  }
  // Build it once, so that a target that cannot work is refused when it is added.
  auto made = MakeTarget({"being added", type, config.dump()});
  if (!made.ok()) return made.status();
  return config.dump();
}

Result<std::unique_ptr<Target>> MakeTarget(const store::TargetRecord& record) {
  nlohmann::json config = nlohmann::json::parse(record.config_json, nullptr, false);
  if (config.is_discarded() || !config.is_object()) {
    return FailedPrecondition("target " + record.name + " has a malformed configuration");
  }
  if (record.type == "local") return std::unique_ptr<Target>(new LocalTarget(record.name, config));
  if (record.type == "mpi") return MpiTarget::Create(record.name, config);
  if (record.type == "slurm") return SlurmTarget::Create(record.name, config);
  return FailedPrecondition("target " + record.name + " has type \"" + record.type +
                            "\", which this trainyard does not support");
}

Result<std::unique_ptr<Target>> LookupTarget(store::Workspace* ws, const std::string& name) {
  ASSIGN_OR_RETURN(auto record, ws->GetTarget(name));
  if (record) return MakeTarget(*record);
  if (name == "local") return MakeTarget({"local", "local", "{}"});
  ASSIGN_OR_RETURN(auto all, ws->ListTargets());
  std::vector<std::string> names = {"local"};
  for (const auto& t : all) {
    if (t.name != "local") names.push_back(t.name);
  }
  std::string hint = DidYouMean(name, names);
  return InvalidArgument("compute_target: unknown target \"" + name + "\"" +
                         (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)") +
                         "; known targets: " + Join(names, ", ") +
                         " (add one with: trainyard target add NAME --type local)");
}

}  // namespace trainyard::targets
