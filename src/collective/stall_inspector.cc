#include "collective/stall_inspector.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <unordered_set>

namespace trainyard::collective {
namespace {

std::string RankList(const std::vector<int>& ranks) {
  std::string out;
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(ranks[i]);
  }
  return out.empty() ? "none" : out;
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

}  // namespace

StallInspector::StallInspector(bool enabled, double warning_seconds, double shutdown_seconds,
                               double fail_seconds)
    : enabled_((enabled && (warning_seconds > 0 || shutdown_seconds > 0)) || fail_seconds > 0),
      warning_micros_(enabled ? static_cast<int64_t>(warning_seconds * 1e6) : 0),
      shutdown_micros_(enabled ? static_cast<int64_t>(shutdown_seconds * 1e6) : 0),
      fail_micros_(static_cast<int64_t>(fail_seconds * 1e6)),
      fail_seconds_(fail_seconds) {}

void StallInspector::Observe(const std::vector<std::string>& pending, int64_t now_micros) {
  if (!enabled_) return;
  std::unordered_set<std::string> live(pending.begin(), pending.end());
  for (auto it = first_seen_.begin(); it != first_seen_.end();) {
    it = live.count(it->first) ? std::next(it) : first_seen_.erase(it);
  }
  for (const std::string& name : pending) first_seen_.try_emplace(name, now_micros);
}

bool StallInspector::ReportDue(int64_t now_micros) const {
  if (!enabled_ || first_seen_.empty()) return false;
  int64_t oldest = now_micros;
  for (const auto& [name, t] : first_seen_) oldest = std::min(oldest, t);
  int64_t waited = now_micros - oldest;
  if (shutdown_micros_ > 0 && waited >= shutdown_micros_) return true;
  if (fail_micros_ > 0 && waited >= fail_micros_) return true;
  if (warning_micros_ <= 0 || waited < warning_micros_) return false;
  return !reported_ || now_micros - last_report_ >= warning_micros_;
}

StallInspector::Report StallInspector::MakeReport(
    const std::map<std::string, std::vector<int>>& announced_by, const std::vector<int>& ranks,
    const std::vector<int>& joined, int64_t now_micros) {
  Report report;
  reported_ = true;
  last_report_ = now_micros;
  // The smallest enabled time: names that waited less are not reported at all.
  int64_t threshold = INT64_MAX;
  for (int64_t t : {warning_micros_, shutdown_micros_, fail_micros_}) {
    if (t > 0) threshold = std::min(threshold, t);
  }
  std::string lines;
  for (const auto& [name, have] : announced_by) {
    auto seen = first_seen_.find(name);
    if (seen == first_seen_.end()) continue;
    int64_t waited = now_micros - seen->second;
    if (waited < threshold) continue;
    std::vector<int> missing;
    for (int r : ranks) {
      if (std::find(have.begin(), have.end(), r) == have.end() &&
          std::find(joined.begin(), joined.end(), r) == joined.end()) {
        missing.push_back(r);
      }
    }
    if (missing.empty()) continue;
    if (fail_micros_ > 0 && waited >= fail_micros_) {
      std::vector<int> submitted = have;
      std::sort(submitted.begin(), submitted.end());
      submitted.erase(std::unique(submitted.begin(), submitted.end()), submitted.end());
      report.failed.push_back(
          Stalled{name, std::move(submitted), missing, static_cast<double>(waited) / 1e6});
      first_seen_.erase(seen);
      continue;
    }
    if ((warning_micros_ <= 0 || waited < warning_micros_) &&
        (shutdown_micros_ <= 0 || waited < shutdown_micros_)) {
      continue;
    }
    lines += "\n  '" + name + "' waited " + Seconds(static_cast<double>(waited) / 1e6) +
             " s: submitted by ranks " + RankList(have) + "; missing ranks " + RankList(missing);
    if (shutdown_micros_ > 0 && waited >= shutdown_micros_) report.shutdown = true;
  }
  if (lines.empty()) return report;
  report.warning =
      "trainyard.collective: stall: some ranks submitted these tensors and others did not (a rank "
      "may be stuck, or ranks submit different tensors):" +
      lines;
  if (report.shutdown) {
    report.shutdown_reason = "stalled past HOROVOD_STALL_SHUTDOWN_TIME_SECONDS:" + lines;
  }
  return report;
}

std::string StallInspector::FailMessage(const char* op, const Stalled& stalled) const {
  char limit[32];
  std::snprintf(limit, sizeof limit, "%g", fail_seconds_);
  return std::string(op) + " '" + stalled.name + "': stalled " + Seconds(stalled.waited_seconds) +
         " s: ranks [" + RankList(stalled.submitted) + "] submitted it, ranks [" +
         RankList(stalled.missing) + "] did not (TRAINYARD_STALL_FAIL_SECONDS=" + limit + ")";
}

}  // namespace trainyard::collective
