// The snapshot upload, /api/v1/cli and the remote client against an in-process server (the
// route table with a test authenticator: the Bearer token is the role's name).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/files.h"
#include "server/api.h"
#include "server/cli_verbs.h"
#include "server/client.h"
#include "snapshot/test_files.h"

namespace trainyard::server {
namespace {

namespace fs = std::filesystem;
using snapshot::testing::GetFile;
using snapshot::testing::PutFile;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "ty-submit-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class SubmitApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The client's snapshot cache goes under this test's folder.
    setenv("XDG_CACHE_HOME", (tmp_.path() + "/cache").c_str(), 1);
    ws_dir_ = tmp_.path() + "/ws";
    ASSERT_TRUE(MakeDirs(ws_dir_ + "/snapshots").ok());
    ctx_ = std::make_unique<ServerContext>(ws_dir_);
    ctx_->recheck_micros = 100'000;
    routes_ = std::make_unique<Routes>(&http_, [this](const httplib::Request& req) {
      AuthResult auth;
      std::string header = req.get_header_value("Authorization");
      if (header.rfind("Bearer ", 0) == 0) {
        if (auto role = ParseRole(header.substr(7))) auth.caller = Caller{header.substr(7), *role};
      }
      if (header == "Bearer revocable" && !revoked_) auth.caller = Caller{"revocable", Role::kRead};
      auth.message = revoked_ ? "invalid or revoked token" : "no valid token";
      return auth;
    });
    AddSubmitRoutes(*routes_, *ctx_);
    http_.Get("/sse", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(
          "event: status\ndata: {\"status\":\"Running\"}\n\n: ping\n\n"
          "event: line\r\ndata: a\ndata: b\r\n\r\nevent: end\ndata: {}\n\n",
          "text/event-stream");
    });
    http_.Get("/sse-refused", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(
          "event: line\ndata: {\"text\":\"a\"}\n\n"
          "event: refused\ndata: {\"error\":\"invalid or revoked token\"}\n\n",
          "text/event-stream");
    });
    port_ = http_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    while (!http_.is_running()) usleep(1000);
    url_ = "http://127.0.0.1:" + std::to_string(port_);
  }
  void TearDown() override {
    http_.stop();
    thread_.join();
    unsetenv("XDG_CACHE_HOME");
  }
  std::unique_ptr<Client> Connect(const std::string& token) {
    auto client = Client::Create(url_ + "/", token);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return std::move(client).value();
  }

  TempDir tmp_;
  std::string ws_dir_;
  httplib::Server http_;
  std::unique_ptr<ServerContext> ctx_;
  std::unique_ptr<Routes> routes_;
  std::atomic<bool> revoked_{false};  // the token "revocable" was revoked
  std::thread thread_;
  int port_ = 0;
  std::string url_;
};

TEST_F(SubmitApiTest, UploadSendsOnlyWhatTheServerLacks) {
  const std::string src = tmp_.path() + "/src";
  PutFile(src + "/train.py", "print('hi')\n");
  PutFile(src + "/lib/util.py", "X = 1\n");
  PutFile(src + "/lib/copy.py", "X = 1\n");  // the same contents: one blob
  PutFile(src + "/ignored.log", "noise");
  PutFile(src + "/.trainyardignore", "*.log\n");
  auto client = Connect("submit");
  snapshot::SnapshotOptions options;
  options.stat_cache_min_age_ms = 0;
  auto first = client->UploadSnapshot(src, options);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(client->last_upload().files, 4u);
  EXPECT_EQ(client->last_upload().files_uploaded, 4u);
  EXPECT_EQ(client->last_upload().blobs_uploaded, 3u);
  EXPECT_TRUE(fs::exists(ws_dir_ + "/snapshots/manifests/" + first->id + ".json"));

  auto again = client->UploadSnapshot(src, options);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(client->last_upload().files_uploaded, 0u);
  EXPECT_EQ(client->last_upload().bytes_uploaded, 0u);

  PutFile(src + "/train.py", "print('changed')\n");
  auto changed = client->UploadSnapshot(src, options);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_NE(changed->id, first->id);
  EXPECT_EQ(client->last_upload().files_uploaded, 1u);
  EXPECT_EQ(client->last_upload().bytes_uploaded, std::string("print('changed')\n").size());

  // What the server holds restores to the folder's files.
  ASSERT_TRUE(snapshot::Restore(ws_dir_ + "/snapshots", changed->id, tmp_.path() + "/out").ok());
  EXPECT_EQ(GetFile(tmp_.path() + "/out/train.py"), "print('changed')\n");
  EXPECT_EQ(GetFile(tmp_.path() + "/out/lib/copy.py"), "X = 1\n");
  EXPECT_FALSE(fs::exists(tmp_.path() + "/out/ignored.log"));
}

TEST_F(SubmitApiTest, BlobWhoseBytesDoNotMatchItsNameIsRefused) {
  httplib::Client http(url_);
  http.set_bearer_token_auth("submit");
  std::string fake(64, 'a');
  auto r = http.Put(("/api/v1/blobs/" + fake).c_str(), "hello", "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("do not hash to"), std::string::npos) << r->body;
  EXPECT_FALSE(fs::exists(ws_dir_ + "/snapshots/blobs/aa"));
  // Not a SHA-256 at all: no such route.
  r = http.Put("/api/v1/blobs/../../x", "hello", "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(SubmitApiTest, ManifestWithoutItsBlobsIsRefused) {
  auto client = Connect("submit");
  std::string manifest = R"({"version":1,"files":[{"path":"a.py","sha256":")" +
                         std::string(64, 'b') + R"(","size":3,"executable":false}]})";
  auto r = client->PostJson("/api/v1/snapshots", {{"manifest", manifest}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("a.py"), std::string::npos) << r.status().message();
  auto bad = client->PostJson("/api/v1/snapshots", {{"manifest", "{\"version\":1}"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SubmitApiTest, ReadTokenCannotUploadOrSubmit) {
  auto client = Connect("read");
  auto r = client->PostJson("/api/v1/blobs/missing", {{"blobs", nlohmann::json::array()}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("refused the token (403)"), std::string::npos)
      << r.status().message();
  auto none = Connect("");
  auto r2 = none->PostJson("/api/v1/runs", {{"spec", nlohmann::json::object()}});
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("401"), std::string::npos) << r2.status().message();
  EXPECT_NE(r2.status().message().find("TRAINYARD_TOKEN"), std::string::npos);
}

TEST_F(SubmitApiTest, RunSubmitWithoutUploadedSnapshotIsRefused) {
  auto client = Connect("submit");
  nlohmann::json spec = {{"source_directory", "/somewhere/src"}, {"entry_script", "train.py"}};
  auto r = client->PostJson("/api/v1/runs", {{"spec", spec}, {"snapshot", std::string(64, 'c')}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  auto no_snapshot = client->PostJson("/api/v1/runs", {{"spec", spec}});
  ASSERT_FALSE(no_snapshot.ok());
  EXPECT_NE(no_snapshot.status().message().find("upload the folder first"), std::string::npos)
      << no_snapshot.status().ToString();
}

TEST_F(SubmitApiTest, CliStreamsTheVerbsOutputAndExitCode) {
  // A stand-in for the trainyard executable: prints its arguments and fails with 3.
  const std::string exe = tmp_.path() + "/fake-trainyard";
  PutFile(exe, "#!/bin/sh\necho \"args: $*\"\necho \"to stderr\" >&2\nexit 3\n", 0755);
  ctx_->trainyard_exe = exe;
  auto client = Connect("read");
  std::string out, err;
  auto code = client->RunCli({"list", "--json"}, [&](bool is_stderr, std::string_view text) {
    (is_stderr ? err : out) += std::string(text);
  });
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 3);
  EXPECT_EQ(out, "args: --workspace " + ws_dir_ + " list --json\n");
  EXPECT_EQ(err, "to stderr\n");

  // A verb the role may not run, and one that does not run over a server.
  auto cancel = client->RunCli({"cancel", "r1"}, [](bool, std::string_view) {});
  ASSERT_FALSE(cancel.ok());
  EXPECT_NE(cancel.status().message().find("needs submit"), std::string::npos)
      << cancel.status().message();
  auto snapshot = client->RunCli({"snapshot", "."}, [](bool, std::string_view) {});
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(snapshot.status().code(), StatusCode::kInvalidArgument);
}

// A command that prints nothing for a while (`wait` on a quiet run) still writes a ping line, by
// which the server notices a client that went away; the client skips it.
TEST_F(SubmitApiTest, CliSendsAPingWhileTheCommandIsQuiet) {
  const std::string exe = tmp_.path() + "/quiet-trainyard";
  PutFile(exe, "#!/bin/sh\nsleep 16\necho done\n", 0755);
  ctx_->trainyard_exe = exe;
  httplib::Client http(url_);
  http.set_bearer_token_auth("read");
  http.set_read_timeout(60);
  auto r = http.Post("/api/v1/cli", R"({"argv": ["list"]})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"ping\":true}\n{\"stdout\":\"done\\n\"}\n{\"exit\":0}\n");
  auto client = Connect("read");
  std::string out;
  auto code = client->RunCli({"list"}, [&](bool, std::string_view text) { out += text; });
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(out, "done\n");
}

// A token revoked while its command runs: the stream's last line says so, the client reports the
// 401, and the command is stopped.
TEST_F(SubmitApiTest, CliStopsWhenItsTokenIsRevoked) {
  const std::string exe = tmp_.path() + "/slow-trainyard";
  const std::string pid_file = tmp_.path() + "/pid";
  PutFile(exe, "#!/bin/sh\necho $$ > " + pid_file + "\necho started\nexec sleep 60\n", 0755);
  ctx_->trainyard_exe = exe;
  auto client = Connect("revocable");
  std::thread revoke([this, &pid_file] {
    for (int i = 0; i < 500 && !fs::exists(pid_file); ++i) usleep(10'000);
    usleep(300'000);  // a few rechecks pass while the token holds
    revoked_ = true;
  });
  std::string out;
  auto start = std::chrono::steady_clock::now();
  auto code = client->RunCli({"list"}, [&](bool, std::string_view text) { out += text; });
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  revoke.join();
  ASSERT_FALSE(code.ok());
  EXPECT_EQ(code.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(code.status().message().find("refused the token (401): invalid or revoked token"),
            std::string::npos)
      << code.status().message();
  EXPECT_EQ(out, "started\n");
  EXPECT_LT(seconds, 30);
  const pid_t pid = std::stoi(GetFile(pid_file));
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = kill(pid, 0) != 0;
    if (!gone) usleep(50'000);
  }
  EXPECT_TRUE(gone) << "the command (pid " << pid << ") still runs";
}

TEST_F(SubmitApiTest, FollowEventsParsesServerSentEvents) {
  auto client = Connect("read");
  std::vector<std::pair<std::string, std::string>> events;
  Status s = client->FollowEvents("/sse", [&](const std::string& event, const std::string& data) {
    events.emplace_back(event, data);
    return true;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0],
            std::make_pair(std::string("status"), std::string("{\"status\":\"Running\"}")));
  EXPECT_EQ(events[1], std::make_pair(std::string("line"), std::string("a\nb")));
  EXPECT_EQ(events[2].first, "end");
  // Stopping early is not an error.
  int seen = 0;
  s = client->FollowEvents("/sse", [&](const std::string&, const std::string&) {
    ++seen;
    return false;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(seen, 1);
  // A `refused` event (the token was revoked) ends the stream with the 401's Status.
  std::vector<std::string> seen_events;
  s = client->FollowEvents("/sse-refused", [&](const std::string& event, const std::string&) {
    seen_events.push_back(event);
    return true;
  });
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("refused the token (401): invalid or revoked token"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(seen_events, std::vector<std::string>{"line"});
}

TEST(ClientTest, UrlsAndUnreachableServers) {
  EXPECT_TRUE(IsWorkspaceUrl("http://h:1"));
  EXPECT_TRUE(IsWorkspaceUrl("https://h"));
  EXPECT_FALSE(IsWorkspaceUrl("/tmp/ws"));
  EXPECT_FALSE(IsWorkspaceUrl("http:"));
  EXPECT_EQ(Client::Create("ftp://h", "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Client::Create("http://h:1/prefix", "").status().code(), StatusCode::kInvalidArgument);
  // A port nobody listens on: bound (so no one else gets it), never listened on.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  auto client = Client::Create("http://127.0.0.1:" + std::to_string(port), "t");
  ASSERT_TRUE(client.ok());
  auto r = (*client)->GetJson("/api/v1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("127.0.0.1"), std::string::npos) << r.status().message();
  close(fd);
}

TEST(CliVerbsTest, OnlyListedVerbsAndOptions) {
  auto ok = [](std::vector<std::string> argv) { return CheckForwardedArgv(argv); };
  ASSERT_TRUE(ok({"list", "--experiment", "e", "--json"}).ok());
  EXPECT_EQ(ok({"list"})->role, Role::kRead);
  EXPECT_EQ(ok({"cancel", "r"})->role, Role::kSubmit);
  EXPECT_EQ(ok({"model", "delete", "m:1"})->role, Role::kAdmin);
  EXPECT_EQ(ok({"sweep", "show", "s", "--json"})->name, "sweep show");
  EXPECT_TRUE(ok({"logs", "r", "--tail=5", "-f"}).ok());
  EXPECT_TRUE(ok({"logs", "r", "--rank", "-1"}).ok());  // a value, whatever it looks like
  EXPECT_FALSE(ok({"list", "--workspace", "/etc"}).ok());
  EXPECT_FALSE(ok({"list", "--workspace=/etc"}).ok());
  EXPECT_FALSE(ok({"show", "r", "--", "x"}).ok());
  EXPECT_FALSE(ok({"show", "r", "extra"}).ok());
  EXPECT_FALSE(ok({"snapshot", "."}).ok());
  EXPECT_FALSE(ok({"supervise", "r"}).ok());
  EXPECT_FALSE(ok({"env", "create", "--file", "/etc/passwd"}).ok());
  EXPECT_FALSE(ok({"model", "download", "m", "-o", "/tmp"}).ok());
  EXPECT_FALSE(ok({"data", "create", "d", "--path", "/etc"}).ok());
  EXPECT_FALSE(ok({"server", "token", "list"}).ok());
  EXPECT_TRUE(ok({"target", "add", "t", "--type", "mpi", "--hosts", "a:2", "-o", "cores=2"}).ok());
  EXPECT_FALSE(ok({"target", "add", "t", "--python", "/bin/sh"}).ok());
  EXPECT_FALSE(ok({"target", "add", "t", "-o", "trainyard_bin=/tmp/x"}).ok());
  EXPECT_FALSE(ok({"target", "add", "t", "--option=launch_agent=ssh"}).ok());
  EXPECT_FALSE(ok({}).ok());
}

}  // namespace
}  // namespace trainyard::server
