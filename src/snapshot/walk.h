// Walking a source folder: which files a snapshot contains.
//
// The walk applies the ignore rules (see ignore.h): .trainyardignore, else .amlignore, else
// gitignore semantics, where every .gitignore below the root applies to its own subtree, as in
// git. The chosen root rule file is always part of the snapshot, even if it matches one of its own
// patterns. Entries named ".git" are always skipped, as are the folders `skip_dirs` (the snapshot
// store and the workspace, should they live inside the source folder).
//
// Symlinks are never followed: a symlink is listed as a symlink (with its target), whether it
// names a file or a folder, so the walk cannot loop. A symlink whose target (fully resolved, as
// realpath does) is outside the source folder fails the walk, naming every such link: the
// snapshot would otherwise not hold what the run reads. Ignore rules apply to links like to
// files (a link to a folder also matches folder patterns such as "data/"), so an ignored link is
// neither kept nor refused. The target kept is the link's own text when that names the same place
// lexically from the link's folder; otherwise (an absolute target, or one that goes through other
// links) it is the relative path from the link's folder to the resolved target, so the restored
// link points inside the restored tree. Dangling and looping links, links to sockets, fifos and
// devices, and sockets, fifos and devices themselves are skipped.
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
  std::string abs_path;  // root + "/" + path
  FileStamp stamp;       // of the file itself (of the link, for a symlink)
  bool executable = false;
  std::string symlink_target;  // non-empty for a symlink: relative, resolves inside the root
};

struct WalkResult {
  std::vector<WalkedFile> files;  // sorted by path (bytewise)
  std::string ignore_file;        // ".trainyardignore", ".amlignore", ".gitignore" or ""
  uint64_t total_bytes = 0;       // sum of the sizes of the regular files
  uint64_t symlinks = 0;          // entries of `files` that are symlinks
};

struct WalkOptions {
  // Folders not to enter, by (st_dev, st_ino).
  std::vector<std::pair<dev_t, ino_t>> skip_dirs;
};

// Walks `root` (absolute). Fails with NotFound when it does not exist, InvalidArgument when it is
// not a folder or holds symlinks that lead out of it (naming them and the ignore file to list
// them in), and Io (naming the path) when a folder, link or rule file cannot be read.
Result<WalkResult> WalkSourceDir(const std::string& root, const WalkOptions& options = {});

}  // namespace trainyard::snapshot
