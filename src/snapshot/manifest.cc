#include "snapshot/manifest.h"

#include <cassert>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace trainyard::snapshot {
namespace {

constexpr int kVersion = 1;              // no symlinks
constexpr int kVersionWithSymlinks = 2;  // symlinks as {"path":...,"symlink":...}

void AppendJsonString(std::string_view s, std::string* out) {
  *out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      *out += buf;
    } else {
      *out += c;
    }
  }
  *out += '"';
}

// A printable form of a path for error messages.
std::string Quote(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

}  // namespace

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += len;
  }
  return true;
}

Status ValidateManifestPath(std::string_view path) {
  if (path.empty()) return InvalidArgument("empty path in manifest");
  if (path.front() == '/') return InvalidArgument("absolute path in manifest: " + Quote(path));
  if (path.find('\0') != std::string_view::npos) {
    return InvalidArgument("NUL in manifest path: " + Quote(path));
  }
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string_view part = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty() || part == "." || part == "..") {
      return InvalidArgument("manifest path has an empty, '.' or '..' component: " + Quote(path));
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::Ok();
}

Status ValidateSymlinkTarget(std::string_view path, std::string_view target) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("symlink " + Quote(path) + " -> " + Quote(target) + " in manifest " +
                           why);
  };
  if (target.empty()) return bad("has an empty target");
  if (target.front() == '/') return bad("has an absolute target");
  if (target.find('\0') != std::string_view::npos) return bad("has a NUL in its target");
  // How deep the link's folder is: ".." may climb at most that far, and only at the start (after a
  // name, ".." would be resolved from wherever that name leads, which may be another link).
  size_t depth = 0;
  for (char c : path) depth += c == '/' ? 1 : 0;
  bool names_seen = false;
  size_t start = 0;
  while (start <= target.size()) {
    size_t slash = target.find('/', start);
    if (slash == std::string_view::npos) slash = target.size();
    std::string_view part = target.substr(start, slash - start);
    start = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (names_seen) return bad("has '..' after a name in its target");
      if (depth == 0) return bad("leads out of the snapshot");
      --depth;
    } else {
      names_seen = true;
    }
  }
  return Status::Ok();
}

std::string SerializeManifest(const std::vector<ManifestEntry>& entries) {
  bool symlinks = false;
  for (const ManifestEntry& e : entries) symlinks = symlinks || e.is_symlink();
  std::string out =
      "{\"version\":" + std::to_string(symlinks ? kVersionWithSymlinks : kVersion) + ",\"files\":[";
  out.reserve(out.size() + entries.size() * 140);
  for (size_t i = 0; i < entries.size(); ++i) {
    const ManifestEntry& e = entries[i];
    assert(i == 0 || entries[i - 1].path < e.path);
    if (i > 0) out += ',';
    out += "{\"path\":";
    AppendJsonString(e.path, &out);
    if (e.is_symlink()) {
      assert(IsValidUtf8(e.path) && IsValidUtf8(e.symlink));
      out += ",\"symlink\":";
      AppendJsonString(e.symlink, &out);
      out += '}';
      continue;
    }
    assert(IsValidUtf8(e.path) && IsSha256Hex(e.sha256));
    out += ",\"sha256\":\"";
    out += e.sha256;
    out += "\",\"size\":";
    out += std::to_string(e.size);
    out += ",\"executable\":";
    out += e.executable ? "true" : "false";
    out += '}';
  }
  out += "]}";
  return out;
}

Result<std::vector<ManifestEntry>> ParseManifest(std::string_view bytes) {
  nlohmann::json doc = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return InvalidArgument("manifest is not JSON");
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer() ||
      (*version != kVersion && *version != kVersionWithSymlinks)) {
    return InvalidArgument("unsupported manifest version");
  }
  const bool symlinks_allowed = *version == kVersionWithSymlinks;
  auto files = doc.find("files");
  if (files == doc.end() || !files->is_array()) return InvalidArgument("manifest has no files");
  std::vector<ManifestEntry> entries;
  entries.reserve(files->size());
  for (const auto& f : *files) {
    if (!f.is_object()) return InvalidArgument("manifest entry is not an object");
    auto path = f.find("path");
    if (auto link = f.find("symlink"); link != f.end()) {
      if (!symlinks_allowed || path == f.end() || !path->is_string() || !link->is_string() ||
          f.size() != 2) {
        return InvalidArgument("malformed manifest entry: " + f.dump());
      }
      ManifestEntry e;
      e.path = path->get<std::string>();
      e.symlink = link->get<std::string>();
      RETURN_IF_ERROR(ValidateManifestPath(e.path));
      RETURN_IF_ERROR(ValidateSymlinkTarget(e.path, e.symlink));
      entries.push_back(std::move(e));
      continue;
    }
    auto sha = f.find("sha256");
    auto size = f.find("size");
    auto exec = f.find("executable");
    if (path == f.end() || !path->is_string() || sha == f.end() || !sha->is_string() ||
        size == f.end() || !size->is_number_unsigned() || exec == f.end() || !exec->is_boolean()) {
      return InvalidArgument("malformed manifest entry: " + f.dump());
    }
    ManifestEntry e;
    e.path = path->get<std::string>();
    e.sha256 = sha->get<std::string>();
    e.size = size->get<uint64_t>();
    e.executable = exec->get<bool>();
    RETURN_IF_ERROR(ValidateManifestPath(e.path));
    if (!IsSha256Hex(e.sha256)) return InvalidArgument("bad hash in manifest: " + Quote(e.sha256));
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace trainyard::snapshot
