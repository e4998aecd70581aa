// trainyard sweep submit FILE [--wait | --stream] [--dry-run] [--json] [--set ...]
// trainyard sweep show ID [--json]
// trainyard sweep list [--experiment NAME] [--status STATUS] [--limit N] [--json]
//
// A sweep (issue 15) is a run of kind "sweep" whose children are its trials; the controller that
// runs them is runner/sweep.cc. These verbs submit one, show it with its trials sorted by the
// primary metric, and list sweeps. `trainyard submit` hands a `type: sweep` file to
// SubmitSweepFile, `cancel` of a sweep is runner::CancelSweep (cancel.cc).
#include "runner/sweep.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/json_number.h"
#include "common/strings.h"
#include "spec/sweep_spec.h"

namespace trainyard::cli {

namespace {

const char* GoalName(sweep::Goal g) {
  return g == sweep::Goal::kMaximize ? "maximize" : "minimize";
}

// A metric value for a table: 6 significant digits.
std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// A limit in seconds for people: "none" for 0, "30.0s", "1h 00m", "60 days".
std::string Seconds(double s) {
  if (s <= 0) return "none";
  if (s >= 86400) return Number(s / 86400) + " days";
  return FormatDuration(static_cast<int64_t>(s * 1e6));
}

// The JSON of a sweep and its settings: runner/records_json.h (the server shows sweeps too).
nlohmann::json SamplingJson(const spec::SweepSpec& spec, uint64_t seed) {
  return runner::SweepSamplingJson(spec, seed);
}
nlohmann::json PolicyJson(const sweep::EarlyTermination& e) { return runner::SweepPolicyJson(e); }

// "type k=v, k=v" of a settings object, in its key order but for `type` first.
std::string SettingsText(const nlohmann::json& j) {
  std::string out = j.value("type", std::string());
  std::string rest;
  for (const auto& [k, v] : j.items()) {
    if (k == "type") continue;
    rest +=
        (rest.empty() ? "" : ", ") + k + " " + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return rest.empty() ? out : out + " (" + rest + ")";
}

// Counts by status, in the statuses' lifecycle order ("Completed 3, Canceled 1").
std::vector<std::pair<std::string, int>> Counts(const runner::SweepSummary& s) {
  std::map<store::RunStatus, int> by;
  for (const auto& t : s.trials) ++by[t.run.status];
  std::vector<std::pair<std::string, int>> out;
  for (const auto& [status, n] : by) out.emplace_back(store::RunStatusName(status), n);
  return out;
}

nlohmann::json SweepJson(const runner::SweepSummary& s) { return runner::SweepToJson(s); }

void PrintSweep(const runner::SweepSummary& s, bool colour) {
  auto line = [&](const std::string& k, const std::string& v) {
    if (!v.empty()) std::printf("%s %s\n", Colour(k + ":", "1", colour).c_str(), v.c_str());
  };
  line("sweep", s.run.id);
  line("experiment", s.run.experiment);
  line("name", s.run.display_name);
  std::string st = StatusColoured(store::RunStatusName(s.run.status), colour);
  if (!s.run.status_detail.empty()) st += " (" + s.run.status_detail + ")";
  line("status", st);
  line("objective",
       std::string(GoalName(s.spec.objective.goal)) + " " + s.spec.objective.primary_metric);
  line("sampling", SettingsText(SamplingJson(s.spec, s.seed)));
  line("early termination", SettingsText(PolicyJson(s.spec.early_termination)));
  const auto& l = s.spec.limits;
  line("limits", "max_total_trials " + std::to_string(l.max_total_trials) +
                     ", max_concurrent_trials " + std::to_string(l.max_concurrent_trials) +
                     ", timeout " + Seconds(l.timeout_seconds) + ", trial_timeout " +
                     Seconds(l.trial_timeout_seconds));
  std::string counts;
  for (const auto& [status, n] : Counts(s)) {
    counts += (counts.empty() ? "" : ", ") + std::to_string(n) + " " + status;
  }
  line("trials", std::to_string(s.trials.size()) + (counts.empty() ? "" : " (" + counts + ")"));
  if (s.best_run_id) {
    std::string best = *s.best_run_id;
    for (const auto& t : s.trials) {
      if (t.run.id == best && t.best) {
        best += " (" + s.spec.objective.primary_metric + " " + Number(*t.best) + ")";
      }
    }
    line("best run", best);
  }
  if (!s.run.error.empty()) {
    std::printf("%s\n%s\n", Colour("error:", "31;1", colour).c_str(), s.run.error.c_str());
  }
  if (s.trials.empty()) return;
  std::printf("\n");
  std::vector<std::string> header = {"#", "RUN", "STATUS",
                                     "BEST " + s.spec.objective.primary_metric};
  for (const auto& p : s.spec.search_space) header.push_back(p.name);
  // The policy's reasons, last (unpadded), when there is a policy or a trial was stopped.
  bool reasons = s.spec.early_termination.type != sweep::PolicyType::kNone;
  for (const auto& t : s.trials) reasons = reasons || !t.stopped_by.empty();
  if (reasons) header.push_back("STOPPED BY");
  std::vector<std::vector<std::string>> rows;
  rows.reserve(s.trials.size());
  for (const auto& t : s.trials) {
    std::vector<std::string> row = {std::to_string(t.index), t.run.id,
                                    StatusColoured(store::RunStatusName(t.run.status), colour),
                                    t.best ? Number(*t.best) : "-"};
    for (const auto& p : s.spec.search_space) {
      std::string v = "-";
      for (const auto& [k, text] : t.parameters) {
        if (k == p.name) v = text;
      }
      row.push_back(EscapeBytes(v));
    }
    if (reasons) row.push_back(t.stopped_by);
    rows.push_back(std::move(row));
  }
  PrintTable(header, rows, colour);
}

// Reads the sweep, reaping first (a dead controller is restarted by runner::Reap).
Result<runner::SweepSummary> Read(Context& ctx, const std::string& id) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  return runner::ReadSweep(ws, id);
}

// The trials' events since `seen` (index -> status, stopped reason), printed one line each.
struct EventPrinter {
  struct Seen {
    store::RunStatus status;
    bool stopped = false;
  };
  std::map<int64_t, Seen> seen;
  std::string sweep_status;
  bool colour = false;

  void Update(const runner::SweepSummary& s) {
    std::vector<const runner::TrialSummary*> by_index;
    by_index.reserve(s.trials.size());
    for (const auto& t : s.trials) by_index.push_back(&t);
    std::sort(by_index.begin(), by_index.end(),
              [](const auto* a, const auto* b) { return a->index < b->index; });
    for (const auto* t : by_index) {
      std::string head = "trial " + std::to_string(t->index) + " " + t->run.id;
      std::string status = store::RunStatusName(t->run.status);
      auto it = seen.find(t->index);
      if (it == seen.end()) {
        std::string params;
        for (const auto& [k, v] : t->parameters) {
          params += (params.empty() ? "" : " ") + k + "=" + ShellQuote(v);
        }
        PrintLine(head + " created: " + params);
        it = seen.emplace(t->index, Seen{store::RunStatus::kQueued, false}).first;
        if (t->run.status == store::RunStatus::kQueued) {
          PrintLine(head + " " + StatusColoured(status, colour));
        }
      }
      if (!t->stopped_by.empty() && !it->second.stopped) {
        it->second.stopped = true;
        PrintLine(head + " stopped by the policy: " + t->stopped_by);
      }
      if (it->second.status != t->run.status) {
        it->second.status = t->run.status;
        std::string line = head + " " + StatusColoured(status, colour);
        if (store::IsTerminal(t->run.status) && t->best) {
          line += " (best " + s.spec.objective.primary_metric + " " + Number(*t->best) + ")";
        }
        if (t->run.status == store::RunStatus::kFailed && !t->run.error.empty()) {
          line += ": " + Split(t->run.error, '\n').front();
        }
        PrintLine(line);
      }
    }
    std::string st = store::RunStatusName(s.run.status);
    if (st != sweep_status) {
      sweep_status = st;
      PrintLine("sweep " + s.run.id + " " + StatusColoured(st, colour));
    }
  }
};

// Polls the sweep until it ends (reaping every second, which restarts a dead controller), calling
// `on_tick` with each reading. Returns the last reading.
Result<runner::SweepSummary> WaitSweep(
    Context& ctx, const std::string& id,
    const std::function<void(const runner::SweepSummary&)>& on_tick) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  int64_t last_reap = MonotonicMicros();
  while (true) {
    ASSIGN_OR_RETURN(runner::SweepSummary s, runner::ReadSweep(ws, id));
    if (on_tick) on_tick(s);
    if (store::IsTerminal(s.run.status)) return s;
    if (MonotonicMicros() - last_reap > 1'000'000) {
      last_reap = MonotonicMicros();
      RETURN_IF_ERROR(runner::Reap(ws).status());
    }
    SleepMicros(on_tick ? 100'000 : 200'000);
  }
}

// The exit code of a sweep that ended: kExitOk only when it Completed.
int EndCode(const runner::SweepSummary& s, bool colour) {
  if (s.run.status == store::RunStatus::kCompleted) return kExitOk;
  std::fprintf(stderr, "sweep %s %s%s%s\n", s.run.id.c_str(),
               StatusColoured(store::RunStatusName(s.run.status), colour).c_str(),
               s.run.error.empty() ? "" : ": ", s.run.error.c_str());
  return kExitRunFailed;
}

void PrintDryRun(const spec::SweepSpec& spec, const runner::SweepSubmission& sub, bool json) {
  if (json) {
    nlohmann::json trials = nlohmann::json::array();
    for (size_t i = 0; i < sub.first_trials.size(); ++i) {
      nlohmann::json params = nlohmann::json::object();
      for (const auto& p : spec.search_space) {
        if (sub.first_trials[i].contains(p.name)) {
          params[p.name] = spec::ValueText(sub.first_trials[i][p.name]);
        }
      }
      trials.push_back({{"index", i}, {"parameters", params}});
    }
    nlohmann::json j = {{"dry_run", true},
                        {"sampling_algorithm", SamplingJson(spec, sub.seed)},
                        {"trials", trials}};
    if (sub.first_trial_plan) {
      j["plan"] = sub.first_trial_plan->plan.ToJson();
      j["interpreter"] = sub.first_trial_plan->interpreter;
    }
    std::printf("%s\n", JsonText(j).c_str());
    return;
  }
  std::printf("dry run: nothing was recorded or started\n");
  std::printf("sampling: %s\n", SettingsText(SamplingJson(spec, sub.seed)).c_str());
  std::printf("first %zu trial%s:\n", sub.first_trials.size(),
              sub.first_trials.size() == 1 ? "" : "s");
  std::vector<std::string> header = {"#"};
  for (const auto& p : spec.search_space) header.push_back(p.name);
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < sub.first_trials.size(); ++i) {
    std::vector<std::string> row = {std::to_string(i)};
    for (const auto& p : spec.search_space) {
      const auto& a = sub.first_trials[i];
      row.push_back(a.contains(p.name) ? EscapeBytes(spec::ValueText(a[p.name])) : "-");
    }
    rows.push_back(std::move(row));
  }
  PrintTable(header, rows, false);
  if (sub.first_trial_plan) {
    std::printf("\ntrial 0's plan:\n%s", sub.first_trial_plan->plan.ToText().c_str());
  }
}

struct ShowFlags {
  std::string id;
  bool json = false;
};

Status Show(Context& ctx, const ShowFlags& f) {
  ASSIGN_OR_RETURN(runner::SweepSummary s, Read(ctx, f.id));
  if (f.json) {
    std::printf("%s\n", JsonText(SweepJson(s)).c_str());
  } else {
    PrintSweep(s, ctx.stdout_tty);
  }
  return Status::Ok();
}

struct ListFlags {
  std::string experiment, status;
  int limit = 20;
  bool json = false;
};

Status List(Context& ctx, const ListFlags& f) {
  RETURN_IF_ERROR(CheckUtf8("--experiment", f.experiment));
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  // Sweeps have no parent; the store filters by parent, the kind is checked here.
  store::RunFilter filter;
  filter.experiment = f.experiment;
  filter.parent = "";
  if (!f.status.empty()) {
    filter.status = store::ParseRunStatus(f.status);
    if (!filter.status) {
      return InvalidArgument("--status: unknown status \"" + EscapeBytes(f.status) +
                             "\" (one of Queued, Preparing, Starting, Running, Finalizing, "
                             "Completed, Failed, Canceled, CancelRequested)");
    }
  }
  ASSIGN_OR_RETURN(std::vector<store::RunRecord> all, ws->ListRuns(filter));
  std::vector<store::RunRecord> runs;
  for (auto& r : all) {
    if (r.kind != "sweep") continue;
    if (f.limit > 0 && runs.size() >= static_cast<size_t>(f.limit)) break;
    runs.push_back(std::move(r));
  }
  // The trials of each sweep: one query per sweep.
  std::vector<std::vector<std::string>> rows;
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& r : runs) {
    store::RunFilter children;
    children.parent = r.id;
    ASSIGN_OR_RETURN(std::vector<store::RunRecord> trials, ws->ListRuns(children));
    int active = 0, done = 0;
    for (const auto& t : trials) (store::IsTerminal(t.status) ? done : active) += 1;
    if (f.json) {
      nlohmann::json j = RunToJson(ws, r, false);
      j["trials"] = trials.size();
      j["active_trials"] = active;
      arr.push_back(std::move(j));
      continue;
    }
    std::string dur;
    if (r.started_at) dur = FormatDuration(r.ended_at.value_or(NowMicros()) - *r.started_at);
    rows.push_back(
        {r.id, r.experiment, StatusColoured(store::RunStatusName(r.status), ctx.stdout_tty),
         std::to_string(trials.size()) + (active ? " (" + std::to_string(active) + " active)" : ""),
         FormatLocal(r.created_at), dur});
  }
  if (f.json) {
    std::printf("%s\n", JsonText(arr).c_str());
    return Status::Ok();
  }
  if (rows.empty()) {
    std::printf("no sweeps yet (submit one with: trainyard sweep submit sweep.yml)\n");
    return Status::Ok();
  }
  PrintTable({"SWEEP", "EXPERIMENT", "STATUS", "TRIALS", "CREATED", "DURATION"}, rows,
             ctx.stdout_tty);
  return Status::Ok();
}

}  // namespace

// The sweep submitted to the server ctx.ServerUrl() (its trial's source folder uploaded);
// --wait/--stream wait through the server, then print `sweep show` from there.
Result<int> SubmitSweepToServer(Context& ctx, const SweepSubmitRequest& req,
                                const spec::SweepSpec& spec) {
  if (req.dry_run) {
    return InvalidArgument(
        "--dry-run is not supported against a server (the plan depends on the server's "
        "targets); run it against a local workspace");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<server::Client> client, ctx.Remote());
  ASSIGN_OR_RETURN(nlohmann::json run, client->SubmitSweep(spec));
  PrintUploadReport(*client);
  const std::string id = run.value("id", std::string());
  auto print = [](bool is_stderr, std::string_view text) {
    FILE* to = is_stderr ? stderr : stdout;
    std::fwrite(text.data(), 1, text.size(), to);
    std::fflush(to);
  };
  std::vector<std::string> show = {"sweep", "show", id};
  if (req.json) show.emplace_back("--json");
  if (!req.wait && !req.stream) {
    if (req.json) return client->RunCli(show, print);
    std::printf("%s\n", id.c_str());
    return kExitOk;
  }
  if (!req.json) std::fprintf(stderr, "%s\n", id.c_str());
  ASSIGN_OR_RETURN(int code,
                   client->RunCli({"wait", id}, [&req, &print](bool e, std::string_view t) {
                     print(e || req.json, t);  // stdout stays the sweep's own output
                   }));
  ASSIGN_OR_RETURN(int shown, client->RunCli(show, print));
  (void)shown;
  return code == kExitOk ? kExitOk : kExitRunFailed;
}

Result<int> SubmitSweepFile(Context& ctx, const SweepSubmitRequest& req) {
  ASSIGN_OR_RETURN(spec::SweepSpec spec, spec::ParseSweepFile(req.file, req.overrides));
  if (!ctx.ServerUrl().empty()) return SubmitSweepToServer(ctx, req, spec);
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  runner::SweepSubmitOptions options;
  options.dry_run = req.dry_run;
  ASSIGN_OR_RETURN(runner::SweepSubmission sub, runner::SubmitSweep(ws, spec, options));
  if (req.dry_run) {
    PrintDryRun(spec, sub, req.json);
    return kExitOk;
  }
  const std::string& id = sub.run.id;
  if (req.json && !req.wait && !req.stream) {
    ASSIGN_OR_RETURN(runner::SweepSummary s, runner::ReadSweep(ws, id));
    std::printf("%s\n", JsonText(SweepJson(s)).c_str());
    return kExitOk;
  }
  if (!req.json) {
    std::fprintf(req.wait || req.stream ? stderr : stdout, "%s\n", id.c_str());
    std::fflush(stdout);
    if (!req.wait && !req.stream && ctx.stdout_tty) {
      std::fprintf(stderr,
                   "sweep of up to %lld trials, seed %llu\nfollow it with: trainyard "
                   "sweep show %s\n",
                   static_cast<long long>(spec.limits.max_total_trials),
                   static_cast<unsigned long long>(sub.seed), id.c_str());
    }
  }
  if (!req.wait && !req.stream) return kExitOk;
  EventPrinter events;
  events.colour = ctx.stdout_tty;
  std::function<void(const runner::SweepSummary&)> tick;
  if (req.stream && !req.json)
    tick = [&events](const runner::SweepSummary& s) { events.Update(s); };
  ASSIGN_OR_RETURN(runner::SweepSummary s, WaitSweep(ctx, id, tick));
  if (req.json) {
    std::printf("%s\n", JsonText(SweepJson(s)).c_str());
  } else {
    if (req.stream) std::printf("\n");
    PrintSweep(s, ctx.stdout_tty);
  }
  std::fflush(stdout);
  return EndCode(s, ctx.stderr_tty);
}

void RegisterSweep(CLI::App& app, Context& ctx) {
  CLI::App* group = app.add_subcommand(
      "sweep", "hyperparameter sweeps: submit one, show its trials, list sweeps");
  group->require_subcommand(1);

  auto f = std::make_shared<SweepSubmitRequest>();
  auto timeout = std::make_shared<double>(0);
  CLI::App* submit = group->add_subcommand(
      "submit", "submit a sweep file (type: sweep; returns the sweep's run id at once)");
  submit->add_option("file", f->file, "sweep file (YAML or JSON)")->required();
  submit->add_option("--experiment", f->overrides.experiment, "experiment name");
  submit->add_option("--target", f->overrides.target, "compute target of the trials");
  submit
      ->add_option("--set", f->overrides.sets,
                   "override a field of the sweep file: FIELD=VALUE (trial.command=..., "
                   "limits.max_total_trials=4; repeatable)")
      ->allow_extra_args(false);
  submit->add_option("--env", f->overrides.env, "environment variable K=V for the trials")
      ->allow_extra_args(false);
  submit->add_option("--input", f->overrides.inputs, "input NAME=PATH (or NAME=VALUE)")
      ->allow_extra_args(false);
  submit->add_option("--arg", f->overrides.args, "an argument for every trial (repeatable)")
      ->allow_extra_args(false);
  submit->add_option("--timeout", *timeout, "maximum duration of each trial in seconds");
  auto* wait = submit->add_flag(
      "--wait", f->wait, "wait for the sweep to end, then show it (exit 0 only if Completed)");
  submit->add_flag("--stream", f->stream, "wait, printing each trial's events as they happen")
      ->excludes(wait);
  submit->add_flag("--dry-run", f->dry_run,
                   "print the first trials' parameters and trial 0's plan; record nothing");
  submit->add_flag("--json", f->json, "machine-readable output");
  submit->footer("Arguments after -- go to every trial's script, after its own.");
  OnRun(submit, ctx, [&ctx, f, timeout] {
    SweepSubmitRequest req = *f;
    if (*timeout > 0) req.overrides.timeout_seconds = *timeout;
    req.overrides.args.insert(req.overrides.args.end(), ctx.trailing_args.begin(),
                              ctx.trailing_args.end());
    return SubmitSweepFile(ctx, req);
  });

  auto show = std::make_shared<ShowFlags>();
  CLI::App* show_cmd = group->add_subcommand(
      "show", "a sweep's settings and its trials, best first by the primary metric");
  show_cmd->add_option("sweep", show->id, "sweep run id (or a unique prefix)")->required();
  show_cmd->add_flag("--json", show->json, "machine-readable output");
  OnRun(show_cmd, ctx, [&ctx, show] { return Show(ctx, *show); });

  auto list = std::make_shared<ListFlags>();
  CLI::App* list_cmd = group->add_subcommand("list", "list sweeps, newest first");
  list_cmd->add_option("--experiment", list->experiment, "only sweeps of this experiment");
  list_cmd->add_option("--status", list->status, "only sweeps with this status");
  list_cmd->add_option("--limit", list->limit, "at most N sweeps (0: all)")->capture_default_str();
  list_cmd->add_flag("--json", list->json, "machine-readable output");
  OnRun(list_cmd, ctx, [&ctx, list] { return List(ctx, *list); });
}

}  // namespace trainyard::cli
