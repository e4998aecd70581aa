// The web UI's files: served at / and /ui/ without a token, with ETags, 304s and the caching
// that fits each file; a server built without the UI says so at /; and the embedded build is
// whole (index.html's assets are all there, nothing inline that the CSP would block).
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include "server/api.h"
#include "server/web_assets.h"

namespace trainyard::server {
namespace {

const WebAsset kFake[] = {
    {"/index.html",
     "text/html; charset=utf-8",
     "<!doctype html><script type=\"module\" src=\"/ui/main-ABC.js\"></script>",
     {},
     "\"e1\"",
     false},
    // The "gzipped" bytes are a stand-in: the client below does not decompress.
    {"/ui/main-ABC.js", "text/javascript; charset=utf-8", "console.log(1);", "GZIPPED", "\"e2\"",
     true},
};

class WebRoutesTest : public ::testing::Test {
 protected:
  void Start(std::span<const WebAsset> assets, const std::string& reason) {
    routes_ = std::make_unique<Routes>(&http_, [](const httplib::Request&) {
      return AuthResult{};  // Every token is refused: the UI's files must not need one.
    });
    AddWebRoutesFor(*routes_, assets, reason);
    port_ = http_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    while (!http_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void TearDown() override {
    http_.stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Result Get(const std::string& path, httplib::Headers headers = {},
                      bool decompress = false) {
    httplib::Client cli("127.0.0.1", port_);
    cli.set_decompress(decompress);
    return cli.Get(path, headers);
  }

  httplib::Server http_;
  std::unique_ptr<Routes> routes_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(WebRoutesTest, ServesIndexWithoutATokenAndRevalidatesIt) {
  Start(kFake, "");
  for (const char* path : {"/", "/index.html"}) {
    auto res = Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path;
    EXPECT_EQ(res->body, std::string(kFake[0].bytes));
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(res->get_header_value("ETag"), "\"e1\"");
    EXPECT_EQ(res->get_header_value("Cache-Control"), "no-cache");
  }
  auto again = Get("/", {{"If-None-Match", "\"e1\""}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  auto list = Get("/", {{"If-None-Match", "\"old\", W/\"e1\""}});
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 304);
  auto stale = Get("/", {{"If-None-Match", "\"old\""}});
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 200);
}

TEST_F(WebRoutesTest, HashedAssetsAreCachedForAYearAndUnknownOnesAre404) {
  Start(kFake, "");
  auto res = Get("/ui/main-ABC.js");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "console.log(1);");
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(res->get_header_value("Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(res->get_header_value("Content-Encoding"), "");
  EXPECT_EQ(res->get_header_value("ETag"), "\"e2\"");
  EXPECT_EQ(res->get_header_value("Vary"), "Accept-Encoding");

  // The stored gzip bytes as they are (never compressed again per request), with their own ETag.
  for (const char* accept : {"gzip", "deflate, gzip;q=0.5, br", "*"}) {
    auto gz = Get("/ui/main-ABC.js", {{"Accept-Encoding", accept}});
    ASSERT_TRUE(gz) << accept;
    EXPECT_EQ(gz->status, 200) << accept;
    EXPECT_EQ(gz->body, "GZIPPED") << accept;
    EXPECT_EQ(gz->get_header_value("Content-Encoding"), "gzip") << accept;
    EXPECT_EQ(gz->get_header_value("ETag"), "\"e2-gz\"") << accept;
  }
  for (const char* accept : {"br", "gzip;q=0", "identity"}) {
    auto plain = Get("/ui/main-ABC.js", {{"Accept-Encoding", accept}});
    ASSERT_TRUE(plain) << accept;
    EXPECT_EQ(plain->body, "console.log(1);") << accept;
    EXPECT_EQ(plain->get_header_value("Content-Encoding"), "") << accept;
  }
  auto cached =
      Get("/ui/main-ABC.js", {{"Accept-Encoding", "gzip"}, {"If-None-Match", "\"e2-gz\""}});
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->status, 304);

  auto missing = Get("/ui/main-OLD.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("reload"), std::string::npos);
  // Not a way out of the table.
  auto outside = Get("/ui/../index.html");
  ASSERT_TRUE(outside);
  EXPECT_NE(outside->status, 200);
}

TEST_F(WebRoutesTest, WithoutAUiBuildTheRootPageSaysWhy) {
  Start({}, "it needs <node>");
  auto res = Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("built without its web UI: it needs &lt;node&gt;"), std::string::npos)
      << res->body;
  EXPECT_NE(res->body.find("/api/v1"), std::string::npos);
}

// Every file of this build's table reads back as it was built, gzipped (decompressed by the
// client) or not.
TEST_F(WebRoutesTest, TheEmbeddedFilesReadBack) {
  auto assets = WebAssets();
  if (assets.empty()) GTEST_SKIP() << "built without the web UI: " << WebUnavailableReason();
  Start(assets, "");
  for (const WebAsset& a : assets) {
    for (const char* accept : {"identity", "gzip"}) {
      auto res = Get(a.path, {{"Accept-Encoding", accept}}, /*decompress=*/true);
      ASSERT_TRUE(res) << a.path;
      EXPECT_EQ(res->status, 200) << a.path;
      EXPECT_EQ(res->body, std::string(a.bytes)) << a.path << " " << accept;
      EXPECT_EQ(res->get_header_value("Content-Type"), a.content_type);
    }
    if (std::string(a.path).ends_with(".js")) {
      EXPECT_FALSE(a.gzip.empty()) << a.path;
    }
  }
}

// The table this build embedded: either a reason, or an index.html whose every /ui/ reference is
// in the table, with no inline script or style (the server's Content-Security-Policy forbids them).
TEST(WebAssetsTest, TheEmbeddedBuildIsWhole) {
  auto assets = WebAssets();
  if (assets.empty()) {
    EXPECT_STRNE(WebUnavailableReason(), "");
    GTEST_SKIP() << "built without the web UI: " << WebUnavailableReason();
  }
  std::set<std::string> paths;
  const WebAsset* index = nullptr;
  for (const WebAsset& a : assets) {
    paths.insert(a.path);
    if (std::string(a.path) == "/index.html") index = &a;
    EXPECT_EQ(std::string(a.path).rfind("/ui/", 0) == 0, a.immutable) << a.path;
    EXPECT_EQ(std::string(a.etag).size(), 22u) << a.path;  // quoted, 20 hex digits
  }
  ASSERT_NE(index, nullptr);
  std::string html(index->bytes);
  std::regex ref(R"((?:src|href)=\"(/ui/[^\"]+)\")");
  int refs = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), ref); it != std::sregex_iterator();
       ++it) {
    ++refs;
    EXPECT_TRUE(paths.count((*it)[1].str())) << (*it)[1].str() << " is not embedded";
  }
  EXPECT_EQ(refs, 2) << html;  // one script, one stylesheet
  EXPECT_EQ(html.find("<style"), std::string::npos);
  EXPECT_EQ(html.find("style="), std::string::npos);
  EXPECT_FALSE(std::regex_search(html, std::regex("<script(?![^>]*\\ssrc=)[^>]*>")))
      << "an inline script";
}

}  // namespace
}  // namespace trainyard::server
