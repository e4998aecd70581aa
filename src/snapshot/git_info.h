// What git says about a source folder: the commit checked out and whether anything under the
// folder differs from it. Runs the `git` program (never through a shell) with GIT_OPTIONAL_LOCKS=0
// so that it does not take the index lock of a repository the user is working in.
#pragma once

#include <string>

namespace trainyard::snapshot {

struct GitInfo {
  bool in_git = false;  // the folder is inside a git work tree (false when git is not installed)
  std::string commit;   // HEAD; "" when the repository has no commit yet
  bool dirty = false;   // `git status --porcelain -- .` lists something (tracked or untracked)
};

// Never fails: when git is missing or the folder is not in a work tree the result has
// in_git == false. When git cannot tell whether the folder is clean, `dirty` is true.
// Safe to call from any thread.
GitInfo ReadGitInfo(const std::string& dir);

}  // namespace trainyard::snapshot
