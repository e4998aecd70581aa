#include "snapshot/git_info.h"

#include <vector>

#include "common/process.h"
#include "common/strings.h"

namespace trainyard::snapshot {
namespace {

constexpr double kGitTimeoutSeconds = 60;

Result<CommandResult> RunGit(const std::string& dir, std::vector<std::string> args) {
  std::vector<std::string> argv = {"git", "-C", dir};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandOptions options;
  // (Built rather than assigned element-wise: GCC 12 at -O3 warns falsely on string assignment.)
  options.set_env = {{"GIT_OPTIONAL_LOCKS", "0"}, {"LC_ALL", "C"}};
  // Variables set by an enclosing git (say, a hook) would point git at another repository.
  options.unset_env = {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX"};
  options.timeout_seconds = kGitTimeoutSeconds;
  return RunCommand(argv, options);
}

}  // namespace

GitInfo ReadGitInfo(const std::string& dir) {
  GitInfo info;
  auto top = RunGit(dir, {"rev-parse", "--show-toplevel"});
  if (!top.ok() || top->exit_code != 0) return info;  // no git, or not a work tree
  info.in_git = true;

  auto head = RunGit(dir, {"rev-parse", "--verify", "--quiet", "HEAD"});
  if (head.ok() && head->exit_code == 0) info.commit = Trim(head->out);

  auto status = RunGit(dir, {"status", "--porcelain", "--", "."});
  info.dirty = !status.ok() || status->exit_code != 0 || !Trim(status->out).empty();
  return info;
}

}  // namespace trainyard::snapshot
