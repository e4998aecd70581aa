// Walking a source folder: which files a snapshot contains.
//
// The walk applies the ignore rules (see ignore.h): .trainyardignore, else .amlignore, else
// gitignore semantics, where every .gitignore below the root applies to its own subtree, as in
// git. The chosen root rule file is always part of the snapshot, even if it matches one of its own
// patterns. Entries named ".git" are always skipped. Symlinks are followed (a symlink to a file
// yields that file's contents under the link's path; a symlink to a folder is walked as a folder);
// dangling symlinks, sockets, fifos and devices are skipped. A folder whose (device, inode) is
// already on the path from the root (a symlink cycle) is skipped, as is the folder `skip_dir`
// (the snapshot store, should it live inside the source folder).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "snapshot/file_stamp.h"

namespace trainyard::snapshot {

struct WalkedFile {
  std::string path;      // relative to the root, '/'-separated
  std::string abs_path;  // root + "/" + path (may go through symlinks)
  FileStamp stamp;       // of the file itself (the target, for a symlink)
  bool executable = false;
};

struct WalkResult {
  std::vector<WalkedFile> files;  // sorted by path (bytewise)
  std::string ignore_file;        // ".trainyardignore", ".amlignore", ".gitignore" or ""
  uint64_t total_bytes = 0;       // sum of the sizes the walk saw
  uint64_t symlink_cycles = 0;    // folders skipped because they were already on the path
};

struct WalkOptions {
  // A folder not to enter, by (st_dev, st_ino).
  std::optional<std::pair<dev_t, ino_t>> skip_dir;
};

// Walks `root` (absolute). Fails with NotFound when it does not exist, InvalidArgument when it is
// not a folder, and Io (naming the path) when a folder or rule file cannot be read.
Result<WalkResult> WalkSourceDir(const std::string& root, const WalkOptions& options = {});

}  // namespace trainyard::snapshot
