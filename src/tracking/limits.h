// Limits on what a training script may record. They are checked at the call (Recorder), so that a
// mistake fails on the line that made it rather than after a weekend of training, and again by the
// endpoint when it decodes a batch. There is no limit on the number of points, rows or images per
// run: millions of points per metric are expected.
//
//   names        metric / row / image names, tag and property keys, row column names: 1 to 255
//                bytes of valid UTF-8, no control characters (TAB, CR, LF, ...), since they travel
//                unescaped in the line protocol (protocol.h)
//   row          a JSON object of at most 1024 columns whose values are numbers, strings, booleans
//                or null (no nested objects or arrays); at most 1 MB once serialized. Non-finite
//                numbers are stored as the strings "NaN", "Infinity", "-Infinity"
//   tag/property value   a string (or no value), at most 1 MB
//   image        a PNG file of at most 100 MB
//   upload       a file of at most 5 GB; its name in the run ("outputs/model.pt") is a relative
//                path of at most 1024 bytes, without "." / ".." / empty components
//
// All functions are pure (no I/O) except CheckLocalFile, and safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace trainyard::tracking {

inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kMaxRowColumns = 1024;
inline constexpr size_t kMaxRowBytes = 1'000'000;
inline constexpr size_t kMaxValueBytes = 1'000'000;
inline constexpr uint64_t kMaxImageBytes = 100'000'000;
inline constexpr uint64_t kMaxFileBytes = 5'000'000'000;
inline constexpr size_t kMaxFilePathBytes = 1024;

// OK, or InvalidArgument "<what> '<name>': <reason>" (what: "metric name", "tag key", ...).
Status CheckName(std::string_view what, std::string_view name);

// A file's name inside a run ("outputs/model.pt"); InvalidArgument naming `what` otherwise.
Status CheckFilePath(std::string_view what, std::string_view path);

// Parses a row (a JSON object), checks it against the limits above and returns it re-serialized
// compactly, columns in their original order. InvalidArgument naming the row `name` otherwise.
Result<std::string> NormalizeRow(std::string_view name, std::string_view columns_json);

// A tag or property value as it travels: a JSON string or null, within kMaxValueBytes.
Status CheckTagValueJson(std::string_view value_json);

// Checks that `path` is a readable regular file of at most `max_bytes`; returns its size.
// NotFound / InvalidArgument / Io naming `what` and the path otherwise.
Result<uint64_t> CheckLocalFile(std::string_view what, const std::string& path, uint64_t max_bytes);

// True when `s` is valid UTF-8.
bool IsValidUtf8(std::string_view s);

}  // namespace trainyard::tracking
