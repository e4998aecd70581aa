#include "store/run_status.h"

#include <strings.h>

namespace trainyard::store {

namespace {
constexpr RunStatus kAll[] = {
    RunStatus::kQueued,  RunStatus::kPreparing,  RunStatus::kStarting,
    RunStatus::kRunning, RunStatus::kFinalizing, RunStatus::kCompleted,
    RunStatus::kFailed,  RunStatus::kCanceled,   RunStatus::kCancelRequested};
}

const char* RunStatusName(RunStatus s) {
  switch (s) {
    case RunStatus::kQueued: return "Queued";
    case RunStatus::kPreparing: return "Preparing";
    case RunStatus::kStarting: return "Starting";
    case RunStatus::kRunning: return "Running";
    case RunStatus::kFinalizing: return "Finalizing";
    case RunStatus::kCompleted: return "Completed";
    case RunStatus::kFailed: return "Failed";
    case RunStatus::kCanceled: return "Canceled";
    case RunStatus::kCancelRequested: return "CancelRequested";
  }
  return "Unknown";
}

std::optional<RunStatus> ParseRunStatus(const std::string& name) {
  for (RunStatus s : kAll) {
    if (strcasecmp(name.c_str(), RunStatusName(s)) == 0) return s;
  }
  return std::nullopt;
}

bool IsTerminal(RunStatus s) {
  return s == RunStatus::kCompleted || s == RunStatus::kFailed || s == RunStatus::kCanceled;
}

bool HoldsSlot(RunStatus s) { return !IsTerminal(s) && s != RunStatus::kQueued; }

}  // namespace trainyard::store
