// The stat cache: what each file of a source folder looked like (size, mtime, ctime, inode) when
// its SHA-256 was last computed, so that an unchanged file is not read again.
//
// One cache per source folder: <store>/cache/<SHA-256 of the folder's absolute path>.tsv, a
// header line then one line per file: path, size, mtime_ns, ctime_ns, inode, sha256, separated
// by tabs, with '\\', tab and newline in paths escaped as "\\\\", "\\t" and "\\n". Written
// atomically; a missing or unreadable cache is simply empty. A plain value, not thread-safe.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "snapshot/file_stamp.h"

namespace trainyard::snapshot {

struct StatCacheEntry {
  FileStamp stamp;
  std::string sha256;
};

class StatCache {
 public:
  static std::string PathFor(const std::string& store_dir, const std::string& source_dir);

  // Loads `path`; a missing or malformed file (or line) yields no entries rather than an error.
  static StatCache Load(const std::string& path);

  // The hash of `path` if the cache knows it with exactly this stamp, else nullptr. The pointer
  // is valid until the cache is modified.
  const std::string* Lookup(const std::string& path, const FileStamp& stamp) const;

  void Put(const std::string& path, const StatCacheEntry& entry) { entries_[path] = entry; }
  size_t size() const { return entries_.size(); }

  std::string Serialize() const;  // sorted by path
  // Writes the cache to `path` atomically (creating its folder).
  Status Save(const std::string& path) const;

 private:
  std::unordered_map<std::string, StatCacheEntry> entries_;
};

}  // namespace trainyard::snapshot
