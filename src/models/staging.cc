// Implements models/staging.h.
#include "models/staging.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <vector>

#include "common/files.h"

namespace trainyard::models {
namespace {

// The names in folder `dir` (without "." and ".."), unsorted.
Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoError("cannot read folder " + dir, errno);
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  closedir(d);
  return names;
}

Status StageFile(const std::string& from, const std::string& to) {
  if (link(from.c_str(), to.c_str()) == 0) return Status::Ok();
  // Another device, a file system without hard links, or a file the kernel's
  // protected_hardlinks rule keeps us from linking: copy it.
  return CopyFile(from, to);
}

Status StageEntry(const std::string& from, const std::string& to, bool follow) {
  struct stat st {};
  if ((follow ? stat(from.c_str(), &st) : lstat(from.c_str(), &st)) != 0) {
    if (errno == ENOENT) return NotFound("no such file or folder: " + from);
    return ErrnoError("cannot read " + from, errno);
  }
  if (S_ISREG(st.st_mode)) return StageFile(from, to);
  if (S_ISLNK(st.st_mode)) {
    return InvalidArgument("model folder holds a symlink: " + from +
                           " (a model is registered as files; replace the link by its target)");
  }
  if (!S_ISDIR(st.st_mode)) {
    return InvalidArgument("not a plain file or folder: " + from +
                           " (sockets, fifos and devices cannot be registered)");
  }
  if (mkdir(to.c_str(), 0755) != 0) return ErrnoError("cannot create folder " + to, errno);
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(from));
  for (const std::string& name : names) {
    RETURN_IF_ERROR(StageEntry(from + "/" + name, to + "/" + name, /*follow=*/false));
  }
  return Status::Ok();
}

// Calls fn(path, stat) for `path` and everything below it, folders after their contents.
template <typename Fn>
Status WalkPostOrder(const std::string& path, Fn&& fn) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return ErrnoError("cannot read " + path, errno);
  if (S_ISDIR(st.st_mode)) {
    ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(path));
    for (const std::string& name : names) RETURN_IF_ERROR(WalkPostOrder(path + "/" + name, fn));
  }
  return fn(path, st);
}

}  // namespace

Result<std::string> MakeTempDir(const std::string& parent, const std::string& prefix) {
  RETURN_IF_ERROR(MakeDirs(parent));
  std::string tmpl = parent + "/" + prefix + "XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    return ErrnoError("cannot create a temporary folder in " + parent, errno);
  }
  return tmpl;
}

Status StageTree(const std::string& from, const std::string& to) {
  // link() would link a symlink itself, not what it names.
  char real[PATH_MAX];
  if (realpath(from.c_str(), real) == nullptr) {
    if (errno == ENOENT) return NotFound("no such file or folder: " + from);
    return ErrnoError("cannot read " + from, errno);
  }
  return StageEntry(real, to, /*follow=*/true);
}

Status MakeTreeReadOnly(const std::string& path) {
  return WalkPostOrder(path, [](const std::string& p, const struct stat& st) -> Status {
    if (S_ISLNK(st.st_mode)) return Status::Ok();
    mode_t mode = S_ISDIR(st.st_mode) || (st.st_mode & S_IXUSR) ? 0555 : 0444;
    if (chmod(p.c_str(), mode) != 0) return ErrnoError("cannot make " + p + " read-only", errno);
    return Status::Ok();
  });
}

Status RemoveTree(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoError("cannot read " + path, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    // Pre-order: a folder must be writable before its entries can be removed.
    std::vector<std::string> todo = {path};
    while (!todo.empty()) {
      std::string dir = std::move(todo.back());
      todo.pop_back();
      if (chmod(dir.c_str(), 0755) != 0 && errno != ENOENT) {
        return ErrnoError("cannot make " + dir + " writable", errno);
      }
      auto names = ListDir(dir);
      if (!names.ok()) continue;  // gone meanwhile; RemoveAll says if it matters
      for (const std::string& name : names.value()) {
        struct stat child {};
        std::string p = dir + "/" + name;
        if (lstat(p.c_str(), &child) == 0 && S_ISDIR(child.st_mode)) todo.push_back(p);
      }
    }
  }
  return RemoveAll(path);
}

}  // namespace trainyard::models
