#include "targets/mpi_target.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "common/process.h"
#include "common/strings.h"
#include "spec/parse.h"
#include "targets/local_target.h"

namespace trainyard::targets {

namespace {

Result<int> ParseSlots(const std::string& text, const std::string& entry) {
  char* end = nullptr;
  long n = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || n < 1) {
    return InvalidArgument("hosts: \"" + entry + "\": slots must be a positive integer");
  }
  return static_cast<int>(n);
}

}  // namespace

Result<std::vector<HostSlots>> ParseHostList(const std::string& text) {
  std::vector<HostSlots> out;
  for (const auto& raw : Split(text, ',')) {
    std::string entry = Trim(raw);
    if (entry.empty()) continue;
    HostSlots h;
    size_t colon = entry.rfind(':');
    h.host = entry.substr(0, colon);
    if (colon != std::string::npos) {
      ASSIGN_OR_RETURN(h.slots, ParseSlots(entry.substr(colon + 1), entry));
    }
    if (h.host.empty()) return InvalidArgument("hosts: \"" + entry + "\" has no host name");
    out.push_back(h);
  }
  if (out.empty()) return InvalidArgument("hosts: no hosts given (e.g. h1:4,h2:4)");
  return out;
}

Result<std::vector<HostSlots>> ReadHostfile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return InvalidArgument("hostfile: cannot read " + path);
  std::vector<HostSlots> out;
  for (std::string line; std::getline(in, line);) {
    line = Trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    HostSlots h;
    auto words = Split(line, ' ');
    h.host = words[0];
    for (size_t i = 1; i < words.size(); ++i) {
      if (StartsWith(words[i], "slots=")) {
        ASSIGN_OR_RETURN(h.slots, ParseSlots(words[i].substr(6), line));
      }
    }
    out.push_back(h);
  }
  if (out.empty()) return InvalidArgument("hostfile: " + path + " lists no hosts");
  return out;
}

std::vector<TargetOption> MpiTarget::Options() {
  return {
      {"hosts", "string", "", "hosts and slots: h1:4,h2:4 (or use hostfile)"},
      {"hostfile", "string", "", "an Open MPI hostfile (host slots=N per line)"},
      {"launch_agent", "string", "ssh", "how mpirun reaches hosts (its plm_rsh_agent)"},
      {"shared_folder", "string", "",
       "a folder every host sees; runs execute there (else the code is copied to each host)"},
      {"remote_folder", "string", "/tmp/trainyard",
       "where the code is copied on each host when there is no shared folder"},
      {"mpirun", "string", "mpirun", "the mpirun to use"},
      {"trainyard_bin", "string", "this trainyard", "trainyard's path on the hosts"},
      {"python", "string", "the resolved interpreter", "the Python interpreter on the hosts"},
      {"tracking_address", "string", "this host's name",
       "the address ranks use to reach this machine (the run's tracking endpoint)"},
      {"mpirun_args", "string", "", "extra mpirun arguments (split like a shell would)"},
      {"max_concurrent_runs", "int", "1", "runs at once on these hosts"},
      {"gpus_per_host", "int", "0", "GPUs on each host"},
      {"cores_per_host", "int", "this machine's", "cores of each host (for OMP_NUM_THREADS)"},
      {"max_processes", "int", "4096",
       "processes one run may have (nodes x processes per node); larger runs are refused"},
  };
}

Result<std::unique_ptr<Target>> MpiTarget::Create(const std::string& name,
                                                  const nlohmann::json& c) {
  std::unique_ptr<MpiTarget> t(new MpiTarget());
  t->name_ = name;
  std::string hosts = c.value("hosts", ""), hostfile = c.value("hostfile", "");
  if (hosts.empty() == hostfile.empty()) {
    return InvalidArgument("target " + name + ": give exactly one of hosts or hostfile");
  }
  if (!hosts.empty()) {
    ASSIGN_OR_RETURN(t->hosts_, ParseHostList(hosts));
  } else {
    ASSIGN_OR_RETURN(t->hosts_, ReadHostfile(hostfile));
  }
  t->agent_ = c.value("launch_agent", "ssh");
  t->shared_folder_ = c.value("shared_folder", "");
  t->remote_folder_ = c.value("remote_folder", "/tmp/trainyard");
  t->mpirun_ = c.value("mpirun", "mpirun");
  t->trainyard_bin_ = c.value("trainyard_bin", "");
  t->python_ = c.value("python", "");
  t->tracking_address_ = c.value("tracking_address", HostName());
  if (std::string extra = c.value("mpirun_args", ""); !extra.empty()) {
    ASSIGN_OR_RETURN(t->mpirun_args_, spec::SplitCommand(extra));
  }
  t->max_concurrent_runs_ = c.value("max_concurrent_runs", 1);
  t->gpus_per_host_ = c.value("gpus_per_host", 0);
  t->cores_per_host_ = c.value("cores_per_host", CpuCores());
  return std::unique_ptr<Target>(std::move(t));
}

Status MpiTarget::Check(const spec::JobSpec& spec) const {
  if (spec.node_count > static_cast<int>(hosts_.size())) {
    return InvalidArgument("node_count: " + std::to_string(spec.node_count) +
                           " nodes, but target \"" + name_ + "\" has " +
                           std::to_string(hosts_.size()) + " hosts");
  }
  for (int i = 0; i < spec.node_count; ++i) {
    const auto& h = hosts_[static_cast<size_t>(i)];
    if (spec.process_count_per_node > h.slots) {
      return InvalidArgument(
          "process_count_per_node: " + std::to_string(spec.process_count_per_node) + ", but host " +
          h.host + " of target \"" + name_ + "\" has " + std::to_string(h.slots) + " slots");
    }
  }
  if (spec.use_gpu && gpus_per_host_ == 0) {
    return InvalidArgument("use_gpu: true, but target \"" + name_ +
                           "\" has no GPUs (set its gpus_per_host option)");
  }
  if (spec.use_gpu && spec.process_count_per_node > gpus_per_host_) {
    return InvalidArgument(
        "process_count_per_node: " + std::to_string(spec.process_count_per_node) +
        " processes each need a GPU, but the hosts of target \"" + name_ + "\" have " +
        std::to_string(gpus_per_host_));
  }
  return Status::Ok();
}

Result<LaunchPlan> MpiTarget::Plan(const spec::JobSpec& spec, const PlanContext& given) const {
  PlanContext ctx = given;
  if (!python_.empty()) ctx.interpreter = python_;
  if (!trainyard_bin_.empty()) ctx.trainyard_exe = trainyard_bin_;
  LaunchPlan plan;
  plan.target = name_;
  plan.type = "mpi";
  plan.world_size = spec.TotalProcesses();
  plan.tracking_address = tracking_address_;
  std::vector<std::string> used;
  for (int i = 0; i < spec.node_count; ++i) used.push_back(hosts_[static_cast<size_t>(i)].host);
  if (!shared_folder_.empty()) {
    plan.staging.mode = "shared";
    plan.staging.dir = shared_folder_ + "/" + ctx.run_id + "/work";
  } else {
    plan.staging.mode = "copy";
    plan.staging.dir = remote_folder_ + "/" + ctx.run_id + "/work";
    plan.staging.hosts = used;
    ASSIGN_OR_RETURN(plan.staging.agent, spec::SplitCommand(agent_));
  }
  ctx.work_dir = plan.staging.dir;
  // The environment lives where the ranks run: built once in the shared folder, which every host
  // sees at the same path; otherwise on each host, in its own cache beside the copied code,
  // by trainyard there (the same agent as the copy).
  if (!shared_folder_.empty()) {
    PlaceEnvironment(shared_folder_ + "/envs", &ctx, &plan);
  } else {
    PlaceEnvironment(remote_folder_ + "/envs", &ctx, &plan);
    if (!plan.environment.hash.empty()) {
      plan.environment.where = "hosts";
      plan.environment.hosts = used;
      plan.environment.agent = plan.staging.agent;
      plan.environment.command = {ctx.trainyard_exe,         "env",       "build", "--envs-dir",
                                  plan.environment.envs_dir, "--request", "-"};
    }
  }
  ASSIGN_OR_RETURN(auto program, ProgramArgv(spec, ctx));
  auto env = BaseEnvironment(spec, ctx);
  bool user_threads = false;
  for (const auto& [k, v] : spec.environment_variables) user_threads |= k == "OMP_NUM_THREADS";
  int threads = std::max(1, cores_per_host_ / spec.process_count_per_node);
  int port = ctx.master_port ? ctx.master_port : PickFreePort();
  env["WORLD_SIZE"] = std::to_string(plan.world_size);
  env["MASTER_ADDR"] = used.front();
  env["MASTER_PORT"] = std::to_string(port);
  // Ranks are mapped to hosts in blocks of this many (--map-by ppr:N:node); the shim numbers
  // nodes and local ranks by it.
  env["TRAINYARD_PROCS_PER_NODE"] = std::to_string(spec.process_count_per_node);
  if (!user_threads) env["OMP_NUM_THREADS"] = std::to_string(threads);
  if (spec.use_gpu) env["TRAINYARD_GPU_PER_RANK"] = "1";
  std::vector<std::string> hosts_arg;
  for (const auto& h : used) {
    hosts_arg.push_back(h + ":" + std::to_string(spec.process_count_per_node));
  }
  std::vector<std::string> launcher = {
      "--host",        Join(hosts_arg, ","),
      "-np",           std::to_string(plan.world_size),
      "--map-by",      "ppr:" + std::to_string(spec.process_count_per_node) + ":node",
      "--mca",         "plm_rsh_agent",
      agent_,          "--wdir",
      plan.staging.dir};
  launcher.insert(launcher.end(), mpirun_args_.begin(), mpirun_args_.end());
  ProcessSpec p = MpirunProcess(ctx, ctx.run_dir, launcher, program, env);
  if (!mpirun_.empty() && mpirun_ != "mpirun") p.argv[0] = mpirun_;
  plan.processes.push_back(std::move(p));
  plan.notes.push_back("ranks start through " + agent_ + " on " + Join(used, ", ") +
                       "; trainyard and the interpreter must exist at the same paths there");
  return plan;
}

}  // namespace trainyard::targets
