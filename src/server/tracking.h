// Tracking through the workspace server (api_tracking.cc, /api/v1/tracking): how the server tells
// the runs it starts to report to it.
#pragma once

#include <string>

#include "common/status.h"

namespace trainyard::server {

// The path under which the server serves the tracking protocol (docs/tracking.md).
inline constexpr char kTrackingPath[] = "/api/v1/tracking";

// Sets TRAINYARD_SERVER_TRACKING_URI=<public_url>/api/v1/tracking in this process's environment,
// which the supervisors of the runs this server submits inherit: their ranks then report to the
// server with a token for their run only, instead of to the supervisor's own endpoint. Call once
// the public URL is known (after listening, for port 0) and before runs are submitted; not
// thread-safe (setenv). InvalidArgument for a URL that is not http(s)://.
Status ExportServerTrackingUri(const std::string& public_url);

}  // namespace trainyard::server
