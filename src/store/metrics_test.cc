#include "store/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "store/workspace.h"
#include "testing/temp_dir.h"

namespace trainyard::store {
namespace {

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_ = std::move(Workspace::Open(dir_.path()).value());
    run_.experiment = "m";
    run_.target = "local";
    run_.spec_json = "{}";
    ASSERT_TRUE(ws_->CreateRun(&run_, {}).ok());
  }
  tracking::Batch NewBatch(const std::string& client, int64_t seq, int rank = 0) {
    tracking::Batch b;
    b.client = client;
    b.seq = seq;
    b.rank = rank;
    return b;
  }
  testing::TempDir dir_;
  std::unique_ptr<Workspace> ws_;
  RunRecord run_;
};

TEST_F(MetricsTest, AppliesEachBatchExactlyOnceInOrder) {
  auto b1 = NewBatch("c1", 1);
  for (int i = 0; i < 1000; ++i) b1.points.push_back({"loss", i, 100 + i, 1.0 / (i + 1)});
  auto b2 = NewBatch("c1", 2);
  b2.points.push_back({"loss", 1000, 2000, 0.5});
  EXPECT_TRUE(ApplyBatch(ws_->db(), run_.seq, b1).value());
  EXPECT_FALSE(ApplyBatch(ws_->db(), run_.seq, b1).value());  // a resend changes nothing
  EXPECT_TRUE(ApplyBatch(ws_->db(), run_.seq, b2).value());
  EXPECT_FALSE(ApplyBatch(ws_->db(), run_.seq, b1).value());  // an old one neither
  auto m = ReadMetrics(ws_->db(), run_.seq).value();
  ASSERT_EQ(m["loss"].size(), 1001u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(m["loss"][static_cast<size_t>(i)].step, i);
  EXPECT_EQ(m["loss"].back().value, 0.5);
}

TEST_F(MetricsTest, ClientsAreIndependent) {
  auto a = NewBatch("a", 1, 0), b = NewBatch("b", 1, 1);
  a.points.push_back({"x", 0, 1, 1});
  b.points.push_back({"x", 0, 2, 2});
  EXPECT_TRUE(ApplyBatch(ws_->db(), run_.seq, a).value());
  EXPECT_TRUE(ApplyBatch(ws_->db(), run_.seq, b).value());
  auto m = ReadMetrics(ws_->db(), run_.seq, "x").value();
  ASSERT_EQ(m["x"].size(), 2u);
  EXPECT_EQ(m["x"][1].rank, 1);
}

TEST_F(MetricsTest, NanAndInfinityRoundTrip) {
  auto b = NewBatch("c", 1);
  constexpr double kInf = std::numeric_limits<double>::infinity();
  b.points = {{"v", 0, 1, std::nan("")}, {"v", 1, 2, kInf}, {"v", 2, 3, -kInf}, {"v", 3, 4, 2}};
  ASSERT_TRUE(ApplyBatch(ws_->db(), run_.seq, b).value());
  auto v = ReadMetrics(ws_->db(), run_.seq, "v").value()["v"];
  ASSERT_EQ(v.size(), 4u);
  EXPECT_TRUE(std::isnan(v[0].value));
  EXPECT_EQ(v[1].value, kInf);
  EXPECT_EQ(v[2].value, -kInf);
  auto sum = SummarizeMetrics(ws_->db(), run_.seq).value();
  ASSERT_EQ(sum.size(), 1u);
  EXPECT_EQ(sum[0].count, 4);
  EXPECT_EQ(sum[0].min, -kInf);
  EXPECT_EQ(sum[0].max, kInf);
  EXPECT_EQ(sum[0].last, 2);
  EXPECT_EQ(sum[0].last_step, 3);
}

TEST_F(MetricsTest, RowsImagesTagsAndProperties) {
  auto b = NewBatch("c", 1);
  b.rows.push_back({"table", 0, 1, R"({"epoch":1,"acc":0.5})"});
  b.images.push_back({"plot", 0, 1, "images/plot/0.png"});
  b.tags.push_back({"stage", "\"warmup\""});
  b.tags.push_back({"flag", "null"});
  b.properties.push_back({"lr", "0.1"});
  ASSERT_TRUE(ApplyBatch(ws_->db(), run_.seq, b).value());
  auto rows = ReadRows(ws_->db(), run_.seq).value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].columns_json, R"({"epoch":1,"acc":0.5})");
  EXPECT_EQ(ReadImages(ws_->db(), run_.seq).value().at(0).path, "images/plot/0.png");
  auto tags = ws_->Tags(run_.id).value();
  ASSERT_EQ(tags.size(), 2u);
  EXPECT_EQ(tags[0], (std::pair<std::string, std::string>{"flag", ""}));
  EXPECT_EQ(tags[1], (std::pair<std::string, std::string>{"stage", "warmup"}));
  auto props = ReadProperties(ws_->db(), run_.seq).value();
  EXPECT_EQ(props.at(0).second, "0.1");
}

}  // namespace
}  // namespace trainyard::store
