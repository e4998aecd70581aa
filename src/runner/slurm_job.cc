#include "runner/slurm_job.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/files.h"
#include "common/process.h"
#include "common/strings.h"

namespace trainyard::runner {

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

Result<std::string> SlurmJob::Submit(const targets::LaunchPlan& plan,
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

}  // namespace trainyard::runner
