#include "snapshot/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <utility>

#include "common/files.h"
#include "common/sha256.h"
#include "snapshot/atomic_file.h"
#include "snapshot/unique_fd.h"

namespace trainyard::snapshot {
namespace {

constexpr mode_t kBlobMode = 0444;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Reads until `buf` is full or the file ends; returns the bytes read.
Result<size_t> ReadFull(int fd, char* buf, size_t cap, const std::string& path) {
  size_t got = 0;
  while (got < cap) {
    ssize_t n = read(fd, buf + got, cap - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot read " + path, errno);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

}  // namespace

BlobStore::BlobStore(std::string store_dir)
    : dir_(store_dir + "/blobs"), tmp_dir_(std::move(store_dir) + "/tmp") {}

Status BlobStore::Init() {
  RETURN_IF_ERROR(MakeDirs(dir_));
  return MakeDirs(tmp_dir_);
}

std::string BlobStore::PrefixDir(const std::string& sha256) const {
  return dir_ + "/" + sha256.substr(0, 2);
}

std::string BlobStore::BlobPath(const std::string& sha256) const {
  return PrefixDir(sha256) + "/" + sha256.substr(2);
}

bool BlobStore::Has(const std::string& sha256, uint64_t size) const {
  struct stat st {};
  return stat(BlobPath(sha256).c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         static_cast<uint64_t>(st.st_size) == size;
}

Status BlobStore::EnsurePrefixDir(const std::string& sha256) {
  const auto index =
      static_cast<size_t>(HexValue(sha256[0])) * 16 + static_cast<size_t>(HexValue(sha256[1]));
  if (prefix_made_[index].load(std::memory_order_acquire)) return Status::Ok();
  std::string dir = PrefixDir(sha256);
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError("cannot create folder " + dir, errno);
  }
  prefix_made_[index].store(true, std::memory_order_release);
  return Status::Ok();
}

Result<IngestedFile> BlobStore::Ingest(const std::string& path, std::vector<char>* scratch,
                                       const std::function<void(uint64_t)>& on_bytes) {
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    bool changed = false;
    ASSIGN_OR_RETURN(IngestedFile out, IngestOnce(path, attempt, scratch, on_bytes, &changed));
    if (!changed) return out;
  }
  return FailedPrecondition(path + ": file changed as we read it (read " +
                            std::to_string(kReadAttempts) +
                            " times, it changed each time); stop what writes to it while the "
                            "snapshot is taken");
}

Result<IngestedFile> BlobStore::IngestOnce(const std::string& path, int attempt,
                                           std::vector<char>* scratch,
                                           const std::function<void(uint64_t)>& on_bytes,
                                           bool* changed) {
  // O_NONBLOCK: should the file have been replaced by a fifo since the walk, do not hang on it.
  UniqueFd in(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW));
  if (in.get() < 0) {
    if (errno == ELOOP) return FailedPrecondition(path + " is no longer a regular file");
    return ErrnoError("cannot open " + path, errno);
  }
  struct stat st {};
  if (fstat(in.get(), &st) != 0) return ErrnoError("cannot stat " + path, errno);
  if (!S_ISREG(st.st_mode)) return FailedPrecondition(path + " is no longer a regular file");
  const FileStamp before = FileStamp::FromStat(st);
  if (before.size > kChunkBytes) posix_fadvise(in.get(), 0, 0, POSIX_FADV_SEQUENTIAL);

  scratch->resize(kChunkBytes);
  char* buf = scratch->data();
  Sha256 hasher;
  IngestedFile out;
  auto read_chunk = [&]() -> Result<size_t> {
    ASSIGN_OR_RETURN(size_t n, ReadFull(in.get(), buf, kChunkBytes, path));
    hasher.Update(std::string_view(buf, n));
    out.size += n;
    if (on_bytes) on_bytes(n);
    if (after_chunk_) after_chunk_(path, attempt);
    return n;
  };
  // Whether the file changed since `before`: then nothing may be stored from this read.
  auto check_unchanged = [&]() -> Status {
    if (fstat(in.get(), &st) != 0) return ErrnoError("cannot stat " + path, errno);
    out.stamp_after = FileStamp::FromStat(st);
    *changed = out.size != before.size || out.stamp_after.size != before.size ||
               out.stamp_after.mtime_ns != before.mtime_ns ||
               out.stamp_after.ctime_ns != before.ctime_ns;
    return Status::Ok();
  };

  ASSIGN_OR_RETURN(size_t n, read_chunk());
  if (n < kChunkBytes) {
    // The whole file is in memory: write it only if the blob is missing.
    RETURN_IF_ERROR(check_unchanged());
    if (*changed) return out;
    out.sha256 = hasher.HexDigest();
    if (!Has(out.sha256, out.size)) {
      RETURN_IF_ERROR(EnsurePrefixDir(out.sha256));
      std::string final_path = BlobPath(out.sha256);
      ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(PrefixDir(out.sha256)));
      RETURN_IF_ERROR(tmp.Write(std::string_view(buf, n)));
      RETURN_IF_ERROR(tmp.Close(kBlobMode));
      ASSIGN_OR_RETURN(out.new_blob, tmp.PublishNoReplace(final_path, out.size));
    }
    return out;
  }
  // Stream: read, hash and write each chunk once; name the blob at the end (the temporary file
  // is removed, not published, if the file changed meanwhile).
  ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(tmp_dir_));
  RETURN_IF_ERROR(tmp.Write(std::string_view(buf, n)));
  while (true) {
    ASSIGN_OR_RETURN(n, read_chunk());
    if (n == 0) break;
    RETURN_IF_ERROR(tmp.Write(std::string_view(buf, n)));
  }
  RETURN_IF_ERROR(check_unchanged());
  if (*changed) return out;
  out.sha256 = hasher.HexDigest();
  RETURN_IF_ERROR(tmp.Close(kBlobMode));
  RETURN_IF_ERROR(EnsurePrefixDir(out.sha256));
  ASSIGN_OR_RETURN(out.new_blob, tmp.PublishNoReplace(BlobPath(out.sha256), out.size));
  return out;
}

}  // namespace trainyard::snapshot
