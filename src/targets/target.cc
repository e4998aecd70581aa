#include "targets/target.h"

#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "targets/local_target.h"
#include "targets/mpi_target.h"
#include "targets/slurm_target.h"

namespace trainyard::targets {
namespace {

// Images run on local targets only (env/image.h); other types say what they would need.
Status CheckImageTarget(const spec::JobSpec& spec, const std::string& name,
                        const std::string& type) {
  if (!UsesImage(spec) || type == "local") return Status::Ok();
  std::string image = spec.image.empty() ? "build " + spec.image_build_context : spec.image;
  std::string how =
      type == "slurm"
          ? "the cluster's container support (Pyxis/enroot's srun --container-image, or "
            "Apptainer) is not wired into trainyard's batch scripts yet"
          : "an image on other hosts needs the image in each host's podman storage and bwrap "
            "there, which trainyard does not arrange yet";
  return InvalidArgument("environment.image: target \"" + name + "\" (" + type +
                         ") cannot run image " + image + ": " + how +
                         "; run it on a local target (compute: local), or give the packages "
                         "with environment.pip_packages / conda_packages instead of an image");
}

// Wraps a target of any type with the checks every target shares (the process limit), so that
// no type can forget them.
class LimitedTarget : public Target {
 public:
  LimitedTarget(std::unique_ptr<Target> target, int64_t max_processes)
      : target_(std::move(target)), max_processes_(max_processes) {}

  std::string name() const override { return target_->name(); }
  std::string type() const override { return target_->type(); }
  int capacity() const override { return target_->capacity(); }
  std::string python() const override { return target_->python(); }
  Status Check(const spec::JobSpec& spec) const override {
    RETURN_IF_ERROR(CheckImageTarget(spec, name(), type()));
    RETURN_IF_ERROR(CheckProcessCount(spec, name(), type(), max_processes_));
    RETURN_IF_ERROR(CheckPlanSize(spec, type()));
    return target_->Check(spec);
  }
  Result<LaunchPlan> Plan(const spec::JobSpec& spec, const PlanContext& ctx) const override {
    RETURN_IF_ERROR(CheckProcessCount(spec, name(), type(), max_processes_));
    RETURN_IF_ERROR(CheckPlanSize(spec, type()));
    return target_->Plan(spec, ctx);
  }

 private:
  std::unique_ptr<Target> target_;
  int64_t max_processes_;
};

Result<std::unique_ptr<Target>> MakeTargetOfType(const store::TargetRecord& record,
                                                 const nlohmann::json& config) {
  if (record.type == "local") return LocalTarget::Create(record.name, config);
  if (record.type == "mpi") return MpiTarget::Create(record.name, config);
  if (record.type == "slurm") return SlurmTarget::Create(record.name, config);
  return FailedPrecondition("target " + record.name + " has type \"" + record.type +
                            "\", which this trainyard does not support");
}

}  // namespace

Status CheckProcessCount(const spec::JobSpec& spec, const std::string& target_name,
                         const std::string& target_type, int64_t max_processes) {
  const int64_t total = spec.TotalProcesses();
  if (total <= max_processes) return Status::Ok();
  const bool command = spec.form == "command";
  const std::string nodes = command ? "resources.instance_count" : "node_count";
  const std::string per_node =
      command ? "distribution.process_count_per_instance" : "process_count_per_node";
  return InvalidArgument(per_node + ": " + std::to_string(spec.node_count) + " " + nodes + " x " +
                         std::to_string(spec.process_count_per_node) + " " + per_node + " = " +
                         std::to_string(total) + " processes; target \"" + target_name +
                         "\" allows at most " + std::to_string(max_processes) +
                         " per run (its max_processes option: trainyard target add " + target_name +
                         " --type " + target_type + " --max-processes N, with its other options)");
}

Status CheckPlanSize(const spec::JobSpec& spec, const std::string& target_type) {
  int64_t bytes = 0;
  for (const auto& p : spec.script_params) {
    bytes += static_cast<int64_t>(p.flag.size() + (p.value ? p.value->size() : 0) + 2);
  }
  for (const auto& a : spec.extra_args) bytes += static_cast<int64_t>(a.size() + 1);
  for (const auto& c : spec.command) bytes += static_cast<int64_t>(c.size() + 1);
  bytes += static_cast<int64_t>(spec.shell_command.size());
  for (const auto& [k, v] : spec.environment_variables) {
    bytes += static_cast<int64_t>(k.size() + v.size() + 2);
  }
  for (const auto& in : spec.inputs) {
    bytes += static_cast<int64_t>(2 * (in.name.size() + in.value.size()) + 20);
  }
  if (bytes > kMaxProcessSpecBytes) {
    return InvalidArgument("the job's arguments, environment variables and inputs add up to " +
                           std::to_string(bytes) + " bytes for each process; the limit is " +
                           std::to_string(kMaxProcessSpecBytes) +
                           " bytes (1 MiB): pass large values in a file instead");
  }
  // Local ranks are planned one by one; mpirun and Slurm carry them once.
  const bool per_rank = target_type == "local" && spec.distributed_backend != "mpi";
  const int64_t copies = per_rank ? spec.TotalProcesses() : 1;
  if (bytes * copies > kMaxPlanSpecBytes) {
    return InvalidArgument(std::to_string(copies) + " processes each carrying " +
                           std::to_string(bytes) +
                           " bytes of arguments, environment variables and inputs make a plan "
                           "of " +
                           std::to_string((bytes * copies) >> 20) + " MiB; the limit is " +
                           std::to_string(kMaxPlanSpecBytes >> 20) +
                           " MiB (use fewer processes, or pass large values in a file)");
  }
  return Status::Ok();
}

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
      if (v.empty() || *end != '\0' || n < 1 || n > std::numeric_limits<int>::max()) {
        return InvalidArgument(k + ": expected an integer from 1 to " +
                               std::to_string(std::numeric_limits<int>::max()) + ", got \"" + v +
                               "\"");
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
  ASSIGN_OR_RETURN(auto target, MakeTargetOfType(record, config));
  int64_t max_processes = kDefaultMaxProcesses;
  if (auto it = config.find("max_processes"); it != config.end() && it->is_number_integer()) {
    max_processes = it->get<int64_t>();
  }
  return std::unique_ptr<Target>(new LimitedTarget(std::move(target), max_processes));
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
