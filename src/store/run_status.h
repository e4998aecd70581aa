// Run statuses, spelled exactly as users see them.
#pragma once

#include <optional>
#include <string>

namespace trainyard::store {

enum class RunStatus {
  kQueued,
  kPreparing,
  kStarting,
  kRunning,
  kFinalizing,
  kCompleted,
  kFailed,
  kCanceled,
  kCancelRequested,
};

const char* RunStatusName(RunStatus s);
std::optional<RunStatus> ParseRunStatus(const std::string& name);  // case-insensitive
bool IsTerminal(RunStatus s);
// Statuses that hold a slot of the target (counted against its concurrency).
bool HoldsSlot(RunStatus s);

}  // namespace trainyard::store
