#include "runner/download.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "common/clock.h"
#include "common/files.h"
#include "common/sha256.h"
#include "common/strings.h"

namespace trainyard::runner {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

long EnvSeconds(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return (end != v && *end == '\0' && n > 0) ? n : fallback;
}

std::string UrlKey(const std::string& url) { return Sha256Hex(url).substr(0, 32); }

std::string EntryDir(const std::string& workspace_dir, const std::string& url) {
  return DownloadCacheDir(workspace_dir) + "/" + UrlKey(url);
}

// A unique temporary name in `dir` (pid and a random number): never the name of a version.
std::string TempName(const std::string& dir) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return dir + "/.tmp." + std::to_string(getpid()) + "." + std::to_string(rng());
}

json EntryToJson(const CachedFile& f, const std::string& relative_file) {
  return {{"url", f.url},      {"file", relative_file},
          {"etag", f.etag},    {"last_modified", f.last_modified},
          {"size", f.size},    {"fetched_at", f.fetched_at},
          {"pinned", f.pinned}};
}

// The cached version of the URL whose entry folder is `dir`, or nullopt when there is none (or
// its entry or file is missing: treated as not cached).
std::optional<CachedFile> ReadEntry(const std::string& dir) {
  auto text = ReadFile(dir + "/entry.json");
  if (!text.ok()) return std::nullopt;
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  CachedFile f;
  f.url = j.value("url", "");
  std::string rel = j.value("file", "");
  if (f.url.empty() || rel.empty()) return std::nullopt;
  f.path = dir + "/" + rel;
  f.etag = j.value("etag", "");
  f.last_modified = j.value("last_modified", "");
  f.size = j.value("size", int64_t{0});
  f.fetched_at = j.value("fetched_at", int64_t{0});
  f.pinned = j.value("pinned", false);
  std::error_code ec;
  if (!fs::is_regular_file(f.path, ec)) return std::nullopt;
  return f;
}

// Moves the finished temporary file `tmp` (content hash `sha`) to its version path and writes
// the entry naming it. A version already there has the same bytes: the temporary is dropped.
Status Commit(const std::string& dir, const std::string& tmp, const std::string& sha,
              CachedFile* f) {
  std::string rel = sha.substr(0, 16) + "/" + UrlFileName(f->url);
  std::string dest = dir + "/" + rel;
  RETURN_IF_ERROR(MakeDirs(dir + "/" + sha.substr(0, 16)));
  std::error_code ec;
  if (fs::exists(dest, ec)) {
    fs::remove(tmp, ec);
  } else {
    fs::permissions(tmp, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read,
                    ec);
    if (std::rename(tmp.c_str(), dest.c_str()) != 0) {
      int err = errno;
      fs::remove(tmp, ec);
      return IoError("download cache: cannot move the download to " + dest + ": " +
                     std::strerror(err));
    }
  }
  f->path = dest;
  return WriteFileAtomic(dir + "/entry.json", EntryToJson(*f, rel).dump(2) + "\n");
}

std::string Describe(const CachedFile& f) {
  std::string s = HumanBytes(static_cast<uint64_t>(f.size));
  if (!f.etag.empty()) {
    s += ", ETag " + f.etag;
  } else if (!f.last_modified.empty()) {
    s += ", Last-Modified " + f.last_modified;
  }
  return s;
}

std::string HeaderValue(CURL* h, const char* name) {
  struct curl_header* hdr = nullptr;
  // -1: the last request (after redirects).
  if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hdr) != CURLHE_OK || hdr == nullptr) {
    return "";
  }
  return Trim(hdr->value);
}

std::string ReasonPhrase(long status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

struct Transfer {
  FILE* out = nullptr;
  Sha256 hash;
  int64_t bytes = 0;
  bool write_failed = false;
};

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  if (std::fwrite(data, 1, len, t->out) != len) {
    t->write_failed = true;
    return 0;  // aborts the transfer
  }
  t->hash.Update(std::string_view(data, len));
  t->bytes += static_cast<int64_t>(len);
  return len;
}

struct Response {
  CURLcode code = CURLE_OK;
  long status = 0;
  long os_errno = 0;
  std::string error;  // curl's error buffer
  std::string etag;
  std::string last_modified;
  std::string sha;
  int64_t bytes = 0;
  bool write_failed = false;
};

// GETs `url` into `tmp`, conditionally on `cached` when given.
Response Get(const std::string& url, const std::string& tmp, const CachedFile* cached,
             const DownloadOptions& options) {
  GlobalInit();
  Response r;
  Transfer t;
  t.out = std::fopen(tmp.c_str(), "wb");
  if (t.out == nullptr) {
    r.write_failed = true;
    r.error = std::string("cannot write ") + tmp + ": " + std::strerror(errno);
    return r;
  }
  CURL* h = curl_easy_init();
  if (h == nullptr) {
    std::fclose(t.out);
    r.code = CURLE_FAILED_INIT;
    r.error = "libcurl could not start a transfer";
    return r;
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  struct curl_slist* headers = nullptr;
  if (cached != nullptr && !cached->etag.empty()) {
    headers = curl_slist_append(headers, ("If-None-Match: " + cached->etag).c_str());
  } else if (cached != nullptr && !cached->last_modified.empty()) {
    headers = curl_slist_append(headers, ("If-Modified-Since: " + cached->last_modified).c_str());
  }
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_seconds);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, options.stall_timeout_seconds);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "trainyard");
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  r.code = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &r.os_errno);
  r.error = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(r.code);
  if (r.code == CURLE_OK) {
    r.etag = HeaderValue(h, "ETag");
    r.last_modified = HeaderValue(h, "Last-Modified");
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  if (std::fclose(t.out) != 0) t.write_failed = true;
  r.bytes = t.bytes;
  r.write_failed = r.write_failed || t.write_failed;
  r.sha = t.hash.HexDigest();
  return r;
}

// Whether a failed transfer means the server could not be reached (as opposed to a server that
// answered, or a TLS problem, which the cache must not hide).
bool Unreachable(CURLcode code) {
  return code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY ||
         code == CURLE_COULDNT_CONNECT || code == CURLE_OPERATION_TIMEDOUT;
}

std::string NetworkReason(const Response& r, const std::string& url) {
  switch (r.code) {
    case CURLE_COULDNT_RESOLVE_HOST: return "could not resolve the host (DNS): " + r.error;
    case CURLE_COULDNT_RESOLVE_PROXY: return "could not resolve the proxy (DNS): " + r.error;
    case CURLE_COULDNT_CONNECT:
      return std::string(r.os_errno == ECONNREFUSED ? "connection refused" : "could not connect") +
             ": " + r.error;
    case CURLE_OPERATION_TIMEDOUT: return "timed out: " + r.error;
    default: break;
  }
  (void)url;
  return r.error;
}

}  // namespace

DownloadOptions DownloadOptionsFromEnv() {
  DownloadOptions o;
  o.connect_timeout_seconds =
      EnvSeconds("TRAINYARD_DOWNLOAD_CONNECT_TIMEOUT", o.connect_timeout_seconds);
  o.stall_timeout_seconds = EnvSeconds("TRAINYARD_DOWNLOAD_STALL_TIMEOUT", o.stall_timeout_seconds);
  const char* offline = std::getenv("TRAINYARD_OFFLINE");
  o.offline = offline != nullptr && *offline != '\0' && std::string(offline) != "0";
  return o;
}

bool IsWebUrl(const std::string& path) {
  std::string head = path.substr(0, 8);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return StartsWith(head, "https://") || StartsWith(head, "http://");
}

std::string DownloadCacheDir(const std::string& workspace_dir) {
  return workspace_dir + "/cache/downloads";
}

std::string UrlFileName(const std::string& url) {
  std::string rest = url;
  if (size_t cut = rest.find_first_of("?#"); cut != std::string::npos) rest.resize(cut);
  if (size_t scheme = rest.find("://"); scheme != std::string::npos) {
    rest = rest.substr(scheme + 3);
    size_t slash = rest.find('/');
    rest = slash == std::string::npos ? "" : rest.substr(slash);
  }
  std::string last = rest.substr(rest.find_last_of('/') + 1);
  std::string name;
  for (size_t i = 0; i < last.size(); ++i) {
    char c = last[i];
    if (c == '%' && i + 2 < last.size() && std::isxdigit(static_cast<unsigned char>(last[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(last[i + 2]))) {
      c = static_cast<char>(std::stoi(last.substr(i + 1, 2), nullptr, 16));
      i += 2;
    }
    name += (c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '_' : c;
  }
  if (name.empty() || name == "." || name == "..") return "download";
  return name;
}

Result<CachedFile> FetchToCache(const std::string& workspace_dir, const std::string& url,
                                const DownloadOptions& options) {
  if (!IsWebUrl(url)) return InvalidArgument(url + " is not an http:// or https:// URL");
  const std::string dir = EntryDir(workspace_dir, url);
  std::optional<CachedFile> cached = ReadEntry(dir);
  if (cached && cached->url != url) cached.reset();  // a key collision: treated as not cached

  if (cached && cached->pinned && !options.refresh) {
    cached->outcome = "pinned";
    cached->note = url + ": the copy put in the download cache with `trainyard data cache` (" +
                   Describe(*cached) + "), not revalidated: " + cached->path;
    return *cached;
  }
  if (options.offline) {
    if (!cached) {
      return Unavailable(url +
                         ": not in the download cache, and TRAINYARD_OFFLINE is set; "
                         "fill the cache with `trainyard data cache URL FILE`");
    }
    cached->outcome = "offline";
    cached->note = url + ": TRAINYARD_OFFLINE is set: the cached copy (" + Describe(*cached) +
                   ", stored " + FormatIso8601(cached->fetched_at) + ") is used: " + cached->path;
    return *cached;
  }

  RETURN_IF_ERROR(MakeDirs(dir));
  const std::string tmp = TempName(dir);
  Response r = Get(url, tmp, cached ? &*cached : nullptr, options);
  auto drop_tmp = [&tmp] {
    std::error_code ec;
    fs::remove(tmp, ec);
  };
  if (r.write_failed) {
    drop_tmp();
    return IoError(url + ": cannot write the download cache (" + dir + "): " + r.error);
  }
  if (r.code != CURLE_OK) {
    drop_tmp();
    std::string reason = NetworkReason(r, url);
    if (Unreachable(r.code) && cached) {
      cached->outcome = "unreachable";
      cached->note = url + ": could not reach the server (" + reason +
                     "); the cached copy stored " + FormatIso8601(cached->fetched_at) + " (" +
                     Describe(*cached) + ") is used: " + cached->path;
      return *cached;
    }
    if (Unreachable(r.code)) {
      return Unavailable(url + ": " + reason +
                         " (it is not in the download cache; on a machine "
                         "without network, fill the cache with "
                         "`trainyard data cache URL FILE`)");
    }
    return Unavailable(url + ": " + reason);
  }
  if (r.status == 304 && cached) {
    drop_tmp();
    cached->outcome = "revalidated (304 Not Modified)";
    cached->note = url + ": not modified (304) since it was cached " +
                   FormatIso8601(cached->fetched_at) + " (" + Describe(*cached) +
                   "): " + cached->path;
    return *cached;
  }
  if (r.status != 200) {
    drop_tmp();
    std::string phrase = ReasonPhrase(r.status);
    std::string message =
        url + ": HTTP " + std::to_string(r.status) + (phrase.empty() ? "" : " " + phrase);
    if (r.status == 404 || r.status == 410) return NotFound(message);
    return FailedPrecondition(message);
  }
  CachedFile f;
  f.url = url;
  f.etag = r.etag;
  f.last_modified = r.last_modified;
  f.size = r.bytes;
  f.fetched_at = NowMicros();
  RETURN_IF_ERROR(Commit(dir, tmp, r.sha, &f));
  f.outcome = "downloaded";
  f.note = url + ": downloaded (" + Describe(f) + ") into " + f.path;
  return f;
}

Result<CachedFile> PutInCache(const std::string& workspace_dir, const std::string& url,
                              const std::string& file) {
  if (!IsWebUrl(url)) return InvalidArgument(url + " is not an http:// or https:// URL");
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return InvalidArgument(file + " is not a file");
  const std::string dir = EntryDir(workspace_dir, url);
  RETURN_IF_ERROR(MakeDirs(dir));
  const std::string tmp = TempName(dir);
  Status copied = CopyFile(file, tmp);
  if (!copied.ok()) {
    fs::remove(tmp, ec);
    return copied;
  }
  auto sha = Sha256File(tmp);
  if (!sha.ok()) {
    fs::remove(tmp, ec);
    return sha.status();
  }
  CachedFile f;
  f.url = url;
  f.size = static_cast<int64_t>(fs::file_size(tmp, ec));
  f.fetched_at = NowMicros();
  f.pinned = true;
  RETURN_IF_ERROR(Commit(dir, tmp, *sha, &f));
  f.outcome = "pinned";
  f.note = url + ": " + file + " put in the download cache (" + Describe(f) + "): " + f.path;
  return f;
}

Result<std::vector<CachedFile>> ListCache(const std::string& workspace_dir) {
  std::vector<CachedFile> out;
  std::error_code ec;
  const std::string root = DownloadCacheDir(workspace_dir);
  if (!fs::is_directory(root, ec)) return out;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (!e.is_directory(ec)) continue;
    if (auto f = ReadEntry(e.path().string())) out.push_back(*f);
  }
  if (ec) return IoError("cannot list " + root + ": " + ec.message());
  std::sort(out.begin(), out.end(),
            [](const CachedFile& a, const CachedFile& b) { return a.url < b.url; });
  return out;
}

}  // namespace trainyard::runner
