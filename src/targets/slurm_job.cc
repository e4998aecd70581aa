#include "targets/slurm_job.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/strings.h"
#include "targets/execution.h"

namespace trainyard::targets {

SlurmState ParseScontrol(const std::string& text) {
  SlurmState st;
  std::istringstream in(text);
  std::string field;
  while (in >> field) {
    size_t eq = field.find('=');
    if (eq == std::string::npos) continue;
    std::string key = field.substr(0, eq), value = field.substr(eq + 1);
    if (key == "JobState") st.state = value;
    if (key == "Reason") st.reason = value;
    if (key == "ExitCode") {
      st.exit_code = std::atoi(value.c_str());
      size_t colon = value.find(':');
      if (colon != std::string::npos) st.signal = std::atoi(value.c_str() + colon + 1);
    }
  }
  static const char* const kLive[] = {"PENDING",   "CONFIGURING", "RUNNING",      "COMPLETING",
                                      "SUSPENDED", "REQUEUED",    "RESIZING",     "SIGNALING",
                                      "STAGE_OUT", "STOPPED",     "RESV_DEL_HOLD"};
  st.terminal = !st.state.empty();
  for (const char* s : kLive) st.terminal = st.terminal && st.state != s;
  return st;
}

bool ParseSrunCulprit(const std::deque<std::string>& lines, int* task, int* exit_code,
                      std::string* host) {
  for (const auto& l : lines) {
    size_t t = l.find(": task ");
    size_t e = l.find("srun: error: ");
    if (e == std::string::npos || t == std::string::npos) continue;
    *task = std::atoi(l.c_str() + t + 7);
    if (t > e + 13) *host = l.substr(e + 13, t - e - 13);
    size_t code = l.find("exit code ");
    if (code != std::string::npos) {
      *exit_code = std::atoi(l.c_str() + code + 10);
    } else if (l.find("Killed") != std::string::npos) {
      *exit_code = 128 + 9;
    } else {
      *exit_code = 1;
    }
    return true;
  }
  return false;
}

SlurmJob::SlurmJob(std::string run_dir, std::string log_dir)
    : run_dir_(std::move(run_dir)), demux_(std::move(log_dir), TaggedDemux::Format::kSlurm) {}

Result<std::string> SlurmJob::Submit(const LaunchPlan& plan,
                                     const std::map<std::string, std::string>& env) {
  std::string script = run_dir_ + "/job.sbatch";
  RETURN_IF_ERROR(WriteFileAtomic(script, plan.batch_script));
  chmod(script.c_str(), 0700);
  CommandOptions opts;
  opts.cwd = run_dir_;
  opts.set_env = env;
  opts.timeout_seconds = 120;
  ASSIGN_OR_RETURN(CommandResult r, RunCommand(plan.processes.at(0).argv, opts));
  if (r.exit_code != 0) return Unavailable("sbatch failed: " + Trim(r.err + r.out));
  // --parsable prints "jobid" or "jobid;cluster".
  job_id_ = Trim(r.out.substr(0, r.out.find(';')));
  if (job_id_.empty()) return Unavailable("sbatch printed no job id: " + Trim(r.out));
  return job_id_;
}

Result<SlurmState> SlurmJob::Poll() {
  ASSIGN_OR_RETURN(CommandResult r,
                   RunCommand({"scontrol", "show", "job", "-o", job_id_}, {.timeout_seconds = 30}));
  if (r.exit_code != 0) {
    return Unavailable("scontrol show job " + job_id_ + ": " + Trim(r.err + r.out));
  }
  return ParseScontrol(r.out);
}

Status SlurmJob::Cancel() {
  ASSIGN_OR_RETURN(CommandResult r, RunCommand({"scancel", job_id_}, {.timeout_seconds = 30}));
  if (r.exit_code != 0) return Unavailable("scancel " + job_id_ + ": " + Trim(r.err));
  return Status::Ok();
}

void SlurmJob::PumpLogs() {
  const char* files[2] = {"/slurm.out", "/slurm.err"};
  for (int s = 0; s < 2; ++s) {
    std::ifstream in(run_dir_ + files[s], std::ios::binary);
    if (!in) continue;
    in.seekg(offsets_[s]);
    std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    offsets_[s] += static_cast<int64_t>(chunk.size());
    if (!chunk.empty()) demux_.Feed(s, chunk);
  }
}

namespace {

constexpr int64_t kScontrolEveryMicros = 300'000;  // the scheduler ticks once a second
constexpr int kMaxPollErrors = 30;
constexpr int64_t kCancelWaitMicros = 60'000'000;  // for scancel to end the job

// "Slurm job 12 PENDING (Resources)", with `verb` ("ended ") before the state.
std::string DescribeState(const std::string& job_id, const SlurmState& st,
                          const std::string& verb = "") {
  return "Slurm job " + job_id + " " + verb + st.state +
         (st.reason.empty() || st.reason == "None" ? "" : " (" + st.reason + ")");
}

class SlurmExecution : public Execution {
 public:
  SlurmExecution(LaunchPlan plan, ExecutionContext ctx)
      : plan_(std::move(plan)), ctx_(std::move(ctx)), job_(ctx_.run_dir, ctx_.run_dir + "/logs") {}

  Status Start(const std::map<std::string, std::string>& env) override {
    RETURN_IF_ERROR(MakeDirs(ctx_.run_dir + "/logs"));
    Result<std::string> id = job_.Submit(plan_, env);
    if (!id.ok()) {
      ended_ = true;
      return id.status();
    }
    if (ctx_.set_property) ctx_.set_property("slurm_job_id", *id);
    return Status::Ok();
  }

  ExecutionState Poll(int timeout_ms) override {
    if (!ended_) {
      SleepMicros(static_cast<int64_t>(timeout_ms) * 1000);
      job_.PumpLogs();
      int64_t now = MonotonicMicros();
      if (now - last_scontrol_ >= kScontrolEveryMicros) {
        last_scontrol_ = now;
        PollScheduler();
      }
      if (stop_deadline_ && MonotonicMicros() > stop_deadline_) ended_ = true;
    }
    if (ended_) return {ExecutionState::Phase::kEnded, ""};
    if (running_) return {ExecutionState::Phase::kRunning, ""};
    return {ExecutionState::Phase::kPending,
            st_.state.empty() ? "submitted to Slurm" : DescribeState(job_.job_id(), st_)};
  }

  void Cancel() override {
    if (ended_ || stop_deadline_) return;
    job_.Cancel().IgnoreError();  // the job may have ended meanwhile; Poll says when it has
    stop_deadline_ = MonotonicMicros() + kCancelWaitMicros;
  }

  Status Collect() override {
    SleepMicros(200'000);  // the last lines may still be on their way to the shared file system
    job_.PumpLogs();
    job_.CloseLogs();
    return Status::Ok();
  }

  ExecutionOutcome Outcome() const override {
    ExecutionOutcome out;
    if (st_.state == "COMPLETED") {
      out.succeeded = true;
      out.exit_code = 0;
      return out;
    }
    int task = -1, code = st_.exit_code;
    std::string host;
    std::deque<std::string> launcher = job_.demux().launcher().all_tail();
    if (ParseSrunCulprit(launcher, &task, &code, &host)) out.failed_rank = task;
    out.failed_host = host;
    out.exit_code = code;
    std::deque<std::string> err_tail;
    if (task >= 0) {
      if (const RankLog* log = job_.demux().rank_log(task)) err_tail = log->stderr_tail();
    }
    std::string what = DescribeState(job_.job_id(), st_, "ended ");
    std::string head =
        task >= 0 ? what + "; rank " + std::to_string(task) + (host.empty() ? "" : " on " + host) +
                        (code > 128 ? " was killed by signal " + std::to_string(code - 128)
                                    : " exited with code " + std::to_string(code))
                  : what;
    if (st_.state == "CANCELLED") head += " (canceled outside trainyard)";
    out.error = FailureReport(head, err_tail, launcher);
    return out;
  }

 private:
  void PollScheduler() {
    Result<SlurmState> polled = job_.Poll();
    if (!polled.ok()) {
      if (++poll_errors_ > kMaxPollErrors) {
        job_.Cancel().IgnoreError();  // best effort: the controller is not answering
        st_.state = "UNKNOWN";
        st_.reason = polled.status().message();
        ended_ = true;
      }
      return;
    }
    poll_errors_ = 0;
    st_ = *polled;
    if (st_.terminal) {
      ended_ = true;
    } else if (st_.state == "RUNNING" || st_.state == "COMPLETING") {
      running_ = true;
    }
  }

  LaunchPlan plan_;
  ExecutionContext ctx_;
  SlurmJob job_;
  SlurmState st_;
  int poll_errors_ = 0;
  int64_t last_scontrol_ = 0;
  int64_t stop_deadline_ = 0;
  bool running_ = false;
  bool ended_ = false;
};

}  // namespace

std::unique_ptr<Execution> MakeSlurmExecution(const LaunchPlan& plan, const ExecutionContext& ctx) {
  return std::make_unique<SlurmExecution>(plan, ctx);
}

}  // namespace trainyard::targets
