// TakeSnapshot and ReadManifest: walk, consult the stat cache, read what it does not know (into
// the blob store), then write the manifest and the new stat cache. Restore is in restore.cc.
#include "snapshot/snapshot.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "common/clock.h"
#include "common/files.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "snapshot/atomic_file.h"
#include "snapshot/blob_store.h"
#include "snapshot/git_info.h"
#include "snapshot/manifest.h"
#include "snapshot/stat_cache.h"
#include "snapshot/walk.h"

namespace trainyard::snapshot {
namespace {

constexpr int64_t kProgressIntervalMicros = 100'000;
constexpr size_t kMaxReaders = 8;
constexpr size_t kLargestFilesNamed = 5;

std::string ManifestPath(const std::string& store_dir, const std::string& id) {
  return store_dir + "/manifests/" + id + ".json";
}

// The rule file a user should list a path in to leave it out.
std::string IgnoreFileToUse(const WalkResult& walk) {
  return walk.ignore_file.empty() ? ".trainyardignore" : walk.ignore_file;
}

Status CheckFileNames(const WalkResult& walk) {
  for (const WalkedFile& f : walk.files) {
    if (!IsValidUtf8(f.path)) {
      return InvalidArgument("file name is not valid UTF-8: " + f.abs_path +
                             " (rename it, or list it in " + IgnoreFileToUse(walk) + ")");
    }
    if (!IsValidUtf8(f.symlink_target)) {
      return InvalidArgument("the target of the symlink " + f.abs_path +
                             " is not valid UTF-8 (point it elsewhere, or list it in " +
                             IgnoreFileToUse(walk) + ")");
    }
  }
  return Status::Ok();
}

Status CheckMaxBytes(const WalkResult& walk, uint64_t max_bytes, const std::string& hint) {
  if (max_bytes == 0 || walk.total_bytes <= max_bytes) return Status::Ok();
  std::vector<const WalkedFile*> largest;
  for (const WalkedFile& f : walk.files) {
    if (f.symlink_target.empty()) largest.push_back(&f);
  }
  size_t shown = std::min(largest.size(), kLargestFilesNamed);
  std::partial_sort(largest.begin(), largest.begin() + static_cast<ptrdiff_t>(shown), largest.end(),
                    [](const WalkedFile* a, const WalkedFile* b) {
                      return a->stamp.size != b->stamp.size ? a->stamp.size > b->stamp.size
                                                            : a->path < b->path;
                    });
  std::string message = "source folder holds " + HumanBytes(walk.total_bytes) + " (" +
                        std::to_string(walk.total_bytes) + " bytes) in " +
                        std::to_string(largest.size()) + " files, over the limit of " +
                        HumanBytes(max_bytes) + " (" + std::to_string(max_bytes) +
                        " bytes); largest files:";
  for (size_t i = 0; i < shown; ++i) {
    message +=
        (i == 0 ? " " : ", ") + largest[i]->path + " (" + HumanBytes(largest[i]->stamp.size) + ")";
  }
  message += ". List what the job does not need in " + IgnoreFileToUse(walk) + "." + hint;
  return InvalidArgument(message);
}

// Reads the files `todo` (indexes into `files`) into the blob store with a few threads; results
// line up with `todo`. Progress is reported from the calling thread, which only waits.
Status ReadFiles(BlobStore* blobs, const std::vector<WalkedFile>& files,
                 const std::vector<size_t>& todo,
                 const std::function<void(const Progress&)>& progress,
                 std::vector<IngestedFile>* results) {
  results->assign(todo.size(), IngestedFile{});
  Progress totals;
  totals.files_total = todo.size();
  for (size_t i : todo) totals.bytes_total += files[i].stamp.size;

  std::atomic<size_t> next{0};
  std::atomic<uint64_t> files_done{0};
  std::atomic<uint64_t> bytes_done{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::condition_variable cv;
  Status first_error;  // guarded by mu
  size_t running = 0;  // guarded by mu

  auto read_some = [&] {
    std::vector<char> scratch;
    auto on_bytes = [&bytes_done](uint64_t n) {
      bytes_done.fetch_add(n, std::memory_order_relaxed);
    };
    while (!failed.load(std::memory_order_relaxed)) {
      size_t k = next.fetch_add(1);
      if (k >= todo.size()) break;
      auto r = blobs->Ingest(files[todo[k]].abs_path, &scratch, on_bytes);
      if (!r.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) first_error = r.status();
        failed.store(true);
        break;
      }
      (*results)[k] = std::move(r).value();
      files_done.fetch_add(1, std::memory_order_relaxed);
    }
  };
  auto snapshot_progress = [&] {
    Progress p = totals;
    p.files_done = files_done.load(std::memory_order_relaxed);
    p.bytes_done = bytes_done.load(std::memory_order_relaxed);
    return p;
  };

  size_t want = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, kMaxReaders);
  want = std::min(want, todo.size());
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu);
    running = want;
  }
  for (size_t t = 0; t < want; ++t) {
    try {
      threads.emplace_back([&] {
        read_some();
        std::lock_guard<std::mutex> lock(mu);
        --running;
        cv.notify_all();
      });
    } catch (const std::system_error&) {
      std::lock_guard<std::mutex> lock(mu);
      running -= want - t;  // these never started
      break;
    }
  }
  if (threads.empty()) read_some();  // no thread could be started: do it here

  int64_t last_report = MonotonicMicros();
  {
    std::unique_lock<std::mutex> lock(mu);
    while (running > 0) {
      cv.wait_for(lock, std::chrono::microseconds(kProgressIntervalMicros));
      int64_t now = MonotonicMicros();
      if (progress && running > 0 && now - last_report >= kProgressIntervalMicros) {
        lock.unlock();
        progress(snapshot_progress());
        last_report = now;
        lock.lock();
      }
    }
  }
  for (std::thread& t : threads) t.join();
  if (!first_error.ok()) return first_error;
  if (progress) progress(snapshot_progress());
  return Status::Ok();
}

void AddGitInfo(SnapshotInfo* info) {
  GitInfo git = ReadGitInfo(info->source_dir);
  info->in_git = git.in_git;
  info->git_commit = std::move(git.commit);
  info->git_dirty = git.dirty;
}

int64_t NowNanos() {
  struct timespec ts {};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

Result<SnapshotInfo> TakeSnapshot(const std::string& source_dir, const std::string& store_dir,
                                  const SnapshotOptions& options) {
  const int64_t start_ns = NowNanos();
  const std::string store = AbsolutePath(store_dir);
  SnapshotInfo info;
  info.source_dir = AbsolutePath(source_dir);

  WalkOptions walk_options;
  // The store and the workspace (its runs' folders change while a snapshot is taken), should
  // they live inside the source.
  for (const std::string& dir : {store, options.skip_dir}) {
    struct stat st {};
    if (!dir.empty() && stat(dir.c_str(), &st) == 0) {
      walk_options.skip_dirs.emplace_back(st.st_dev, st.st_ino);
    }
  }
  ASSIGN_OR_RETURN(WalkResult walk, WalkSourceDir(info.source_dir, walk_options));
  RETURN_IF_ERROR(CheckFileNames(walk));
  RETURN_IF_ERROR(CheckMaxBytes(walk, options.max_bytes, options.max_bytes_hint));
  info.ignore_file = walk.ignore_file;
  const std::vector<WalkedFile>& files = walk.files;

  // Hashes the stat cache knows; the rest must be read.
  const std::string cache_path = StatCache::PathFor(store, info.source_dir);
  const StatCache cache = StatCache::Load(cache_path);
  std::vector<ManifestEntry> entries(files.size());
  std::vector<bool> known(files.size(), false);
  std::vector<size_t> todo;
  for (size_t i = 0; i < files.size(); ++i) {
    entries[i].path = files[i].path;
    if (!files[i].symlink_target.empty()) {
      entries[i].symlink = files[i].symlink_target;  // nothing to read: the target is the entry
      known[i] = true;
      continue;
    }
    entries[i].executable = files[i].executable;
    if (const std::string* sha = cache.Lookup(files[i].path, files[i].stamp)) {
      entries[i].sha256 = *sha;
      entries[i].size = files[i].stamp.size;
      known[i] = true;
    } else {
      todo.push_back(i);
    }
  }

  BlobStore blobs(store);
  if (todo.empty()) {
    // Fast path: everything is known; if this exact manifest exists, there is nothing to write.
    std::string bytes = SerializeManifest(entries);
    std::string id = Sha256Hex(bytes);
    if (PathExists(ManifestPath(store, id))) {
      info.id = std::move(id);
      info.files = entries.size();
      info.symlinks = walk.symlinks;
      for (const ManifestEntry& e : entries) info.bytes += e.size;
      AddGitInfo(&info);
      return info;
    }
  }
  // A new manifest: the blobs of known files must still be there (say, after a cleanup).
  for (size_t i = 0; i < files.size(); ++i) {
    if (known[i] && !entries[i].is_symlink() && !blobs.Has(entries[i].sha256, entries[i].size)) {
      known[i] = false;
      todo.push_back(i);
    }
  }
  std::sort(todo.begin(), todo.end());

  StatCache next_cache;
  for (size_t i = 0; i < files.size(); ++i) {
    if (known[i] && !entries[i].is_symlink()) {
      next_cache.Put(files[i].path, {files[i].stamp, entries[i].sha256});
    }
  }
  if (!todo.empty()) {
    RETURN_IF_ERROR(blobs.Init());
    if (options.after_chunk_for_test) blobs.SetAfterChunkHookForTest(options.after_chunk_for_test);
    std::vector<IngestedFile> results;
    Status read = ReadFiles(&blobs, files, todo, options.progress, &results);
    if (read.code() == StatusCode::kFailedPrecondition) {
      return Status(read.code(), read.message() + ", or list it in " + info.source_dir + "/" +
                                     IgnoreFileToUse(walk) + " to leave it out");
    }
    RETURN_IF_ERROR(read);
    const int64_t cacheable_before_ns = start_ns - options.stat_cache_min_age_ms * 1'000'000;
    for (size_t k = 0; k < todo.size(); ++k) {
      const size_t i = todo[k];
      IngestedFile& r = results[k];
      entries[i].sha256 = r.sha256;
      entries[i].size = r.size;
      if (r.new_blob) ++info.new_blobs;
      // Remember the hash only for a file that did not change while it was read and whose
      // timestamps are old enough to be trusted (see SnapshotOptions::stat_cache_min_age_ms).
      const FileStamp& stamp = files[i].stamp;
      if (r.stamp_after == stamp &&
          std::max(stamp.mtime_ns, stamp.ctime_ns) < cacheable_before_ns) {
        next_cache.Put(files[i].path, {stamp, r.sha256});
      }
    }
    info.files_read = todo.size();
  }

  std::string bytes = SerializeManifest(entries);
  info.id = Sha256Hex(bytes);
  info.files = entries.size();
  info.symlinks = walk.symlinks;
  for (const ManifestEntry& e : entries) info.bytes += e.size;

  // The manifest goes last among the store's files: whoever sees it can rely on its blobs.
  const std::string manifest_path = ManifestPath(store, info.id);
  RETURN_IF_ERROR(MakeDirs(store + "/manifests"));
  {
    ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(store + "/manifests"));
    RETURN_IF_ERROR(tmp.Write(bytes));
    RETURN_IF_ERROR(tmp.Close(0444));
    ASSIGN_OR_RETURN(bool created, tmp.PublishNoReplace(manifest_path, bytes.size()));
    (void)created;  // an equal manifest written by a concurrent snapshot is just as good
  }
  // The snapshot is complete; the cache only saves work next time, so failing to write it (a
  // full disk, say) does not fail the snapshot.
  next_cache.Save(cache_path).IgnoreError();

  AddGitInfo(&info);
  return info;
}

Result<std::vector<ManifestEntry>> ReadManifest(const std::string& store_dir,
                                                const std::string& snapshot_id) {
  if (!IsSha256Hex(snapshot_id)) return InvalidArgument("not a snapshot id: " + snapshot_id);
  const std::string path = ManifestPath(AbsolutePath(store_dir), snapshot_id);
  if (!PathExists(path)) return NotFound("no snapshot " + snapshot_id + " in " + store_dir);
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  if (Sha256Hex(bytes) != snapshot_id) {
    return InvalidArgument("manifest " + path + " is damaged: its contents do not match its id");
  }
  auto entries = ParseManifest(bytes);
  if (!entries.ok()) return entries.status().WithContext("manifest " + path);
  return entries;
}

}  // namespace trainyard::snapshot
