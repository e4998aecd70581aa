// Restore: materializes a snapshot as plain files and symlinks. Every folder below the destination
// is entered with O_NOFOLLOW, relative to its parent's descriptor, so that a symlink already
// present in the destination cannot redirect a write outside it; every file and symlink is
// written under a short temporary name (".ty-XXXXXX", so that names up to NAME_MAX still fit) in
// its folder and renamed over the old one, so an existing symlink is replaced rather than followed.
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <functional>
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

constexpr int kTempNameAttempts = 100;

// ".ty-" and 6 random characters from [a-z0-9]: short, whatever the name it stands in for.
std::string TempName() {
  constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char random[6] = {};
  if (getrandom(random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) {
    // No entropy to be had: fall back on the clock and pid (collisions are retried anyway).
    uint64_t x =
        static_cast<uint64_t>(getpid()) * 0x9E3779B97F4A7C15ULL ^ static_cast<uint64_t>(clock());
    for (unsigned char& c : random) {
      c = static_cast<unsigned char>(x);
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    }
  }
  std::string name = ".ty-";
  for (unsigned char c : random) name += kChars[c % (sizeof kChars - 1)];
  return name;
}

// Creates an entry under a fresh temporary name in `dir` with `create` (which returns false,
// errno set, on failure) and renames it to `name`. EEXIST from `create` means "try another
// name". `shown` names the destination in errors.
Status CreateAndRename(int dir, const std::string& name, const std::string& shown,
                       const std::function<bool(const std::string& tmp)>& create,
                       const std::function<Status(const std::string& tmp)>& fill) {
  std::string tmp;
  bool created = false;
  for (int attempt = 0; attempt < kTempNameAttempts && !created; ++attempt) {
    tmp = TempName();
    created = create(tmp);
    if (!created && errno != EEXIST) return ErrnoError("cannot create " + shown, errno);
  }
  if (!created) return IoError("cannot create a temporary file for " + shown);
  Status status = fill(tmp);
  if (status.ok() && renameat(dir, tmp.c_str(), dir, name.c_str()) != 0) {
    status = ErrnoError("cannot write " + shown, errno);
  }
  if (!status.ok()) unlinkat(dir, tmp.c_str(), 0);
  return status;
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
  UniqueFd out;
  return CreateAndRename(
      dir, name, shown,
      [&](const std::string& tmp) {
        out.Reset(
            openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        return out.valid();
      },
      [&](const std::string&) {
        Status status = CopyBytes(in.get(), out.get(), entry.size, blob_path);
        if (status.ok() && fchmod(out.get(), entry.executable ? 0755 : 0644) != 0) {
          status = ErrnoError("cannot chmod " + shown, errno);
        }
        if (close(out.Release()) != 0 && status.ok()) {
          status = ErrnoError("cannot write " + shown, errno);
        }
        return status;
      });
}

// Creates the symlink `name` -> entry.symlink in the folder `dir`.
Status RestoreSymlink(const ManifestEntry& entry, int dir, const std::string& name,
                      const std::string& shown) {
  return CreateAndRename(
      dir, name, shown,
      [&](const std::string& tmp) {
        return symlinkat(entry.symlink.c_str(), dir, tmp.c_str()) == 0;
      },
      [](const std::string&) { return Status::Ok(); });
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
    const std::string shown = dest_dir + "/" + e.path;
    if (e.is_symlink()) {
      RETURN_IF_ERROR(RestoreSymlink(e, current.get(), name, shown));
    } else {
      RETURN_IF_ERROR(RestoreFile(blobs.BlobPath(e.sha256), e, current.get(), name, shown));
    }
  }
  return Status::Ok();
}

}  // namespace trainyard::snapshot
