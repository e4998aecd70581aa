// SHA-256 (OpenSSL). Hex digests are lowercase, 64 characters.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace trainyard {

std::string Sha256Hex(std::string_view data);
// Hashes a file by streaming it; fails with the path on I/O errors.
Result<std::string> Sha256File(const std::string& path);

// Incremental hasher. Not thread-safe; one per thread.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view data);
  std::string HexDigest();  // finishes the hash; call once

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainyard
