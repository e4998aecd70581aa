// The download cache against a real HTTP server on 127.0.0.1 (cpp-httplib in a thread) that
// serves ETag or Last-Modified, answers 304 to If-None-Match / If-Modified-Since, and counts
// requests and bodies sent.
#include "runner/download.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "common/files.h"
#include "testing/temp_dir.h"

namespace trainyard::runner {
namespace {

class FakeServer {
 public:
  FakeServer() {
    // The requests go to 127.0.0.1 directly, whatever proxy the machine configures.
    for (const char* v :
         {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
      unsetenv(v);
    }
    server_.Get("/(.*)", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      ++requests_;
      if (req.path == "/moved.csv") {
        res.set_redirect("/data/iris.csv");
        return;
      }
      auto it = files_.find(req.path);
      if (it == files_.end()) {
        res.status = 404;
        res.set_content("no such file", "text/plain");
        return;
      }
      const File& f = it->second;
      if (!f.etag.empty()) res.set_header("ETag", f.etag);
      if (!f.last_modified.empty()) res.set_header("Last-Modified", f.last_modified);
      bool fresh = (!f.etag.empty() && req.get_header_value("If-None-Match") == f.etag) ||
                   (f.etag.empty() && !f.last_modified.empty() &&
                    req.get_header_value("If-Modified-Since") == f.last_modified);
      if (fresh) {
        res.status = 304;
        return;
      }
      ++bodies_;
      res.set_content(f.body, "text/csv");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeServer() {
    server_.stop();
    thread_.join();
  }
  void Serve(const std::string& path, const std::string& body, const std::string& etag,
             const std::string& last_modified = "") {
    std::lock_guard<std::mutex> lock(mu_);
    files_[path] = {body, etag, last_modified};
  }
  void Remove(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    files_.erase(path);
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  int bodies() {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }

 private:
  struct File {
    std::string body, etag, last_modified;
  };
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::map<std::string, File> files_;
  int requests_ = 0;
  int bodies_ = 0;
};

// A URL on 127.0.0.1 where nothing listens: a port bound (not listening) and closed again.
std::string ClosedPortUrl(const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + path;
}

TEST(Download, FileNamesComeFromTheUrlsLastSegment) {
  EXPECT_EQ(UrlFileName("https://h/datasets/iris.csv"), "iris.csv");
  EXPECT_EQ(UrlFileName("https://h/a/my%20data.csv?sv=1&sig=x#top"), "my data.csv");
  EXPECT_EQ(UrlFileName("https://h/a/%2e%2e"), "download");
  EXPECT_EQ(UrlFileName("https://h/a/x%2Fy"), "x_y");
  EXPECT_EQ(UrlFileName("https://h/"), "download");
  EXPECT_EQ(UrlFileName("https://h"), "download");
  EXPECT_EQ(UrlFileName("http://h/dir/"), "download");
  EXPECT_TRUE(IsWebUrl("https://h/x"));
  EXPECT_TRUE(IsWebUrl("HTTP://h/x"));
  EXPECT_FALSE(IsWebUrl("wasbs://c@h/x"));
  EXPECT_FALSE(IsWebUrl("/data/x"));
}

TEST(Download, DownloadsThenRevalidatesWithTheETag) {
  testing::TempDir ws;
  FakeServer server;
  server.Serve("/data/iris.csv", "a,b\n1,2\n", "\"v1\"");
  DownloadOptions options;

  auto first = FetchToCache(ws.path(), server.Url("/data/iris.csv"), options);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->outcome, "downloaded");
  EXPECT_EQ(first->etag, "\"v1\"");
  EXPECT_EQ(first->size, 8);
  EXPECT_EQ(*ReadFile(first->path), "a,b\n1,2\n");
  EXPECT_EQ(std::filesystem::path(first->path).filename(), "iris.csv");
  EXPECT_EQ(first->path.rfind(DownloadCacheDir(ws.path()) + "/", 0), 0u) << first->path;
  EXPECT_NE(first->note.find(server.Url("/data/iris.csv")), std::string::npos);
  EXPECT_NE(first->note.find("8 B"), std::string::npos) << first->note;

  auto second = FetchToCache(ws.path(), server.Url("/data/iris.csv"), options);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->outcome, "revalidated (304 Not Modified)");
  EXPECT_EQ(second->path, first->path);
  EXPECT_EQ(server.requests(), 2);
  EXPECT_EQ(server.bodies(), 1);

  // A new version is a new file; the one an earlier run was given keeps its bytes.
  server.Serve("/data/iris.csv", "a,b\n3,4\n5,6\n", "\"v2\"");
  auto third = FetchToCache(ws.path(), server.Url("/data/iris.csv"), options);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(third->outcome, "downloaded");
  EXPECT_NE(third->path, first->path);
  EXPECT_EQ(*ReadFile(third->path), "a,b\n3,4\n5,6\n");
  EXPECT_EQ(*ReadFile(first->path), "a,b\n1,2\n");
  EXPECT_EQ(server.bodies(), 2);

  auto listed = ListCache(ws.path());
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].path, third->path);
  EXPECT_EQ((*listed)[0].etag, "\"v2\"");
}

TEST(Download, RevalidatesWithLastModifiedWithoutAnETag) {
  testing::TempDir ws;
  FakeServer server;
  server.Serve("/x.txt", "hello", "", "Wed, 21 Oct 2015 07:28:00 GMT");
  auto first = FetchToCache(ws.path(), server.Url("/x.txt"), {});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->last_modified, "Wed, 21 Oct 2015 07:28:00 GMT");
  auto second = FetchToCache(ws.path(), server.Url("/x.txt"), {});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->outcome, "revalidated (304 Not Modified)");
  EXPECT_EQ(server.bodies(), 1);
}

TEST(Download, FollowsRedirects) {
  testing::TempDir ws;
  FakeServer server;
  server.Serve("/data/iris.csv", "moved here", "\"m\"");
  auto got = FetchToCache(ws.path(), server.Url("/moved.csv"), {});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*ReadFile(got->path), "moved here");
  EXPECT_EQ(got->etag, "\"m\"");                                        // the final response's
  EXPECT_EQ(std::filesystem::path(got->path).filename(), "moved.csv");  // the URL given
}

TEST(Download, HttpErrorsAreRefusedEvenWhenCached) {
  testing::TempDir ws;
  FakeServer server;
  auto missing = FetchToCache(ws.path(), server.Url("/nope.csv"), {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), server.Url("/nope.csv") + ": HTTP 404 Not Found");

  server.Serve("/gone.csv", "x", "\"1\"");
  ASSERT_TRUE(FetchToCache(ws.path(), server.Url("/gone.csv"), {}).ok());
  server.Remove("/gone.csv");  // the server now says 404: the cached copy does not hide that
  auto gone = FetchToCache(ws.path(), server.Url("/gone.csv"), {});
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().message(), server.Url("/gone.csv") + ": HTTP 404 Not Found");
  // Nothing half-written stays behind.
  for (const auto& e : std::filesystem::recursive_directory_iterator(ws.path())) {
    EXPECT_EQ(e.path().filename().string().rfind(".tmp.", 0), std::string::npos) << e.path();
  }
}

TEST(Download, UnreachableUsesTheCachedCopyAndRefusesWithoutOne) {
  testing::TempDir ws;
  std::string url;
  std::string cached_path;
  {
    FakeServer server;
    server.Serve("/iris.csv", "cached bytes", "\"c\"");
    url = server.Url("/iris.csv");
    auto got = FetchToCache(ws.path(), url, {});
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    cached_path = got->path;
  }  // the server is gone: its port refuses connections
  auto offline = FetchToCache(ws.path(), url, {});
  ASSERT_TRUE(offline.ok()) << offline.status().ToString();
  EXPECT_EQ(offline->outcome, "unreachable");
  EXPECT_EQ(offline->path, cached_path);
  EXPECT_NE(offline->note.find("connection refused"), std::string::npos) << offline->note;

  std::string closed = ClosedPortUrl("/iris.csv");
  DownloadOptions quick;
  quick.stall_timeout_seconds = 5;
  auto refused = FetchToCache(ws.path(), closed, quick);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(refused.status().message().rfind(closed + ": connection refused", 0), 0u)
      << refused.status().message();

  auto dns = FetchToCache(ws.path(), "http://no-such-host.invalid/x.csv", {});
  ASSERT_FALSE(dns.ok());
  EXPECT_NE(dns.status().message().find("could not resolve the host"), std::string::npos)
      << dns.status().message();
}

TEST(Download, PinnedCopiesAreUsedWithoutTheServer) {
  testing::TempDir ws;
  FakeServer server;
  server.Serve("/iris.csv", "from the server", "\"s\"");
  std::string local = ws.path() + "/mine.csv";
  ASSERT_TRUE(WriteFileAtomic(local, "from a file").ok());
  auto put = PutInCache(ws.path(), server.Url("/iris.csv"), local);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_TRUE(put->pinned);
  EXPECT_EQ(std::filesystem::path(put->path).filename(), "iris.csv");

  auto got = FetchToCache(ws.path(), server.Url("/iris.csv"), {});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->outcome, "pinned");
  EXPECT_EQ(*ReadFile(got->path), "from a file");
  EXPECT_EQ(server.requests(), 0);

  DownloadOptions refresh;
  refresh.refresh = true;
  auto fresh = FetchToCache(ws.path(), server.Url("/iris.csv"), refresh);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(fresh->outcome, "downloaded");
  EXPECT_FALSE(fresh->pinned);
  EXPECT_EQ(*ReadFile(fresh->path), "from the server");
  EXPECT_EQ(*ReadFile(put->path), "from a file");

  EXPECT_FALSE(PutInCache(ws.path(), "ftp://h/x", local).ok());
  EXPECT_FALSE(PutInCache(ws.path(), server.Url("/y"), ws.path()).ok());
}

TEST(Download, OfflineNeverContactsTheServer) {
  testing::TempDir ws;
  FakeServer server;
  server.Serve("/a.csv", "a", "\"a\"");
  DownloadOptions offline;
  offline.offline = true;
  auto missing = FetchToCache(ws.path(), server.Url("/a.csv"), offline);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("TRAINYARD_OFFLINE"), std::string::npos);
  ASSERT_TRUE(FetchToCache(ws.path(), server.Url("/a.csv"), {}).ok());
  auto got = FetchToCache(ws.path(), server.Url("/a.csv"), offline);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->outcome, "offline");
  EXPECT_EQ(server.requests(), 1);
}

// Submits at once: each sees a whole file, never a half-written one.
TEST(Download, ConcurrentFetchesSeeWholeFiles) {
  testing::TempDir ws;
  FakeServer server;
  std::string body(1 << 20, 'x');
  server.Serve("/big.bin", body, "\"big\"");
  std::vector<std::thread> threads;
  std::atomic<int> whole{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto got = FetchToCache(ws.path(), server.Url("/big.bin"), {});
      if (!got.ok()) return;
      auto text = ReadFile(got->path);
      if (text.ok() && *text == body) ++whole;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(whole.load(), 4);
}

}  // namespace
}  // namespace trainyard::runner
