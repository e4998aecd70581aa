#include "snapshot/walk.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "snapshot/test_files.h"
#include "testing/temp_dir.h"

namespace trainyard::snapshot {
namespace {

using testing::PutFile;

std::vector<std::string> Paths(const WalkResult& w) {
  std::vector<std::string> out;
  for (const WalkedFile& f : w.files) out.push_back(f.path);
  return out;
}

TEST(Walk, ListsRegularFilesSortedWithSizesAndExecBit) {
  trainyard::testing::TempDir dir;
  PutFile(dir / "b.txt", "bb");
  PutFile(dir / "a-b/x", "x");
  PutFile(dir / "a/run.sh", "#!/bin/sh\n", 0755);
  PutFile(dir / "a/z/deep.txt", "deep");
  ASSERT_EQ(mkfifo((dir / "fifo").c_str(), 0644), 0);
  auto w = WalkSourceDir(dir.path());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  // Bytewise order of full paths: '-' sorts before '/'.
  EXPECT_EQ(Paths(*w), (std::vector<std::string>{"a-b/x", "a/run.sh", "a/z/deep.txt", "b.txt"}));
  EXPECT_TRUE(w->files[1].executable);
  EXPECT_FALSE(w->files[3].executable);
  EXPECT_EQ(w->files[3].stamp.size, 2u);
  EXPECT_EQ(w->total_bytes, 1u + 10u + 4u + 2u);
  EXPECT_EQ(w->ignore_file, "");
}

TEST(Walk, AlwaysSkipsGit) {
  trainyard::testing::TempDir dir;
  PutFile(dir / ".git/config", "x");
  PutFile(dir / "sub/.git", "gitdir: ../.git/modules/sub");
  PutFile(dir / "sub/a.py", "a");
  PutFile(dir / ".gitignore", "!.git\n");
  auto w = WalkSourceDir(dir.path());
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(Paths(*w), (std::vector<std::string>{".gitignore", "sub/a.py"}));
}

TEST(Walk, FollowsSymlinksToFilesAndFolders) {
  trainyard::testing::TempDir dir;
  trainyard::testing::TempDir outside;
  PutFile(dir / "src/real.txt", "real");
  PutFile(outside / "data/ext.bin", "external", 0755);
  ASSERT_EQ(symlink("src/real.txt", (dir / "link.txt").c_str()), 0);
  ASSERT_EQ(symlink((outside / "data").c_str(), (dir / "data").c_str()), 0);
  ASSERT_EQ(symlink("nowhere", (dir / "dangling").c_str()), 0);
  auto w = WalkSourceDir(dir.path());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(Paths(*w), (std::vector<std::string>{"data/ext.bin", "link.txt", "src/real.txt"}));
  EXPECT_TRUE(w->files[0].executable);
  EXPECT_EQ(w->files[1].stamp.size, 4u);
}

TEST(Walk, SkipsSymlinkCycles) {
  trainyard::testing::TempDir dir;
  PutFile(dir / "a/file.txt", "f");
  ASSERT_EQ(symlink("..", (dir / "a/up").c_str()), 0);
  ASSERT_EQ(symlink(".", (dir / "self").c_str()), 0);
  ASSERT_EQ(symlink("../a", (dir / "a/again").c_str()), 0);
  auto w = WalkSourceDir(dir.path());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(Paths(*w), (std::vector<std::string>{"a/file.txt"}));
  EXPECT_EQ(w->symlink_cycles, 3u);
}

TEST(Walk, SkipsTheStoreFolder) {
  trainyard::testing::TempDir dir;
  PutFile(dir / "a.py", "a");
  PutFile(dir / "store/blobs/x", "x");
  struct stat st {};
  ASSERT_EQ(stat((dir / "store").c_str(), &st), 0);
  WalkOptions options;
  options.skip_dir = {st.st_dev, st.st_ino};
  auto w = WalkSourceDir(dir.path(), options);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(Paths(*w), (std::vector<std::string>{"a.py"}));
}

TEST(Walk, RuleFileIsIncludedEvenWhenItIgnoresItself) {
  trainyard::testing::TempDir dir;
  PutFile(dir / ".amlignore", ".*\n");
  PutFile(dir / ".hidden", "h");
  PutFile(dir / "a.py", "a");
  auto w = WalkSourceDir(dir.path());
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->ignore_file, ".amlignore");
  EXPECT_EQ(Paths(*w), (std::vector<std::string>{".amlignore", "a.py"}));
}

TEST(Walk, ErrorsForMissingOrNonFolderSource) {
  trainyard::testing::TempDir dir;
  EXPECT_EQ(WalkSourceDir(dir / "missing").status().code(), StatusCode::kNotFound);
  PutFile(dir / "file", "x");
  EXPECT_EQ(WalkSourceDir(dir / "file").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace trainyard::snapshot
