#include "snapshot/walk.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "common/files.h"
#include "snapshot/ignore.h"

namespace trainyard::snapshot {
namespace {

constexpr const char* kRuleFiles[] = {".trainyardignore", ".amlignore", ".gitignore"};
constexpr const char* kGitignore = ".gitignore";

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

class Walker {
 public:
  Walker(std::string root, const WalkOptions& options, WalkResult* out)
      : root_(std::move(root)), options_(options), out_(out) {}

  Status Run(const struct stat& root_st) {
    for (const char* name : kRuleFiles) {
      if (IsRegularFile(root_ + "/" + name)) {
        out_->ignore_file = name;
        break;
      }
    }
    nested_gitignore_ = out_->ignore_file.empty() || out_->ignore_file == kGitignore;
    if (!out_->ignore_file.empty()) {
      ASSIGN_OR_RETURN(std::string rules, ReadFile(root_ + "/" + out_->ignore_file));
      matcher_.AddLevel("", rules);
    }
    RETURN_IF_ERROR(WalkDir("", root_st, /*is_root=*/true));
    std::sort(out_->files.begin(), out_->files.end(),
              [](const WalkedFile& a, const WalkedFile& b) { return a.path < b.path; });
    return Status::Ok();
  }

 private:
  struct Entry {
    std::string name;
    struct stat st;  // followed through a symlink
  };

  // Walks the folder `rel` ("" for the root), whose own stat is `dir_st`.
  Status WalkDir(const std::string& rel, const struct stat& dir_st, bool is_root) {
    const std::string abs = rel.empty() ? root_ : root_ + "/" + rel;
    const std::string prefix = rel.empty() ? "" : rel + "/";
    std::vector<Entry> entries;
    RETURN_IF_ERROR(ReadEntries(abs, &entries));

    bool pushed_level = false;
    if (nested_gitignore_ && !is_root) {
      for (const Entry& e : entries) {
        if (e.name == kGitignore && S_ISREG(e.st.st_mode)) {
          ASSIGN_OR_RETURN(std::string rules, ReadFile(abs + "/" + kGitignore));
          matcher_.AddLevel(rel, rules);
          pushed_level = true;
          break;
        }
      }
    }

    path_.emplace_back(dir_st.st_dev, dir_st.st_ino);
    Status status;
    for (const Entry& e : entries) {
      std::string path = prefix + e.name;
      if (S_ISDIR(e.st.st_mode)) {
        if (matcher_.Matches(path, /*is_dir=*/true)) continue;
        std::pair<dev_t, ino_t> id(e.st.st_dev, e.st.st_ino);
        if (options_.skip_dir && *options_.skip_dir == id) continue;
        if (std::find(path_.begin(), path_.end(), id) != path_.end()) {
          ++out_->symlink_cycles;
          continue;
        }
        status = WalkDir(path, e.st, /*is_root=*/false);
        if (!status.ok()) break;
      } else if (S_ISREG(e.st.st_mode)) {
        bool forced = is_root && e.name == out_->ignore_file;
        if (!forced && matcher_.Matches(path, /*is_dir=*/false)) continue;
        WalkedFile f;
        f.abs_path = abs + "/" + e.name;
        f.path = std::move(path);
        f.stamp = FileStamp::FromStat(e.st);
        f.executable = (e.st.st_mode & S_IXUSR) != 0;
        out_->total_bytes += f.stamp.size;
        out_->files.push_back(std::move(f));
      }
      // Anything else (socket, fifo, device) is skipped.
    }
    path_.pop_back();
    if (pushed_level) matcher_.PopLevel();
    return status;
  }

  // Lists `abs` with each entry's stat (through symlinks), sorted by name, without ".git" and
  // without entries that vanish or dangle.
  static Status ReadEntries(const std::string& abs, std::vector<Entry>* entries) {
    DIR* dir = opendir(abs.c_str());
    if (dir == nullptr) return ErrnoError("cannot read folder " + abs, errno);
    const int fd = dirfd(dir);
    Status status;
    while (true) {
      errno = 0;
      struct dirent* de = readdir(dir);
      if (de == nullptr) {
        if (errno != 0) status = ErrnoError("cannot read folder " + abs, errno);
        break;
      }
      std::string name = de->d_name;
      if (name == "." || name == ".." || name == ".git") continue;
      Entry e{std::move(name), {}};
      if (fstatat(fd, e.name.c_str(), &e.st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed while we looked
        status = ErrnoError("cannot stat " + abs + "/" + e.name, errno);
        break;
      }
      if (S_ISLNK(e.st.st_mode) && fstatat(fd, e.name.c_str(), &e.st, 0) != 0) {
        continue;  // dangling (or looping) symlink
      }
      entries->push_back(std::move(e));
    }
    closedir(dir);
    std::sort(entries->begin(), entries->end(),
              [](const Entry& a, const Entry& b) { return a.name < b.name; });
    return status;
  }

  const std::string root_;
  const WalkOptions& options_;
  WalkResult* out_;
  IgnoreMatcher matcher_;
  bool nested_gitignore_ = false;
  std::vector<std::pair<dev_t, ino_t>> path_;  // folders from the root to the current one
};

}  // namespace

Result<WalkResult> WalkSourceDir(const std::string& root, const WalkOptions& options) {
  struct stat st {};
  if (stat(root.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFound("source folder does not exist: " + root);
    return ErrnoError("cannot stat " + root, errno);
  }
  if (!S_ISDIR(st.st_mode)) return InvalidArgument("source is not a folder: " + root);
  WalkResult result;
  Walker walker(root, options, &result);
  RETURN_IF_ERROR(walker.Run(st));
  return result;
}

}  // namespace trainyard::snapshot
