#include "store/models.h"

#include <gtest/gtest.h>

#include "store/workspace.h"
#include "testing/temp_dir.h"

namespace trainyard::store {
namespace {

class ModelsTest : public ::testing::Test {
 protected:
  void SetUp() override { ws_ = std::move(Workspace::Open(dir_.path()).value()); }

  ModelRecord Put(const std::string& name, const std::string& digest) {
    ModelRecord m;
    m.name = name;
    m.digest = digest;
    m.path = "model.pt";
    m.tags_json = R"({"k":"v"})";
    Status s = PutModel(ws_.get(), &m);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return m;
  }

  void UseInDeployment(const std::string& deployment, const std::string& model, int64_t version) {
    ASSERT_TRUE(ws_->db()
                    ->Exec("INSERT OR IGNORE INTO deployments(name, state, spec_json, created_at, "
                           "updated_at) VALUES('" +
                           deployment + "', 'Healthy', '{}', 1, 1)")
                    .ok());
    ASSERT_TRUE(ws_->db()
                    ->Exec("INSERT INTO deployment_models(deployment, model, version) VALUES('" +
                           deployment + "', '" + model + "', " + std::to_string(version) + ")")
                    .ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<Workspace> ws_;
};

TEST_F(ModelsTest, VersionsCountUpPerName) {
  EXPECT_EQ(Put("a", "d1").version, 1);
  EXPECT_EQ(Put("a", "d2").version, 2);
  EXPECT_EQ(Put("b", "d1").version, 1);
  ModelRecord third = Put("a", "d3");
  EXPECT_EQ(third.version, 3);
  EXPECT_GT(third.created_at, 0);

  auto all = ListModels(ws_.get());
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].name, "a");
  EXPECT_EQ((*all)[2].version, 3);
  EXPECT_EQ((*all)[3].name, "b");
  auto only_a = ListModels(ws_.get(), "a");
  ASSERT_TRUE(only_a.ok());
  EXPECT_EQ(only_a->size(), 3u);
}

TEST_F(ModelsTest, GetReturnsLatestOrTheVersionAndNamesWhatExists) {
  Put("a", "d1");
  Put("a", "d2");
  Put("other", "d9");
  auto latest = GetModel(ws_.get(), "a");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version, 2);
  EXPECT_EQ(latest->digest, "d2");
  EXPECT_EQ(latest->tags_json, R"({"k":"v"})");
  auto first = GetModel(ws_.get(), "a", 1);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->digest, "d1");

  auto no_version = GetModel(ws_.get(), "a", 7);
  EXPECT_EQ(no_version.status().code(), StatusCode::kNotFound);
  EXPECT_NE(no_version.status().message().find("versions: 1, 2"), std::string::npos)
      << no_version.status().ToString();
  auto no_name = GetModel(ws_.get(), "nope");
  EXPECT_EQ(no_name.status().code(), StatusCode::kNotFound);
  EXPECT_NE(no_name.status().message().find("registered: a, other"), std::string::npos)
      << no_name.status().ToString();
}

TEST_F(ModelsTest, FindsAVersionByDigestWithinItsName) {
  Put("a", "d1");
  Put("a", "d2");
  auto found = FindModelByDigest(ws_.get(), "a", "d2");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->version, 2);
  auto other_name = FindModelByDigest(ws_.get(), "b", "d2");
  ASSERT_TRUE(other_name.ok());
  EXPECT_FALSE(other_name->has_value());
}

TEST_F(ModelsTest, DeleteIsRefusedWhileADeploymentUsesTheVersion) {
  Put("a", "d1");
  Put("a", "d2");
  UseInDeployment("web", "a", 1);
  UseInDeployment("batch", "a", 1);
  Status refused = DeleteModel(ws_.get(), "a", 1);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("deployments batch, web"), std::string::npos)
      << refused.ToString();
  EXPECT_TRUE(GetModel(ws_.get(), "a", 1).ok());

  EXPECT_TRUE(DeleteModel(ws_.get(), "a", 2).ok());  // not used
  EXPECT_EQ(GetModel(ws_.get(), "a", 2).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(DeleteModel(ws_.get(), "a", 2).code(), StatusCode::kNotFound);

  ASSERT_TRUE(ws_->db()->Exec("DELETE FROM deployments").ok());  // cascades to its models
  ASSERT_TRUE(ws_->db()->Exec("DELETE FROM deployment_models").ok());
  EXPECT_TRUE(DeleteModel(ws_.get(), "a", 1).ok());
  auto none = ListModels(ws_.get(), "a");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace trainyard::store
