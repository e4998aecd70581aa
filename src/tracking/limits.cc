#include "tracking/limits.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace trainyard::tracking {
namespace {

// The name as shown in an error: control characters made visible, long names shortened.
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 80)) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 || u == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  if (s.size() > 80) out += "...";
  return out;
}

Status NameError(std::string_view what, std::string_view name, const std::string& reason) {
  return InvalidArgument(std::string(what) + " '" + Printable(name) + "': " + reason);
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

Status CheckName(std::string_view what, std::string_view name) {
  if (name.empty()) return InvalidArgument(std::string(what) + " must not be empty");
  if (name.size() > kMaxNameBytes) {
    return NameError(what, name,
                     "too long (" + std::to_string(name.size()) + " bytes; at most " +
                         std::to_string(kMaxNameBytes) + ")");
  }
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return NameError(what, name, "contains a control character (TAB, CR, LF, ...)");
    }
  }
  if (!IsValidUtf8(name)) return NameError(what, name, "is not valid UTF-8");
  return Status::Ok();
}

Status CheckFilePath(std::string_view what, std::string_view path) {
  if (path.empty()) return InvalidArgument(std::string(what) + " must not be empty");
  if (path.size() > kMaxFilePathBytes) {
    return NameError(what, path,
                     "too long (" + std::to_string(path.size()) + " bytes; at most " +
                         std::to_string(kMaxFilePathBytes) + ")");
  }
  for (char c : path) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return NameError(what, path, "contains a control character");
  }
  if (!IsValidUtf8(path)) return NameError(what, path, "is not valid UTF-8");
  if (path.front() == '/') return NameError(what, path, "must be a relative path");
  for (const std::string& part : Split(path, '/')) {
    if (part.empty() || part == "." || part == "..") {
      return NameError(what, path, "must not have empty, '.' or '..' components");
    }
  }
  return Status::Ok();
}

Result<std::string> NormalizeRow(std::string_view name, std::string_view columns_json) {
  std::string row_what = "row '" + Printable(name) + "'";
  nlohmann::ordered_json row =
      nlohmann::ordered_json::parse(columns_json, nullptr, /*allow_exceptions=*/false);
  if (row.is_discarded()) return InvalidArgument(row_what + ": columns are not valid JSON");
  if (!row.is_object()) return InvalidArgument(row_what + ": columns must be a JSON object");
  if (row.size() > kMaxRowColumns) {
    return InvalidArgument(row_what + ": " + std::to_string(row.size()) + " columns; at most " +
                           std::to_string(kMaxRowColumns));
  }
  for (const auto& [column, value] : row.items()) {
    RETURN_IF_ERROR(CheckName("column name", column).WithContext(row_what));
    if (value.is_object() || value.is_array()) {
      return InvalidArgument(row_what + ": column '" + column +
                             "' must be a number, string, boolean or null");
    }
  }
  std::string out = row.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  if (out.size() > kMaxRowBytes) {
    return InvalidArgument(row_what + ": " + HumanBytes(out.size()) + " serialized; at most " +
                           HumanBytes(kMaxRowBytes));
  }
  return out;
}

Status CheckTagValueJson(std::string_view value_json) {
  if (value_json.size() > kMaxValueBytes) {
    return InvalidArgument("value too long (" + HumanBytes(value_json.size()) + "; at most " +
                           HumanBytes(kMaxValueBytes) + ")");
  }
  if (value_json == "null") return Status::Ok();
  nlohmann::json v = nlohmann::json::parse(value_json, nullptr, /*allow_exceptions=*/false);
  if (!v.is_string()) return InvalidArgument("value must be a JSON string or null");
  // "\u0000" decodes to a NUL, which names and text columns cannot hold.
  return CheckUtf8("value", v.get_ref<const std::string&>());
}

Result<uint64_t> CheckLocalFile(std::string_view what, const std::string& path,
                                uint64_t max_bytes) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) return NotFound(std::string(what) + ": no such file '" + path + "'");
    return ErrnoError(std::string(what) + ": '" + path + "'", err);
  }
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgument(std::string(what) + ": '" + path + "' is not a regular file");
  }
  if (access(path.c_str(), R_OK) != 0) {
    return ErrnoError(std::string(what) + ": '" + path + "'", errno);
  }
  auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    return InvalidArgument(std::string(what) + ": '" + path + "' is " + HumanBytes(size) +
                           "; at most " + HumanBytes(max_bytes));
  }
  return size;
}

}  // namespace trainyard::tracking
