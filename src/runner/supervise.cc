// The supervisor: one detached process per run. It waits for a slot, prepares the run folder,
// starts the ranks, captures their logs, enforces the time limit, obeys cancel requests, stops
// the gang when one rank fails, and records the outcome.
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
#include "runner/process_group.h"
#include "runner/runner.h"
#include "runner/slurm_job.h"
#include "runner/staging.h"
#include "spec/parse.h"
#include "store/metrics.h"
#include "targets/target.h"

namespace trainyard::runner {

namespace {

namespace fs = std::filesystem;
using store::RunStatus;

constexpr int64_t kHeartbeatMicros = 1'000'000;
constexpr int64_t kStatusCheckMicros = 100'000;
constexpr int kStopGraceMs = 3000;

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
    if (rel == "supervisor.log" || !it->is_regular_file(ec)) continue;
    files.push_back({rel, static_cast<int64_t>(it->file_size(ec))});
  }
  std::sort(files.begin(), files.end(),
            [](const store::FileRecord& a, const store::FileRecord& b) { return a.path < b.path; });
  RETURN_IF_ERROR(ws->ReplaceFiles(run_id, files));
  RETURN_IF_ERROR(RemoveAll(run_dir + "/work"));
  return RemoveAll(work_dir);
}

std::string FailureReport(const std::string& headline, const std::deque<std::string>& err_tail,
                          const std::deque<std::string>& launcher_tail) {
  std::string out = headline;
  if (!err_tail.empty()) {
    out += "\n--- last lines of stderr ---";
    for (const auto& l : err_tail) out += "\n" + l;
  }
  if (!launcher_tail.empty()) {
    out += "\n--- last lines of the launcher ---";
    for (const auto& l : launcher_tail) out += "\n" + l;
  }
  return out;
}

// Reads "Process name: [[47733,1],3]" / "Exit code: 3" from mpirun's report, and
// "... on node h1 exited on signal 9 (Killed)." for a killed rank.
bool ParseMpirunCulprit(const std::deque<std::string>& lines, RankExit* culprit,
                        std::string* host) {
  bool named = false;
  for (const auto& l : lines) {
    if (size_t n = l.find(" on node "); n != std::string::npos) {
      size_t from = n + 9, to = l.find(' ', from);
      *host = l.substr(from, to == std::string::npos ? std::string::npos : to - from);
    }
    size_t p = l.find("Process name: [[");
    if (p != std::string::npos) {
      size_t comma = l.find("],", p);
      if (comma != std::string::npos) {
        culprit->rank = std::atoi(l.c_str() + comma + 2);
        named = true;
      }
    }
    p = l.find("Exit code:");
    if (p != std::string::npos) {
      culprit->exit_code = std::atoi(l.c_str() + p + 10);
      culprit->signaled = false;
    }
    p = l.find("exited on signal ");
    if (p != std::string::npos) {
      size_t rank_at = l.find("rank ");
      if (rank_at != std::string::npos) {
        culprit->rank = std::atoi(l.c_str() + rank_at + 5);
        named = true;
      }
      culprit->exit_code = 128 + std::atoi(l.c_str() + p + 17);
      culprit->signaled = true;
    }
  }
  return named;
}

// mpirun's words when a host's daemon died or could not be reached.
bool MpirunLostAHost(const std::deque<std::string>& lines) {
  for (const auto& l : lines) {
    if (l.find("lost communication with a remote daemon") != std::string::npos ||
        l.find("unable to reliably start one or more daemons") != std::string::npos ||
        l.find("daemon on the node") != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string ThisHost() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

class Supervisor {
 public:
  Supervisor(std::unique_ptr<store::Workspace> ws, store::RunRecord run)
      : ws_(std::move(ws)), run_(std::move(run)), run_dir_(ws_->RunDir(run_.id)) {}

  int Main();

 private:
  // Checks the stored status: true when a cancel was requested (or the run already ended).
  bool CancelRequested();
  void Beat();
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
  Status RunRanks(const targets::LaunchPlan& plan);
  // The Slurm variant: submit the batch script, follow the job until it ends.
  Status RunSlurm(const targets::LaunchPlan& plan);
  void SetProperty(const std::string& key, const std::string& value);
  // Where the ranks run (the run's work folder, or its folder in a shared folder).
  std::string WorkDir() const;
  // Brings outputs back (copy staging), keeps the run's files, removes work folders.
  Status Collect();

  std::unique_ptr<store::Workspace> ws_;
  store::RunRecord run_;
  std::string run_dir_;
  int64_t last_beat_ = 0;
  spec::JobSpec spec_;
  targets::Staging staging_;
};

void Supervisor::Beat() {
  int64_t now = MonotonicMicros();
  if (now - last_beat_ < kHeartbeatMicros) return;
  last_beat_ = now;
  ws_->Heartbeat(run_.id).IgnoreError();
}

bool Supervisor::CancelRequested() {
  auto cur = ws_->GetRun(run_.id);
  if (!cur.ok()) return false;
  return cur->status == RunStatus::kCancelRequested || store::IsTerminal(cur->status);
}

Status Supervisor::Finish(RunStatus status, store::StatusUpdate u) {
  u.ended_at = NowMicros();
  auto cur = ws_->GetRun(run_.id);
  if (cur.ok() && store::IsTerminal(cur->status)) return Status::Ok();
  return ws_->SetStatus(run_.id, status, u);
}

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
    ws_->ReapOrphans().status().IgnoreError();
    SleepMicros(50'000);
  }
}

template <typename T>
Result<T> Supervisor::RunStep(const std::string& what, const std::string& log_name, bool quick,
                              const std::function<Result<T>(const LineSink&)>& step) {
  ws_->SetStatus(run_.id, RunStatus::kPreparing, {.detail = what}).IgnoreError();
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
          ws_->SetStatus(run_.id, RunStatus::kPreparing, {.detail = detail}).IgnoreError();
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
  ws_->SetStatus(run_.id, RunStatus::kPreparing, {.detail = "restoring snapshot"}).IgnoreError();
  // "shared": straight into the folder every host sees; otherwise into the run's own folder.
  std::string work = staging_.mode == "shared" ? staging_.dir : run_dir_ + "/work";
  RETURN_IF_ERROR(snapshot::Restore(ws_->SnapshotsDir(), run_.snapshot_id, work)
                      .WithContext("restoring the snapshot"));
  RETURN_IF_ERROR(MakeDirs(work + "/outputs"));
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
    RemoveAll(dest).IgnoreError();
    // A hard link costs nothing; the cache and the run folder are usually on one file system.
    if (link(info.binary.c_str(), dest.c_str()) != 0) {
      RETURN_IF_ERROR(CopyFile(info.binary, dest).WithContext("placing the C++ program"));
    }
  }
  if (!spec_.inputs.empty()) {
    ws_->SetStatus(run_.id, RunStatus::kPreparing, {.detail = "copying inputs"}).IgnoreError();
    RETURN_IF_ERROR(DownloadInputs(spec_, run_dir_));
  }
  if (staging_.mode == "copy") {
    ws_->SetStatus(run_.id, RunStatus::kPreparing,
                   {.detail = "copying the code to " + Join(staging_.hosts, ", ")})
        .IgnoreError();
    RETURN_IF_ERROR(PushCode(staging_, work));
  }
  // pip_packages / conda_packages: submit left the request; build (or reuse) the environment
  // where the plan placed it: here (this machine, or a folder the hosts share) or on each host
  // through the launch agent.
  if (std::string request_path = run_dir_ + "/environment.json"; PathExists(request_path)) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(request_path));
    ASSIGN_OR_RETURN(env::EnvRequest request, env::EnvRequestFromJson(text));
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
                            "on " + ThisHost() + " (in " + envs_dir +
                                ", which the ranks' hosts share): " + r.status().message());
            }
            return r;
          }
          ASSIGN_OR_RETURN(bool reused, PrepareEnvOnHosts(placed, text, collect));
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
    SetProperty("environment_where",
                on_hosts ? "each host: " + Join(placed.hosts, ", ") : ThisHost() + ": " + envs_dir);
  }
  // The port chosen at submit time may have been taken since: choose again.
  int port = PickFreePort();
  for (auto& p : plan->processes) {
    if (p.env.count("MASTER_PORT")) p.env["MASTER_PORT"] = std::to_string(port);
  }
  return ws_->SetRunFields(run_.id, {{"plan_json", plan->ToJson().dump()}});
}

std::string Supervisor::WorkDir() const {
  return staging_.mode == "shared" ? staging_.dir : run_dir_ + "/work";
}

Status Supervisor::Collect() {
  Status fetched = Status::Ok();
  if (staging_.mode == "copy") {
    fetched = FetchOutputs(staging_, run_dir_ + "/work");
    CleanRemote(staging_);
  }
  Status collected = CollectFiles(ws_.get(), run_.id, run_dir_, WorkDir());
  if (staging_.mode == "shared") {
    // The run's folder in the shared folder ("<shared>/<run id>/work") goes too.
    RemoveAll(staging_.dir.substr(0, staging_.dir.find_last_of('/'))).IgnoreError();
  }
  return fetched.ok() ? collected : fetched;
}

Status Supervisor::RunRanks(const targets::LaunchPlan& stored_plan) {
  ProcessGroup group;
  ws_->SetStatus(run_.id, RunStatus::kStarting, {.detail = ""}).IgnoreError();
  // The tracking endpoint lives as long as the ranks; its token is never stored.
  IngestServer ingest(ws_->dir(), run_.id, run_.seq);
  // Ranks on other hosts reach the endpoint at the target's address for this machine.
  Status listening = stored_plan.tracking_address.empty()
                         ? ingest.Start()
                         : ingest.Start("0.0.0.0", stored_plan.tracking_address);
  if (!listening.ok()) return Finish(RunStatus::kFailed, {.error = listening.message()});
  targets::LaunchPlan plan = stored_plan;
  for (auto& p : plan.processes) {
    p.env["TRAINYARD_TRACKING_URI"] = ingest.uri();
    p.env["TRAINYARD_TRACKING_TOKEN"] = ingest.token();
  }
  Status started = group.Start(plan, run_dir_ + "/logs");
  if (!started.ok()) {
    group.Stop(0);
    group.CloseLogs();
    return Finish(RunStatus::kFailed, {.error = started.message()});
  }
  int64_t t0 = MonotonicMicros();
  ws_->SetStatus(run_.id, RunStatus::kRunning, {.started_at = NowMicros()}).IgnoreError();

  int64_t limit = static_cast<int64_t>(spec_.max_run_duration_seconds * 1e6);
  int64_t last_check = 0;
  std::optional<RankExit> first_failure;
  bool canceled = false, timed_out = false;
  int last_exit_code = 0;
  while (!group.AllExited()) {
    for (const RankExit& e : group.Poll(100)) {
      last_exit_code = e.exit_code;
      if (e.exit_code != 0 && !first_failure) first_failure = e;
    }
    if (first_failure) break;
    Beat();
    int64_t now = MonotonicMicros();
    if (limit > 0 && now - t0 > limit) {
      timed_out = true;
      break;
    }
    if (now - last_check > kStatusCheckMicros) {
      last_check = now;
      if (CancelRequested()) {
        canceled = true;
        break;
      }
    }
  }
  // Stop whatever is left (other ranks, and anything the ranks started).
  group.Stop(first_failure ? 1000 : kStopGraceMs);
  group.CloseLogs();
  ingest.Stop();

  ws_->SetStatus(run_.id, RunStatus::kFinalizing).IgnoreError();
  Status collected = Collect();

  store::StatusUpdate u;
  if (canceled) {
    u.error = "canceled by the user";
    return Finish(RunStatus::kCanceled, u);
  }
  if (timed_out) {
    u.error =
        "the run exceeded max_run_duration_seconds (" + FormatDuration(limit) + ") and was stopped";
    return Finish(RunStatus::kFailed, u);
  }
  if (first_failure) {
    RankExit culprit = *first_failure;
    std::deque<std::string> launcher = group.LauncherTail();
    std::string host = plan.type == "local" ? ThisHost() : "";
    // Under mpirun the failing process is mpirun itself; it names the rank that failed first,
    // unless a host (its daemon) was lost.
    bool named = !launcher.empty() && ParseMpirunCulprit(launcher, &culprit, &host);
    bool launcher_failed = !launcher.empty() && !named;
    if (!host.empty()) SetProperty("failed_host", host);
    u.exit_code = culprit.exit_code;
    if (!launcher_failed) u.failed_rank = culprit.rank;
    std::string how = culprit.signaled
                          ? "was killed by signal " + std::to_string(culprit.exit_code - 128)
                          : "exited with code " + std::to_string(culprit.exit_code);
    std::string who =
        launcher_failed
            ? std::string(MpirunLostAHost(launcher) ? "a host was lost or unreachable: " : "") +
                  "mpirun "
            : (plan.world_size > 1 ? "rank " + std::to_string(culprit.rank) + " " : "the script ") +
                  (host.empty() ? "" : "on " + host + " ");
    u.error = FailureReport(who + how, group.StderrTail(culprit.rank), launcher);
    return Finish(RunStatus::kFailed, u);
  }
  if (!collected.ok()) {
    u.error = "the script succeeded, but its files could not be kept: " + collected.message();
    u.exit_code = 0;
    return Finish(RunStatus::kFailed, u);
  }
  u.exit_code = last_exit_code;
  return Finish(RunStatus::kCompleted, u);
}

void Supervisor::SetProperty(const std::string& key, const std::string& value) {
  tracking::Batch b;
  b.client = "supervisor-" + key;
  b.seq = NowMicros();
  b.properties.push_back({key, nlohmann::json(value).dump()});
  store::ApplyBatch(ws_->db(), run_.seq, b).status().IgnoreError();
}

Status Supervisor::RunSlurm(const targets::LaunchPlan& plan) {
  ws_->SetStatus(run_.id, RunStatus::kStarting, {.detail = "submitting to Slurm"}).IgnoreError();
  IngestServer ingest(ws_->dir(), run_.id, run_.seq);
  if (Status s = ingest.Start("0.0.0.0", plan.tracking_address); !s.ok()) {
    return Finish(RunStatus::kFailed, {.error = s.message()});
  }
  RETURN_IF_ERROR(MakeDirs(run_dir_ + "/logs"));
  SlurmJob job(run_dir_, run_dir_ + "/logs");
  auto id = job.Submit(plan, {{"TRAINYARD_TRACKING_URI", ingest.uri()},
                              {"TRAINYARD_TRACKING_TOKEN", ingest.token()}});
  if (!id.ok()) {
    ingest.Stop();
    Collect().IgnoreError();
    return Finish(RunStatus::kFailed, {.error = id.status().message()});
  }
  SetProperty("slurm_job_id", *id);
  int64_t t0 = MonotonicMicros();
  int64_t limit = static_cast<int64_t>(spec_.max_run_duration_seconds * 1e6);
  bool canceled = false, timed_out = false, started = false;
  int poll_errors = 0;
  SlurmState st;
  std::string last_detail;
  int64_t stop_deadline = 0;
  while (true) {
    job.PumpLogs();
    Beat();
    auto polled = job.Poll();
    if (!polled.ok()) {
      if (++poll_errors > 30) {
        job.Cancel().IgnoreError();
        st.state = "UNKNOWN";
        st.reason = polled.status().message();
        break;
      }
    } else {
      poll_errors = 0;
      st = *polled;
      if (st.terminal) break;
      if (!started && (st.state == "RUNNING" || st.state == "COMPLETING")) {
        started = true;
        t0 = MonotonicMicros();
        ws_->SetStatus(run_.id, RunStatus::kRunning, {.detail = "", .started_at = NowMicros()})
            .IgnoreError();
      } else if (!started) {
        std::string detail =
            "Slurm job " + *id + " " + st.state +
            (st.reason.empty() || st.reason == "None" ? "" : " (" + st.reason + ")");
        if (detail != last_detail) {
          ws_->SetStatus(run_.id, RunStatus::kStarting, {.detail = detail}).IgnoreError();
          last_detail = detail;
        }
      }
    }
    if (!stop_deadline) {
      if (CancelRequested()) canceled = true;
      if (started && limit > 0 && MonotonicMicros() - t0 > limit) timed_out = true;
      if (canceled || timed_out) {
        job.Cancel().IgnoreError();
        stop_deadline = MonotonicMicros() + 60'000'000;
      }
    } else if (MonotonicMicros() > stop_deadline) {
      break;
    }
    SleepMicros(300'000);
  }
  SleepMicros(200'000);  // the last lines may still be on their way to the shared file system
  job.PumpLogs();
  job.CloseLogs();
  ingest.Stop();
  ws_->SetStatus(run_.id, RunStatus::kFinalizing).IgnoreError();
  Status collected = Collect();

  store::StatusUpdate u;
  std::string what = "Slurm job " + *id + " ended " + st.state +
                     (st.reason.empty() || st.reason == "None" ? "" : " (" + st.reason + ")");
  if (canceled) {
    u.error = "canceled by the user";
    return Finish(RunStatus::kCanceled, u);
  }
  if (timed_out) {
    u.error =
        "the run exceeded max_run_duration_seconds (" + FormatDuration(limit) + ") and was stopped";
    return Finish(RunStatus::kFailed, u);
  }
  if (st.state == "COMPLETED" && collected.ok()) {
    u.exit_code = 0;
    return Finish(RunStatus::kCompleted, u);
  }
  int task = -1, code = st.exit_code;
  std::string host;
  std::deque<std::string> launcher = job.demux().launcher().all_tail();
  if (ParseSrunCulprit(launcher, &task, &code, &host)) u.failed_rank = task;
  if (!host.empty()) SetProperty("failed_host", host);
  u.exit_code = code;
  std::deque<std::string> err_tail;
  if (task >= 0) {
    if (const RankLog* log = job.demux().rank_log(task)) err_tail = log->stderr_tail();
  }
  std::string head =
      task >= 0 ? what + "; rank " + std::to_string(task) + (host.empty() ? "" : " on " + host) +
                      (code > 128 ? " was killed by signal " + std::to_string(code - 128)
                                  : " exited with code " + std::to_string(code))
                : what;
  if (st.state == "CANCELLED") head += " (canceled outside trainyard)";
  if (st.state == "COMPLETED")
    head = "the job succeeded, but its files could not be kept: " + collected.message();
  u.error = FailureReport(head, err_tail, launcher);
  return Finish(RunStatus::kFailed, u);
}

int Supervisor::Main() {
  if (!ws_->SetSupervisor(run_.id, getpid(), ProcessStartTicks(getpid())).ok()) return 1;
  struct sigaction sa {};
  sa.sa_handler = OnWake;
  sigaction(SIGUSR1, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (Status s = ProcessGroup::BecomeSubreaper(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
  }
  auto parsed = spec::ParseJobText(run_.spec_json, "<stored spec>", "/");
  if (!parsed.ok()) {
    Finish(RunStatus::kFailed,
           {.error = "stored job spec unreadable: " + parsed.status().message()})
        .IgnoreError();
    return 1;
  }
  spec_ = *parsed;

  bool canceled = false;
  if (Status s = WaitForSlot(&canceled); !s.ok()) {
    Finish(RunStatus::kFailed, {.error = s.message()}).IgnoreError();
    return 1;
  }
  if (canceled) return 0;
  targets::LaunchPlan plan;
  if (Status s = Prepare(&plan); !s.ok()) {
    Collect().IgnoreError();
    Finish(RunStatus::kFailed, {.error = "preparing the run failed: " + s.message()}).IgnoreError();
    return 1;
  }
  if (CancelRequested()) {
    Collect().IgnoreError();
    Finish(RunStatus::kCanceled, {.error = "canceled by the user"}).IgnoreError();
    return 0;
  }
  Status s = plan.type == "slurm" ? RunSlurm(plan) : RunRanks(plan);
  if (!s.ok()) std::fprintf(stderr, "supervisor: %s\n", s.ToString().c_str());
  return s.ok() ? 0 : 1;
}

}  // namespace

int Supervise(const std::string& workspace_dir, const std::string& run_id) {
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
  Supervisor sup(std::move(ws).value(), std::move(run).value());
  return sup.Main();
}

}  // namespace trainyard::runner
