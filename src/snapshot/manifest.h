// The manifest: the list of files in a snapshot, serialized deterministically so that equal
// contents give equal bytes and hence an equal id (the SHA-256 of those bytes).
//
// Format (one line, no spaces, files sorted bytewise by path, keys in this order):
//   {"version":1,"files":[{"path":"a/b.py","sha256":"<64 hex>","size":12,"executable":false}]}
// A manifest with symlinks is version 2, where a symlink's entry is {"path":"lib","symlink":"x"};
// one without is written as version 1, byte for byte as before symlinks were kept (so the ids of
// such snapshots do not change, and every manifest written before remains readable).
// Strings are JSON-escaped ('"', '\\' and control characters as \u00XX); paths and targets must
// be valid UTF-8 and are written as is otherwise.
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
// OK for the target of the symlink `path` when it is relative, has no NUL, and does not lead
// above the root lexically from the link's folder (".." components included); InvalidArgument
// naming both otherwise.
Status ValidateSymlinkTarget(std::string_view path, std::string_view target);

// Serializes `entries`, which must be sorted by path, with valid paths and hashes (the caller's
// responsibility: this is checked in debug builds only).
std::string SerializeManifest(const std::vector<ManifestEntry>& entries);
// Parses and validates manifest bytes (every path passes ValidateManifestPath, every hash is
// hex, every symlink target passes ValidateSymlinkTarget, version 1 holds no symlinks). Fails
// with InvalidArgument describing the first problem.
Result<std::vector<ManifestEntry>> ParseManifest(std::string_view bytes);

}  // namespace trainyard::snapshot
