// A run's files and snapshot over a real server: listings, bytes, headers, and every way out of
// the run's folder refused (.., encoded .., absolute paths, NUL, symlinks leading out).
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "server/api.h"
#include "server/route_test_server.h"
#include "snapshot/snapshot.h"

namespace trainyard::server {
namespace {

namespace fs = std::filesystem;

void Write(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

class FilesTest : public testing::RouteTestServer {
 protected:
  void SetUp() override {
    Start({AddFileRoutes});
    run_ = NewRun();
    run_dir_ = ws_->RunDir(run_.id);
    binary_ = std::string("\0\x01\xff model bytes", 15);
    for (int i = 0; i < 20000; ++i) binary_ += static_cast<char>(i * 7);
    Write(run_dir_ + "/outputs/model.bin", binary_);
    Write(run_dir_ + "/outputs/sub dir/notes é.txt", "notes\n");
    Write(run_dir_ + "/logs/rank-0.log", "2026-01-01T00:00:00Z out hi\n");
    ASSERT_TRUE(
        ws_->ReplaceFiles(run_.id, {{"logs/rank-0.log", 28},
                                    {"outputs/model.bin", static_cast<int64_t>(binary_.size())}})
            .ok());
  }

  httplib::Result Get(const std::string& path) {
    httplib::Client c = Client();
    return c.Get(path.c_str());
  }
  std::string FileUrl(const std::string& rel) {
    return "/api/v1/runs/" + run_.id + "/files/" + rel;
  }

  store::RunRecord run_;
  std::string run_dir_, binary_;
};

TEST_F(FilesTest, ListsTheRunsFiles) {
  auto res = Get("/api/v1/runs/" + run_.id + "/files");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  nlohmann::json j = nlohmann::json::parse(res->body);
  ASSERT_EQ(j["files"].size(), 2u);
  EXPECT_EQ(j["files"][0]["path"], "logs/rank-0.log");
  EXPECT_EQ(j["files"][0]["size"], 28);
  EXPECT_EQ(j["files"][1]["path"], "outputs/model.bin");
  // A unique prefix of the id works as in the CLI; an unknown run is 404.
  res = Get("/api/v1/runs/" + run_.id.substr(0, run_.id.size() - 2) + "/files");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = Get("/api/v1/runs/nope/files");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST_F(FilesTest, DownloadsAreTheFilesBytesAsAttachments) {
  auto res = Get(FileUrl("outputs/model.bin"));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->body, binary_);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/octet-stream");
  EXPECT_EQ(res->get_header_value("Content-Disposition"),
            "attachment; filename=\"model.bin\"; filename*=UTF-8''model.bin");
  EXPECT_EQ(res->get_header_value("Content-Length"), std::to_string(binary_.size()));

  res = Get(FileUrl("logs/rank-0.log"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; charset=utf-8");

  // Names with spaces and non-ASCII letters: percent-encoded in the URL, safe in the header.
  res = Get(FileUrl("outputs/sub%20dir/notes%20%C3%A9.txt"));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->body, "notes\n");
  // (httplib's client percent-decodes header values; on the wire it is notes%20%C3%A9.txt.)
  EXPECT_EQ(res->get_header_value("Content-Disposition"),
            "attachment; filename=\"notes___.txt\"; filename*=UTF-8''notes \xC3\xA9.txt");

  // A symlink that stays inside the run's folder is followed.
  ASSERT_EQ(symlink("model.bin", (run_dir_ + "/outputs/latest.bin").c_str()), 0);
  res = Get(FileUrl("outputs/latest.bin"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, binary_);

  res = Get(FileUrl("outputs/absent.bin"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  res = Get(FileUrl("outputs"));  // a folder is not a file
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST_F(FilesTest, NoPathLeavesTheRunsFolder) {
  // What an escape would reach: the workspace database, and a secret beside the workspace.
  Write(dir_.path() + "/secret.txt", "secret");
  ASSERT_EQ(
      symlink((dir_.path() + "/secret.txt").c_str(), (run_dir_ + "/outputs/abs-link").c_str()), 0);
  ASSERT_EQ(symlink("../../../secret.txt", (run_dir_ + "/outputs/rel-link").c_str()), 0);
  ASSERT_EQ(symlink(dir_.path().c_str(), (run_dir_ + "/outputs/dir-link").c_str()), 0);
  ASSERT_EQ(symlink("/etc", (run_dir_ + "/outputs/etc").c_str()), 0);

  struct Case {
    std::string path;
    int status;
  };
  const Case cases[] = {
      {"../../workspace.db", 400},
      {"outputs/../../../workspace.db", 400},
      {"%2e%2e/%2e%2e/workspace.db", 400},
      {"outputs/%2E%2E/%2E%2E/%2E%2E/secret.txt", 400},
      {"..%2f..%2fworkspace.db", 400},
      {"%2Fetc%2Fpasswd", 400},
      {"/etc/passwd", 400},
      {"outputs//model.bin", 400},
      {"./outputs/model.bin", 400},
      {"outputs/model.bin%00.txt", 400},
      {"outputs/abs-link", 404},
      {"outputs/rel-link", 404},
      {"outputs/dir-link/secret.txt", 404},
      {"outputs/dir-link/workspace.db", 404},
      {"outputs/etc/passwd", 404},
  };
  for (const Case& c : cases) {
    auto res = Get(FileUrl(c.path));
    ASSERT_TRUE(res) << c.path;
    EXPECT_EQ(res->status, c.status) << c.path << ": " << res->body;
    EXPECT_NE(res->body, "secret") << c.path;
    EXPECT_EQ(res->body.find("SQLite"), std::string::npos) << c.path;
    EXPECT_NE(res->body.find("\"error\""), std::string::npos) << c.path << ": " << res->body;
  }
}

class SnapshotFilesTest : public testing::RouteTestServer {
 protected:
  void SetUp() override { Start({AddFileRoutes}); }
};

TEST_F(SnapshotFilesTest, ServesTheManifestsFilesOnly) {
  trainyard::testing::TempDir src;
  const std::string script = "print('hello')\n";
  std::string data;
  for (int i = 0; i < 300000; ++i) data += static_cast<char>('a' + i % 26);
  Write(src / "train.py", script);
  Write(src / "pkg/data.bin", data);
  ASSERT_EQ(symlink("pkg/data.bin", (src / "data-link").c_str()), 0);
  snapshot::SnapshotOptions opts;
  opts.stat_cache_min_age_ms = 0;
  auto snap = snapshot::TakeSnapshot(src.path(), ws_->SnapshotsDir(), opts);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  store::RunRecord run;
  run.experiment = "exp";
  run.target = "local";
  run.spec_json = "{}";
  run.snapshot_id = snap->id;
  ASSERT_TRUE(ws_->CreateRun(&run, {}).ok());

  httplib::Client c = Client();
  auto res = c.Get(("/api/v1/runs/" + run.id + "/snapshot").c_str());
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  nlohmann::json j = nlohmann::json::parse(res->body);
  EXPECT_EQ(j["id"], snap->id);
  ASSERT_EQ(j["files"].size(), 3u);
  EXPECT_EQ(j["files"][0]["path"], "data-link");
  EXPECT_EQ(j["files"][0]["symlink"], "pkg/data.bin");
  EXPECT_EQ(j["files"][1]["path"], "pkg/data.bin");
  EXPECT_EQ(j["files"][1]["size"], data.size());
  EXPECT_EQ(j["files"][1]["executable"], false);
  EXPECT_FALSE(j["files"][1].contains("symlink"));

  res = c.Get(("/api/v1/runs/" + run.id + "/snapshot/train.py").c_str());
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->body, script);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; charset=utf-8");
  res = c.Get(("/api/v1/runs/" + run.id + "/snapshot/pkg/data.bin").c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, data);
  res = c.Get(("/api/v1/runs/" + run.id + "/snapshot/data-link").c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, data);

  for (const char* bad :
       {"absent.py", "pkg", "../workspace.db", "%2e%2e/workspace.db", "blobs/x"}) {
    res = c.Get(("/api/v1/runs/" + run.id + "/snapshot/" + bad).c_str());
    ASSERT_TRUE(res) << bad;
    EXPECT_TRUE(res->status == 404 || res->status == 400) << bad << ": " << res->status;
  }

  store::RunRecord bare = NewRun();  // a run without a snapshot
  res = c.Get(("/api/v1/runs/" + bare.id + "/snapshot").c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

}  // namespace
}  // namespace trainyard::server
