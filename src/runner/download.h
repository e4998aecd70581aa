// Web URLs as inputs (issue 14, item 5): a `type: uri_file` input whose path is an http:// or
// https:// URL is downloaded at submit into the workspace's download cache, and the run reads the
// cached file as it reads a local uri_file input (docs/jobs.md, "Web inputs").
//
// The cache, <workspace>/cache/downloads/, holds one folder per URL, named by the SHA-256 of the
// URL:
//
//   <key>/entry.json          {url, file, etag, last_modified, size, fetched_at, pinned}
//   <key>/<sha>/<name>        one version of the URL's content; <sha> is the first 16 hex digits
//                             of its SHA-256, <name> the URL's last path segment
//
// A version is never rewritten or removed once entry.json names it: a run recorded with it keeps
// reading the same bytes, whatever later submits download. Every write is a temporary file
// renamed into place (the body, then entry.json), so a submit running beside another never sees
// half a file.
//
// Revalidation: each fetch of a cached URL sends If-None-Match (the ETag) or, without one,
// If-Modified-Since (the Last-Modified); 304 keeps the cached version, 200 adds a new one.
// When the server cannot be reached (DNS, connection refused, connect timeout) and the URL is
// cached, the cached version is used and the note says so; when it is not cached, the fetch is
// refused. An HTTP error status (4xx, 5xx) is always refused: the server answered.
// A version put in with PutInCache (`trainyard data cache URL FILE`) is pinned: it is used
// without contacting the server until FetchToCache is called with `refresh`.
//
// libcurl does the transfers: redirects followed (http and https only), https_proxy, http_proxy
// and no_proxy honoured, a connect timeout, and a stall timeout (no byte for N seconds).
//
// Thread safety: every function may be called from any thread; processes share the cache
// through the file system only (renames).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainyard::runner {

struct DownloadOptions {
  // Seconds to wait for the TCP (and TLS) connection; env TRAINYARD_DOWNLOAD_CONNECT_TIMEOUT.
  long connect_timeout_seconds = 10;
  // The transfer is abandoned when no byte arrives for this many seconds;
  // env TRAINYARD_DOWNLOAD_STALL_TIMEOUT.
  long stall_timeout_seconds = 60;
  // Never contact a server: a cached URL is used as it is, an uncached one refused;
  // env TRAINYARD_OFFLINE=1.
  bool offline = false;
  // Contact the server even for a pinned entry (`trainyard data cache URL`).
  bool refresh = false;
};

// The options from the environment variables named above (defaults otherwise).
DownloadOptions DownloadOptionsFromEnv();

// One URL's cached content, as a fetch left it.
struct CachedFile {
  std::string url;
  std::string path;  // the immutable cached file (absolute)
  std::string etag;
  std::string last_modified;
  int64_t size = 0;
  int64_t fetched_at = 0;  // microseconds since the epoch, when this version was stored
  bool pinned = false;     // put in by PutInCache
  // What this fetch did, for the plan and the run's environment log: "downloaded",
  // "revalidated (304 Not Modified)", "pinned", "offline", or "unreachable".
  std::string outcome;
  std::string note;  // one sentence for the environment log (URL, cache path, size, why)
};

// Whether `path` starts with http:// or https:// (case-insensitive scheme).
bool IsWebUrl(const std::string& path);

// <workspace_dir>/cache/downloads
std::string DownloadCacheDir(const std::string& workspace_dir);

// The file name a URL's content gets: its last path segment without query or fragment,
// percent-decoded, with '/', NUL and control bytes replaced by '_'; "download" when empty,
// "." or "..".
std::string UrlFileName(const std::string& url);

// Downloads `url` into the cache (or revalidates the cached version) and returns it.
// Failures are refused with the URL and the reason: "HTTP 404 Not Found", "could not resolve
// host H", "connection refused", "timed out ...", a TLS error; kUnavailable for the network,
// kNotFound for 404/410, kFailedPrecondition for other HTTP statuses, kIo for the cache.
Result<CachedFile> FetchToCache(const std::string& workspace_dir, const std::string& url,
                                const DownloadOptions& options);

// Puts the local file `file` in the cache as the content of `url`, pinned (no server is
// contacted for it until a refresh). InvalidArgument when `url` is not http(s) or `file` is not
// a regular file.
Result<CachedFile> PutInCache(const std::string& workspace_dir, const std::string& url,
                              const std::string& file);

// Every cached URL (its current version), sorted by URL. Unreadable entries are skipped.
Result<std::vector<CachedFile>> ListCache(const std::string& workspace_dir);

}  // namespace trainyard::runner
