// The execution of "local" and "mpi" plans (targets/execution.h): the plan's processes run as a
// ProcessGroup of the supervisor; "copy" staging moves the code out and outputs/ back.
#pragma once

#include <deque>
#include <memory>
#include <string>

#include "targets/execution.h"
#include "targets/process_group.h"

namespace trainyard::targets {

std::unique_ptr<Execution> MakeProcessExecution(const LaunchPlan& plan,
                                                const ExecutionContext& ctx);

// Reads "Process name: [[47733,1],3]" / "Exit code: 3" from mpirun's report, and
// "... rank 3 ... on node h1 exited on signal 9 (Killed)." for a killed rank. True when a rank
// is named; `host` is set when a node is.
bool ParseMpirunCulprit(const std::deque<std::string>& lines, RankExit* culprit, std::string* host);

}  // namespace trainyard::targets
