#include "snapshot/walk.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "common/files.h"
#include "snapshot/ignore.h"
#include "snapshot/manifest.h"

namespace trainyard::snapshot {
namespace {

constexpr const char* kRuleFiles[] = {".trainyardignore", ".amlignore", ".gitignore"};
constexpr const char* kGitignore = ".gitignore";
constexpr size_t kEscapingLinksNamed = 5;

// A link that leads out of the source folder.
struct EscapingLink {
  std::string path;      // relative to the root
  std::string target;    // the link's text
  std::string resolved;  // where it leads
};

// The canonical absolute form of `path` (every link resolved), or "" when it cannot be resolved
// (dangling, looping, unreadable).
std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return "";
  return buf;
}

// `rel` ("" for the root) lexically joined with a relative link target: "/"-rooted and
// normalized, without a trailing slash ("/" for the root itself).
std::string LexicalTarget(const std::string& link_dir, const std::string& target) {
  namespace fs = std::filesystem;
  std::string joined = (fs::path("/" + link_dir) / target).lexically_normal().generic_string();
  while (joined.size() > 1 && joined.back() == '/') joined.pop_back();
  return joined;
}

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

class Walker {
 public:
  Walker(std::string root, const WalkOptions& options, WalkResult* out)
      : root_(std::move(root)), options_(options), out_(out) {}

  Status Run() {
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
    real_root_ = RealPath(root_);
    if (real_root_.empty()) return ErrnoError("cannot resolve " + root_, errno);
    RETURN_IF_ERROR(WalkDir("", /*is_root=*/true));
    if (!escaping_.empty()) return EscapingLinksError();
    std::sort(out_->files.begin(), out_->files.end(),
              [](const WalkedFile& a, const WalkedFile& b) { return a.path < b.path; });
    return Status::Ok();
  }

 private:
  struct Entry {
    std::string name;
    struct stat st;         // of the entry itself (lstat)
    struct stat target_st;  // through the link, for a symlink whose target exists
    bool target_exists = false;
  };

  // Walks the folder `rel` ("" for the root).
  Status WalkDir(const std::string& rel, bool is_root) {
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

    Status status;
    for (const Entry& e : entries) {
      std::string path = prefix + e.name;
      if (S_ISLNK(e.st.st_mode)) {
        status = AddSymlink(rel, path, abs + "/" + e.name, e);
        if (!status.ok()) break;
      } else if (S_ISDIR(e.st.st_mode)) {
        if (matcher_.Matches(path, /*is_dir=*/true)) continue;
        std::pair<dev_t, ino_t> id(e.st.st_dev, e.st.st_ino);
        if (std::find(options_.skip_dirs.begin(), options_.skip_dirs.end(), id) !=
            options_.skip_dirs.end()) {
          continue;
        }
        status = WalkDir(path, /*is_root=*/false);
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
    if (pushed_level) matcher_.PopLevel();
    return status;
  }

  // Lists the symlink `path` (in the folder `link_dir`), or records it as escaping.
  Status AddSymlink(const std::string& link_dir, const std::string& path, const std::string& abs,
                    const Entry& e) {
    const bool to_dir = e.target_exists && S_ISDIR(e.target_st.st_mode);
    if (matcher_.Matches(path, /*is_dir=*/false) ||
        (to_dir && matcher_.Matches(path, /*is_dir=*/true))) {
      return Status::Ok();
    }
    std::string target(static_cast<size_t>(e.st.st_size) + 1, '\0');
    while (true) {
      ssize_t n = readlink(abs.c_str(), target.data(), target.size());
      if (n < 0) {
        if (errno == ENOENT) return Status::Ok();  // removed while we looked
        return ErrnoError("cannot read the symlink " + abs, errno);
      }
      if (static_cast<size_t>(n) < target.size()) {
        target.resize(static_cast<size_t>(n));
        break;
      }
      target.resize(target.size() * 2);  // it grew meanwhile
    }
    if (!e.target_exists) return Status::Ok();  // dangling or looping: skipped, as always
    const std::string real = RealPath(abs);
    if (real.empty()) return Status::Ok();  // vanished meanwhile
    if (real != real_root_ && real.compare(0, real_root_.size() + 1, real_root_ + "/") != 0) {
      escaping_.push_back({path, target, real});
      return Status::Ok();
    }
    if (!to_dir && !S_ISREG(e.target_st.st_mode)) return Status::Ok();  // fifo, socket, device
    // Where it leads, as "/"-rooted path inside the root; keep the link's text when it says so
    // lexically, else store the relative path there.
    const std::string inside = real == real_root_ ? "/" : real.substr(real_root_.size());
    WalkedFile f;
    f.path = path;
    f.abs_path = abs;
    f.stamp = FileStamp::FromStat(e.st);
    if (ValidateSymlinkTarget(path, target).ok() && LexicalTarget(link_dir, target) == inside) {
      f.symlink_target = target;
    } else {
      f.symlink_target =
          std::filesystem::path(inside).lexically_relative("/" + link_dir).generic_string();
    }
    ++out_->symlinks;
    out_->files.push_back(std::move(f));
    return Status::Ok();
  }

  Status EscapingLinksError() const {
    const std::string ignore_file =
        out_->ignore_file.empty() ? ".trainyardignore" : out_->ignore_file;
    std::string message = std::to_string(escaping_.size()) +
                          (escaping_.size() == 1 ? " symlink leads" : " symlinks lead") +
                          " out of the source folder " + root_ + ":";
    for (size_t i = 0; i < escaping_.size() && i < kEscapingLinksNamed; ++i) {
      const EscapingLink& l = escaping_[i];
      message += (i == 0 ? " " : ", ") + l.path + " -> " + l.target;
      if (l.resolved != l.target) message += " (" + l.resolved + ")";
    }
    if (escaping_.size() > kEscapingLinksNamed) {
      message += " and " + std::to_string(escaping_.size() - kEscapingLinksNamed) + " more";
    }
    message += ". A snapshot holds only what is inside the folder: list " +
               std::string(escaping_.size() == 1 ? "it" : "them") + " in " + root_ + "/" +
               ignore_file + " to leave " + (escaping_.size() == 1 ? "it" : "them") +
               " out, or replace " + (escaping_.size() == 1 ? "it" : "them") +
               " with a copy of what " + (escaping_.size() == 1 ? "it points" : "they point") +
               " to";
    return InvalidArgument(message);
  }

  // Lists `abs` with each entry's own stat (and its target's, for a symlink), sorted by name,
  // without ".git" and without entries that vanish.
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
      Entry e{std::move(name), {}, {}, false};
      if (fstatat(fd, e.name.c_str(), &e.st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed while we looked
        status = ErrnoError("cannot stat " + abs + "/" + e.name, errno);
        break;
      }
      // A dangling (or looping) link keeps target_exists false.
      e.target_exists = S_ISLNK(e.st.st_mode) && fstatat(fd, e.name.c_str(), &e.target_st, 0) == 0;
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
  std::string real_root_;               // root_ with every link resolved
  std::vector<EscapingLink> escaping_;  // links that lead out of the root
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
  RETURN_IF_ERROR(walker.Run());
  return result;
}

}  // namespace trainyard::snapshot
