// Getting a run's code to the hosts that run it, and its outputs back (targets/launch_plan.h
// Staging). "copy" mode streams a tar of the work folder through the target's own launch agent
// (the same agent mpirun uses: ssh, or the test harness's namespace agent):
//   tar -cf - -C <work> . | <agent> <host> 'mkdir -p <dir> && tar -xf - -C <dir>'
// Nothing goes through a local shell; the remote command is the agent's (like ssh's) and quotes
// only paths trainyard chose. Called from the supervisor's thread.
#pragma once

#include <functional>
#include <string>

#include "common/status.h"
#include "targets/launch_plan.h"

namespace trainyard::targets {

// Copies <local_work> to staging.dir on every staging host.
Status PushCode(const Staging& staging, const std::string& local_work);
// Copies outputs/ of staging.dir on the first host into <local_work>/outputs.
Status FetchOutputs(const Staging& staging, const std::string& local_work);
// Removes staging.dir's run folder from every host (best effort).
void CleanRemote(const Staging& staging);

// Builds (or reuses) a run's environment on every host of env.hosts at once, by running
// env.command there through env.agent with `request_json` on its stdin (trainyard's
// `env build`, which keeps a locked cache per host). Every output line reaches `on_line` as
// "[host] line", from the hosts' threads (on_line must be thread-safe). Returns true when every
// host already had it; FailedPrecondition naming each host that failed, with trainyard's (and so
// pip's) last lines there.
Result<bool> PrepareEnvOnHosts(const EnvironmentPlan& env, const std::string& request_json,
                               const std::function<void(const std::string&)>& on_line);

// Runs `producer | consumer` (argv vectors, no shell) and waits for both; fails naming the
// command that failed, with its stderr.
Status RunPipeline(const std::vector<std::string>& producer,
                   const std::vector<std::string>& consumer, double timeout_seconds);

}  // namespace trainyard::targets
