#include "snapshot/stat_cache.h"

#include <algorithm>
#include <charconv>
#include <string_view>

#include "common/files.h"
#include "common/sha256.h"
#include "snapshot/atomic_file.h"
#include "snapshot/manifest.h"

namespace trainyard::snapshot {
namespace {

constexpr std::string_view kHeader = "# trainyard stat cache v1";

void AppendEscaped(std::string_view s, std::string* out) {
  for (char c : s) {
    switch (c) {
      case '\\': *out += "\\\\"; break;
      case '\t': *out += "\\t"; break;
      case '\n': *out += "\\n"; break;
      default: *out += c;
    }
  }
}

bool Unescape(std::string_view s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      *out += s[i];
      continue;
    }
    if (++i == s.size()) return false;
    switch (s[i]) {
      case '\\': *out += '\\'; break;
      case 't': *out += '\t'; break;
      case 'n': *out += '\n'; break;
      default: return false;
    }
  }
  return true;
}

template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// Splits `line` at tabs into exactly `n` fields.
bool SplitFields(std::string_view line, std::string_view* fields, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    size_t tab = line.find('\t');
    if (i + 1 == n) {
      if (tab != std::string_view::npos) return false;
      fields[i] = line;
    } else {
      if (tab == std::string_view::npos) return false;
      fields[i] = line.substr(0, tab);
      line.remove_prefix(tab + 1);
    }
  }
  return true;
}

}  // namespace

std::string StatCache::PathFor(const std::string& store_dir, const std::string& source_dir) {
  return store_dir + "/cache/" + Sha256Hex(source_dir) + ".tsv";
}

StatCache StatCache::Load(const std::string& path) {
  StatCache cache;
  auto text = ReadFile(path);
  if (!text.ok()) return cache;
  std::string_view rest = *text;
  bool header = true;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (header) {
      if (line != kHeader) return cache;  // another version: start afresh
      header = false;
      continue;
    }
    std::string_view f[6];
    std::string file_path;
    StatCacheEntry e;
    if (!SplitFields(line, f, 6) || !Unescape(f[0], &file_path) ||
        !ParseNumber(f[1], &e.stamp.size) || !ParseNumber(f[2], &e.stamp.mtime_ns) ||
        !ParseNumber(f[3], &e.stamp.ctime_ns) || !ParseNumber(f[4], &e.stamp.inode) ||
        !IsSha256Hex(f[5])) {
      continue;
    }
    e.sha256 = f[5];
    cache.entries_[std::move(file_path)] = std::move(e);
  }
  return cache;
}

const std::string* StatCache::Lookup(const std::string& path, const FileStamp& stamp) const {
  auto it = entries_.find(path);
  if (it == entries_.end() || !(it->second.stamp == stamp)) return nullptr;
  return &it->second.sha256;
}

std::string StatCache::Serialize() const {
  std::vector<const decltype(entries_)::value_type*> sorted;
  sorted.reserve(entries_.size());
  for (const auto& kv : entries_) sorted.push_back(&kv);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::string out(kHeader);
  out += '\n';
  out.reserve(sorted.size() * 140);
  for (const auto* kv : sorted) {
    const StatCacheEntry& e = kv->second;
    AppendEscaped(kv->first, &out);
    out += '\t' + std::to_string(e.stamp.size) + '\t' + std::to_string(e.stamp.mtime_ns) + '\t' +
           std::to_string(e.stamp.ctime_ns) + '\t' + std::to_string(e.stamp.inode) + '\t' +
           e.sha256 + '\n';
  }
  return out;
}

Status StatCache::Save(const std::string& path) const {
  RETURN_IF_ERROR(MakeDirs(path.substr(0, path.rfind('/'))));
  return WriteFileAtomically(path, Serialize(), 0644);
}

}  // namespace trainyard::snapshot
