// Wall-clock helpers. Timestamps in the workspace are microseconds since the Unix epoch (UTC).
#pragma once

#include <cstdint>
#include <string>

namespace trainyard {

int64_t NowMicros();
// Monotonic clock, microseconds; for durations and deadlines only.
int64_t MonotonicMicros();
// "2026-11-26T09:17:14.123Z" (UTC, milliseconds).
std::string FormatIso8601(int64_t micros);
// "2026-11-26 09:17:14" in local time, for tables.
std::string FormatLocal(int64_t micros);
// "1m 05s", "3.2s", "2h 01m".
std::string FormatDuration(int64_t micros);
void SleepMicros(int64_t micros);

}  // namespace trainyard
