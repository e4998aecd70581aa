// Submit: validate, plan, snapshot, record, start the supervisor.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <optional>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/strings.h"
#include "env/cpp_build.h"
#include "env/python_env.h"
#include "runner/assets.h"
#include "runner/runner.h"
#include "runner/sweep.h"
#include "spec/entry.h"
#include "spec/parse.h"
#include "targets/target.h"

namespace trainyard::runner {

namespace {

// Whether the job runs a Python interpreter (and so needs one that imports torch).
bool NeedsPython(const spec::JobSpec& spec) {
  // In an image (docs/jobs.md, Images), python is the image's own: the host's is not probed.
  if (!spec.image.empty() || !spec.image_build_context.empty()) return false;
  if (spec.form == "command") {
    if (!spec.shell_command.empty()) return spec::MentionsPython(spec.shell_command);
    if (spec.command.empty()) return false;
    std::string w = spec.command[0];
    return w == "python" || w == "python3";
  }
  return EndsWith(spec.entry_script, ".py");
}

// A command string is a bash script: refused at submit when bash cannot parse it (an
// unterminated quote, a missing `fi`), with bash's own message.
Status CheckShellSyntax(const spec::JobSpec& spec) {
  if (spec.shell_command.empty()) return Status::Ok();
  CommandOptions options;
  options.timeout_seconds = 10;
  auto checked = RunCommand({"bash", "-n", "-c", spec.shell_command}, options);
  if (!checked.ok()) {
    return FailedPrecondition("command: runs with bash, which could not be started: " +
                              checked.status().message());
  }
  if (checked->exit_code == 0) return Status::Ok();
  std::string message = Trim(checked->err);
  for (const std::string prefix : {"bash: -c: ", "bash: "}) {
    if (StartsWith(message, prefix)) message = message.substr(prefix.size());
  }
  return InvalidArgument("command: not a valid bash script: " + message);
}

// The command-job fields that become run properties (name, description, properties) or notes
// (outputs, and what is accepted but has no effect here).
void AddCommandJobFields(const spec::JobSpec& spec, targets::LaunchPlan* plan) {
  for (const auto& [k, v] : spec.properties) plan->properties[k] = v;
  if (!spec.job_name.empty()) plan->properties["name"] = spec.job_name;
  if (!spec.description.empty()) plan->properties["description"] = spec.description;
  if (spec.form == "command" && spec.source_directory.empty()) {
    plan->notes.push_back("no code: the command runs in an empty working folder");
  }
  for (const auto& out : spec.outputs) {
    plan->notes.push_back("outputs." + out.name + ": kept with the run in outputs/" + out.name +
                          "/ (trainyard files, trainyard download)");
  }
  if (!spec.shm_size.empty()) {
    plan->notes.push_back("resources.shm_size " + spec.shm_size +
                          ": noted only (ranks are processes sharing this machine's /dev/shm)");
  }
  if (!spec.queue_settings.empty()) {
    plan->notes.push_back(
        "queue_settings: noted only (runs wait in the target's queue, in submission order)");
  }
}

// Whether the job lists packages (conda_packages naming only packages trainyard provides, such as
// azureml-defaults, count here: their request says so, and needs no conda).
bool WantsPythonEnv(const spec::JobSpec& spec) {
  return !spec.pip_packages.empty() || !spec.pip_requirements_file.empty() ||
         !spec.conda_packages.empty();
}

// Whether the job's packages need a conda prefix: conda_packages beyond those trainyard provides.
bool WantsCondaEnv(const spec::JobSpec& spec) {
  return !env::WithoutProvidedPackages(spec.conda_packages).empty();
}

// Refuses what cannot be built: conda_packages without a conda executable.
Status CheckEnvironmentRequest(const spec::JobSpec& spec) {
  if (WantsCondaEnv(spec) && env::FindConda().empty()) {
    const char* configured = std::getenv("TRAINYARD_CONDA");
    if (configured != nullptr && *configured != '\0') {
      return InvalidArgument(std::string("conda_packages: TRAINYARD_CONDA is \"") + configured +
                             "\", which is not an executable (a path, or a name on PATH)");
    }
    return InvalidArgument(
        "conda_packages: no conda, mamba or micromamba executable was found on this machine; "
        "install one (or set TRAINYARD_CONDA to its path), or list the packages under "
        "pip_packages instead");
  }
  return Status::Ok();
}

// Refuses bytes that cannot be stored or passed on, before anything is: names and tags must be
// UTF-8 text (JSON, the tables and the tracking API carry them as such); arguments, environment
// values and paths may be any bytes but NUL, which a process argument cannot carry (it would cut
// the word short).
Status CheckSpecBytes(const spec::JobSpec& spec) {
  // Keys are named in messages once they are known to be text.
  auto quoted = [](const std::string& s) { return "'" + s + "'"; };
  RETURN_IF_ERROR(CheckUtf8("experiment_name", spec.experiment_name));
  RETURN_IF_ERROR(CheckUtf8("display_name", spec.display_name));
  RETURN_IF_ERROR(CheckUtf8("compute_target", spec.compute_target));
  for (const auto& [k, v] : spec.tags) {
    RETURN_IF_ERROR(CheckUtf8("a tag key ('" + EscapeBytes(k) + "')", k));
    RETURN_IF_ERROR(CheckUtf8("tag value for " + quoted(k), v));
  }
  for (const auto& [k, v] : spec.environment_variables) {
    RETURN_IF_ERROR(CheckUtf8("an environment variable name ('" + EscapeBytes(k) + "')", k));
    RETURN_IF_ERROR(CheckNoNul("environment variable " + k, v));
  }
  for (const auto& in : spec.inputs) {
    RETURN_IF_ERROR(CheckUtf8("an input name ('" + EscapeBytes(in.name) + "')", in.name));
    RETURN_IF_ERROR(CheckNoNul("inputs." + in.name, in.value));
  }
  for (size_t i = 0; i < spec.script_params.size(); ++i) {
    const spec::ScriptParam& sp = spec.script_params[i];
    RETURN_IF_ERROR(CheckNoNul("script_params key " + std::to_string(i + 1), sp.flag));
    if (sp.value)
      RETURN_IF_ERROR(CheckNoNul("script_params['" + EscapeBytes(sp.flag) + "']", *sp.value));
  }
  for (size_t i = 0; i < spec.extra_args.size(); ++i) {
    RETURN_IF_ERROR(CheckNoNul("extra_args[" + std::to_string(i) + "]", spec.extra_args[i]));
  }
  for (size_t i = 0; i < spec.command.size(); ++i) {
    RETURN_IF_ERROR(CheckNoNul("command[" + std::to_string(i) + "]", spec.command[i]));
  }
  RETURN_IF_ERROR(CheckNoNul("command", spec.shell_command));
  RETURN_IF_ERROR(CheckNoNul("source_directory", spec.source_directory));
  RETURN_IF_ERROR(CheckNoNul("entry_script", spec.entry_script));
  RETURN_IF_ERROR(CheckNoNul("python", spec.python));
  return Status::Ok();
}

// The environment a job's pip_packages / pip_requirements_file / conda_packages ask for; pip
// environments are venvs on top of `base`, conda ones prefixes of their own.
Result<env::EnvRequest> MakeEnvRequest(const spec::JobSpec& spec,
                                       const env::InterpreterInfo& base) {
  env::EnvRequest req;
  req.interpreter = base.path;
  req.python_version = base.python_version;
  req.packages = env::NormalizePackages(spec.pip_packages);
  if (!spec.pip_requirements_file.empty()) {
    std::string path = spec.source_directory + "/" + spec.pip_requirements_file;
    auto text = ReadFile(path);
    if (!text.ok()) {
      return InvalidArgument("pip_requirements_file: cannot read " + path + ": " +
                             text.status().message());
    }
    req.requirements = *text;
  }
  env::SetPipSourcesFromEnvironment(&req);
  if (WantsCondaEnv(spec)) {
    // The prefix brings its own interpreter: the base one is not part of it.
    env::SetCondaFromEnvironment(env::FindConda(), spec.conda_packages, &req);
    req.interpreter.clear();
    req.python_version.clear();
  } else {
    req.provided = spec.conda_packages;  // only packages trainyard provides (WantsCondaEnv)
  }
  // azureml-* packages come from trainyard's compatibility package: said, not installed.
  env::SetProvidedPackages(&req);
  return req;
}

// The cmake prefix of the interpreter's torch when it is CUDA-enabled (a use_gpu C++ job builds
// against it, see env/cpp_build.h); "" otherwise. Costs an interpreter start for use_gpu jobs only.
std::string CudaTorchPrefix(const spec::JobSpec& spec, const std::string& cache_dir) {
  auto info = env::ResolveInterpreter(spec.python, cache_dir);
  if (!info.ok() || !info->has_torch || !info->cuda_available) return "";
  CommandOptions options;
  options.timeout_seconds = 60;
  auto r = RunCommand(
      {info->path, "-c", "import torch.utils; print(torch.utils.cmake_prefix_path)"}, options);
  if (!r.ok() || r->exit_code != 0) return "";
  return Trim(r->out);
}

// What building a C++ entry needs, but the snapshot (known later). Refuses (FailedPrecondition)
// when a tool is missing, naming it.
Result<env::CppBuildRequest> MakeCppBuildRequest(store::Workspace* ws, const spec::JobSpec& spec,
                                                 spec::EntryKind kind) {
  env::CppToolchainOptions options;
  if (const char* v = std::getenv("TRAINYARD_TORCH_PREFIX"); v && *v) options.torch_prefix = v;
  if (spec.use_gpu && options.torch_prefix.empty()) {
    options.python_torch_dir = CudaTorchPrefix(spec, ws->CacheDir());
  }
  options.client_dir = env::ClientPackageDir();
  options.cache_dir = ws->CacheDir();
  env::CppBuildRequest req;
  ASSIGN_OR_RETURN(req.toolchain, env::ProbeCppToolchain(options));
  req.kind = kind == spec::EntryKind::kCppFile ? "file" : "target";
  req.entry = spec.entry_script;
  req.program = spec::CppProgramName(spec, kind);
  req.source_dir = spec.source_directory;
  return req;
}

}  // namespace

Status StartSupervisor(const std::string& exe, const std::string& ws_dir, const std::string& run_id,
                       const std::string& run_dir) {
  std::string log = run_dir + "/supervisor.log";
  int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return ErrnoError("cannot open " + log, errno);
  SpawnOptions options;
  options.stdout_fd = out;
  options.stderr_fd = out;
  options.detach = true;
  options.close_other_fds = true;  // no workspace database or lock descriptor travels along
  Result<pid_t> started =
      Spawn({exe, "supervise", "--workspace", ws_dir, run_id}, CurrentEnvironment(), options);
  close(out);
  if (!started.ok()) {
    return Status(started.status().code(),
                  "could not start the run's supervisor: " + started.status().message());
  }
  return Status::Ok();
}

std::string TrainyardExe() {
  if (const char* env = std::getenv("TRAINYARD_BIN"); env && *env) return env;
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    std::string self(buf, static_cast<size_t>(n));
    if (EndsWith(self, "/trainyard")) return self;
    std::string beside = self.substr(0, self.find_last_of('/') + 1) + "trainyard";
    if (access(beside.c_str(), X_OK) == 0) return beside;
  }
  if (std::string on_path = FindOnPath("trainyard"); !on_path.empty()) return on_path;
  return TRAINYARD_BUILD_BIN;
}

std::string PythonPackageDir() {
  if (const char* v = std::getenv("TRAINYARD_PYTHON_PACKAGE_DIR"); v && *v) return v;
  return TRAINYARD_PYTHON_DIR;
}

std::string PythonCompatDir() {
  if (const char* v = std::getenv("TRAINYARD_PYTHON_COMPAT_DIR"); v && *v) return v;
  return TRAINYARD_PYTHON_COMPAT_DIR;
}

uint64_t SnapshotLimitBytes() {
  if (const char* v = std::getenv("TRAINYARD_SNAPSHOT_LIMIT"); v && *v) {
    return std::strtoull(v, nullptr, 10);
  }
  return 2ull << 30;
}

Result<Submission> Submit(store::Workspace* ws, const spec::JobSpec& written,
                          const SubmitOptions& options) {
  // Registered environments, data assets and datastore paths become packages and local paths.
  spec::JobSpec spec = written;
  std::vector<std::string> asset_notes;
  RETURN_IF_ERROR(ResolveAssets(ws, &spec, &asset_notes));
  RETURN_IF_ERROR(CheckSpecBytes(spec));
  RETURN_IF_ERROR(CheckShellSyntax(spec));
  RETURN_IF_ERROR(spec::ValidatePaths(spec));
  ASSIGN_OR_RETURN(auto target, targets::LookupTarget(ws, spec.compute_target));
  RETURN_IF_ERROR(target->Check(spec));
  RETURN_IF_ERROR(CheckEnvironmentRequest(spec));

  // C++ entries: the toolchain is checked now; the supervisor builds (or reuses) the program.
  std::optional<env::CppBuildRequest> cpp_request;
  if (spec::EntryKind kind = spec::ClassifyEntry(spec); spec::IsCppEntry(kind)) {
    ASSIGN_OR_RETURN(cpp_request, MakeCppBuildRequest(ws, spec, kind));
  }

  Submission sub;
  bool has_azureml = false, has_horovod = false, has_mlflow = false;
  std::optional<env::EnvRequest> env_request;
  if (NeedsPython(spec) || WantsPythonEnv(spec) || WantsCondaEnv(spec)) {
    ASSIGN_OR_RETURN(env::InterpreterInfo info,
                     env::ResolveInterpreter(spec.python, ws->CacheDir()));
    // A conda prefix brings its own interpreter (and torch, if listed): not probed here.
    if (!WantsCondaEnv(spec)) RETURN_IF_ERROR(env::RequireTorch(info));
    sub.interpreter = info.path;
    sub.torch_version = info.torch_version;
    has_azureml = info.has_azureml;
    has_horovod = info.has_horovod;
    has_mlflow = info.has_mlflow;
    if (WantsPythonEnv(spec) || WantsCondaEnv(spec)) {
      // The hosts' own interpreter (the target's python option) is the environment's base there;
      // its version comes from probing it here when it exists here too.
      env::InterpreterInfo base = info;
      if (std::string hosts_python = target->python();
          !hosts_python.empty() && hosts_python != info.path) {
        base.path = hosts_python;
        auto probed = env::ResolveInterpreter(hosts_python, ws->CacheDir());
        if (probed.ok()) base.python_version = probed->python_version;
      }
      ASSIGN_OR_RETURN(env_request, MakeEnvRequest(spec, base));
    }
  }

  sub.run.id = store::NewRunId(spec.experiment_name);
  targets::PlanContext ctx;
  ctx.run_id = sub.run.id;
  ctx.workspace_dir = ws->dir();
  ctx.run_dir = ws->RunDir(sub.run.id);
  ctx.work_dir = ctx.run_dir + "/work";
  ctx.interpreter = sub.interpreter.empty() ? "python3" : sub.interpreter;
  ctx.trainyard_exe = TrainyardExe();
  if (cpp_request) ctx.program = ".trainyard/bin/" + cpp_request->program;
  if (env_request && env::NeedsEnvironment(*env_request)) {
    // The target places the environment; the ranks run its interpreter (built, when missing, by
    // the supervisor while the run is Preparing).
    ctx.env_hash = env::EnvHash(*env_request);
    ctx.env_python = env_request->kind == "conda" ? "bin/python3" : "bin/python";
    ctx.env_describe = env::DescribeInstall(*env_request);
  }
  ctx.python_path = PythonPackageDir();
  // Each compatibility package only when the interpreter has no real one of that name.
  if (!ctx.python_path.empty()) {
    if (!has_azureml) ctx.python_path += ":" + PythonCompatDir() + "/azureml";
    if (!has_horovod) ctx.python_path += ":" + PythonCompatDir() + "/horovod";
    if (!has_mlflow) ctx.python_path += ":" + PythonCompatDir() + "/mlflow";
  }
  bool user_pythonpath = false;
  for (const auto& [k, v] : spec.environment_variables) user_pythonpath |= k == "PYTHONPATH";
  if (const char* pp = std::getenv("PYTHONPATH"); pp && *pp && !user_pythonpath) {
    ctx.python_path += (ctx.python_path.empty() ? "" : ":") + std::string(pp);
  }
  for (const auto& in : spec.inputs) {
    // Literals and read-in-place inputs are passed as they are; downloads are copied into the
    // run folder by the supervisor.
    std::string value = in.value;
    if (in.kind != spec::Input::Kind::kLiteral && in.mode == spec::Input::Mode::kDownload) {
      value = ctx.run_dir + "/inputs/" + in.name;
      if (in.kind == spec::Input::Kind::kUriFile) {
        value += "/" + in.value.substr(in.value.find_last_of('/') + 1);
      }
    }
    ctx.input_values[in.name] = value;
  }
  ASSIGN_OR_RETURN(sub.plan, target->Plan(spec, ctx));
  AddCommandJobFields(spec, &sub.plan);
  for (const auto& note : asset_notes) sub.plan.notes.push_back(note);
  if (env_request) {
    for (const auto& p : env_request->provided) {
      sub.plan.notes.push_back(env::ProvidedNote(p));
      sub.plan.messages.push_back("[trainyard] " + env::ProvidedNote(p));
    }
  }
  if (env_request && !env::NeedsEnvironment(*env_request)) {
    sub.plan.notes.push_back("no package environment: nothing else to install (the ranks run " +
                             sub.interpreter + ")");
  } else if (env_request) {
    const targets::EnvironmentPlan& e = sub.plan.environment;
    sub.interpreter = e.python;
    std::string state =
        e.where == "hosts" ? "checked on each host when the run starts, built where missing"
        : env::FindEnv(e.envs_dir, e.hash).ok()
            ? "cached, reused"
            : "will be built before the ranks start (" + e.describe +
                  (env_request->kind == "conda" ? "" : " on " + env_request->interpreter) + ")";
    sub.plan.notes.push_back("environment " + e.hash.substr(0, 12) + ": " + state + " in " +
                             e.envs_dir + "/" + e.hash);
  }
  if (options.dry_run) {
    if (cpp_request) {
      sub.plan.notes.push_back("C++ program " + cpp_request->program + ": built (or reused from " +
                               ws->dir() + "/builds) before the ranks start, with " +
                               env::DescribeToolchain(cpp_request->toolchain));
    }
    return sub;
  }

  // A full or read-only workspace is said in those words, before a snapshot half-written.
  RETURN_IF_ERROR(ws->CheckWritable());
  snapshot::SnapshotOptions snap_opts;
  snap_opts.max_bytes = SnapshotLimitBytes();
  snap_opts.progress = options.snapshot_progress;
  snap_opts.skip_dir = ws->dir();  // a workspace inside the source is not part of it
  snap_opts.max_bytes_hint =
      " Or raise the limit with TRAINYARD_SNAPSHOT_LIMIT=BYTES (0 for none).";
  // A command job without code runs in an empty working folder: the snapshot of an empty one.
  std::string source = spec.source_directory;
  if (source.empty()) {
    source = ws->dir() + "/empty-code";
    RETURN_IF_ERROR(MakeDirs(source));
  }
  auto snap = snapshot::TakeSnapshot(source, ws->SnapshotsDir(), snap_opts);
  if (!snap.ok()) {
    return Status(snap.status().code(), "source_directory: snapshot of " + spec.source_directory +
                                            " failed: " + snap.status().message());
  }
  sub.snapshot = *snap;
  RETURN_IF_ERROR(ws->PutSnapshot({snap->id, snap->source_dir, static_cast<int64_t>(snap->files),
                                   static_cast<int64_t>(snap->bytes), snap->git_commit,
                                   snap->git_dirty, snap->in_git}));

  if (cpp_request) {
    cpp_request->snapshot_id = snap->id;
    std::string hash = env::CppBuildHash(*cpp_request);
    bool cached = env::FindCppBuild(ws->dir() + "/builds", hash).ok();
    sub.plan.notes.push_back("C++ program " + cpp_request->program + ": build " +
                             hash.substr(0, 12) +
                             (cached ? std::string(" cached, reused")
                                     : " will be built before the ranks start, with " +
                                           env::DescribeToolchain(cpp_request->toolchain)));
  }
  sub.run.experiment = spec.experiment_name;
  // The hosted job's `name` shows as the display name when it has none (run ids stay unique).
  sub.run.display_name = spec.display_name.empty() ? spec.job_name : spec.display_name;
  sub.run.target = target->name();
  sub.run.spec_json = spec::ToJson(spec);
  // Arguments that are not UTF-8 are stored as {"bytes_b64": ...} (LaunchPlan::ToJson); any other
  // odd byte (in a path) is replaced rather than abort the submit.
  sub.run.plan_json =
      sub.plan.ToJson().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  sub.run.snapshot_id = snap->id;
  sub.run.interpreter = sub.interpreter;
  sub.run.torch_version = sub.torch_version;
  sub.run.parent_id = options.parent_id;
  sub.run.trial_index = options.trial_index;
  RETURN_IF_ERROR(MakeDirs(ctx.run_dir + "/logs"));
  if (!asset_notes.empty()) {  // what the job's azureml: references became (the supervisor appends)
    std::string text;
    for (const auto& note : asset_notes) text += "[trainyard] " + note + "\n";
    RETURN_IF_ERROR(WriteFileAtomic(ctx.run_dir + "/logs/environment.log", text));
  }
  if (env_request) {  // read by the supervisor, which builds the environment
    RETURN_IF_ERROR(
        WriteFileAtomic(ctx.run_dir + "/environment.json", env::EnvRequestToJson(*env_request)));
  }
  if (cpp_request) {  // read by the supervisor, which builds the program
    RETURN_IF_ERROR(
        WriteFileAtomic(ctx.run_dir + "/cpp_build.json", env::CppBuildRequestToJson(*cpp_request)));
  }
  RETURN_IF_ERROR(ws->CreateRun(&sub.run, spec.tags));

  std::string exe = options.supervisor_exe.empty() ? TrainyardExe() : options.supervisor_exe;
  Status started = StartSupervisor(exe, ws->dir(), sub.run.id, ctx.run_dir);
  if (!started.ok()) {
    store::StatusUpdate u;
    u.error = started.message();
    u.ended_at = NowMicros();
    ws->SetStatus(sub.run.id, store::RunStatus::kFailed, u).IgnoreError();
    return started;
  }
  return sub;
}

Result<store::RunRecord> Cancel(store::Workspace* ws, const std::string& run_id,
                                double wait_seconds) {
  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(run_id));
  if (store::IsTerminal(run.status)) return run;
  store::StatusUpdate u;
  u.ended_at = NowMicros();
  u.error = "canceled by the user";
  ASSIGN_OR_RETURN(bool was_queued, ws->CompareAndSetStatus(run.id, store::RunStatus::kQueued,
                                                            store::RunStatus::kCanceled, u));
  if (!was_queued) {
    auto cur = ws->GetRun(run.id);
    if (cur.ok() && !store::IsTerminal(cur->status)) {
      RETURN_IF_ERROR(ws->SetStatus(run.id, store::RunStatus::kCancelRequested));
      if (cur->supervisor_pid > 0) kill(static_cast<pid_t>(cur->supervisor_pid), SIGUSR1);
    }
  }
  auto r = Wait(ws, run.id, wait_seconds);
  if (!r.ok() && r.status().code() == StatusCode::kTimeout) return ws->GetRun(run.id);
  return r;
}

Result<store::RunRecord> Wait(store::Workspace* ws, const std::string& run_id,
                              double timeout_seconds,
                              const std::function<void(const store::RunRecord&)>& on_tick) {
  int64_t deadline =
      timeout_seconds > 0 ? MonotonicMicros() + static_cast<int64_t>(timeout_seconds * 1e6) : 0;
  int64_t last_reap = 0;
  while (true) {
    ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(run_id));
    if (on_tick) on_tick(run);
    if (store::IsTerminal(run.status)) return run;
    if (MonotonicMicros() - last_reap > 1'000'000) {
      last_reap = MonotonicMicros();
      ASSIGN_OR_RETURN(int reaped, Reap(ws));
      if (reaped) continue;
    }
    if (deadline && MonotonicMicros() > deadline) {
      return Timeout("run " + run.id + " is still " + store::RunStatusName(run.status));
    }
    SleepMicros(10'000);
  }
}

}  // namespace trainyard::runner
