#include "targets/execution.h"

#include "targets/process_execution.h"
#include "targets/slurm_job.h"

namespace trainyard::targets {

Result<std::unique_ptr<Execution>> MakeExecution(const LaunchPlan& plan,
                                                 const ExecutionContext& ctx) {
  if (plan.type == "local" || plan.type == "mpi") return MakeProcessExecution(plan, ctx);
  if (plan.type == "slurm") return MakeSlurmExecution(plan, ctx);
  return InvalidArgument("the stored plan has an unknown target type \"" + plan.type + "\"");
}

std::string FailureReport(const std::string& headline, const std::deque<std::string>& err_tail,
                          const std::deque<std::string>& launcher_tail) {
  std::string out = headline;
  if (!err_tail.empty()) {
    out += "\n--- last lines of stderr ---";
    for (const auto& l : err_tail) out += "\n" + l;
  }
  if (!launcher_tail.empty()) {
    out += "\n--- last lines of the launcher ---";
    for (const auto& l : launcher_tail) out += "\n" + l;
  }
  return out;
}

}  // namespace trainyard::targets
