// File-tree helpers of the model registry: staging a model's file or folder for the snapshot
// store, and the read-only copies that servers share. Plain functions, safe from any thread;
// every error names the path.
#pragma once

#include <string>

#include "common/status.h"

namespace trainyard::models {

// Creates a new, empty folder "<parent>/<prefix>XXXXXX" (parent created if missing) and returns
// its path.
Result<std::string> MakeTempDir(const std::string& parent, const std::string& prefix);

// Puts the file or folder `from` at `to` (which must not exist), the whole tree: hard links where
// the file system allows them (same device, permitted), else copies keeping the mode. `from`
// itself may be a symlink (it is followed); below it, a symlink or anything that is not a plain
// file or folder is refused with InvalidArgument naming it (a model is taken whole and as bytes).
// The caller must never write to the staged files: they may be the originals' inodes.
Status StageTree(const std::string& from, const std::string& to);

// Makes `path` and everything below it read-only: files 0444 (0555 when executable), folders 0555.
Status MakeTreeReadOnly(const std::string& path);

// rm -rf that also works on trees made read-only (folders are made writable first). A missing
// path is OK.
Status RemoveTree(const std::string& path);

}  // namespace trainyard::models
