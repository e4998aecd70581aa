#include "snapshot/atomic_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

namespace trainyard::snapshot {

TempFile::~TempFile() {
  if (fd_ >= 0) close(fd_);
  if (!path_.empty()) unlink(path_.c_str());
}

TempFile::TempFile(TempFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {
  other.path_.clear();
}

TempFile& TempFile::operator=(TempFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    if (!path_.empty()) unlink(path_.c_str());
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

Result<TempFile> TempFile::Create(const std::string& dir) {
  std::string tmpl = dir + "/.tmp-XXXXXX";
  int fd = mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot create a temporary file in " + dir, errno);
  TempFile f;
  f.fd_ = fd;
  f.path_ = std::move(tmpl);
  return f;
}

Status TempFile::Write(std::string_view data) { return WriteAll(fd_, data, path_); }

Status TempFile::Close(mode_t mode) {
  if (fchmod(fd_, mode) != 0) return ErrnoError("cannot chmod " + path_, errno);
  int fd = std::exchange(fd_, -1);
  if (close(fd) != 0) return ErrnoError("cannot write " + path_, errno);
  return Status::Ok();
}

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write " + what, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Result<bool> TempFile::PublishNoReplace(const std::string& to, uint64_t expected_size) {
  if (renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    path_.clear();
    return true;
  }
  int e = errno;
  // EINVAL: the file system cannot refuse to replace; check, then rename (racing writers then
  // replace a file with identical bytes, which readers cannot notice).
  if (e != EEXIST && e != EINVAL && e != ENOSYS) {
    return ErrnoError("cannot rename " + path_ + " to " + to, e);
  }
  struct stat st {};
  if (stat(to.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == expected_size) {
    return false;  // the destructor removes our copy
  }
  RETURN_IF_ERROR(Publish(to));
  return true;
}

Status TempFile::Publish(const std::string& to) {
  if (rename(path_.c_str(), to.c_str()) != 0) {
    return ErrnoError("cannot rename " + path_ + " to " + to, errno);
  }
  path_.clear();
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& path, std::string_view contents, mode_t mode) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(dir));
  RETURN_IF_ERROR(tmp.Write(contents));
  RETURN_IF_ERROR(tmp.Close(mode));
  return tmp.Publish(path);
}

}  // namespace trainyard::snapshot
