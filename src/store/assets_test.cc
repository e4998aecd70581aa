#include <gtest/gtest.h>

#include "store/workspace.h"
#include "testing/temp_dir.h"

namespace trainyard::store {
namespace {

AssetRecord Asset(const std::string& name, const std::string& version, const std::string& def) {
  AssetRecord a;
  a.name = name;
  a.version = version;
  a.definition_json = def;
  return a;
}

TEST(Assets, VersionsAutoIncrementAndLatestIsTheHighest) {
  testing::TempDir dir;
  auto ws = Workspace::Open(dir.path());
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  AssetRecord a = Asset("iris", "", "{\"n\":1}");
  ASSERT_TRUE((*ws)->PutAsset(AssetKind::kData, &a).ok());
  EXPECT_EQ(a.version, "1");
  AssetRecord b = Asset("iris", "7", "{\"n\":7}");
  ASSERT_TRUE((*ws)->PutAsset(AssetKind::kData, &b).ok());
  AssetRecord c = Asset("iris", "3", "{\"n\":3}");
  ASSERT_TRUE((*ws)->PutAsset(AssetKind::kData, &c).ok());
  AssetRecord d = Asset("iris", "", "{\"n\":8}");
  ASSERT_TRUE((*ws)->PutAsset(AssetKind::kData, &d).ok());
  EXPECT_EQ(d.version, "8");

  auto latest = (*ws)->GetAsset(AssetKind::kData, "iris", "latest");
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->version, "8");
  EXPECT_EQ(latest->definition_json, "{\"n\":8}");
  auto three = (*ws)->GetAsset(AssetKind::kData, "iris", "3");
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three->definition_json, "{\"n\":3}");

  // The same name as an environment is another asset.
  EXPECT_FALSE((*ws)->GetAsset(AssetKind::kEnvironment, "iris", "").ok());
  auto listed = (*ws)->ListAssets(AssetKind::kData);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 4u);
}

TEST(Assets, NonIntegerVersionsMakeLatestTheLastCreated) {
  testing::TempDir dir;
  auto ws = Workspace::Open(dir.path());
  ASSERT_TRUE(ws.ok());
  AssetRecord a = Asset("env", "9", "{}");
  AssetRecord b = Asset("env", "beta", "{}");
  ASSERT_TRUE((*ws)->PutAsset(AssetKind::kEnvironment, &a).ok());
  ASSERT_TRUE((*ws)->PutAsset(AssetKind::kEnvironment, &b).ok());
  auto latest = (*ws)->GetAsset(AssetKind::kEnvironment, "env", "");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version, "beta");
  AssetRecord c = Asset("env", "", "{}");
  ASSERT_TRUE((*ws)->PutAsset(AssetKind::kEnvironment, &c).ok());
  EXPECT_EQ(c.version, "10");
}

TEST(Assets, RefusesReplacingAVersionAndNamesWhatExists) {
  testing::TempDir dir;
  auto ws = Workspace::Open(dir.path());
  ASSERT_TRUE(ws.ok());
  AssetRecord a = Asset("sk", "1", "{}");
  ASSERT_TRUE((*ws)->PutAsset(AssetKind::kEnvironment, &a).ok());
  AssetRecord again = Asset("sk", "1", "{\"other\":1}");
  Status s = (*ws)->PutAsset(AssetKind::kEnvironment, &again);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << s.ToString();
  EXPECT_NE(s.message().find("sk:1 already exists"), std::string::npos) << s.ToString();

  auto missing = (*ws)->GetAsset(AssetKind::kEnvironment, "nope", "1");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("registered: sk"), std::string::npos)
      << missing.status().ToString();
  auto bad_version = (*ws)->GetAsset(AssetKind::kEnvironment, "sk", "2");
  ASSERT_FALSE(bad_version.ok());
  EXPECT_NE(bad_version.status().message().find("versions: 1"), std::string::npos)
      << bad_version.status().ToString();
}

}  // namespace
}  // namespace trainyard::store
