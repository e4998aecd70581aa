// The manifest: the list of files in a snapshot, serialized deterministically so that equal
// contents give equal bytes and hence an equal id (the SHA-256 of those bytes).
//
// Format (one line, no spaces, files sorted bytewise by path, keys in this order):
//   {"version":1,"files":[{"path":"a/b.py","sha256":"<64 hex>","size":12,"executable":false}]}
// Strings are JSON-escaped ('"', '\\' and control characters as \u00XX); paths must be valid
// UTF-8 and are written as is otherwise.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "snapshot/snapshot.h"

namespace trainyard::snapshot {

// True for a lowercase 64-digit hex string.
bool IsSha256Hex(std::string_view s);
bool IsValidUtf8(std::string_view s);
// OK for a relative '/'-separated path with no empty, "." or ".." component and no NUL;
// InvalidArgument naming the path otherwise.
Status ValidateManifestPath(std::string_view path);

// Serializes `entries`, which must be sorted by path, with valid paths and hashes (the caller's
// responsibility: this is checked in debug builds only).
std::string SerializeManifest(const std::vector<ManifestEntry>& entries);
// Parses and validates manifest bytes (every path passes ValidateManifestPath, every hash is
// hex). Fails with InvalidArgument describing the first problem.
Result<std::vector<ManifestEntry>> ParseManifest(std::string_view bytes);

}  // namespace trainyard::snapshot
