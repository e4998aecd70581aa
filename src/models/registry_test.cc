#include "models/registry.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <thread>

#include "common/files.h"
#include "models/staging.h"
#include "models/usage.h"
#include "store/metrics.h"
#include "testing/temp_dir.h"

namespace trainyard::models {
namespace {

void Write(const std::string& path, const std::string& text) {
  ASSERT_TRUE(MakeDirs(path.substr(0, path.rfind('/'))).ok());
  ASSERT_TRUE(WriteFileAtomic(path, text).ok());
}

mode_t Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { ws_ = std::move(store::Workspace::Open(dir_ / "ws").value()); }

  Registered MustRegister(const RegisterRequest& request) {
    auto r = Register(ws_.get(), request);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : Registered{};
  }

  RegisterRequest Local(const std::string& name, const std::string& path) {
    RegisterRequest request;
    request.name = name;
    request.path = path;
    return request;
  }

  // A run whose folder holds outputs/model.pt and which logged two metrics.
  store::RunRecord MakeRun() {
    store::RunRecord run;
    run.experiment = "digits";
    run.target = "local";
    run.spec_json = "{}";
    EXPECT_TRUE(ws_->CreateRun(&run, {}).ok());
    Write(ws_->RunDir(run.id) + "/outputs/model.pt", "trained weights");
    tracking::Batch batch;
    batch.client = "c";
    batch.seq = 1;
    batch.points.push_back({"loss", 0, 1, 0.9});
    batch.points.push_back({"loss", 1, 2, 0.25});
    batch.points.push_back({"acc", 1, 2, 0.75});
    EXPECT_TRUE(store::ApplyBatch(ws_->db(), run.seq, batch).ok());
    return run;
  }

  testing::TempDir dir_;
  std::unique_ptr<store::Workspace> ws_;
};

TEST(ParseModelRef, NamesVersionsAndLatest) {
  auto plain = ParseModelRef("digits-mlp_v1.2");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->name, "digits-mlp_v1.2");
  EXPECT_FALSE(plain->version.has_value());
  auto versioned = ParseModelRef("digits:12");
  ASSERT_TRUE(versioned.ok());
  EXPECT_EQ(*versioned->version, 12);
  EXPECT_EQ(versioned->ToString(), "digits:12");
  auto latest = ParseModelRef("digits:latest");
  ASSERT_TRUE(latest.ok());
  EXPECT_FALSE(latest->version.has_value());
  EXPECT_EQ(latest->ToString(), "digits");

  for (const char* bad : {"", ":1", "a/b", "..", ".hidden", "-x", "a b", "d:0", "d:-1", "d:x",
                          "d:", "d:1:2", "d:99999999999999999999"}) {
    auto r = ParseModelRef(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(ParseModelRef(std::string(255, 'a')).ok());
  EXPECT_FALSE(ParseModelRef(std::string(256, 'a')).ok());
  EXPECT_NE(ParseModelRef("a/b").status().message().find("\"a/b\""), std::string::npos);
}

TEST_F(RegistryTest, SameBytesAreTheSameVersionAndNewBytesTheNext) {
  Write(dir_ / "model.pt", "v1 weights");
  RegisterRequest request = Local("digits", dir_ / "model.pt");
  request.tags = {{"framework", "torch"}};
  request.description = "first";
  Registered first = MustRegister(request);
  EXPECT_FALSE(first.already_registered);
  EXPECT_EQ(first.model.version, 1);
  EXPECT_EQ(first.model.path, "model.pt");
  EXPECT_FALSE(first.model.is_dir);
  EXPECT_EQ(first.model.files, 1);
  EXPECT_EQ(first.model.bytes, 10);
  EXPECT_EQ(first.model.tags_json, R"({"framework":"torch"})");
  EXPECT_EQ(first.model.digest.size(), 64u);

  request.description = "again";
  Registered again = MustRegister(request);
  EXPECT_TRUE(again.already_registered);
  EXPECT_EQ(again.model.version, 1);
  EXPECT_EQ(again.model.description, "first");  // the stored version is unchanged

  Write(dir_ / "model.pt", "v2 weights");
  Registered second = MustRegister(request);
  EXPECT_FALSE(second.already_registered);
  EXPECT_EQ(second.model.version, 2);
  EXPECT_NE(second.model.digest, first.model.digest);

  // The same bytes under another name are that name's first version.
  Registered other = MustRegister(Local("other", dir_ / "model.pt"));
  EXPECT_EQ(other.model.version, 1);
  EXPECT_EQ(other.model.digest, second.model.digest);

  // Nothing is left in the workspace's temporary folder or the snapshot stat cache.
  auto left = [&](const std::string& dir) {
    std::set<std::string> names;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      names.insert(e.path().filename().string());
    }
    return names;
  };
  EXPECT_TRUE(left(ws_->dir() + "/tmp").empty());
  EXPECT_TRUE(left(ws_->SnapshotsDir() + "/cache").empty());
}

TEST_F(RegistryTest, AFolderIsTakenWholeWhateverItsIgnoreFilesSay) {
  Write(dir_ / "model/config.json", "{}");
  Write(dir_ / "model/weights/part.bin", "0123456789");
  Write(dir_ / "model/.gitignore", "*.bin\n");
  Write(dir_ / "model/.trainyardignore", "config.json\n");
  Registered r = MustRegister(Local("folder", dir_ / "model/"));
  EXPECT_EQ(r.model.path, "model");
  EXPECT_TRUE(r.model.is_dir);
  EXPECT_EQ(r.model.files, 4);

  auto dir = ModelDir(ws_.get(), r.model);
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(*dir, ws_->dir() + "/models/folder/1");
  EXPECT_EQ(ReadFile(*dir + "/model/weights/part.bin").value(), "0123456789");
  EXPECT_TRUE(PathExists(*dir + "/model/config.json"));
  EXPECT_TRUE(PathExists(*dir + "/model/.trainyardignore"));
  EXPECT_FALSE(PathExists(*dir + "/.trainyardignore"));  // the registry's own rule file
  EXPECT_EQ(Mode(*dir + "/model/weights/part.bin"), 0444u);
  EXPECT_EQ(Mode(*dir + "/model/weights"), 0555u);
}

TEST_F(RegistryTest, RefusesSymlinksBadNamesAndMissingPaths) {
  Write(dir_ / "model/a.txt", "a");
  ASSERT_EQ(symlink("a.txt", (dir_ / "model/link").c_str()), 0);
  auto linked = Register(ws_.get(), Local("m", dir_ / "model"));
  EXPECT_EQ(linked.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(linked.status().message().find("model/link"), std::string::npos);

  auto missing = Register(ws_.get(), Local("m", dir_ / "nope.pt"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.pt"), std::string::npos);

  Write(dir_ / "ok.pt", "x");
  auto bad = Register(ws_.get(), Local("a/b", dir_ / "ok.pt"));
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  RegisterRequest bad_tag = Local("m", dir_ / "ok.pt");
  bad_tag.tags = {{"", "v"}};
  EXPECT_EQ(Register(ws_.get(), bad_tag).status().code(), StatusCode::kInvalidArgument);

  auto holds_workspace = Register(ws_.get(), Local("m", dir_.path()));
  EXPECT_EQ(holds_workspace.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(holds_workspace.status().message().find("holds the workspace"), std::string::npos);

  // A symlink given as the path itself is followed, and the model keeps the given name.
  ASSERT_EQ(symlink((dir_ / "ok.pt").c_str(), (dir_ / "alias.pt").c_str()), 0);
  Registered r = MustRegister(Local("m", dir_ / "alias.pt"));
  EXPECT_EQ(r.model.path, "alias.pt");
  auto list = store::ListModels(ws_.get());
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
}

TEST_F(RegistryTest, FromARunRecordsLineageAndStaysInsideTheRunFolder) {
  store::RunRecord run = MakeRun();
  RegisterRequest request;
  request.name = "digits";
  request.run_id = run.id.substr(0, run.id.size() - 2);  // a unique prefix is enough
  request.path = "outputs/model.pt";
  Registered r = MustRegister(request);
  EXPECT_EQ(r.model.run_id, run.id);
  EXPECT_EQ(r.model.experiment, "digits");
  EXPECT_EQ(r.model.run_path, "outputs/model.pt");
  EXPECT_EQ(r.model.metrics_json, R"({"acc":0.75,"loss":0.25})");
  EXPECT_EQ(r.model.path, "model.pt");

  request.path = "outputs/./model.pt";
  EXPECT_TRUE(MustRegister(request).already_registered);

  Write(dir_ / "secret.txt", "not the run's");
  ASSERT_EQ(
      symlink((dir_ / "secret.txt").c_str(), (ws_->RunDir(run.id) + "/outputs/escape.pt").c_str()),
      0);
  for (const std::string& out :
       {std::string("../../secret.txt"), dir_ / "secret.txt", std::string("outputs/escape.pt"),
        std::string("."), std::string("outputs/..")}) {
    request.path = out;
    auto refused = Register(ws_.get(), request);
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << out;
  }
  request.path = "outputs/missing.pt";
  auto missing = Register(ws_.get(), request);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("outputs/missing.pt"), std::string::npos)
      << missing.status().ToString();

  request.run_id = "no_such_run";
  request.path = "outputs/model.pt";
  EXPECT_EQ(Register(ws_.get(), request).status().code(), StatusCode::kNotFound);
}

TEST_F(RegistryTest, ResolveNamesTheLatestOrTheVersion) {
  Write(dir_ / "m.pt", "1");
  MustRegister(Local("m", dir_ / "m.pt"));
  Write(dir_ / "m.pt", "2");
  MustRegister(Local("m", dir_ / "m.pt"));
  EXPECT_EQ(Resolve(ws_.get(), ParseModelRef("m").value()).value().version, 2);
  EXPECT_EQ(Resolve(ws_.get(), ParseModelRef("m:1").value()).value().version, 1);
  auto unknown = Resolve(ws_.get(), ParseModelRef("m:3").value());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("versions: 1, 2"), std::string::npos);
}

TEST_F(RegistryTest, ModelDirIsSharedByConcurrentCallersAndReplacedWhenStale) {
  Write(dir_ / "model.pt", "first bytes");
  Registered one = MustRegister(Local("m", dir_ / "model.pt"));
  std::vector<std::string> dirs(6);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < dirs.size(); ++i) {
    threads.emplace_back([&, i] {
      auto ws = store::Workspace::Open(ws_->dir());
      if (!ws.ok()) return;
      auto dir = ModelDir(ws.value().get(), one.model);
      dirs[i] = dir.ok() ? dir.value() : dir.status().ToString();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& d : dirs) EXPECT_EQ(d, ws_->dir() + "/models/m/1");
  EXPECT_EQ(ReadFile(dirs[0] + "/model.pt").value(), "first bytes");
  std::error_code ec;
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(ws_->dir() + "/models/m", ec)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);  // no temporary folder left behind

  // Version 1 deleted, its number given again to other bytes: the copy is not the old one.
  ASSERT_TRUE(store::DeleteModel(ws_.get(), "m", 1).ok());  // the row only
  Write(dir_ / "model.pt", "other bytes");
  Registered again = MustRegister(Local("m", dir_ / "model.pt"));
  ASSERT_EQ(again.model.version, 1);
  auto dir = ModelDir(ws_.get(), again.model);
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(ReadFile(*dir + "/model.pt").value(), "other bytes");
}

TEST_F(RegistryTest, ConcurrentRegistrationsOfTheSameBytesMakeOneVersion) {
  Write(dir_ / "model.pt", "same");
  std::vector<int> already(4, -1);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < already.size(); ++i) {
    threads.emplace_back([&, i] {
      auto ws = store::Workspace::Open(ws_->dir());
      if (!ws.ok()) return;
      auto r = Register(ws.value().get(), Local("m", dir_ / "model.pt"));
      if (r.ok()) already[i] = r->already_registered ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  int fresh = 0;
  for (int a : already) {
    EXPECT_NE(a, -1);
    fresh += a == 0;
  }
  EXPECT_EQ(fresh, 1);
  EXPECT_EQ(store::ListModels(ws_.get()).value().size(), 1u);
}

TEST_F(RegistryTest, DownloadCopiesWritableFilesAndNeverOverwrites) {
  Write(dir_ / "model/w.bin", "weights");
  Registered r = MustRegister(Local("m", dir_ / "model"));
  ASSERT_TRUE(Download(ws_.get(), r.model, dir_ / "out").ok());
  EXPECT_EQ(ReadFile(dir_ / "out/model/w.bin").value(), "weights");
  EXPECT_EQ(Mode(dir_ / "out/model/w.bin"), 0644u);
  EXPECT_FALSE(PathExists(dir_ / "out/.trainyardignore"));
  Status twice = Download(ws_.get(), r.model, dir_ / "out");
  EXPECT_EQ(twice.code(), StatusCode::kAlreadyExists);
  std::error_code ec;
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "out", ec)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
}

TEST_F(RegistryTest, DeleteIsRefusedWhileDeployedAndThenRemovesTheCopy) {
  Write(dir_ / "model.pt", "w");
  Registered r = MustRegister(Local("m", dir_ / "model.pt"));
  auto dir = ModelDir(ws_.get(), r.model);
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(ws_->db()
                  ->Exec("INSERT INTO deployments(name, state, spec_json, created_at, updated_at) "
                         "VALUES('web', 'Healthy', '{}', 1, 1);"
                         "INSERT INTO deployment_models VALUES('web', 'm', 1)")
                  .ok());
  EXPECT_EQ(DeploymentsUsing(ws_.get(), "m", 1).value(), std::vector<std::string>{"web"});
  Status refused = Delete(ws_.get(), "m", 1);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("web"), std::string::npos);
  EXPECT_TRUE(PathExists(*dir + "/model.pt"));

  ASSERT_TRUE(ws_->db()->Exec("DELETE FROM deployment_models; DELETE FROM deployments").ok());
  ASSERT_TRUE(Delete(ws_.get(), "m", 1).ok());
  EXPECT_FALSE(PathExists(*dir));
  EXPECT_FALSE(PathExists(ws_->dir() + "/models/m"));
  EXPECT_EQ(Delete(ws_.get(), "m", 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(Delete(ws_.get(), "../x", 1).code(), StatusCode::kInvalidArgument);
}

TEST(Staging, RemoveTreeRemovesReadOnlyTrees) {
  testing::TempDir dir;
  Write(dir / "t/a/b.txt", "x");
  ASSERT_TRUE(MakeTreeReadOnly(dir / "t").ok());
  EXPECT_EQ(Mode(dir / "t/a"), 0555u);
  EXPECT_EQ(Mode(dir / "t/a/b.txt"), 0444u);
  ASSERT_TRUE(RemoveTree(dir / "t").ok());
  EXPECT_FALSE(PathExists(dir / "t"));
  EXPECT_TRUE(RemoveTree(dir / "t").ok());  // missing is fine
}

}  // namespace
}  // namespace trainyard::models
