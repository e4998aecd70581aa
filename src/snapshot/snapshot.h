// Content-addressed snapshots of a source folder.
//
// Layout under the store folder (workspace/snapshots):
//   blobs/ab/cdef...      file contents, named by SHA-256, written once (tmp + rename), read-only
//   manifests/<id>.json   the manifest; <id> is the SHA-256 of the manifest's bytes
//   cache/<hash of source path>.tsv   stat cache: path, size, mtime_ns, ctime_ns, inode, sha256
//   tmp/                  temporary files of blobs being written
// A file whose (size, mtime_ns, ctime_ns, inode) is unchanged since the last snapshot of the same
// folder is not read again; a blob that exists is never written again. An unchanged re-snapshot
// reads no file contents and writes nothing (its manifest exists already). Safe for concurrent
// snapshots of the same or different folders by different processes (blob and manifest writes are
// atomic renames).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainyard::snapshot {

struct ManifestEntry {
  std::string path;    // relative, '/'-separated
  std::string sha256;  // of the contents; "" for a symlink
  uint64_t size = 0;   // 0 for a symlink
  bool executable = false;
  // Non-empty for a symlink: its target, relative, never leading out of the snapshot's root.
  std::string symlink;

  bool is_symlink() const { return !symlink.empty(); }
};

struct SnapshotInfo {
  std::string id;          // SHA-256 of the manifest
  std::string source_dir;  // absolute
  uint64_t files = 0;      // entries of the manifest, symlinks included
  uint64_t symlinks = 0;   // of which symlinks
  uint64_t bytes = 0;
  bool in_git = false;
  std::string git_commit;   // HEAD, "" when not in a git repository (or no commit yet)
  bool git_dirty = false;   // tracked or untracked changes under the folder
  std::string ignore_file;  // ".trainyardignore", ".amlignore", ".gitignore" or ""
  uint64_t new_blobs = 0;   // blobs written by this snapshot (0 on an unchanged re-submit)
  uint64_t files_read = 0;  // files whose contents were read (not known to the stat cache)
};

// Progress of reading files: the totals count the files that must be read (those the stat cache
// does not know), not the ones whose hash is already known.
struct Progress {
  uint64_t files_done = 0, files_total = 0;
  uint64_t bytes_done = 0, bytes_total = 0;
};

struct SnapshotOptions {
  uint64_t max_bytes = 0;  // 0: no limit; else refused before anything is copied
  // Called from the calling thread now and then while hashing/copying (not for every file): at
  // most about 10 times a second, and once at the end when anything was read.
  std::function<void(const Progress&)> progress;
  // A file is remembered in the stat cache only if its mtime and ctime are at least this much
  // older than the start of the snapshot: a change made within the file system's timestamp
  // granularity of the previous write would otherwise go unnoticed. Such files are simply hashed
  // again next time. Tests set 0.
  int64_t stat_cache_min_age_ms = 2000;
  // A folder left out should it be inside the source (the workspace); "" = none.
  std::string skip_dir;
  // Added to the error for a source over max_bytes (say, how to raise the limit).
  std::string max_bytes_hint;
  // Tests only: called on the reading thread after each chunk of a file is read, with the file's
  // path and the attempt (0, 1, ...), so that a test can change the file mid-read.
  std::function<void(const std::string& path, int attempt)> after_chunk_for_test;
};

// Snapshots `source_dir` into `store_dir`. Ignore rules: .trainyardignore, else .amlignore, else
// .gitignore (gitignore syntax, including nested .gitignore files in the last case); the .git
// folder is always ignored. Symlinks are kept as symlinks, never followed (see walk.h): one that
// leads out of the folder is refused; dangling symlinks, sockets, fifos and devices are skipped.
// A file that changes while it is read (size, mtime or ctime differ before and after, or fewer
// or more bytes than its size) is read again, up to 3 times in all; what is stored is always one
// whole read during which the file did not change.
// Fails with NotFound / InvalidArgument for a missing or non-folder source, InvalidArgument when
// the files add up to more than max_bytes (naming the largest ones; nothing is written then), a
// file name or link target is not valid UTF-8, or symlinks lead out of the folder (naming them and
// the ignore file to list them in), FailedPrecondition naming the file when it kept changing while
// it was read, and Io naming the path for file system errors.
// Safe to call from several threads and processes at once, for the same or different folders.
Result<SnapshotInfo> TakeSnapshot(const std::string& source_dir, const std::string& store_dir,
                                  const SnapshotOptions& options = {});

// The files of a snapshot, sorted by path. NotFound for an unknown id; InvalidArgument for an id
// that is not a SHA-256, or a manifest whose bytes do not hash to its id or that is malformed.
Result<std::vector<ManifestEntry>> ReadManifest(const std::string& store_dir,
                                                const std::string& snapshot_id);

// Materializes a snapshot into `dest_dir` (created if missing; existing files are overwritten).
// Files are copies, never links to the blob store, so a run cannot damage the store. Executable
// files get mode 0755, others 0644; symlinks are recreated with their recorded targets. Each entry
// is written under a short temporary name (".ty-XXXXXX") in its folder and renamed into place, so
// names up to the file system's limit work. Refuses (InvalidArgument) manifest paths that are
// absolute or contain "..", and never follows a symlink that already exists below `dest_dir`.
// Fails with Io when a blob is missing or has the wrong size.
Status Restore(const std::string& store_dir, const std::string& snapshot_id,
               const std::string& dest_dir);

}  // namespace trainyard::snapshot
