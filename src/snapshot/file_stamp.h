// What a stat() says about a file, as far as the stat cache cares.
#pragma once

#include <sys/stat.h>

#include <cstdint>

namespace trainyard::snapshot {

struct FileStamp {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;  // cannot be set by users: catches "cp -p"/"tar x" restoring an old mtime
  uint64_t inode = 0;

  bool operator==(const FileStamp&) const = default;

  static FileStamp FromStat(const struct stat& st) {
    FileStamp s;
    s.size = static_cast<uint64_t>(st.st_size);
    s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    s.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    s.inode = static_cast<uint64_t>(st.st_ino);
    return s;
  }
};

}  // namespace trainyard::snapshot
