// Restore: materializes a snapshot as plain files. Every folder below the destination is entered
// with O_NOFOLLOW, relative to its parent's descriptor, so that a symlink already present in the
// destination cannot redirect a write outside it; every file is written to a temporary name and
// renamed over the old one, so an existing symlink is replaced rather than followed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <utility>

#include "common/files.h"
#include "snapshot/blob_store.h"
#include "snapshot/snapshot.h"
#include "snapshot/unique_fd.h"

namespace trainyard::snapshot {
namespace {

// Opens (creating as needed) the folder `rel` below the folder `root`, component by component,
// never following a symlink.
Result<UniqueFd> OpenDirBeneath(int root, const std::string& rel, const std::string& dest_dir) {
  UniqueFd dir(dup(root));
  if (dir.get() < 0) return ErrnoError("dup", errno);
  size_t start = 0;
  while (start < rel.size()) {
    size_t slash = rel.find('/', start);
    if (slash == std::string::npos) slash = rel.size();
    const std::string part = rel.substr(start, slash - start);
    const std::string shown = dest_dir + "/" + rel.substr(0, slash);
    constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(dir.get(), part.c_str(), kFlags);
    if (fd < 0 && errno == ENOENT) {
      if (mkdirat(dir.get(), part.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoError("cannot create folder " + shown, errno);
      }
      fd = openat(dir.get(), part.c_str(), kFlags);
    }
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOTDIR) {
        return IoError("cannot restore into " + shown + ": it exists and is not a folder");
      }
      return ErrnoError("cannot open folder " + shown, errno);
    }
    dir = UniqueFd(fd);
    start = slash + 1;
  }
  return dir;
}

// Copies `size` bytes from `in` to `out`: in the kernel where it can, else through a buffer.
Status CopyBytes(int in, int out, uint64_t size, const std::string& what) {
  uint64_t left = size;
  bool kernel_copy = true;
  while (left > 0 && kernel_copy) {
    ssize_t n = copy_file_range(in, nullptr, out, nullptr, left, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP &&
          errno != EPERM) {
        return ErrnoError("cannot copy " + what, errno);
      }
      kernel_copy = false;
      break;
    }
    if (n == 0) return IoError("cannot copy " + what + ": it is shorter than expected");
    left -= static_cast<uint64_t>(n);
  }
  char buf[1 << 16];
  while (left > 0) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot read " + what, errno);
    }
    if (n == 0) return IoError("cannot copy " + what + ": it is shorter than expected");
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out, buf + done, static_cast<size_t>(n - done));
      if (w < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot write a copy of " + what, errno);
      }
      done += w;
    }
    left -= static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

std::string TempName(const std::string& name) {
  static std::atomic<uint64_t> counter{0};
  return "." + name + ".tmp-" + std::to_string(getpid()) + "-" +
         std::to_string(counter.fetch_add(1));
}

// Writes the blob `blob_path` as `name` in the folder `dir`.
Status RestoreFile(const std::string& blob_path, const ManifestEntry& entry, int dir,
                   const std::string& name, const std::string& shown) {
  UniqueFd in(open(blob_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return ErrnoError("missing blob for " + entry.path + ": " + blob_path, errno);
  struct stat st {};
  if (fstat(in.get(), &st) != 0) return ErrnoError("cannot stat " + blob_path, errno);
  if (static_cast<uint64_t>(st.st_size) != entry.size) {
    return IoError("blob " + blob_path + " for " + entry.path + " is damaged: " +
                   std::to_string(st.st_size) + " bytes instead of " + std::to_string(entry.size));
  }
  std::string tmp;
  UniqueFd out;
  for (int attempt = 0; attempt < 100 && !out.valid(); ++attempt) {
    tmp = TempName(name);
    out.Reset(openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out.valid() && errno != EEXIST) return ErrnoError("cannot create " + shown, errno);
  }
  if (!out.valid()) return IoError("cannot create a temporary file for " + shown);
  Status status = CopyBytes(in.get(), out.get(), entry.size, blob_path);
  if (status.ok() && fchmod(out.get(), entry.executable ? 0755 : 0644) != 0) {
    status = ErrnoError("cannot chmod " + shown, errno);
  }
  out.Reset(-1);
  if (status.ok() && renameat(dir, tmp.c_str(), dir, name.c_str()) != 0) {
    status = ErrnoError("cannot write " + shown, errno);
  }
  if (!status.ok()) unlinkat(dir, tmp.c_str(), 0);
  return status;
}

}  // namespace

Status Restore(const std::string& store_dir, const std::string& snapshot_id,
               const std::string& dest_dir) {
  // ReadManifest refuses absolute paths and "..", ".", or empty components.
  ASSIGN_OR_RETURN(std::vector<ManifestEntry> entries, ReadManifest(store_dir, snapshot_id));
  RETURN_IF_ERROR(MakeDirs(dest_dir));
  UniqueFd root(open(dest_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return ErrnoError("cannot open " + dest_dir, errno);
  BlobStore blobs(AbsolutePath(store_dir));

  std::string current_rel;
  UniqueFd current(dup(root.get()));
  if (current.get() < 0) return ErrnoError("dup", errno);
  for (const ManifestEntry& e : entries) {
    size_t slash = e.path.rfind('/');
    std::string parent = slash == std::string::npos ? "" : e.path.substr(0, slash);
    std::string name = slash == std::string::npos ? e.path : e.path.substr(slash + 1);
    if (parent != current_rel) {
      ASSIGN_OR_RETURN(current, OpenDirBeneath(root.get(), parent, dest_dir));
      current_rel = parent;
    }
    RETURN_IF_ERROR(
        RestoreFile(blobs.BlobPath(e.sha256), e, current.get(), name, dest_dir + "/" + e.path));
  }
  return Status::Ok();
}

}  // namespace trainyard::snapshot
