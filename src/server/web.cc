#include <httplib.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "server/api.h"
#include "server/web_assets.h"

namespace trainyard::server {
namespace {

constexpr const char* kImmutable = "public, max-age=31536000, immutable";
// index.html names the hashed assets of the build that is running: always ask again (a 304 when
// unchanged), so that a new server binary is picked up on the next load.
constexpr const char* kRevalidate = "no-cache";

// True when the request's If-None-Match names `etag` (a list, or *).
bool NotModified(const httplib::Request& req, std::string_view etag) {
  std::string inm = req.get_header_value("If-None-Match");
  if (inm.empty()) return false;
  if (inm == "*") return true;
  size_t pos = 0;
  while (pos < inm.size()) {
    size_t comma = inm.find(',', pos);
    std::string_view one(inm.data() + pos, (comma == std::string::npos ? inm.size() : comma) - pos);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (one.starts_with("W/")) one.remove_prefix(2);
    if (one == etag) return true;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return false;
}

// True when Accept-Encoding lists gzip (or *) without q=0.
bool AcceptsGzip(const httplib::Request& req) {
  std::string ae = req.get_header_value("Accept-Encoding");
  size_t pos = 0;
  while (pos < ae.size()) {
    size_t comma = ae.find(',', pos);
    std::string one = ae.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? ae.size() : comma + 1;
    size_t semi = one.find(';');
    std::string coding = one.substr(0, semi);
    coding.erase(0, coding.find_first_not_of(' '));
    coding.erase(coding.find_last_not_of(' ') + 1);
    if (coding != "gzip" && coding != "*") continue;
    size_t q = semi == std::string::npos ? std::string::npos : one.find("q=", semi);
    if (q == std::string::npos) return true;
    return std::strtod(one.c_str() + q + 2, nullptr) > 0;
  }
  return false;
}

void Serve(const httplib::Request& req, httplib::Response& res, const WebAsset& asset) {
  // The gzipped bytes are another representation: another ETag.
  bool gzip = !asset.gzip.empty() && AcceptsGzip(req);
  std::string etag(asset.etag);
  if (gzip) etag.insert(etag.size() - 1, "-gz");
  res.set_header("ETag", etag);
  res.set_header("Cache-Control", asset.immutable ? kImmutable : kRevalidate);
  if (!asset.gzip.empty()) res.set_header("Vary", "Accept-Encoding");
  if (NotModified(req, etag)) {
    res.status = 304;
    return;
  }
  res.status = 200;
  if (gzip) res.set_header("Content-Encoding", "gzip");
  // A provider of known length straight from the embedded bytes: no copy, and httplib leaves
  // it as it is (it compresses a plain body on every request, brotli at its slowest setting:
  // 0.4 s for the 87 KB script on the 2-vCPU VM).
  std::string_view bytes = gzip ? asset.gzip : asset.bytes;
  res.set_content_provider(bytes.size(), asset.content_type,
                           [bytes](size_t offset, size_t length, httplib::DataSink& sink) {
                             return sink.write(bytes.data() + offset, length);
                           });
}

std::string UnavailablePage(const std::string& reason) {
  std::string escaped;
  for (char c : reason) {
    switch (c) {
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '&': escaped += "&amp;"; break;
      default: escaped += c;
    }
  }
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>trainyard</title>"
         "</head><body><h1>trainyard</h1><p>This server was built without its web UI: " +
         escaped +
         "</p><p>The API at <a href=\"/api/v1\">/api/v1</a> works (docs/api.md).</p></body>"
         "</html>\n";
}

}  // namespace

void AddWebRoutesFor(Routes& routes, std::span<const WebAsset> assets,
                     const std::string& unavailable_reason) {
  auto by_path = std::make_shared<std::unordered_map<std::string_view, const WebAsset*>>();
  for (const WebAsset& a : assets) (*by_path)[a.path] = &a;
  auto index = by_path->find("/index.html");
  if (index == by_path->end()) {
    auto page = std::make_shared<const std::string>(UnavailablePage(
        unavailable_reason.empty() ? "no index.html was embedded" : unavailable_reason));
    routes.GetPublic("/", [page](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", kRevalidate);
      res.set_content(*page, "text/html; charset=utf-8");
    });
    return;
  }
  const WebAsset* index_html = index->second;
  auto serve_index = [index_html](const httplib::Request& req, httplib::Response& res) {
    Serve(req, res, *index_html);
  };
  routes.GetPublic("/", serve_index);
  routes.GetPublic("/index\\.html", serve_index);
  routes.GetPublic("/ui/.+", [by_path](const httplib::Request& req, httplib::Response& res) {
    auto it = by_path->find(req.path);
    if (it == by_path->end()) {
      // A hashed name from an older build (a tab left open across an upgrade): a reload of
      // index.html names the current files.
      res.set_header("Cache-Control", kRevalidate);
      res.status = 404;
      res.set_content("no such file in this build of the web UI; reload the page\n",
                      "text/plain; charset=utf-8");
      return;
    }
    Serve(req, res, *it->second);
  });
  // Browsers ask for it on their own; an empty answer keeps a 404 out of their consoles.
  routes.GetPublic("/favicon\\.ico", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "public, max-age=86400");
    res.status = 204;
  });
}

void AddWebRoutes(Routes& routes, ServerContext& /*ctx*/) {
  AddWebRoutesFor(routes, WebAssets(), WebUnavailableReason());
}

}  // namespace trainyard::server
