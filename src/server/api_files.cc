// A run's files and its code snapshot (docs/api.md, "Files").
//
// Downloads never leave the run's folder: a path with "..", "." or empty components, an absolute
// path or a NUL is refused (400) before anything is opened, and the file is opened relative to
// the run's folder with openat2(RESOLVE_BENEATH), so that no symlink (in any component, swapped
// in at any moment) leads out of it (404). Files are streamed from the open descriptor in chunks,
// never read whole into memory. Snapshot files are served only for paths the run's manifest
// lists, from the snapshot's blob store.
#include <fcntl.h>
#include <httplib.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/strings.h"
#include "server/api.h"
#include "snapshot/blob_store.h"
#include "snapshot/manifest.h"
#include "snapshot/snapshot.h"

namespace trainyard::server {

namespace {

constexpr size_t kChunkBytes = 256 << 10;

// An open file descriptor, closed when the last download that uses it is done.
struct OpenFile {
  explicit OpenFile(int f) : fd(f) {}
  ~OpenFile() {
    if (fd >= 0) close(fd);
  }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  int fd;
};

// OK for a relative '/'-separated path without empty, "." or ".." components or NUL.
Status CheckRelativePath(std::string_view path) {
  if (path.empty()) return InvalidArgument("empty file path");
  if (path.find('\0') != std::string_view::npos) {
    return InvalidArgument("file path contains a NUL byte");
  }
  if (path.front() == '/')
    return InvalidArgument("file path must be relative: " + std::string(path));
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return InvalidArgument("file path may not contain empty, \".\" or \"..\" parts: " +
                             std::string(path));
    }
    start = end + 1;
  }
  return Status::Ok();
}

// Opens `path` (checked by CheckRelativePath) for reading, beneath the folder `dir_fd`: no
// component may resolve outside it (symlinks included). A regular file or NotFound.
Result<int> OpenBeneath(int dir_fd, const std::string& path, const std::string& shown) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(syscall(SYS_openat2, dir_fd, path.c_str(), &how, sizeof how));
  if (fd < 0 && errno == ENOSYS) {
    // Kernels before 5.6: no symlink at all on the way (a link inside the folder is refused too).
    std::string_view rest = path;
    int at = dup(dir_fd);
    while (at >= 0) {
      size_t slash = rest.find('/');
      std::string part(rest.substr(0, slash));
      const bool last = slash == std::string_view::npos;
      int flags =
          O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | (last ? 0 : O_DIRECTORY);
      int next = openat(at, part.c_str(), flags);
      const int saved = errno;
      close(at);
      errno = saved;
      at = next;
      if (last) break;
      rest.remove_prefix(slash + 1);
    }
    fd = at;
  }
  if (fd < 0) {
    if (errno == ENOENT || errno == EXDEV || errno == ELOOP || errno == ENOTDIR) {
      return NotFound("no file " + shown);
    }
    return ErrnoError("cannot open " + shown, errno);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return NotFound("no file " + shown + " (not a regular file)");
  }
  // Reads block from here on (O_NONBLOCK was only for opening a FIFO without hanging).
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

std::string Extension(const std::string& path) {
  size_t slash = path.rfind('/');
  size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

std::string ContentTypeFor(const std::string& path) {
  const std::string ext = Extension(path);
  static const char* const kText[] = {"log", "txt",  "out",  "err", "py",  "sh",  "yaml",
                                      "yml", "toml", "cfg",  "ini", "md",  "csv", "tsv",
                                      "c",   "cc",   "cpp",  "h",   "hpp", "rs",  "ts",
                                      "js",  "css",  "html", "xml", "r",   "jl"};
  if (ext == "json") return "application/json";
  for (const char* t : kText) {
    if (ext == t) return "text/plain; charset=utf-8";
  }
  if (ext == "png") return "image/png";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "svg") return "text/plain; charset=utf-8";  // never rendered as a document
  return "application/octet-stream";
}

// Content-Disposition: attachment, with an ASCII fallback name and the UTF-8 name.
std::string Disposition(const std::string& path) {
  std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  std::string ascii, encoded;
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : base) {
    const bool plain = std::isalnum(c) || c == '.' || c == '-' || c == '_';
    ascii += plain ? static_cast<char>(c) : '_';
    if (plain) {
      encoded += static_cast<char>(c);
    } else {
      encoded += '%';
      encoded += kHex[c >> 4];
      encoded += kHex[c & 15];
    }
  }
  if (ascii.empty()) ascii = "download";
  return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded;
}

// Streams the open file `fd` as the response body (its size as of now).
void SendFile(httplib::Response& res, int fd, const std::string& path, bool attachment) {
  auto file = std::make_shared<OpenFile>(fd);
  struct stat st {};
  fstat(fd, &st);
  const auto size = static_cast<size_t>(st.st_size);
  if (attachment) res.set_header("Content-Disposition", Disposition(path));
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_content_provider(
      size, ContentTypeFor(path), [file](size_t offset, size_t length, httplib::DataSink& sink) {
        std::vector<char> buf(std::min(length, kChunkBytes));
        ssize_t n = pread(file->fd, buf.data(), buf.size(), static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) return true;  // called again for the same offset
        if (n <= 0) return false;  // the file shrank under us: abort rather than pad
        return sink.write(buf.data(), static_cast<size_t>(n));
      });
}

Result<store::RunRecord> FindRun(ServerContext& ctx, const std::string& id) {
  ASSIGN_OR_RETURN(WorkspacePool::Lease ws, ctx.pool.Acquire());
  return ws->GetRun(id);
}

// GET /api/v1/runs/{id}/files
void ListFiles(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Result<WorkspacePool::Lease> ws = ctx.pool.Acquire();
  if (!ws.ok()) return ReplyStatus(res, ws.status());
  Result<store::RunRecord> run = (*ws)->GetRun(PathParam(req, 1));
  if (!run.ok()) return ReplyStatus(res, run.status());
  Result<std::vector<store::FileRecord>> files = (*ws)->Files(run->id);
  if (!files.ok()) return ReplyStatus(res, files.status());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& f : *files) out.push_back({{"path", f.path}, {"size", f.size}});
  ReplyJson(res, {{"files", out}});
}

// GET /api/v1/runs/{id}/files/<path>
void GetFile(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string path = PathParam(req, 2);
  if (Status s = CheckRelativePath(path); !s.ok()) return ReplyStatus(res, s);
  Result<store::RunRecord> run = FindRun(ctx, PathParam(req, 1));
  if (!run.ok()) return ReplyStatus(res, run.status());
  const std::string dir = ctx.pool.dir() + "/runs/" + run->id;
  int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return ReplyError(res, 404, "run " + run->id + " has no files");
  Result<int> fd = OpenBeneath(dir_fd, path, path + " in run " + run->id);
  close(dir_fd);
  if (!fd.ok()) return ReplyStatus(res, fd.status());
  SendFile(res, *fd, path, /*attachment=*/true);
}

Result<std::vector<snapshot::ManifestEntry>> RunManifest(ServerContext& ctx,
                                                         const std::string& run_id,
                                                         std::string* resolved_id,
                                                         std::string* snapshot_id) {
  ASSIGN_OR_RETURN(WorkspacePool::Lease ws, ctx.pool.Acquire());
  ASSIGN_OR_RETURN(store::RunRecord run, ws->GetRun(run_id));
  *resolved_id = run.id;
  if (run.snapshot_id.empty()) return NotFound("run " + run.id + " has no code snapshot");
  *snapshot_id = run.snapshot_id;
  return snapshot::ReadManifest(ws->SnapshotsDir(), run.snapshot_id);
}

// GET /api/v1/runs/{id}/snapshot
void ListSnapshot(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  std::string run_id, snapshot_id;
  auto manifest = RunManifest(ctx, PathParam(req, 1), &run_id, &snapshot_id);
  if (!manifest.ok()) return ReplyStatus(res, manifest.status());
  nlohmann::json files = nlohmann::json::array();
  for (const auto& e : *manifest) {
    nlohmann::json f = {{"path", e.path}, {"size", e.size}, {"executable", e.executable}};
    if (e.is_symlink()) f["symlink"] = e.symlink;
    files.push_back(std::move(f));
  }
  ReplyJson(res, {{"id", snapshot_id}, {"run_id", run_id}, {"files", files}});
}

// The path a symlink entry at `link` with relative `target` names (lexically; the manifest
// guarantees it stays inside the snapshot).
std::string ResolveLink(const std::string& link, const std::string& target) {
  std::vector<std::string> parts;
  size_t slash = link.rfind('/');
  std::string joined = (slash == std::string::npos ? "" : link.substr(0, slash + 1)) + target;
  for (const std::string& p : Split(joined, '/')) {
    if (p.empty() || p == ".") continue;
    if (p == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(p);
  }
  return Join(parts, "/");
}

// GET /api/v1/runs/{id}/snapshot/<path>
void GetSnapshotFile(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  std::string path = PathParam(req, 2);
  if (Status s = CheckRelativePath(path); !s.ok()) return ReplyStatus(res, s);
  std::string run_id, snapshot_id;
  auto manifest = RunManifest(ctx, PathParam(req, 1), &run_id, &snapshot_id);
  if (!manifest.ok()) return ReplyStatus(res, manifest.status());
  // A symlink is followed inside the snapshot (a few hops at most: a cycle is not found).
  const snapshot::ManifestEntry* entry = nullptr;
  for (int hops = 0; hops < 8; ++hops) {
    entry = nullptr;
    for (const auto& e : *manifest) {
      if (e.path == path) entry = &e;
    }
    if (entry == nullptr || !entry->is_symlink()) break;
    path = ResolveLink(entry->path, entry->symlink);
  }
  if (entry == nullptr || entry->is_symlink()) {
    return ReplyError(res, 404,
                      "no file " + PathParam(req, 2) + " in the snapshot of run " + run_id);
  }
  snapshot::BlobStore blobs(ctx.pool.dir() + "/snapshots");
  const std::string blob = blobs.BlobPath(entry->sha256);
  int fd = open(blob.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return ReplyError(res, 500, "the blob of " + path + " is missing from the snapshot store");
  }
  SendFile(res, fd, path, /*attachment=*/false);
}

}  // namespace

void AddFileRoutes(Routes& routes, ServerContext& ctx) {
  routes.Get(R"(/api/v1/runs/([^/]+)/files)", Role::kRead,
             [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
               ListFiles(ctx, req, res);
             });
  routes.Get(R"(/api/v1/runs/([^/]+)/files/(.+))", Role::kRead,
             [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
               GetFile(ctx, req, res);
             });
  routes.Get(R"(/api/v1/runs/([^/]+)/snapshot)", Role::kRead,
             [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
               ListSnapshot(ctx, req, res);
             });
  routes.Get(R"(/api/v1/runs/([^/]+)/snapshot/(.+))", Role::kRead,
             [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
               GetSnapshotFile(ctx, req, res);
             });
}

}  // namespace trainyard::server
