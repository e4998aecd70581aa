// The supervisor: one detached process per run. It waits for a slot, prepares the run folder,
// starts the ranks, captures their logs, enforces the time limit, obeys cancel requests, stops
// the gang when one rank fails, and records the outcome.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/strings.h"
#include "env/cpp_build.h"
#include "env/python_env.h"
#include "runner/ingest_server.h"
#include "runner/runner.h"
#include "runner/sweep.h"
#include "spec/parse.h"
#include "store/metrics.h"
#include "targets/execution.h"
#include "targets/log_capture.h"
#include "targets/process_group.h"
#include "targets/staging.h"
#include "targets/target.h"

namespace trainyard::runner {

namespace {

namespace fs = std::filesystem;
using store::RunStatus;

constexpr int64_t kHeartbeatMicros = 1'000'000;

// Space the supervisor holds in the run's folder from the start and gives back when its final
// status cannot be stored for want of space: then the run ends Failed with the reason instead
// of staying Running with a dead supervisor that nobody can reap on the full disk.
constexpr off_t kReserveBytes = off_t{1} << 20;
constexpr const char* kReserveName = store::kDiskReserveName;

// "no space left on device in <folder>: N metric points and M log bytes not stored", or "" when
// nothing was lost.
std::string LossReason(const IngestLoss& ingest, const targets::LogLoss& logs,
                       const std::string& ws_dir) {
  if (!ingest.any() && logs.bytes == 0) return "";
  std::string cause = ingest.disk_full || logs.disk_full ? "no space left on device"
                      : !ingest.first_error.empty()      ? ingest.first_error
                                                         : logs.first_error;
  std::string folder = ingest.any() ? ws_dir : logs.first_folder;
  std::string what = std::to_string(ingest.records) + " metric points and " +
                     std::to_string(logs.bytes) + " log bytes";
  if (ingest.files > 0) {
    what += " and " + std::to_string(ingest.files) + " uploaded files (" +
            std::to_string(ingest.file_bytes) + " bytes)";
  }
  return cause + " in " + folder + ": " + what + " not stored";
}

void OnWake(int) {}

// Copies inputs with mode: download into <run dir>/inputs/NAME.
Status DownloadInputs(const spec::JobSpec& spec, const std::string& run_dir) {
  for (const auto& in : spec.inputs) {
    if (in.kind == spec::Input::Kind::kLiteral || in.mode != spec::Input::Mode::kDownload) {
      continue;
    }
    std::string dest = run_dir + "/inputs/" + in.name;
    RETURN_IF_ERROR(MakeDirs(dest));
    std::error_code ec;
    if (in.kind == spec::Input::Kind::kUriFile) {
      fs::copy_file(in.value, dest + "/" + fs::path(in.value).filename().string(),
                    fs::copy_options::overwrite_existing, ec);
    } else {
      fs::copy(in.value, dest, fs::copy_options::recursive | fs::copy_options::overwrite_existing,
               ec);
    }
    if (ec) return IoError("inputs." + in.name + ": cannot copy " + in.value + ": " + ec.message());
  }
  return Status::Ok();
}

// Merges work/outputs into the run's kept outputs/ (files uploaded while the run ran stay unless
// the script wrote the same path), lists every kept file, and removes the work folder.
Status CollectFiles(store::Workspace* ws, const std::string& run_id, const std::string& run_dir,
                    const std::string& work_dir) {
  std::error_code ec;
  std::string work_outputs = work_dir + "/outputs";
  if (fs::exists(work_outputs, ec)) {
    for (auto it = fs::recursive_directory_iterator(work_outputs, ec); it != fs::end(it);
         it.increment(ec)) {
      if (ec) break;
      if (it->is_directory(ec)) continue;
      fs::path dest = fs::path(run_dir) / "outputs" / fs::relative(it->path(), work_outputs, ec);
      fs::create_directories(dest.parent_path(), ec);
      fs::rename(it->path(), dest, ec);
      if (ec) return IoError("cannot keep " + it->path().string() + ": " + ec.message());
    }
  }
  std::vector<store::FileRecord> files;
  for (auto it = fs::recursive_directory_iterator(run_dir, ec); it != fs::end(it);
       it.increment(ec)) {
    if (ec) break;
    std::string rel = fs::relative(it->path(), run_dir, ec).string();
    if (it->is_directory(ec)) {
      if (rel == "work" || rel == "inputs") it.disable_recursion_pending();
      continue;
    }
    if (rel == "supervisor.log" || rel == kReserveName || !it->is_regular_file(ec)) continue;
    files.push_back({rel, static_cast<int64_t>(it->file_size(ec))});
  }
  std::sort(files.begin(), files.end(),
            [](const store::FileRecord& a, const store::FileRecord& b) { return a.path < b.path; });
  RETURN_IF_ERROR(ws->ReplaceFiles(run_id, files));
  RETURN_IF_ERROR(RemoveAll(run_dir + "/work"));
  return RemoveAll(work_dir);
}

class Supervisor {
 public:
  Supervisor(std::unique_ptr<store::Workspace> ws, store::RunRecord run, SuperviseOptions options)
      : ws_(std::move(ws)),
        run_(std::move(run)),
        run_dir_(ws_->RunDir(run_.id)),
        options_(std::move(options)) {}

  int Main();

 private:
  int Run();  // Main without giving back the reserved space
  // Checks the stored status: true when a cancel was requested (or the run already ended).
  bool CancelRequested();
  // Why the run is being canceled: the error given with the request (a sweep's policy), else
  // "canceled by the user".
  std::string CancelReason();
  void Beat();
  // Records a step of the run's life. A transition that cannot be stored ends the run: the
  // supervisor stops the ranks and tries to record the failure; if even that cannot be stored,
  // it exits and the run's dead supervisor gets it reaped (store::Workspace::ReapOrphans).
  Status Transition(RunStatus status, const store::StatusUpdate& u = {});
  // Progress words while Preparing or Starting; losing one changes nothing but the display.
  void Detail(RunStatus status, const std::string& detail);
  Status Finish(RunStatus status, store::StatusUpdate u);
  Status WaitForSlot(bool* canceled);
  Status Prepare(targets::LaunchPlan* plan);
  using LineSink = std::function<void(const std::string&)>;
  // Runs one preparation step (a C++ build, an environment build): its output lines go to
  // logs/<log_name> and the latest one into the status detail after `what`. A step that only
  // reuses a cache entry (`quick`) runs inline and starts nothing; any other runs on its own
  // thread so that this one keeps the heartbeat.
  template <typename T>
  Result<T> RunStep(const std::string& what, const std::string& log_name, bool quick,
                    const std::function<Result<T>(const LineSink&)>& step);
  // Starts the execution, watches it (cancel, time limit, heartbeat) until it ends, keeps its
  // files and records the outcome. The same for every target type.
  Status Watch(const targets::LaunchPlan& plan);
  void SetProperty(const std::string& key, const std::string& value);
  // Where the ranks run (the run's work folder, or its folder in a shared folder).
  std::string WorkDir() const;
  // Brings outputs back (the execution), keeps the run's files, removes work folders.
  Status Collect();
  // Takes (and gives back) the space for the final status (kReserveBytes).
  void Reserve();
  void ReleaseReserve();

  std::unique_ptr<store::Workspace> ws_;
  store::RunRecord run_;
  std::string run_dir_;
  SuperviseOptions options_;
  int64_t last_beat_ = 0;
  spec::JobSpec spec_;
  targets::Staging staging_;
  std::unique_ptr<targets::Execution> execution_;
};

void Supervisor::Beat() {
  int64_t now = MonotonicMicros();
  if (now - last_beat_ < kHeartbeatMicros) return;
  last_beat_ = now;
  // A missed beat is made up by the next; when beats cannot be stored for 15 s the run is reaped
  // as Failed, which is right for a workspace that cannot be written.
  ws_->Heartbeat(run_.id).IgnoreError();
}

std::string Supervisor::CancelReason() {
  auto cur = ws_->GetRun(run_.id);
  if (cur.ok() && cur->status == RunStatus::kCancelRequested && !cur->error.empty()) {
    return cur->error;
  }
  return "canceled by the user";
}

bool Supervisor::CancelRequested() {
  auto cur = ws_->GetRun(run_.id);
  if (!cur.ok()) return false;
  return cur->status == RunStatus::kCancelRequested || store::IsTerminal(cur->status);
}

Status Supervisor::Transition(RunStatus status, const store::StatusUpdate& u) {
  Status s = ws_->SetStatus(run_.id, status, u);
  if (!s.ok()) {
    s = s.WithContext("recording the run " + std::string(store::RunStatusName(status)));
    std::fprintf(stderr, "supervisor: %s\n", s.ToString().c_str());
  }
  return s;
}

void Supervisor::Detail(RunStatus status, const std::string& detail) {
  // Only the words shown while the run prepares or waits; the status itself does not change.
  ws_->SetStatus(run_.id, status, {.detail = detail}).IgnoreError();
}

Status Supervisor::Finish(RunStatus status, store::StatusUpdate u) {
  u.ended_at = NowMicros();
  auto cur = ws_->GetRun(run_.id);
  if (cur.ok() && store::IsTerminal(cur->status)) return Status::Ok();
  Status s = ws_->SetStatus(run_.id, status, u);
  if (store::IsDiskFull(s)) {
    // The space kept for this moment: the end of the run is what must be stored.
    ReleaseReserve();
    s = ws_->SetStatus(run_.id, status, u);
  }
  if (s.ok() && !run_.parent_id.empty()) {
    // A sweep's trial: its controller refills the slot at once rather than at its next look.
    auto sweep = ws_->GetRun(run_.parent_id);
    const auto pid = static_cast<pid_t>(sweep.ok() ? sweep->supervisor_pid : 0);
    if (pid > 0 && ProcessAlive(pid, static_cast<unsigned long long>(sweep->supervisor_start))) {
      kill(pid, SIGUSR1);
    }
  }
  return s;
}

void Supervisor::Reserve() {
  int fd = open((run_dir_ + "/" + kReserveName).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;  // best effort: without it a full disk ends the run through ReapOrphans
  if (posix_fallocate(fd, 0, kReserveBytes) != 0) {
    close(fd);
    unlink((run_dir_ + "/" + kReserveName).c_str());
    return;
  }
  close(fd);
}

void Supervisor::ReleaseReserve() { unlink((run_dir_ + "/" + kReserveName).c_str()); }

Status Supervisor::WaitForSlot(bool* canceled) {
  ASSIGN_OR_RETURN(auto target, targets::LookupTarget(ws_.get(), run_.target));
  while (true) {
    ASSIGN_OR_RETURN(bool claimed, ws_->TryClaimSlot(run_.id, run_.target, target->capacity()));
    if (claimed) return Status::Ok();
    ASSIGN_OR_RETURN(auto cur, ws_->GetRun(run_.id));
    if (cur.status != RunStatus::kQueued) {
      *canceled = true;
      return Status::Ok();
    }
    Beat();
    // Runs whose supervisors died would hold their slots forever.
    ws_->ReapOrphans().status().IgnoreError();  // best effort: the next round tries again
    SleepMicros(50'000);
  }
}

template <typename T>
Result<T> Supervisor::RunStep(const std::string& what, const std::string& log_name, bool quick,
                              const std::function<Result<T>(const LineSink&)>& step) {
  Detail(RunStatus::kPreparing, what);
  std::FILE* log = std::fopen((run_dir_ + "/logs/" + log_name).c_str(), "a");
  std::mutex mu;
  std::deque<std::string> lines;
  LineSink collect = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back(line);
  };
  auto write = [&](const std::deque<std::string>& batch) {
    if (log == nullptr) return;
    for (const auto& line : batch) std::fprintf(log, "%s\n", line.c_str());
    std::fflush(log);
  };
  std::optional<Result<T>> done;
  if (quick) {
    done = step(collect);
  } else {
    std::thread worker([&] {
      Result<T> r = step(collect);
      std::lock_guard<std::mutex> lock(mu);
      done = std::move(r);
    });
    std::string last_detail = what;
    while (true) {
      std::deque<std::string> batch;
      bool finished;
      {
        std::lock_guard<std::mutex> lock(mu);
        batch.swap(lines);
        finished = done.has_value();
      }
      write(batch);
      if (!batch.empty() && !Trim(batch.back()).empty()) {
        std::string detail = what + ": " + Trim(batch.back()).substr(0, 120);
        if (detail != last_detail) {
          Detail(RunStatus::kPreparing, detail);
          last_detail = detail;
        }
      }
      if (finished) break;
      Beat();
      SleepMicros(20'000);
    }
    worker.join();
  }
  write(lines);
  if (log != nullptr) std::fclose(log);
  return std::move(*done);
}

Status Supervisor::Prepare(targets::LaunchPlan* plan) {
  auto parsed = nlohmann::json::parse(run_.plan_json, nullptr, false);
  ASSIGN_OR_RETURN(*plan, targets::LaunchPlan::FromJson(parsed));
  staging_ = plan->staging;
  // What the plan decided about the run (a target's CPU fallback for use_gpu, ...): run
  // properties, and lines in the run's output ahead of what the ranks print.
  for (const auto& [key, value] : plan->properties) SetProperty(key, value);
  if (!plan->messages.empty()) {
    targets::RankLog said;
    if (said.Open(run_dir_ + "/logs/rank-0.log").ok()) {
      for (const auto& line : plan->messages) said.AddLine(1, line);
      said.Close();
    }
  }
  // The port chosen at submit time may have been taken since: choose again.
  int port = PickFreePort();
  for (auto& p : plan->processes) {
    if (p.env.count("MASTER_PORT")) p.env["MASTER_PORT"] = std::to_string(port);
  }
  RETURN_IF_ERROR(ws_->SetRunFields(
      run_.id, {{"plan_json",
                 plan->ToJson().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)}}));
  targets::ExecutionContext ctx{
      run_dir_, WorkDir(),
      [this](const std::string& key, const std::string& value) { SetProperty(key, value); }};
  ASSIGN_OR_RETURN(execution_, options_.make_execution ? options_.make_execution(*plan, ctx)
                                                       : targets::MakeExecution(*plan, ctx));
  Detail(RunStatus::kPreparing, "restoring snapshot");  // TryClaimSlot made the run Preparing
  // "shared": straight into the folder every host sees; otherwise into the run's own folder.
  std::string work = staging_.mode == "shared" ? staging_.dir : run_dir_ + "/work";
  RETURN_IF_ERROR(snapshot::Restore(ws_->SnapshotsDir(), run_.snapshot_id, work)
                      .WithContext("restoring the snapshot"));
  RETURN_IF_ERROR(MakeDirs(work + "/outputs"));
  // Each named output is a folder of work/outputs (kept with the run), there before the ranks.
  for (const auto& out : spec_.outputs) RETURN_IF_ERROR(MakeDirs(work + "/outputs/" + out.name));
  // C++ entry: submit left the request; build (or reuse) the program and put it where the plan
  // runs it (<work>/.trainyard/bin), before the code is copied to any host.
  if (std::string request_path = run_dir_ + "/cpp_build.json"; PathExists(request_path)) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(request_path));
    ASSIGN_OR_RETURN(env::CppBuildRequest request, env::CppBuildRequestFromJson(text));
    std::string builds_dir = ws_->dir() + "/builds";
    std::string hash = env::CppBuildHash(request);
    bool cached = env::FindCppBuild(builds_dir, hash).ok();
    std::string what =
        cached ? "using C++ build " + hash.substr(0, 12)
               : "building C++ program " + request.program + " (build " + hash.substr(0, 12) + ")";
    Result<env::CppBuildInfo> built =
        RunStep<env::CppBuildInfo>(what, "build.log", cached, [&](const LineSink& collect) {
          return env::EnsureCppBuild(request, builds_dir, ws_->SnapshotsDir(), collect);
        });
    if (!built.ok()) {
      return Status(built.status().code(), "building the C++ program " + request.program +
                                               " failed (full output: " + run_dir_ +
                                               "/logs/build.log): " + built.status().message());
    }
    const env::CppBuildInfo& info = *built;
    SetProperty("build_kind", "cpp");
    SetProperty("build_hash", info.hash);
    SetProperty("build_cache", info.reused ? "hit" : "miss");
    SetProperty("build_seconds", std::to_string(info.build_seconds));
    SetProperty("build_incremental", info.incremental ? "true" : "false");
    SetProperty("build_toolchain", env::DescribeToolchain(request.toolchain));
    std::string bin_dir = work + "/.trainyard/bin";
    RETURN_IF_ERROR(MakeDirs(bin_dir));
    std::string dest = bin_dir + "/" + request.program;
    RemoveAll(dest).IgnoreError();  // a file left in the way makes the link or copy below fail
    // A hard link costs nothing; the cache and the run folder are usually on one file system.
    if (link(info.binary.c_str(), dest.c_str()) != 0) {
      RETURN_IF_ERROR(CopyFile(info.binary, dest).WithContext("placing the C++ program"));
    }
  }
  if (!spec_.inputs.empty()) {
    Detail(RunStatus::kPreparing, "copying inputs");
    RETURN_IF_ERROR(DownloadInputs(spec_, run_dir_));
  }
  if (staging_.mode == "copy") {
    Detail(RunStatus::kPreparing, "copying the code to " + Join(staging_.hosts, ", "));
  }
  RETURN_IF_ERROR(execution_->Stage());
  // pip_packages / conda_packages: submit left the request; build (or reuse) the environment
  // where the plan placed it: here (this machine, or a folder the hosts share) or on each host
  // through the launch agent.
  if (std::string request_path = run_dir_ + "/environment.json"; PathExists(request_path)) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(request_path));
    ASSIGN_OR_RETURN(env::EnvRequest request, env::EnvRequestFromJson(text));
    if (!request.provided.empty()) {
      SetProperty("environment_provided", Join(request.provided, " "));
    }
    if (!env::NeedsEnvironment(request)) {
      // Only packages trainyard provides (azureml-*): said in the environment's log, nothing built.
      Result<env::EnvInfo> said = RunStep<env::EnvInfo>(
          "packages provided by trainyard", "environment.log", /*quick=*/true,
          [&](const LineSink& collect) { return env::EnsureEnv(request, "", collect); });
      RETURN_IF_ERROR(said.status());
    } else {
      const targets::EnvironmentPlan& placed = plan->environment;
      std::string envs_dir = placed.hash.empty() ? ws_->dir() + "/envs" : placed.envs_dir;
      bool on_hosts = placed.where == "hosts";
      std::string hash = env::EnvHash(request);
      bool cached = !on_hosts && env::FindEnv(envs_dir, hash).ok();
      std::string what = cached ? "using environment " + hash.substr(0, 12)
                                : "building environment " + hash.substr(0, 12) + " (" +
                                      env::DescribeInstall(request) + ")" +
                                      (on_hosts ? " on " + Join(placed.hosts, ", ") : "");
      Result<env::EnvInfo> built = RunStep<env::EnvInfo>(
          what, "environment.log", cached, [&](const LineSink& collect) -> Result<env::EnvInfo> {
            if (!on_hosts) {
              auto r = env::EnsureEnv(request, envs_dir, collect);
              if (!r.ok() && plan->type != "local") {
                return Status(r.status().code(),
                              "on " + HostName() + " (in " + envs_dir +
                                  ", which the ranks' hosts share): " + r.status().message());
              }
              return r;
            }
            ASSIGN_OR_RETURN(bool reused, targets::PrepareEnvOnHosts(placed, text, collect));
            env::EnvInfo info;
            info.hash = hash;
            info.packages = request.packages;
            info.reused = reused;
            return info;
          });
      RETURN_IF_ERROR(built.status());
      SetProperty("environment", built->hash);
      SetProperty("environment_packages", Join(request.conda_packages, " ") +
                                              (request.conda_packages.empty() ? "" : " ") +
                                              Join(built->packages, " "));
      SetProperty("environment_reused", built->reused ? "true" : "false");
      SetProperty("environment_where", on_hosts ? "each host: " + Join(placed.hosts, ", ")
                                                : HostName() + ": " + envs_dir);
    }
  }
  return Status::Ok();
}

std::string Supervisor::WorkDir() const {
  return staging_.mode == "shared" ? staging_.dir : run_dir_ + "/work";
}

Status Supervisor::Collect() {
  Status fetched = execution_ ? execution_->Collect() : Status::Ok();
  Status collected = CollectFiles(ws_.get(), run_.id, run_dir_, WorkDir());
  if (staging_.mode == "shared") {
    // The run's folder in the shared folder ("<shared>/<run id>/work") goes too.
    // Best effort: what is left costs disk space in the shared folder, nothing else.
    RemoveAll(staging_.dir.substr(0, staging_.dir.find_last_of('/'))).IgnoreError();
  }
  return fetched.ok() ? collected : fetched;
}

Status Supervisor::Watch(const targets::LaunchPlan& plan) {
  const std::string kLostStatus = "the run was stopped because its status could not be stored: ";
  if (Status s = Transition(RunStatus::kStarting, {.detail = ""}); !s.ok()) {
    Collect().IgnoreError();  // the lost write is what the run reports
    return Finish(RunStatus::kFailed, {.error = kLostStatus + s.message()});
  }
  targets::TakeLogLosses();  // counted from here: this run's ranks
  // The tracking endpoint lives as long as the ranks; its token is never stored. Ranks on other
  // hosts reach it at the target's address for this machine.
  IngestServer ingest(ws_->dir(), run_.id, run_.seq);
  Status listening = plan.tracking_address.empty() ? ingest.Start()
                                                   : ingest.Start("0.0.0.0", plan.tracking_address);
  if (!listening.ok()) {
    Collect().IgnoreError();  // the failure to listen is what the run reports
    return Finish(RunStatus::kFailed, {.error = listening.message()});
  }
  // A run started by a workspace server reports to the server's one address (reachable from
  // every host, TLS) with a token for this run only; MLflow's subset stays on this endpoint.
  std::string tracking_uri = ingest.uri(), tracking_token = ingest.token();
  if (const char* server_uri = std::getenv(kServerTrackingUriEnv); server_uri && *server_uri) {
    auto minted = MintRunToken(*ws_, run_.seq);
    if (!minted.ok()) {
      ingest.Stop();
      Collect().IgnoreError();
      return Finish(RunStatus::kFailed, {.error = "cannot create the run's tracking token: " +
                                                  minted.status().message()});
    }
    tracking_uri = server_uri;
    tracking_token = *minted;
  }
  // MLflow's client logs into the same endpoint (its REST subset, docs/mlflow.md), into this run,
  // as on the hosted service, which sets these for its jobs.
  Status started = execution_->Start({{"TRAINYARD_TRACKING_URI", tracking_uri},
                                      {"TRAINYARD_TRACKING_TOKEN", tracking_token},
                                      {"MLFLOW_TRACKING_URI", ingest.uri()},
                                      {"MLFLOW_TRACKING_TOKEN", ingest.token()},
                                      {"MLFLOW_RUN_ID", run_.id},
                                      {"MLFLOW_EXPERIMENT_ID", run_.experiment}});
  if (!started.ok()) {
    ingest.Stop();
    // A token of a run that never started would only log into it: removing it is best effort.
    DeleteRunTokens(*ws_, run_.seq).IgnoreError();
    Collect().IgnoreError();  // the failure to start is what the run reports
    return Finish(RunStatus::kFailed, {.error = started.message()});
  }

  const int64_t limit = static_cast<int64_t>(spec_.max_run_duration_seconds * 1e6);
  int64_t t0 = 0, last_check = 0;
  bool running = false, stopping = false, canceled = false, timed_out = false;
  std::string last_detail;
  Status lost = Status::Ok();  // a transition that could not be stored
  while (true) {
    targets::ExecutionState st = execution_->Poll(options_.poll_ms);
    Beat();
    if (st.phase != targets::ExecutionState::Phase::kPending && !running) {
      running = true;
      t0 = MonotonicMicros();
      lost = Transition(RunStatus::kRunning, {.detail = "", .started_at = NowMicros()});
    } else if (st.phase == targets::ExecutionState::Phase::kPending && st.detail != last_detail) {
      Detail(RunStatus::kStarting, st.detail);
      last_detail = st.detail;
    }
    if (st.phase == targets::ExecutionState::Phase::kEnded) break;
    if (stopping) continue;
    int64_t now = MonotonicMicros();
    if (now - last_check >= options_.status_check_micros) {
      last_check = now;
      canceled = CancelRequested();
    }
    timed_out = running && limit > 0 && now - t0 > limit;
    if (canceled || timed_out || !lost.ok()) {
      execution_->Cancel();
      stopping = true;
    }
  }
  ingest.Stop();
  // The ranks are gone: their token logs nothing more (best effort: a token left by a failed
  // delete only lets its holder log into this ended run).
  DeleteRunTokens(*ws_, run_.seq).IgnoreError();
  // Finalizing is shown, not relied on: Finish below records the end either way.
  Transition(RunStatus::kFinalizing).IgnoreError();
  Status collected = Collect();

  // What the ranks logged but could not be stored: a run never ends Completed without it, and
  // any other ending says it too.
  const IngestLoss ingest_loss = ingest.Losses();
  const targets::LogLoss log_loss = targets::TakeLogLosses();
  const std::string loss = LossReason(ingest_loss, log_loss, ws_->dir());
  store::StatusUpdate u;
  if (!loss.empty()) {
    u.lost_metric_points = ingest_loss.records;
    u.lost_log_bytes = log_loss.bytes;
  }
  auto with_loss = [&loss](const std::string& error) {
    return loss.empty() ? error : error + "; " + loss;
  };
  if (canceled) {
    u.error = with_loss(CancelReason());
    return Finish(RunStatus::kCanceled, u);
  }
  if (timed_out) {
    u.error = with_loss("the run exceeded max_run_duration_seconds (" + FormatDuration(limit) +
                        ") and was stopped");
    return Finish(RunStatus::kFailed, u);
  }
  if (!lost.ok()) {
    u.error = with_loss(kLostStatus + lost.message());
    return Finish(RunStatus::kFailed, u);
  }
  targets::ExecutionOutcome outcome = execution_->Outcome();
  if (!outcome.failed_host.empty()) SetProperty("failed_host", outcome.failed_host);
  if (outcome.exit_code) u.exit_code = *outcome.exit_code;
  if (!outcome.succeeded) {
    if (outcome.failed_rank) u.failed_rank = *outcome.failed_rank;
    u.error = with_loss(outcome.error);
    return Finish(RunStatus::kFailed, u);
  }
  if (!loss.empty()) {
    std::string error =
        "the script succeeded, but not everything it logged could be stored: " + loss;
    if (!collected.ok()) error += "; its files could not be kept: " + collected.message();
    u.error = error;
    return Finish(RunStatus::kFailed, u);
  }
  if (!collected.ok()) {
    u.error = "the script succeeded, but its files could not be kept: " + collected.message();
    return Finish(RunStatus::kFailed, u);
  }
  return Finish(RunStatus::kCompleted, u);
}

void Supervisor::SetProperty(const std::string& key, const std::string& value) {
  tracking::Batch b;
  b.client = "supervisor-" + key;
  b.seq = NowMicros();
  b.properties.push_back({key, nlohmann::json(value).dump()});
  // Properties describe the run (build cache, job id, host); none decides its outcome.
  store::ApplyBatch(ws_->db(), run_.seq, b).status().IgnoreError();
}

// The end of the supervisor. When even the final status cannot be stored, supervisor.log says
// why and the process exits 1: its run, with a dead supervisor, is then reaped as Failed.
int ExitWith(const Status& recorded, int code) {
  if (recorded.ok()) return code;
  std::fprintf(stderr, "supervisor: %s\n", recorded.ToString().c_str());
  return 1;
}

int Supervisor::Main() {
  int code = Run();
  ReleaseReserve();
  return code;
}

int Supervisor::Run() {
  if (!ws_->SetSupervisor(run_.id, getpid(), ProcessStartTicks(getpid())).ok()) return 1;
  Reserve();
  struct sigaction sa {};
  sa.sa_handler = OnWake;
  sigaction(SIGUSR1, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (Status s = targets::ProcessGroup::BecomeSubreaper(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
  }
  auto parsed = spec::ParseJobText(run_.spec_json, "<stored spec>", "/");
  if (!parsed.ok()) {
    return ExitWith(Finish(RunStatus::kFailed,
                           {.error = "stored job spec unreadable: " + parsed.status().message()}),
                    1);
  }
  spec_ = *parsed;

  bool canceled = false;
  if (Status s = WaitForSlot(&canceled); !s.ok()) {
    return ExitWith(Finish(RunStatus::kFailed, {.error = s.message()}), 1);
  }
  if (canceled) return 0;
  targets::LaunchPlan plan;
  if (Status s = Prepare(&plan); !s.ok()) {
    Collect().IgnoreError();  // keeps what there is; the preparation error is the reason
    return ExitWith(
        Finish(RunStatus::kFailed, {.error = "preparing the run failed: " + s.message()}), 1);
  }
  if (CancelRequested()) {
    Collect().IgnoreError();  // nothing ran: there is nothing of the run's own to keep
    return ExitWith(Finish(RunStatus::kCanceled, {.error = CancelReason()}), 0);
  }
  return ExitWith(Watch(plan), 0);
}

}  // namespace

int Supervise(const std::string& workspace_dir, const std::string& run_id,
              const SuperviseOptions& options) {
  auto ws = store::Workspace::Open(workspace_dir);
  if (!ws.ok()) {
    std::fprintf(stderr, "supervisor: %s\n", ws.status().ToString().c_str());
    return 1;
  }
  auto run = (*ws)->GetRun(run_id);
  if (!run.ok()) {
    std::fprintf(stderr, "supervisor: %s\n", run.status().ToString().c_str());
    return 1;
  }
  if (run->kind == "sweep") return ControlSweep(workspace_dir, run_id);
  Supervisor sup(std::move(ws).value(), std::move(run).value(), options);
  return sup.Main();
}

}  // namespace trainyard::runner
