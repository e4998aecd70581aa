#include "targets/local_target.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "common/process.h"
#include "common/strings.h"
#include "env/gpu.h"
#include "env/image.h"
#include "spec/parse.h"

namespace trainyard::targets {

namespace {
Result<env::Image> ResolveImage(const spec::JobSpec& spec);
}  // namespace

std::vector<TargetOption> LocalTarget::Options() {
  return {
      {"max_concurrent_runs", "int", "cores/2 (at least 1)",
       "runs that may run at once; further runs wait as Queued, in submission order"},
      {"gpus", "int", "detected", "number of GPUs on this machine (default: detected)"},
      {"cores", "int", "detected", "CPU cores shared by the ranks of a run (for OMP_NUM_THREADS)"},
      {"max_processes", "int", "4096",
       "processes one run may have (nodes x processes per node); larger runs are refused"},
      {"use_gpu_fallback", "string", "refuse",
       "a use_gpu job when this target has no GPU: refuse (the submit fails) or cpu (it runs on "
       "the CPU, and its output and the run's gpu_fallback property say so)"},
  };
}

LocalTarget::LocalTarget(std::string name, const nlohmann::json& config) : name_(std::move(name)) {
  cores_ = config.value("cores", CpuCores());
  max_concurrent_runs_ = config.value("max_concurrent_runs", std::max(1, CpuCores() / 2));
  gpus_ = config.contains("gpus") ? config["gpus"].get<int>() : env::CountGpus();
  use_gpu_fallback_ = config.value("use_gpu_fallback", "refuse") == "cpu" ? "cpu" : "refuse";
}

Result<std::unique_ptr<Target>> LocalTarget::Create(const std::string& name,
                                                    const nlohmann::json& config) {
  if (auto it = config.find("use_gpu_fallback"); it != config.end()) {
    if (!it->is_string() || (*it != "refuse" && *it != "cpu")) {
      return InvalidArgument("use_gpu_fallback: expected refuse or cpu, got " +
                             (it->is_string() ? "\"" + it->get<std::string>() + "\"" : it->dump()));
    }
  }
  return std::unique_ptr<Target>(new LocalTarget(name, config));
}

bool LocalTarget::FallsBackToCpu(const spec::JobSpec& spec) const {
  return spec.use_gpu && gpus_ == 0 && use_gpu_fallback_ == "cpu";
}

Status LocalTarget::Check(const spec::JobSpec& spec) const {
  if (spec.use_gpu && gpus_ == 0 && !FallsBackToCpu(spec)) {
    return InvalidArgument("use_gpu: true, but target \"" + name_ +
                           "\" has no GPU (none detected on this machine); set use_gpu: false, "
                           "or let the target run such jobs on the CPU: trainyard target add " +
                           name_ + " --type local --use-gpu-fallback cpu");
  }
  if (spec.use_gpu && !FallsBackToCpu(spec) && spec.process_count_per_node > gpus_) {
    return InvalidArgument(
        "process_count_per_node: " + std::to_string(spec.process_count_per_node) +
        " processes each need a GPU, but target \"" + name_ + "\" has " + std::to_string(gpus_));
  }
  if (UsesImage(spec)) {
    if (spec.distributed_backend == "mpi") {
      return InvalidArgument(
          "distribution: mpi does not run in an image yet (mpirun and the rank shim are outside "
          "it); use distribution: pytorch (every rank runs in the image), or drop the image");
    }
    RETURN_IF_ERROR(ResolveImage(spec).status());
  }
  if (spec.distributed_backend == "mpi" && FindOnPath("mpirun").empty()) {
    return InvalidArgument(
        "distributed_backend: mpi needs Open MPI's mpirun, which is not on PATH (Debian: "
        "apt-get install openmpi-bin)");
  }
  return Status::Ok();
}

bool UsesImage(const spec::JobSpec& spec) {
  return !spec.image.empty() || !spec.image_build_context.empty();
}

namespace {

// The job's image, found in (or built into) Podman's local storage.
Result<env::Image> ResolveImage(const spec::JobSpec& spec) {
  if (!spec.image.empty()) return env::FindLocalImage(spec.image);
  return env::BuildLocalImage(spec.image_build_context, spec.image_dockerfile);
}

// Where the run's folders are inside an image.
constexpr const char* kImageWork = "/trainyard/work";
constexpr const char* kImageInputs = "/trainyard/inputs";

// Wraps every process of `plan` (planned with the paths inside the image) to run in the image,
// with the work folder (its outputs/ included) writable and each path input read-only.
Status RunInImage(const spec::JobSpec& spec, const PlanContext& host, bool use_gpu,
                  LaunchPlan* plan) {
  ASSIGN_OR_RETURN(env::Image image, ResolveImage(spec));
  ASSIGN_OR_RETURN(env::ImageRoot root, env::MountImage(image));
  std::vector<env::Bind> binds = {{host.work_dir, kImageWork, true}};
  for (const auto& in : spec.inputs) {
    if (in.kind == spec::Input::Kind::kLiteral) continue;
    const std::string& path = host.input_values.at(in.name);
    std::string inside = std::string(kImageInputs) + "/" + in.name;
    if (in.kind == spec::Input::Kind::kUriFile) {
      inside += "/" + std::filesystem::path(path).filename().string();
    }
    binds.push_back({path, inside, false});
  }
  std::vector<std::string> keep;
  for (const auto& [k, v] : spec.environment_variables) keep.push_back(k);
  for (ProcessSpec& p : plan->processes) {
    p.argv = env::SandboxArgv(image, root, binds, kImageWork, use_gpu, keep, p.argv);
    p.cwd = host.work_dir;  // bwrap's; the ranks' is kImageWork inside
  }
  plan->notes.push_back("environment: image " + image.name + " (" + image.id.substr(0, 12) +
                        "), run by bwrap on its root file system from podman's storage; work "
                        "folder at " +
                        kImageWork + ", inputs under " + kImageInputs);
  plan->properties["image"] = image.name;
  plan->properties["image_id"] = image.id;
  return Status::Ok();
}

// The context of a run in an image: its folders as the ranks see them inside.
PlanContext InsideImage(const spec::JobSpec& spec, PlanContext ctx) {
  ctx.work_dir = kImageWork;
  for (const auto& in : spec.inputs) {
    if (in.kind == spec::Input::Kind::kLiteral) continue;
    std::string& value = ctx.input_values[in.name];
    std::string inside = std::string(kImageInputs) + "/" + in.name;
    if (in.kind == spec::Input::Kind::kUriFile) {
      inside += "/" + std::filesystem::path(value).filename().string();
    }
    value = inside;
  }
  ctx.interpreter = "python3";
  ctx.python_path.clear();  // the host's trainyard packages are not in the image
  return ctx;
}

}  // namespace

std::map<std::string, std::string> OutputValues(const spec::JobSpec& spec,
                                                const std::string& work_dir) {
  std::map<std::string, std::string> values;
  for (const auto& out : spec.outputs) {
    std::string path = work_dir + "/outputs/" + out.name;
    if (out.kind == spec::Output::Kind::kUriFile) path += "/" + out.file_name;
    values[out.name] = path;
  }
  return values;
}

std::string ShellPreamble(const spec::JobSpec& spec, const PlanContext& ctx) {
  // In an image, python is the image's own.
  if (!spec.image.empty() || !spec.image_build_context.empty()) return "";
  if (!spec::MentionsPython(spec.shell_command)) return "";
  // python and python3 mean the job's interpreter (its environment's, when it has one), in the
  // command and in the bash processes it starts.
  const std::string python = spec::SingleQuote(ctx.interpreter);
  return "python() { " + python + " \"$@\"; }; python3() { " + python +
         " \"$@\"; }; export -f python python3\n";
}

Result<std::vector<std::string>> ProgramArgv(const spec::JobSpec& spec, const PlanContext& ctx) {
  std::vector<std::string> argv;
  if (spec.form == "command") {
    std::map<std::string, std::string> outputs = OutputValues(spec, ctx.work_dir);
    const std::map<std::string, std::string> search_space = spec::SearchSpaceValues(spec);
    if (!spec.shell_command.empty()) {
      ASSIGN_OR_RETURN(std::string script, spec::ShellScript(spec.shell_command, ctx.input_values,
                                                             outputs, search_space));
      return std::vector<std::string>{"bash", "-c", ShellPreamble(spec, ctx) + script};
    }
    for (size_t i = 0; i < spec.command.size(); ++i) {
      ASSIGN_OR_RETURN(std::string word, spec::Substitute(spec.command[i], ctx.input_values,
                                                          &outputs, &search_space));
      if (i == 0 && (word == "python" || word == "python3") && !UsesImage(spec)) {
        word = ctx.interpreter;
      }
      argv.push_back(std::move(word));
    }
    return argv;
  }
  if (!ctx.program.empty()) {
    argv = {ctx.work_dir + "/" + ctx.program};
  } else if (EndsWith(spec.entry_script, ".py")) {
    argv = {ctx.interpreter, spec.entry_script};
  } else {
    argv = {ctx.work_dir + "/" + spec.entry_script};
  }
  ASSIGN_OR_RETURN(auto args, spec::ScriptArguments(spec, ctx.input_values));
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::map<std::string, std::string> BaseEnvironment(const spec::JobSpec& spec,
                                                   const PlanContext& ctx) {
  std::map<std::string, std::string> env = {
      {"TRAINYARD_RUN_ID", ctx.run_id},
      {"TRAINYARD_WORKSPACE", ctx.workspace_dir},
      {"TRAINYARD_RUN_DIR", ctx.run_dir},
      // The supervisor's ingestion endpoint; the address and token are set when it starts.
      {"TRAINYARD_TRACKING_URI", "(set when the run starts)"},
      {"TRAINYARD_TRACKING_TOKEN", "(set when the run starts)"},
      {"TRAINYARD_EXPERIMENT", spec.experiment_name},
      {"PYTHONUNBUFFERED", "1"},
  };
  for (const auto& [name, value] : ctx.input_values) {
    std::string key = "TRAINYARD_INPUT_" + name;
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    env[key] = value;
  }
  for (const auto& [k, v] : spec.environment_variables) env[k] = v;
  if (!ctx.python_path.empty()) {
    auto user = env.find("PYTHONPATH");
    env["PYTHONPATH"] =
        ctx.python_path + (user != env.end() && !user->second.empty() ? ":" + user->second : "");
  }
  return env;
}

void PlaceEnvironment(const std::string& envs_dir, PlanContext* ctx, LaunchPlan* plan) {
  if (ctx->env_hash.empty()) return;
  EnvironmentPlan& e = plan->environment;
  e.hash = ctx->env_hash;
  e.describe = ctx->env_describe;
  e.where = "here";
  e.envs_dir = envs_dir;
  e.python = envs_dir + "/" + ctx->env_hash + "/" + ctx->env_python;
  ctx->interpreter = e.python;
}

ProcessSpec MpirunProcess(const PlanContext& ctx, const std::string& cwd,
                          const std::vector<std::string>& launcher_args,
                          const std::vector<std::string>& program,
                          std::map<std::string, std::string> env) {
  ProcessSpec p;
  p.cwd = cwd;
  p.tagged_output = true;
  std::string mpirun = FindOnPath("mpirun");
  p.argv = {mpirun.empty() ? "mpirun" : mpirun};
  p.argv.insert(p.argv.end(), launcher_args.begin(), launcher_args.end());
  // Binding every rank to one core starves Gloo's and PyTorch's helper threads.
  p.argv.insert(p.argv.end(), {"--bind-to", "none", "--tag-output"});
  if (geteuid() == 0) p.argv.emplace_back("--allow-run-as-root");
  for (const auto& [k, v] : env) {
    p.argv.emplace_back("-x");
    p.argv.push_back(k);
  }
  // The shim turns Open MPI's OMPI_COMM_WORLD_* into torchrun's RANK, LOCAL_RANK, ... per rank.
  p.argv.insert(p.argv.end(), {ctx.trainyard_exe, "rank-exec", "--"});
  p.argv.insert(p.argv.end(), program.begin(), program.end());
  p.env = std::move(env);
  return p;
}

Result<LaunchPlan> LocalTarget::Plan(const spec::JobSpec& spec, const PlanContext& given) const {
  if (UsesImage(spec)) {
    if (spec.distributed_backend == "mpi") RETURN_IF_ERROR(Check(spec));
    ASSIGN_OR_RETURN(LaunchPlan plan, PlanProcesses(spec, InsideImage(spec, given)));
    RETURN_IF_ERROR(RunInImage(spec, given, spec.use_gpu && !FallsBackToCpu(spec), &plan));
    return plan;
  }
  return PlanProcesses(spec, given);
}

Result<LaunchPlan> LocalTarget::PlanProcesses(const spec::JobSpec& spec,
                                              const PlanContext& given) const {
  PlanContext ctx = given;
  LaunchPlan plan;
  plan.target = name_;
  plan.type = "local";
  plan.world_size = static_cast<int>(spec.TotalProcesses());  // at most max_processes
  PlaceEnvironment(ctx.workspace_dir + "/envs", &ctx, &plan);
  ASSIGN_OR_RETURN(auto argv, ProgramArgv(spec, ctx));
  auto base = BaseEnvironment(spec, ctx);
  bool user_threads = false;
  for (const auto& [k, v] : spec.environment_variables) user_threads |= k == "OMP_NUM_THREADS";
  int threads = std::max(1, cores_ / plan.world_size);
  int port = ctx.master_port ? ctx.master_port : PickFreePort();
  // use_gpu on a target without GPUs that falls back: the ranks are planned as CPU ranks.
  const bool use_gpu = spec.use_gpu && !FallsBackToCpu(spec);
  if (FallsBackToCpu(spec)) {
    std::string said = "use_gpu: target " + name_ +
                       " has no GPU; running on the CPU (target option use_gpu_fallback=cpu)";
    plan.notes.push_back(said);
    plan.messages.push_back("[trainyard] " + said);
    plan.properties["gpu_fallback"] = "cpu";
  }
  for (const auto& in : spec.inputs) {
    if (in.kind == spec::Input::Kind::kLiteral) continue;
    plan.notes.push_back("inputs." + in.name + ": " +
                         (in.mode == spec::Input::Mode::kDownload
                              ? "copied into the run folder at " + ctx.input_values.at(in.name)
                              : "read in place from " + in.value));
  }
  if (spec.distributed_backend == "mpi") {
    auto env = base;
    env["WORLD_SIZE"] = std::to_string(plan.world_size);
    env["MASTER_ADDR"] = "127.0.0.1";
    env["MASTER_PORT"] = std::to_string(port);
    // Simulated nodes: the shim numbers nodes and local ranks by this.
    env["TRAINYARD_PROCS_PER_NODE"] = std::to_string(spec.process_count_per_node);
    if (!user_threads) env["OMP_NUM_THREADS"] = std::to_string(threads);
    if (use_gpu) env["TRAINYARD_GPU_PER_RANK"] = "1";
    plan.processes.push_back(MpirunProcess(
        ctx, ctx.work_dir, {"-np", std::to_string(plan.world_size), "--oversubscribe"}, argv, env));
    return plan;
  }
  for (int node = 0; node < spec.node_count; ++node) {
    for (int local = 0; local < spec.process_count_per_node; ++local) {
      ProcessSpec p;
      p.rank = node * spec.process_count_per_node + local;
      p.node_rank = node;
      p.local_rank = local;
      p.argv = argv;
      p.cwd = ctx.work_dir;
      p.env = base;
      if (!user_threads) p.env["OMP_NUM_THREADS"] = std::to_string(threads);
      if (!spec.distributed_backend.empty()) {
        p.env["RANK"] = std::to_string(p.rank);
        p.env["LOCAL_RANK"] = std::to_string(local);
        p.env["WORLD_SIZE"] = std::to_string(plan.world_size);
        p.env["LOCAL_WORLD_SIZE"] = std::to_string(spec.process_count_per_node);
        p.env["GROUP_RANK"] = std::to_string(node);
        p.env["NODE_RANK"] = std::to_string(node);
        p.env["MASTER_ADDR"] = "127.0.0.1";
        p.env["MASTER_PORT"] = std::to_string(port);
      }
      if (use_gpu) p.env["CUDA_VISIBLE_DEVICES"] = std::to_string(local);
      plan.processes.push_back(std::move(p));
    }
  }
  return plan;
}

}  // namespace trainyard::targets
