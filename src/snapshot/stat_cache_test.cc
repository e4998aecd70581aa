#include "snapshot/stat_cache.h"

#include <gtest/gtest.h>

#include "snapshot/test_files.h"
#include "testing/temp_dir.h"

namespace trainyard::snapshot {
namespace {

TEST(StatCache, RoundTripsThroughItsFile) {
  trainyard::testing::TempDir dir;
  StatCache cache;
  FileStamp a{10, 1700000000123456789, 1700000000223456789, 42};
  FileStamp b{0, 1, 2, 3};
  cache.Put("dir/a.py", {a, std::string(64, 'a')});
  cache.Put("odd\tname\\with\nnewline", {b, std::string(64, 'b')});
  std::string path = StatCache::PathFor(dir.path(), "/src/project");
  EXPECT_NE(path.find("/cache/"), std::string::npos);
  ASSERT_TRUE(cache.Save(path).ok());

  StatCache loaded = StatCache::Load(path);
  EXPECT_EQ(loaded.size(), 2u);
  ASSERT_NE(loaded.Lookup("dir/a.py", a), nullptr);
  EXPECT_EQ(*loaded.Lookup("dir/a.py", a), std::string(64, 'a'));
  ASSERT_NE(loaded.Lookup("odd\tname\\with\nnewline", b), nullptr);
  FileStamp touched = a;
  touched.mtime_ns += 1;
  EXPECT_EQ(loaded.Lookup("dir/a.py", touched), nullptr);
  FileStamp recreated = a;
  recreated.inode += 1;
  EXPECT_EQ(loaded.Lookup("dir/a.py", recreated), nullptr);
  EXPECT_EQ(loaded.Lookup("missing", a), nullptr);
}

TEST(StatCache, MissingOrDamagedFilesAreEmpty) {
  trainyard::testing::TempDir dir;
  EXPECT_EQ(StatCache::Load(dir / "nope.tsv").size(), 0u);
  testing::PutFile(dir / "other.tsv",
                   "# some other format\na\t1\t2\t3\t4\t" + std::string(64, 'a') + "\n");
  EXPECT_EQ(StatCache::Load(dir / "other.tsv").size(), 0u);
  testing::PutFile(dir / "bad.tsv",
                   "# trainyard stat cache v1\n"
                   "good\t1\t2\t3\t4\t" +
                       std::string(64, 'a') +
                       "\n"
                       "short\t1\t2\n"
                       "nan\tx\t2\t3\t4\t" +
                       std::string(64, 'a') +
                       "\n"
                       "badhash\t1\t2\t3\t4\tzz\n");
  StatCache loaded = StatCache::Load(dir / "bad.tsv");
  EXPECT_EQ(loaded.size(), 1u);
  EXPECT_NE(loaded.Lookup("good", FileStamp{1, 2, 3, 4}), nullptr);
}

}  // namespace
}  // namespace trainyard::snapshot
