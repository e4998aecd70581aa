#include "snapshot/walk.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
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

// The symlink target recorded for `path`, or "(missing)".
std::string TargetOf(const WalkResult& w, const std::string& path) {
  for (const WalkedFile& f : w.files) {
    if (f.path == path) return f.symlink_target;
  }
  return "(missing)";
}

TEST(Walk, KeepsSymlinksInsideAsSymlinksWithoutWalkingThem) {
  trainyard::testing::TempDir dir;
  PutFile(dir / "src/real.txt", "real");
  PutFile(dir / "lib/util.py", "u");
  ASSERT_EQ(symlink("src/real.txt", (dir / "link.txt").c_str()), 0);
  ASSERT_EQ(symlink("../lib", (dir / "src/lib").c_str()), 0);  // a folder: not walked
  ASSERT_EQ(symlink("nowhere", (dir / "dangling").c_str()), 0);
  ASSERT_EQ(symlink("loop2", (dir / "loop1").c_str()), 0);
  ASSERT_EQ(symlink("loop1", (dir / "loop2").c_str()), 0);
  auto w = WalkSourceDir(dir.path());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(Paths(*w),
            (std::vector<std::string>{"lib/util.py", "link.txt", "src/lib", "src/real.txt"}));
  EXPECT_EQ(TargetOf(*w, "link.txt"), "src/real.txt");
  EXPECT_EQ(TargetOf(*w, "src/lib"), "../lib");
  EXPECT_EQ(TargetOf(*w, "src/real.txt"), "");
  EXPECT_EQ(w->symlinks, 2u);
  EXPECT_EQ(w->total_bytes, 5u);  // links count no bytes
}

TEST(Walk, LinksToAncestorsAreKeptAndNotFollowed) {
  trainyard::testing::TempDir dir;
  PutFile(dir / "a/file.txt", "f");
  ASSERT_EQ(symlink("..", (dir / "a/up").c_str()), 0);
  ASSERT_EQ(symlink(".", (dir / "self").c_str()), 0);
  ASSERT_EQ(symlink("../a", (dir / "a/again").c_str()), 0);
  auto w = WalkSourceDir(dir.path());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(Paths(*w), (std::vector<std::string>{"a/again", "a/file.txt", "a/up", "self"}));
  EXPECT_EQ(TargetOf(*w, "a/up"), "..");
  EXPECT_EQ(TargetOf(*w, "self"), ".");
}

TEST(Walk, RefusesLinksThatLeaveTheFolderNamingThemAndTheIgnoreFile) {
  trainyard::testing::TempDir parent;
  PutFile(parent / "secret.txt", "outside");
  PutFile(parent / "src/train.py", "t");
  PutFile(parent / "src/.gitignore", "*.log\n");
  const std::string src = parent / "src";
  ASSERT_EQ(symlink((parent / "secret.txt").c_str(), (src + "/secret.txt").c_str()), 0);
  ASSERT_EQ(symlink("..", (src + "/parentloop").c_str()), 0);
  ASSERT_EQ(symlink("../../secret.txt", (src + "/deep").c_str()), 0);  // dangling: skipped
  auto w = WalkSourceDir(src);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  const std::string msg = w.status().message();
  EXPECT_NE(msg.find("2 symlinks lead out of the source folder " + src), std::string::npos) << msg;
  const std::string real_parent = std::filesystem::canonical(parent.path()).string();
  EXPECT_NE(msg.find("parentloop -> .. (" + real_parent + ")"), std::string::npos) << msg;
  EXPECT_NE(msg.find("secret.txt -> " + parent.path() + "/secret.txt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("list them in " + src + "/.gitignore"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("deep"), std::string::npos) << msg;

  // Listed in the ignore file, they are left out (a folder link also matches "name/").
  PutFile(src + "/.gitignore", "*.log\nsecret.txt\nparentloop/\n");
  w = WalkSourceDir(src);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(Paths(*w), (std::vector<std::string>{".gitignore", "train.py"}));
}

TEST(Walk, AbsoluteOrIndirectTargetsInsideBecomeRelative) {
  trainyard::testing::TempDir dir;
  PutFile(dir / "data/x.csv", "x");
  PutFile(dir / "real/deep/y.txt", "y");
  std::filesystem::create_directories(dir / "sub");
  ASSERT_EQ(symlink((dir / "data/x.csv").c_str(), (dir / "sub/abs.csv").c_str()), 0);
  ASSERT_EQ(symlink("real/deep", (dir / "hop").c_str()), 0);
  // Through another link: "hop/.." is real/, not the root, so the text cannot be kept.
  ASSERT_EQ(symlink("../hop/../deep/y.txt", (dir / "sub/indirect").c_str()), 0);
  ASSERT_EQ(symlink(dir.path().c_str(), (dir / "sub/root").c_str()), 0);
  auto w = WalkSourceDir(dir.path());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(TargetOf(*w, "sub/abs.csv"), "../data/x.csv");
  EXPECT_EQ(TargetOf(*w, "sub/indirect"), "../real/deep/y.txt");
  EXPECT_EQ(TargetOf(*w, "sub/root"), "..");
  EXPECT_EQ(TargetOf(*w, "hop"), "real/deep");
}

TEST(Walk, SkipsTheStoreFolder) {
  trainyard::testing::TempDir dir;
  PutFile(dir / "a.py", "a");
  PutFile(dir / "store/blobs/x", "x");
  struct stat st {};
  ASSERT_EQ(stat((dir / "store").c_str(), &st), 0);
  WalkOptions options;
  options.skip_dirs = {{st.st_dev, st.st_ino}};
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
