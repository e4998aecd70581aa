// The content-addressed blob store: <store>/blobs/ab/<rest of the SHA-256>, read-only files
// written once through a temporary file and a rename, never rewritten. Temporary files for blobs
// whose name is not known until they are fully read live in <store>/tmp (same file system).
//
// A BlobStore is safe to share between threads once Init() has returned, and several processes
// may write the same store at once: a blob that appears meanwhile is kept and the copy dropped.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "snapshot/file_stamp.h"

namespace trainyard::snapshot {

struct IngestedFile {
  std::string sha256;     // of the bytes read, which are the bytes stored
  uint64_t size = 0;      // bytes read
  bool new_blob = false;  // this call created the blob
  FileStamp stamp_after;  // fstat() of the source after reading it
};

class BlobStore {
 public:
  // Reading and writing work in chunks of this size; files no larger are buffered whole, so a
  // blob that already exists costs no write at all.
  static constexpr size_t kChunkBytes = 1 << 20;

  explicit BlobStore(std::string store_dir);

  // Creates the blobs/ and tmp/ folders.
  Status Init();

  std::string BlobPath(const std::string& sha256) const;
  // True when the blob exists with `size` bytes.
  bool Has(const std::string& sha256, uint64_t size) const;

  // How many times Ingest reads a file that changes while it is read before it gives up.
  static constexpr int kReadAttempts = 3;

  // Reads `path`, hashing the bytes as they are read, and stores them as a blob unless that blob
  // exists. What is hashed is exactly what is stored. A read during which the file changed (its
  // size, mtime or ctime differ before and after, or the bytes read are not its size) is thrown
  // away and the file read again, up to kReadAttempts times; then it fails with
  // FailedPrecondition ("file changed as we read it"). `scratch` is the caller's buffer (reused
  // between calls, one per thread); `on_bytes` is called after each chunk with its size (a retry
  // counts its bytes again). Fails with an error naming the path.
  Result<IngestedFile> Ingest(const std::string& path, std::vector<char>* scratch,
                              const std::function<void(uint64_t)>& on_bytes);

  // Tests only: called after each chunk read by Ingest with the path and the attempt (0, 1, ...).
  // Set before the store is shared between threads; the hook must be safe to call from them.
  void SetAfterChunkHookForTest(std::function<void(const std::string&, int)> hook) {
    after_chunk_ = std::move(hook);
  }

 private:
  std::string PrefixDir(const std::string& sha256) const;  // blobs/ab
  // Makes sure blobs/<first two hex digits> exists.
  Status EnsurePrefixDir(const std::string& sha256);
  // One attempt of Ingest: sets *changed (and returns OK without storing anything) when the file
  // changed while it was read.
  Result<IngestedFile> IngestOnce(const std::string& path, int attempt, std::vector<char>* scratch,
                                  const std::function<void(uint64_t)>& on_bytes, bool* changed);

  const std::string dir_;      // <store>/blobs
  const std::string tmp_dir_;  // <store>/tmp
  std::array<std::atomic<bool>, 256> prefix_made_{};
  std::function<void(const std::string&, int)> after_chunk_;
};

}  // namespace trainyard::snapshot
