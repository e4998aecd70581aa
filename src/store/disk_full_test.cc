// The workspace on a full or read-only file system (a small tmpfs): reading works, writing says
// so in the user's words, and freeing space makes it writable again.
#include <gtest/gtest.h>

#include "store/db.h"
#include "store/metrics.h"
#include "store/tiny_fs_test_util.h"
#include "store/workspace.h"

namespace trainyard::store {
namespace {

RunRecord NewRun(const std::string& experiment) {
  RunRecord r;
  r.experiment = experiment;
  r.target = "local";
  r.spec_json = "{}";
  return r;
}

bool Contains(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

// Makes a workspace with one run holding `points` metric points; returns the run id.
std::string MakeOldRun(const std::string& dir, int points) {
  auto ws = Workspace::Open(dir);
  EXPECT_TRUE(ws.ok()) << ws.status().ToString();
  RunRecord r = NewRun("old");
  EXPECT_TRUE((*ws)->CreateRun(&r, {{"k", "v"}}).ok());
  tracking::Batch b;
  b.client = "c";
  b.seq = 1;
  for (int i = 0; i < points; ++i) b.points.push_back({"loss", i, i, 0.5});
  EXPECT_TRUE(ApplyBatch((*ws)->db(), r.seq, b).ok());
  EXPECT_TRUE((*ws)->SetStatus(r.id, RunStatus::kCompleted, {.ended_at = 1}).ok());
  return r.id;
}

void ExpectReadable(Workspace* ws, const std::string& run_id, int points) {
  auto run = ws->GetRun(run_id);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->status, RunStatus::kCompleted);
  auto runs = ws->ListRuns({});
  ASSERT_TRUE(runs.ok()) << runs.status().ToString();
  EXPECT_EQ(runs->size(), 1u);
  auto metrics = ReadMetrics(ws->db(), run->seq);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  EXPECT_EQ((*metrics)["loss"].size(), static_cast<size_t>(points));
  auto tags = ws->Tags(run_id);
  ASSERT_TRUE(tags.ok());
  EXPECT_EQ(tags->size(), 1u);
}

TEST(DiskFull, FullDiskReadsOldRunsAndSaysWhyWritesFail) {
  testing::TinyFs fs(1 << 20);
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << fs.error();
  std::string dir = fs.path() + "/ws";
  std::string old_id = MakeOldRun(dir, 500);
  ASSERT_GT(fs.Fill(), 0u);

  auto ws = Workspace::Open(dir);
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  ExpectReadable(ws->get(), old_id, 500);
  EXPECT_TRUE((*ws)->ReapOrphans().ok());
  RunRecord r = NewRun("new");
  Status created = (*ws)->CreateRun(&r, {});
  ASSERT_FALSE(created.ok());
  EXPECT_TRUE(IsDiskFull(created)) << created.ToString();
  EXPECT_TRUE(Contains(created, "workspace disk is full (" + dir + ")")) << created.ToString();
  EXPECT_FALSE(Contains(created, "disk I/O error")) << created.ToString();
  ws->reset();

  // Space again: the same workspace takes new runs.
  fs.Free();
  auto again = Workspace::Open(dir);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE((*again)->db()->read_only());
  RunRecord r2 = NewRun("new");
  Status created2 = (*again)->CreateRun(&r2, {});
  EXPECT_TRUE(created2.ok()) << created2.ToString();
}

TEST(DiskFull, DiskFillingUpWhileOpenFailsWritesWithTheReason) {
  testing::TinyFs fs(1 << 20);
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << fs.error();
  std::string dir = fs.path() + "/ws";
  std::string old_id = MakeOldRun(dir, 10);
  auto ws = Workspace::Open(dir);
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  ASSERT_GT(fs.Fill(), 0u);
  auto run = (*ws)->GetRun(old_id);
  ASSERT_TRUE(run.ok());
  tracking::Batch b;
  b.client = "c2";
  b.seq = 1;
  for (int i = 0; i < 5000; ++i) b.points.push_back({"big", i, i, 1.0});
  auto applied = ApplyBatch((*ws)->db(), run->seq, b);
  ASSERT_FALSE(applied.ok());
  EXPECT_TRUE(IsDiskFull(applied.status())) << applied.status().ToString();
  // Nothing of the failed batch is half-stored, and reading still works.
  auto metrics = ReadMetrics((*ws)->db(), run->seq);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  EXPECT_EQ(metrics->count("big"), 0u);
  fs.Free();
  auto retried = ApplyBatch((*ws)->db(), run->seq, b);
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_TRUE(*retried);
}

TEST(DiskFull, ReadOnlyWorkspaceReadsAndRefusesWrites) {
  testing::TinyFs fs(1 << 20);
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << fs.error();
  std::string dir = fs.path() + "/ws";
  std::string old_id = MakeOldRun(dir, 20);
  ASSERT_TRUE(fs.Remount(/*read_only=*/true));
  auto ws = Workspace::Open(dir);
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  ExpectReadable(ws->get(), old_id, 20);
  EXPECT_TRUE((*ws)->ReapOrphans().ok());
  Status tagged = (*ws)->SetTag(old_id, "a", "b");
  ASSERT_FALSE(tagged.ok());
  EXPECT_TRUE(Contains(tagged, "workspace is read-only (" + dir + ")")) << tagged.ToString();
  ws->reset();
  ASSERT_TRUE(fs.Remount(/*read_only=*/false));
}

}  // namespace
}  // namespace trainyard::store
