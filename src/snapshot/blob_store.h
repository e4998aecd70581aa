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

  // Reads `path` once, hashing the bytes as they are read, and stores them as a blob unless that
  // blob exists. What is hashed is exactly what is stored, even if the file changes meanwhile.
  // `scratch` is the caller's buffer (reused between calls, one per thread); `on_bytes` is called
  // after each chunk with its size. Fails with an error naming the path.
  Result<IngestedFile> Ingest(const std::string& path, std::vector<char>* scratch,
                              const std::function<void(uint64_t)>& on_bytes);

 private:
  std::string PrefixDir(const std::string& sha256) const;  // blobs/ab
  // Makes sure blobs/<first two hex digits> exists.
  Status EnsurePrefixDir(const std::string& sha256);

  const std::string dir_;      // <store>/blobs
  const std::string tmp_dir_;  // <store>/tmp
  std::array<std::atomic<bool>, 256> prefix_made_{};
};

}  // namespace trainyard::snapshot
