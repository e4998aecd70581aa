// Writing files so that readers see either nothing or the whole file: a uniquely named temporary
// file in the destination's folder (safe between threads and processes), then a rename.
// All functions are safe to call from any thread.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace trainyard::snapshot {

// An open temporary file ("<dir>/.tmp-XXXXXX"); removed by the destructor unless published.
class TempFile {
 public:
  TempFile() = default;
  ~TempFile();
  TempFile(TempFile&& other) noexcept;
  TempFile& operator=(TempFile&& other) noexcept;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  // Creates the file (mode 0600) in the existing folder `dir`.
  static Result<TempFile> Create(const std::string& dir);

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  Status Write(std::string_view data);
  // Closes the file after setting its mode; the path stays (and is still removed by the
  // destructor unless published).
  Status Close(mode_t mode);
  // Renames the (closed) file to `to` unless `to` exists. Returns true when `to` was created,
  // false when it already existed with `expected_size` bytes (this file is then removed). An
  // existing `to` of another size is taken to be damaged (say by a crash before its data reached
  // the disk) and is replaced; that counts as created.
  Result<bool> PublishNoReplace(const std::string& to, uint64_t expected_size);
  // Renames the (closed) file to `to`, replacing it.
  Status Publish(const std::string& to);

 private:
  int fd_ = -1;
  std::string path_;
};

// Writes `data` to `fd`, retrying short writes.
Status WriteAll(int fd, std::string_view data, const std::string& what);

// Writes `contents` to `path` atomically with `mode`, replacing any existing file.
Status WriteFileAtomically(const std::string& path, std::string_view contents, mode_t mode);

}  // namespace trainyard::snapshot
