// File helpers. All return a Status naming the path on failure. Safe to call from any thread.
#pragma once

#include <string>

#include "common/status.h"

namespace trainyard {

Result<std::string> ReadFile(const std::string& path);
// Writes to "<path>.tmp.<pid>" and renames over `path`, so readers never see a partial file.
Status WriteFileAtomic(const std::string& path, const std::string& contents);
// mkdir -p.
Status MakeDirs(const std::string& path);
// rm -rf; a missing path is OK.
Status RemoveAll(const std::string& path);
bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);
// Absolute, lexically normalized path (no symlink resolution), relative to the current directory.
std::string AbsolutePath(const std::string& path);
// "~" or "~/x" expanded with $HOME.
std::string ExpandHome(const std::string& path);
// Copies a file's bytes (kernel-side copy where possible); mode is kept.
Status CopyFile(const std::string& from, const std::string& to);

}  // namespace trainyard
