// Test helper: a small tmpfs mounted on a temporary folder (root only), to fill up or make
// read-only; unmounted and removed when the object goes out of scope.
#pragma once

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "testing/temp_dir.h"

namespace trainyard::store::testing {

class TinyFs {
 public:
  explicit TinyFs(size_t bytes) {
    std::string options = "size=" + std::to_string(bytes);
    if (mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::string("mount -t tmpfs: ") + std::strerror(errno);
    }
  }
  ~TinyFs() {
    if (mounted_) umount2(dir_.path().c_str(), MNT_DETACH);
  }
  TinyFs(const TinyFs&) = delete;
  TinyFs& operator=(const TinyFs&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& path() const { return dir_.path(); }

  // Writes <path>/filler until the file system is full; returns the bytes written.
  size_t Fill() {
    int fd = open((path() + "/filler").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    std::vector<char> block(4096, 'x');
    size_t total = 0;
    while (fd >= 0) {
      ssize_t n = write(fd, block.data(), block.size());
      if (n <= 0) break;
      total += static_cast<size_t>(n);
    }
    if (fd >= 0) close(fd);
    return total;
  }
  void Free() { std::filesystem::remove(path() + "/filler"); }
  bool Remount(bool read_only) {
    return mount(nullptr, dir_.path().c_str(), nullptr, MS_REMOUNT | (read_only ? MS_RDONLY : 0),
                 nullptr) == 0;
  }

 private:
  trainyard::testing::TempDir dir_;
  bool mounted_ = false;
  std::string error_;
};

}  // namespace trainyard::store::testing
