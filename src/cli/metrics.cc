// trainyard metrics RUN [--name NAME] [--json | --csv] [--follow]
// trainyard compare RUN RUN... [--name NAME]
// trainyard tags RUN
#include "store/metrics.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/json_number.h"
#include "common/strings.h"

namespace trainyard::cli {

namespace {

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// A sparkline of up to `width` buckets (mean of each bucket; NaN shows as a space).
std::string Sparkline(const std::vector<store::MetricPoint>& points, size_t width) {
  static const char* kBars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  if (points.empty()) return "";
  size_t n = std::min(width, points.size());
  std::vector<double> vals(n, 0);
  for (size_t b = 0; b < n; ++b) {
    size_t from = b * points.size() / n, to = (b + 1) * points.size() / n;
    double sum = 0;
    size_t cnt = 0;
    for (size_t i = from; i < to; ++i) {
      double v = points[i].value;
      if (std::isfinite(v)) {
        sum += v;
        ++cnt;
      }
    }
    vals[b] = cnt ? sum / static_cast<double>(cnt) : std::nan("");
  }
  double lo = INFINITY, hi = -INFINITY;
  for (double v : vals) {
    if (std::isfinite(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  std::string out;
  for (double v : vals) {
    if (!std::isfinite(v)) {
      out += ' ';
      continue;
    }
    int idx = hi > lo ? static_cast<int>(std::lround((v - lo) / (hi - lo) * 7.0)) : 3;
    out += kBars[std::clamp(idx, 0, 7)];
  }
  return out;
}

// Lower is better for losses and errors, higher for everything else.
bool LowerIsBetter(const std::string& name) {
  std::string l = name;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  return l.find("loss") != std::string::npos || l.find("err") != std::string::npos ||
         l.find("perplexity") != std::string::npos;
}

struct Opened {
  store::Workspace* ws;
  store::RunRecord run;
};

Result<Opened> OpenRun(Context& ctx, const std::string& id) {
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(id));
  return Opened{ws, run};
}

void PrintSummaries(Context& ctx, store::Workspace* ws, const store::RunRecord& run) {
  auto sums = store::SummarizeMetrics(ws->db(), run.seq);
  auto series = store::ReadMetrics(ws->db(), run.seq);
  if (!sums.ok() || !series.ok()) return;
  if (sums->empty()) {
    std::printf("run %s has logged no metrics%s\n", run.id.c_str(),
                store::IsTerminal(run.status) ? "" : " yet");
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : *sums) {
    rows.push_back({m.name, Number(m.last), Number(m.min), Number(m.max), std::to_string(m.count),
                    std::to_string(m.last_step), Sparkline((*series)[m.name], 40)});
  }
  PrintTable({"METRIC", "LAST", "MIN", "MAX", "COUNT", "STEP", "HISTORY"}, rows, ctx.stdout_tty);
}

struct MetricsFlags {
  std::string run, name;
  bool json = false, csv = false, follow = false;
  std::vector<std::string> runs;  // compare
};

Status Metrics(Context& ctx, const MetricsFlags& f) {
  RETURN_IF_ERROR(CheckUtf8("--name", f.name));
  const std::string& name = f.name;
  const bool json = f.json, csv = f.csv, follow = f.follow;
  ASSIGN_OR_RETURN(Opened opened, OpenRun(ctx, f.run));
  auto [ws, run] = opened;
  if (csv || json || !name.empty()) {
    // Full series (of one metric, or all); with --follow, new points as they arrive.
    std::map<std::string, size_t> printed;
    bool first = true;
    if (csv) std::printf("name,step,timestamp,rank,value\n");
    while (true) {
      auto cur = ws->GetRun(run.id);
      bool done = !cur.ok() || store::IsTerminal(cur->status);
      ASSIGN_OR_RETURN(auto series, store::ReadMetrics(ws->db(), run.seq, name));
      if (first && !name.empty() && series.empty() && done) {
        return NotFound("run " + run.id + " has no metric \"" + name + "\"");
      }
      if (json && !follow) {
        nlohmann::json out = nlohmann::json::object();
        for (const auto& [n, pts] : series) {
          auto& arr = out[n] = nlohmann::json::array();
          for (const auto& p : pts) {
            arr.push_back({{"step", p.step},
                           {"timestamp", FormatIso8601(p.ts)},
                           {"rank", p.rank},
                           {"value", JsonNumber(p.value)}});
          }
        }
        std::printf("%s\n", JsonText(out).c_str());
        return Status::Ok();
      }
      for (const auto& [n, pts] : series) {
        for (size_t i = printed[n]; i < pts.size(); ++i) {
          const auto& p = pts[i];
          if (json) {
            nlohmann::json j = {{"name", n},
                                {"step", p.step},
                                {"timestamp", FormatIso8601(p.ts)},
                                {"rank", p.rank},
                                {"value", JsonNumber(p.value)}};
            std::printf("%s\n", JsonText(j, -1).c_str());
          } else if (csv) {
            std::printf("%s,%lld,%s,%lld,%s\n", n.c_str(), static_cast<long long>(p.step),
                        FormatIso8601(p.ts).c_str(), static_cast<long long>(p.rank),
                        Number(p.value).c_str());
          } else {
            std::printf("%s  step %-6lld %-14s rank %lld  %s\n", n.c_str(),
                        static_cast<long long>(p.step), Number(p.value).c_str(),
                        static_cast<long long>(p.rank), FormatLocal(p.ts).c_str());
          }
        }
        printed[n] = pts.size();
      }
      std::fflush(stdout);
      first = false;
      if (!follow || done) return Status::Ok();
      SleepMicros(250'000);
    }
  }
  while (true) {
    auto cur = ws->GetRun(run.id);
    bool done = !cur.ok() || store::IsTerminal(cur->status);
    if (follow && ctx.stdout_tty) std::printf("\033[H\033[2J");
    if (follow) {
      std::printf("%s  %s\n", run.id.c_str(),
                  StatusColoured(cur.ok() ? store::RunStatusName(cur->status) : "?", ctx.stdout_tty)
                      .c_str());
    }
    PrintSummaries(ctx, ws, cur.ok() ? *cur : run);
    std::fflush(stdout);
    if (!follow || done) return Status::Ok();
    SleepMicros(1'000'000);
  }
}

Status Compare(Context& ctx, const MetricsFlags& f) {
  RETURN_IF_ERROR(CheckUtf8("--name", f.name));
  ASSIGN_OR_RETURN(store::Workspace * ws, ctx.Workspace());
  std::vector<store::RunRecord> runs;
  std::map<std::string, std::map<std::string, store::MetricSummary>> by_metric;
  for (const auto& id : f.runs) {
    ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(id));
    ASSIGN_OR_RETURN(auto sums, store::SummarizeMetrics(ws->db(), run.seq));
    for (const auto& m : sums) {
      if (f.name.empty() || m.name == f.name) by_metric[m.name][run.id] = m;
    }
    runs.push_back(run);
  }
  if (f.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : runs) {
      nlohmann::json metrics = nlohmann::json::object();
      for (const auto& [name, per_run] : by_metric) {
        auto it = per_run.find(r.id);
        if (it == per_run.end()) continue;
        const auto& m = it->second;
        metrics[name] = {{"last", JsonNumber(m.last)},
                         {"best", JsonNumber(LowerIsBetter(name) ? m.min : m.max)},
                         {"count", m.count}};
      }
      out.push_back({{"id", r.id},
                     {"status", store::RunStatusName(r.status)},
                     {"parameters", runner::TrialParameters(r)},
                     {"metrics", metrics}});
    }
    std::printf("%s\n", JsonText(out).c_str());
    return Status::Ok();
  }
  std::vector<std::string> header = {"METRIC"};
  for (const auto& r : runs) header.push_back(r.id);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> status_row = {"(status)"};
  for (const auto& r : runs) {
    status_row.push_back(StatusColoured(store::RunStatusName(r.status), ctx.stdout_tty));
  }
  rows.push_back(status_row);
  // A sweep's trials: one row per parameter, the values each received.
  std::vector<std::string> names;
  for (const auto& r : runs) {
    const nlohmann::ordered_json values = runner::TrialParameters(r);
    for (const auto& [k, v] : values.items()) {
      if (std::find(names.begin(), names.end(), k) == names.end()) names.push_back(k);
    }
  }
  for (const std::string& name : names) {
    std::vector<std::string> row = {"(" + name + ")"};
    for (const auto& r : runs) {
      nlohmann::json p = runner::TrialParameters(r);
      row.push_back(p.contains(name) ? EscapeBytes(p[name].get<std::string>()) : "-");
    }
    rows.push_back(row);
  }
  for (const auto& [name, per_run] : by_metric) {
    std::vector<std::string> row = {name +
                                    (LowerIsBetter(name) ? " (last / min)" : " (last / max)")};
    for (const auto& r : runs) {
      auto it = per_run.find(r.id);
      if (it == per_run.end()) {
        row.emplace_back("-");
        continue;
      }
      const auto& m = it->second;
      row.push_back(Number(m.last) + " / " + Number(LowerIsBetter(name) ? m.min : m.max));
    }
    rows.push_back(row);
  }
  PrintTable(header, rows, ctx.stdout_tty);
  return Status::Ok();
}

Status Tags(Context& ctx, const std::string& run_id, bool json) {
  ASSIGN_OR_RETURN(Opened opened, OpenRun(ctx, run_id));
  auto t = opened.ws->Tags(opened.run.id);
  auto p = store::ReadProperties(opened.ws->db(), opened.run.seq);
  RETURN_IF_ERROR(t.status());
  RETURN_IF_ERROR(p.status());
  if (json) {
    nlohmann::json j = {{"tags", nlohmann::json::object()},
                        {"properties", nlohmann::json::object()}};
    for (const auto& [k, v] : *t) j["tags"][k] = v;
    for (const auto& [k, v] : *p) j["properties"][k] = v;
    std::printf("%s\n", JsonText(j).c_str());
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& [k, v] : *t) rows.push_back({"tag", EscapeBytes(k), EscapeBytes(v)});
  for (const auto& [k, v] : *p) rows.push_back({"property", EscapeBytes(k), EscapeBytes(v)});
  if (rows.empty()) {
    std::printf("run %s has no tags or properties\n", opened.run.id.c_str());
    return Status::Ok();
  }
  PrintTable({"KIND", "KEY", "VALUE"}, rows, ctx.stdout_tty);
  return Status::Ok();
}

}  // namespace

void RegisterMetrics(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<MetricsFlags>();
  CLI::App* cmd = app.add_subcommand("metrics", "metrics a run logged: summary, or full series");
  cmd->add_option("run", f->run, "run id (or a unique prefix)")->required();
  cmd->add_option("--name", f->name, "one metric: its full series");
  auto* json =
      cmd->add_flag("--json", f->json, "full series as JSON (step, timestamp, rank, value)");
  cmd->add_flag("--csv", f->csv, "full series as CSV")->excludes(json);
  cmd->add_flag("--follow,-f", f->follow, "keep updating until the run ends");
  OnRun(cmd, ctx, [&ctx, f] { return Metrics(ctx, *f); });

  CLI::App* cmp =
      app.add_subcommand("compare", "final and best metric values of runs, side by side");
  cmp->add_option("runs", f->runs, "run ids (or unique prefixes)")->required()->expected(1, -1);
  cmp->add_option("--name", f->name, "only this metric");
  cmp->add_flag("--json", f->json, "machine-readable output");
  OnRun(cmp, ctx, [&ctx, f] { return Compare(ctx, *f); });

  auto tags_run = std::make_shared<std::string>();
  auto tags_json = std::make_shared<bool>(false);
  CLI::App* tags = app.add_subcommand("tags", "tags and properties of a run");
  tags->add_option("run", *tags_run, "run id (or a unique prefix)")->required();
  tags->add_flag("--json", *tags_json, "machine-readable output");
  OnRun(tags, ctx, [&ctx, tags_run, tags_json] { return Tags(ctx, *tags_run, *tags_json); });
}

}  // namespace trainyard::cli
