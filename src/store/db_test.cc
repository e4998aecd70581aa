#include "store/db.h"

#include <gtest/gtest.h>

#include <vector>

#include "testing/temp_dir.h"

namespace trainyard::store {
namespace {

std::unique_ptr<Db> OpenWithNumbers(const testing::TempDir& dir, int n) {
  auto db = Db::Open(dir.path() + "/test.db");
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  EXPECT_TRUE((*db)->Exec("CREATE TABLE t(x INTEGER)").ok());
  auto ins = (*db)->Prepare("INSERT INTO t(x) VALUES(?)");
  EXPECT_TRUE(ins.ok());
  for (int i = 1; i <= n; ++i) {
    EXPECT_TRUE(ins->Bind(1, i).Run().ok());
    EXPECT_TRUE(ins->Reset().ok());
  }
  return std::move(*db);
}

TEST(Db, ForEachRowVisitsEveryRowInOrder) {
  testing::TempDir dir;
  auto db = OpenWithNumbers(dir, 5);
  auto s = db->Prepare("SELECT x FROM t WHERE x >= ? ORDER BY x");
  ASSERT_TRUE(s.ok());
  std::vector<int64_t> seen;
  Status st = s->Bind(1, 2).ForEachRow([&](const Stmt& row) { seen.push_back(row.Int(0)); });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(seen, (std::vector<int64_t>{2, 3, 4, 5}));
}

TEST(Db, StepErrorInTheMiddleIsAnErrorNotTheEnd) {
  testing::TempDir dir;
  auto db = OpenWithNumbers(dir, 5);
  // abs() of the smallest integer overflows: SQLite fails on the third row (x = 3), after two
  // were read. (The argument depends on x, so SQLite cannot evaluate it once up front; no ORDER
  // BY, which would compute every row before returning the first.)
  auto s = db->Prepare(
      "SELECT CASE WHEN x < 3 THEN x ELSE abs(x - 3 - 9223372036854775807 - 1) END FROM t");
  ASSERT_TRUE(s.ok());
  int rows = 0;
  Status st = s->ForEachRow([&](const Stmt&) { ++rows; });
  EXPECT_EQ(rows, 2);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("integer overflow"), std::string::npos) << st.ToString();
}

TEST(Db, ForEachRowStopsAtTheCallbacksError) {
  testing::TempDir dir;
  auto db = OpenWithNumbers(dir, 5);
  auto s = db->Prepare("SELECT x FROM t ORDER BY x");
  ASSERT_TRUE(s.ok());
  int rows = 0;
  Status st = s->ForEachRow([&](const Stmt& row) -> Status {
    ++rows;
    if (row.Int(0) == 2) return InvalidArgument("two");
    return Status::Ok();
  });
  EXPECT_EQ(rows, 2);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
}

TEST(Db, BindErrorsAreReturnedByRun) {
  testing::TempDir dir;
  auto db = OpenWithNumbers(dir, 1);
  auto s = db->Prepare("INSERT INTO t(x) VALUES(?)");
  ASSERT_TRUE(s.ok());
  Status st = s->Bind(1, 7).Bind(2, 8).Run();  // there is no parameter 2
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("bind of parameter 2"), std::string::npos) << st.ToString();
  // Nothing was inserted; after Reset the statement works again.
  ASSERT_TRUE(s->Reset().ok());
  EXPECT_TRUE(s->Bind(1, 9).Run().ok());
  auto count = db->Prepare("SELECT COUNT(*) FROM t");
  ASSERT_TRUE(count.ok());
  auto row = count->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(count->Int(0), 2);
}

TEST(Db, RebindingWithoutResetIsAnError) {
  testing::TempDir dir;
  auto db = OpenWithNumbers(dir, 1);
  auto s = db->Prepare("SELECT ?");
  ASSERT_TRUE(s.ok());
  auto first = s->Bind(1, 1).Step();
  ASSERT_TRUE(first.ok() && *first);
  // SQLite refuses a bind while the statement is running; the old value must not be reused.
  auto again = s->Bind(1, 2).Step();
  EXPECT_FALSE(again.ok());
}

}  // namespace
}  // namespace trainyard::store
