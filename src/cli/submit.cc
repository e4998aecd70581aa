// trainyard submit [JOB_FILE] [--source DIR --entry PATH] [--arg VALUE]... [-- ARGS...] ...
#include <cstdio>
#include <fstream>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/strings.h"
#include "runner/runner.h"
#include "spec/parse.h"
#include "spec/sweep_spec.h"

namespace trainyard::cli {

namespace {

struct SubmitFlags {
  std::string job_file;
  spec::Overrides overrides;
  std::vector<std::string> trailing;
  double timeout = 0;
  bool wait = false, stream = false, dry_run = false, json = false;
};

// Whether `path` holds a sweep document (`type: sweep`); a file that cannot be read, or is larger
// than a job file may be, is left to the job reader to report.
bool IsSweepFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::string text(spec::kMaxJobFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (static_cast<size_t>(in.gcount()) > spec::kMaxJobFileBytes) return false;
  text.resize(static_cast<size_t>(in.gcount()));
  return spec::IsSweepText(text, path);
}

// Submits `job` to the server ctx.ServerUrl(): its source folder is uploaded (only the files
// the server lacks), the server records the run and supervises it on its targets. --wait and
// --stream follow the run through the server (its `wait` verb).
Result<int> SubmitToServer(Context& ctx, const SubmitFlags& f, const spec::JobSpec& job) {
  if (f.dry_run) {
    return InvalidArgument(
        "--dry-run is not supported against a server (the plan depends on the server's "
        "targets); run it against a local workspace");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<server::Client> client, ctx.Remote());
  ASSIGN_OR_RETURN(nlohmann::json run, client->SubmitJob(job));
  PrintUploadReport(*client);
  const std::string id = run.value("id", std::string());
  if (f.json && !f.wait && !f.stream) {
    std::printf("%s\n", JsonText(run).c_str());
    return kExitOk;
  }
  if (!f.json) std::fprintf(f.wait || f.stream ? stderr : stdout, "%s\n", id.c_str());
  if (!f.wait && !f.stream) return kExitOk;
  auto print = [&f](bool is_stderr, std::string_view text) {
    // With --json, stdout is the final run's JSON alone: wait's own output goes to stderr.
    FILE* to = is_stderr || f.json ? stderr : stdout;
    std::fwrite(text.data(), 1, text.size(), to);
    std::fflush(to);
  };
  std::vector<std::string> wait = {"wait", id};
  if (f.stream) wait.emplace_back("--stream");
  ASSIGN_OR_RETURN(int code, client->RunCli(wait, print));
  if (f.json) {
    ASSIGN_OR_RETURN(nlohmann::json final_run, client->GetJson("/api/v1/runs/" + id));
    std::printf("%s\n", JsonText(final_run).c_str());
  }
  return code == kExitOk ? kExitOk : kExitRunFailed;
}

// The exit code is kExitRunFailed when --wait/--stream saw the run end other than Completed.
Result<int> Submit(Context& ctx, const SubmitFlags& f) {
  spec::Overrides o = f.overrides;
  if (f.timeout > 0) o.timeout_seconds = f.timeout;
  o.args.insert(o.args.end(), f.trailing.begin(), f.trailing.end());
  if (!f.job_file.empty() && IsSweepFile(f.job_file)) {  // the same as `sweep submit FILE`
    return SubmitSweepFile(ctx, {f.job_file, o, f.wait, f.stream, f.dry_run, f.json});
  }
  ASSIGN_OR_RETURN(spec::JobSpec job,
                   f.job_file.empty() ? spec::ParseFlags(o) : spec::ParseJobFile(f.job_file, o));
  if (!ctx.ServerUrl().empty()) return SubmitToServer(ctx, f, job);
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());

  runner::SubmitOptions options;
  options.dry_run = f.dry_run;
  int64_t t0 = MonotonicMicros();
  bool drew = false;
  if (ctx.stderr_tty && !f.json) {
    options.snapshot_progress = [&](const snapshot::Progress& p) {
      if (MonotonicMicros() - t0 < 500'000) return;
      drew = true;
      int pct = p.bytes_total ? static_cast<int>(100 * p.bytes_done / p.bytes_total) : 100;
      std::string bar(static_cast<size_t>(pct / 5), '#');
      bar.resize(20, '.');
      std::fprintf(stderr, "\rsnapshot [%s] %3d%%  %llu/%llu files  %s   ", bar.c_str(), pct,
                   static_cast<unsigned long long>(p.files_done),
                   static_cast<unsigned long long>(p.files_total),
                   HumanBytes(p.bytes_done).c_str());
    };
  }
  auto sub = runner::Submit(ws, job, options);
  if (drew) std::fprintf(stderr, "\n");
  RETURN_IF_ERROR(sub.status());

  if (f.dry_run) {
    if (f.json) {
      nlohmann::json j = {
          {"dry_run", true}, {"plan", sub->plan.ToJson()}, {"interpreter", sub->interpreter}};
      std::printf("%s\n", JsonText(j).c_str());
    } else {
      std::printf("dry run: nothing was recorded or started\n%s", sub->plan.ToText().c_str());
    }
    return kExitOk;
  }
  const auto& run = sub->run;
  if (f.json && !f.wait && !f.stream) {
    std::printf("%s\n", JsonText(RunToJson(ws, run, false)).c_str());
    return kExitOk;
  }
  if (!f.json) {
    std::fprintf(f.wait || f.stream ? stderr : stdout, "%s\n", run.id.c_str());
    if (!f.wait && !f.stream && ctx.stdout_tty) {
      std::fprintf(stderr,
                   "snapshot %s: %llu files, %s%s\nfollow it with: trainyard logs %s "
                   "--follow\n",
                   sub->snapshot.id.substr(0, 12).c_str(),
                   static_cast<unsigned long long>(sub->snapshot.files),
                   HumanBytes(sub->snapshot.bytes).c_str(),
                   sub->snapshot.new_blobs ? "" : " (unchanged)", run.id.c_str());
    }
  }
  if (!f.wait && !f.stream) return kExitOk;
  ASSIGN_OR_RETURN(store::RunRecord final_run, WaitAndReport(ctx, run.id, 0, f.stream));
  if (f.json) std::printf("%s\n", JsonText(RunToJson(ws, final_run, false)).c_str());
  if (final_run.status != store::RunStatus::kCompleted) {
    if (!f.json) {
      std::fprintf(stderr, "run %s %s%s%s\n", final_run.id.c_str(),
                   StatusColoured(store::RunStatusName(final_run.status), ctx.stderr_tty).c_str(),
                   final_run.error.empty() ? "" : ": ", final_run.error.c_str());
    }
    return kExitRunFailed;
  }
  return kExitOk;
}

}  // namespace

void RegisterSubmit(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<SubmitFlags>();
  CLI::App* cmd =
      app.add_subcommand("submit", "submit a training job (returns the run id at once)");
  cmd->add_option("job_file", f->job_file, "job file (YAML or JSON; estimator or command form)");
  cmd->add_option("--source", f->overrides.source, "source folder (default: current folder)");
  cmd->add_option("--entry", f->overrides.entry, "entry script, relative to the source folder");
  cmd->add_option("--arg", f->overrides.args, "an argument for the script (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--experiment", f->overrides.experiment, "experiment name");
  cmd->add_option("--target", f->overrides.target, "compute target name (default: local)");
  cmd->add_option("--set", f->overrides.sets, "override a job field: FIELD=VALUE (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--env", f->overrides.env, "environment variable K=V for the script")
      ->allow_extra_args(false);
  cmd->add_option("--input", f->overrides.inputs, "input NAME=PATH (or NAME=VALUE)")
      ->allow_extra_args(false);
  cmd->add_option("--timeout", f->timeout, "maximum run duration in seconds");
  auto* wait =
      cmd->add_flag("--wait", f->wait, "wait for the run to end (exit 0 only if Completed)");
  cmd->add_flag("--stream", f->stream, "wait, showing the run's output live")->excludes(wait);
  cmd->add_flag("--dry-run", f->dry_run, "print the launch plan; record and start nothing");
  cmd->add_flag("--json", f->json, "machine-readable output");
  cmd->footer("Arguments after -- go to the script exactly as given (never through a shell).");
  OnRun(cmd, ctx, [&ctx, f] {
    f->trailing = ctx.trailing_args;
    return Submit(ctx, *f);
  });
}

}  // namespace trainyard::cli
