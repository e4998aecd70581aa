#include "snapshot/snapshot.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/process.h"
#include "common/sha256.h"
#include "snapshot/blob_store.h"
#include "snapshot/stat_cache.h"
#include "snapshot/test_files.h"
#include "testing/temp_dir.h"

namespace trainyard::snapshot {
namespace {

namespace fs = std::filesystem;
using testing::GetFile;
using testing::PutFile;

// Options that let the stat cache trust files written a moment ago.
SnapshotOptions Fresh() {
  SnapshotOptions o;
  o.stat_cache_min_age_ms = 0;
  return o;
}

// "<prefix><n>" (appended rather than "lit" + to_string(n), which GCC 12 at -O3 falsely flags).
std::string Numbered(std::string prefix, int n) {
  prefix += std::to_string(n);
  return prefix;
}

// Every regular file below `dir` (not symlinks), relative, sorted.
std::set<std::string> FilesBelow(const std::string& dir) {
  std::set<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && !e.is_symlink()) out.insert(fs::relative(e.path(), dir).string());
  }
  return out;
}

std::vector<std::string> ManifestPaths(const std::string& store, const std::string& id) {
  auto m = ReadManifest(store, id);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  std::vector<std::string> out;
  if (m.ok()) {
    for (const ManifestEntry& e : *m) out.push_back(e.path);
  }
  return out;
}

class Snapshot : public ::testing::Test {
 protected:
  std::string Src(const std::string& rel = "") const {
    return rel.empty() ? src_.path() : src_ / rel;
  }
  const std::string& Store() const { return store_.path(); }
  std::vector<std::string> Snap(const SnapshotOptions& options = Fresh()) {
    auto info = TakeSnapshot(Src(), Store(), options);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    if (!info.ok()) return {};
    last_ = *info;
    return ManifestPaths(Store(), info->id);
  }

  trainyard::testing::TempDir src_;
  trainyard::testing::TempDir store_;
  SnapshotInfo last_;
};

TEST_F(Snapshot, IdenticalFilesShareOneBlobAndAResnapshotWritesNothing) {
  PutFile(Src("a.txt"), "same contents");
  PutFile(Src("dir/b.txt"), "same contents");
  PutFile(Src("c.txt"), "other");
  auto first = TakeSnapshot(Src(), Store(), Fresh());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->files, 3u);
  EXPECT_EQ(first->bytes, 13u + 13u + 5u);
  EXPECT_EQ(first->new_blobs, 2u);
  EXPECT_EQ(first->files_read, 3u);
  EXPECT_EQ(first->source_dir, Src());
  EXPECT_FALSE(first->in_git);

  std::set<std::string> blobs = FilesBelow(Store() + "/blobs");
  EXPECT_EQ(blobs.size(), 2u);
  const std::string hash = Sha256Hex("same contents");
  EXPECT_EQ(blobs.count(hash.substr(0, 2) + "/" + hash.substr(2)), 1u);
  struct stat st {};
  ASSERT_EQ(stat((Store() + "/blobs/" + hash.substr(0, 2) + "/" + hash.substr(2)).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  EXPECT_TRUE(fs::exists(Store() + "/manifests/" + first->id + ".json"));
  EXPECT_EQ(Sha256Hex(GetFile(Store() + "/manifests/" + first->id + ".json")), first->id);

  // Unchanged: same id, nothing read, nothing written anywhere in the store.
  std::set<std::string> before = FilesBelow(Store());
  auto cache_file = *FilesBelow(Store() + "/cache").begin();
  auto cache_mtime = fs::last_write_time(Store() + "/cache/" + cache_file);
  auto again = TakeSnapshot(Src(), Store(), Fresh());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(again->new_blobs, 0u);
  EXPECT_EQ(again->files_read, 0u);
  EXPECT_EQ(FilesBelow(Store()), before);
  EXPECT_EQ(fs::last_write_time(Store() + "/cache/" + cache_file), cache_mtime);
}

TEST_F(Snapshot, ChangingOneFileGivesANewIdAndOneNewBlob) {
  PutFile(Src("a.txt"), "alpha");
  PutFile(Src("b.txt"), "beta");
  Snap();
  const std::string first = last_.id;
  PutFile(Src("b.txt"), "beta, changed");
  Snap();
  EXPECT_NE(last_.id, first);
  EXPECT_EQ(last_.new_blobs, 1u);
  EXPECT_EQ(last_.files_read, 1u);
  // Back to the old contents: the old id again and no new blob.
  PutFile(Src("b.txt"), "beta");
  Snap();
  EXPECT_EQ(last_.id, first);
  EXPECT_EQ(last_.new_blobs, 0u);
}

TEST_F(Snapshot, RecentlyChangedFilesAreReadAgainUntilTheyAreOldEnough) {
  PutFile(Src("a.txt"), "alpha");
  SnapshotOptions careful;  // default minimum age: a file written just now is not trusted
  Snap(careful);
  EXPECT_EQ(last_.files_read, 1u);
  Snap(careful);
  EXPECT_EQ(last_.files_read, 1u);
  EXPECT_EQ(last_.new_blobs, 0u);
}

TEST_F(Snapshot, ExecutableBitIsPartOfTheManifest) {
  PutFile(Src("run.sh"), "#!/bin/sh\n", 0755);
  Snap();
  const std::string exec_id = last_.id;
  auto m = ReadManifest(Store(), exec_id);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE((*m)[0].executable);
  chmod(Src("run.sh").c_str(), 0644);
  Snap();
  EXPECT_NE(last_.id, exec_id);
}

TEST_F(Snapshot, TrainyardignoreWinsOverAmlignoreAndGitignore) {
  PutFile(Src(".trainyardignore"), "*.ty\n");
  PutFile(Src(".amlignore"), "*.aml\n");
  PutFile(Src(".gitignore"), "*.git\n");
  PutFile(Src("sub/.gitignore"), "*.sub\n");
  for (const char* f : {"a.ty", "a.aml", "a.git", "sub/b.sub", "keep.py"}) PutFile(Src(f), f);
  EXPECT_EQ(Snap(),
            (std::vector<std::string>{".amlignore", ".gitignore", ".trainyardignore", "a.aml",
                                      "a.git", "keep.py", "sub/.gitignore", "sub/b.sub"}));
  EXPECT_EQ(last_.ignore_file, ".trainyardignore");
}

TEST_F(Snapshot, AWorkspaceInsideTheSourceIsLeftOut) {
  PutFile(Src("train.py"), "x");
  PutFile(Src("ws/runs/r1/work/tmp.txt"), "changes while runs run");
  SnapshotOptions options = Fresh();
  options.skip_dir = Src("ws");
  EXPECT_EQ(Snap(options), (std::vector<std::string>{"train.py"}));
  EXPECT_EQ(Snap(), (std::vector<std::string>{"train.py", "ws/runs/r1/work/tmp.txt"}));
}

TEST_F(Snapshot, AmlignoreWinsOverGitignore) {
  PutFile(Src(".amlignore"), "*.aml\n");
  PutFile(Src(".gitignore"), "*.git\n");
  PutFile(Src("sub/.gitignore"), "*.sub\n");
  for (const char* f : {"a.aml", "a.git", "sub/b.sub", "keep.py"}) PutFile(Src(f), f);
  EXPECT_EQ(Snap(), (std::vector<std::string>{".amlignore", ".gitignore", "a.git", "keep.py",
                                              "sub/.gitignore", "sub/b.sub"}));
  EXPECT_EQ(last_.ignore_file, ".amlignore");
}

TEST_F(Snapshot, GitignoreAppliesWithNestedFiles) {
  PutFile(Src(".gitignore"), "*.log\n/build/\n");
  PutFile(Src("sub/.gitignore"), "!keep.log\nlocal.tmp\n/only-here.txt\n");
  for (const char* f : {"a.log", "build/out.o", "sub/build/kept.o", "sub/x.log", "sub/keep.log",
                        "sub/local.tmp", "local.tmp", "sub/only-here.txt", "sub/deep/only-here.txt",
                        "sub/deep/keep.log", "keep.log"}) {
    PutFile(Src(f), f);
  }
  EXPECT_EQ(Snap(), (std::vector<std::string>{".gitignore", "local.tmp", "sub/.gitignore",
                                              "sub/build/kept.o", "sub/deep/keep.log",
                                              "sub/deep/only-here.txt", "sub/keep.log"}));
  EXPECT_EQ(last_.ignore_file, ".gitignore");
}

TEST_F(Snapshot, NestedGitignoreAppliesWithoutARootRuleFile) {
  PutFile(Src("sub/.gitignore"), "*.tmp\n");
  PutFile(Src("sub/a.tmp"), "a");
  PutFile(Src("b.tmp"), "b");
  EXPECT_EQ(Snap(), (std::vector<std::string>{"b.tmp", "sub/.gitignore"}));
  EXPECT_EQ(last_.ignore_file, "");
}

TEST_F(Snapshot, NegationCannotReincludeBelowAnIgnoredFolder) {
  PutFile(Src(".trainyardignore"), "data/\n!data/small.csv\nlogs/*\n!logs/keep.txt\n");
  for (const char* f : {"data/small.csv", "data/big.csv", "logs/keep.txt", "logs/run.txt"}) {
    PutFile(Src(f), f);
  }
  EXPECT_EQ(Snap(), (std::vector<std::string>{".trainyardignore", "logs/keep.txt"}));
}

TEST_F(Snapshot, SymlinksInsideAreKeptAsSymlinksAndRestoredAsSymlinks) {
  PutFile(Src("train.py"), "import util\n");
  PutFile(Src("shared/util.py"), "def f(): pass\n");
  ASSERT_EQ(symlink("train.py", Src("alias.py").c_str()), 0);
  fs::create_directories(Src("pkg"));
  ASSERT_EQ(symlink("../shared", Src("pkg/shared").c_str()), 0);
  ASSERT_EQ(symlink("..", Src("pkg/up").c_str()), 0);  // a loop if walked: it is not
  EXPECT_EQ(Snap(), (std::vector<std::string>{"alias.py", "pkg/shared", "pkg/up", "shared/util.py",
                                              "train.py"}));
  EXPECT_EQ(last_.files, 5u);
  EXPECT_EQ(last_.symlinks, 3u);
  EXPECT_EQ(last_.bytes, 26u);  // links count no bytes
  auto m = ReadManifest(Store(), last_.id);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)[0].symlink, "train.py");
  EXPECT_EQ((*m)[0].sha256, "");
  // The stat cache knows the two files, not the links (nothing of theirs is read or hashed).
  const StatCache cache = StatCache::Load(StatCache::PathFor(Store(), Src()));
  EXPECT_EQ(cache.size(), 2u);

  trainyard::testing::TempDir dest;
  PutFile(dest / "alias.py", "a plain file where the link goes");
  ASSERT_TRUE(Restore(Store(), last_.id, dest.path()).ok());
  EXPECT_TRUE(fs::is_symlink(dest / "alias.py"));
  EXPECT_EQ(fs::read_symlink(dest / "alias.py"), "train.py");
  EXPECT_EQ(GetFile(dest / "alias.py"), "import util\n");  // read through the link
  EXPECT_TRUE(fs::is_symlink(dest / "pkg/shared"));
  EXPECT_EQ(GetFile(dest / "pkg/shared/util.py"), "def f(): pass\n");
  EXPECT_EQ(fs::read_symlink(dest / "pkg/up"), "..");
  EXPECT_EQ(FilesBelow(dest.path()),
            (std::set<std::string>{"shared/util.py", "train.py"}));  // the rest are links

  // An unchanged re-snapshot (links included) is the same snapshot and reads nothing.
  const std::string id = last_.id;
  Snap();
  EXPECT_EQ(last_.id, id);
  EXPECT_EQ(last_.files_read, 0u);
  // A changed target is a new snapshot.
  fs::remove(Src("alias.py"));
  ASSERT_EQ(symlink("shared/util.py", Src("alias.py").c_str()), 0);
  Snap();
  EXPECT_NE(last_.id, id);
}

TEST_F(Snapshot, LinksThatLeaveTheFolderAreRefusedAndNothingIsStored) {
  trainyard::testing::TempDir outside;
  PutFile(outside / "secret.txt", "not for the snapshot");
  PutFile(Src("train.py"), "t");
  ASSERT_EQ(symlink((outside / "secret.txt").c_str(), Src("data.txt").c_str()), 0);
  auto info = TakeSnapshot(Src(), Store(), Fresh());
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(info.status().message().find("data.txt -> " + outside.path() + "/secret.txt"),
            std::string::npos)
      << info.status().message();
  EXPECT_NE(info.status().message().find(".trainyardignore"), std::string::npos);
  EXPECT_TRUE(FilesBelow(Store()).empty());
  PutFile(Src(".trainyardignore"), "data.txt\n");
  EXPECT_EQ(Snap(), (std::vector<std::string>{".trainyardignore", "train.py"}));
}

TEST_F(Snapshot, AFileChangedWhileReadIsReadAgain) {
  // Larger than a chunk, so that the hook runs between two chunks of one read.
  const std::string v1(BlobStore::kChunkBytes + 100, '1');
  const std::string v2(BlobStore::kChunkBytes + 200, '2');
  PutFile(Src("big.bin"), v1);
  PutFile(Src("small.txt"), "small");
  SnapshotOptions o = Fresh();
  std::atomic<int> last_attempt{-1};
  std::atomic<bool> rewritten{false};
  o.after_chunk_for_test = [&](const std::string& path, int attempt) {
    if (path != Src("big.bin")) return;
    last_attempt = attempt;
    if (!rewritten.exchange(true)) PutFile(path, v2);  // after the first chunk of the first read
  };
  Snap(o);
  EXPECT_EQ(last_attempt.load(), 1);  // read twice: the second read saw no change
  trainyard::testing::TempDir dest;
  ASSERT_TRUE(Restore(Store(), last_.id, dest.path()).ok());
  EXPECT_EQ(GetFile(dest / "big.bin"), v2);  // the whole new version, not a mix
  // Only the complete version was stored: one blob per file, none from the torn read.
  EXPECT_EQ(FilesBelow(Store() + "/blobs").size(), 2u);
  EXPECT_TRUE(FilesBelow(Store() + "/tmp").empty());
}

TEST_F(Snapshot, AFileThatKeepsChangingFailsTheSnapshotNamingIt) {
  PutFile(Src("small.txt"), "small");
  PutFile(Src("log.txt"), "0");
  SnapshotOptions o = Fresh();
  std::atomic<int> n{0};
  o.after_chunk_for_test = [&](const std::string& path, int) {
    if (path == Src("log.txt")) PutFile(path, Numbered("line ", n.fetch_add(1)));
  };
  auto info = TakeSnapshot(Src(), Store(), o);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kFailedPrecondition);
  const std::string msg = info.status().message();
  EXPECT_NE(msg.find(Src("log.txt") + ": file changed as we read it (read 3 times"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("list it in " + Src(".trainyardignore")), std::string::npos) << msg;
  EXPECT_EQ(n.load(), BlobStore::kReadAttempts);
  EXPECT_FALSE(fs::exists(Store() + "/manifests"));
}

TEST_F(Snapshot, NamesUpToTheFileSystemLimitRestore) {
  const std::string longest(255, 'n');
  const std::string link_name = std::string(250, 'l') + ".link";
  PutFile(Src("dir/" + longest), "long");
  ASSERT_EQ(symlink(("dir/" + longest).c_str(), Src(link_name).c_str()), 0);
  Snap();
  trainyard::testing::TempDir dest;
  for (int round = 0; round < 2; ++round) {  // the second one replaces what the first wrote
    Status s = Restore(Store(), last_.id, dest.path());
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_EQ(GetFile(dest / ("dir/" + longest)), "long");
  EXPECT_EQ(GetFile(dest / link_name), "long");
  EXPECT_EQ(FilesBelow(dest.path()), (std::set<std::string>{"dir/" + longest}));
}

TEST_F(Snapshot, MaxBytesIsCheckedBeforeAnythingIsWritten) {
  PutFile(Src("big.bin"), std::string(5000, 'b'));
  PutFile(Src("medium.bin"), std::string(3000, 'm'));
  for (int i = 0; i < 6; ++i) PutFile(Src(Numbered("small", i)), std::string(10 + i, 's'));
  SnapshotOptions o = Fresh();
  o.max_bytes = 4000;
  auto info = TakeSnapshot(Src(), Store(), o);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  const std::string msg = info.status().message();
  EXPECT_NE(msg.find("8075 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("4000 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("big.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("medium.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("small5"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("small1"), std::string::npos) << msg;  // only the 5 largest
  EXPECT_TRUE(FilesBelow(Store()).empty());

  o.max_bytes = 8075;
  EXPECT_TRUE(TakeSnapshot(Src(), Store(), o).ok());
}

TEST_F(Snapshot, RestoreRoundTripsBytesAndExecBit) {
  std::string binary;
  for (int i = 0; i < 3 * (1 << 20) + 17; ++i) binary += static_cast<char>((i * 131) ^ (i >> 7));
  PutFile(Src("model/weights.bin"), binary);  // larger than one chunk: streamed
  PutFile(Src("run.sh"), "#!/bin/sh\necho hi\n", 0755);
  PutFile(Src("empty"), "");
  PutFile(Src("a/b/c/deep.txt"), "deep");
  Snap();
  trainyard::testing::TempDir dest;
  PutFile(dest / "run.sh", "old contents to overwrite");
  ASSERT_TRUE(Restore(Store(), last_.id, dest / "out").ok());
  ASSERT_TRUE(Restore(Store(), last_.id, dest.path()).ok());
  for (const std::string& root : {dest / "out", dest.path()}) {
    EXPECT_EQ(GetFile(root + "/model/weights.bin"), binary);
    EXPECT_EQ(GetFile(root + "/run.sh"), "#!/bin/sh\necho hi\n");
    EXPECT_EQ(GetFile(root + "/empty"), "");
    EXPECT_EQ(GetFile(root + "/a/b/c/deep.txt"), "deep");
    struct stat st {};
    ASSERT_EQ(stat((root + "/run.sh").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0755u);
    ASSERT_EQ(stat((root + "/a/b/c/deep.txt").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    EXPECT_EQ(st.st_nlink, 1u);  // a copy, not a hard link to the blob
  }
  // Restored files are writable copies: changing one leaves the store intact.
  PutFile(dest / "a/b/c/deep.txt", "scribbled");
  trainyard::testing::TempDir again;
  ASSERT_TRUE(Restore(Store(), last_.id, again.path()).ok());
  EXPECT_EQ(GetFile(again / "a/b/c/deep.txt"), "deep");
}

TEST_F(Snapshot, RestoreDoesNotFollowSymlinksInTheDestination) {
  PutFile(Src("a/file.txt"), "payload");
  PutFile(Src("top.txt"), "top");
  Snap();
  trainyard::testing::TempDir dest;
  trainyard::testing::TempDir victim;
  PutFile(victim / "file.txt", "precious");
  PutFile(victim / "target.txt", "precious");
  ASSERT_EQ(symlink(victim.path().c_str(), (dest / "a").c_str()), 0);
  Status s = Restore(Store(), last_.id, dest.path());
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(GetFile(victim / "file.txt"), "precious");
  // A symlink where a file goes is replaced, not written through.
  fs::remove(dest / "a");
  ASSERT_EQ(symlink((victim / "target.txt").c_str(), (dest / "top.txt").c_str()), 0);
  ASSERT_TRUE(Restore(Store(), last_.id, dest.path()).ok());
  EXPECT_EQ(GetFile(victim / "target.txt"), "precious");
  EXPECT_EQ(GetFile(dest / "top.txt"), "top");
}

TEST_F(Snapshot, RestoreRefusesUnsafeManifestPaths) {
  for (const char* bad : {"../escape.txt", "/abs/path.txt", "a/../../escape.txt"}) {
    const std::string hash = Sha256Hex("x");
    std::string manifest = std::string("{\"version\":1,\"files\":[{\"path\":\"") + bad +
                           "\",\"sha256\":\"" + hash + "\",\"size\":1,\"executable\":false}]}";
    const std::string id = Sha256Hex(manifest);
    PutFile(Store() + "/manifests/" + id + ".json", manifest);
    PutFile(Store() + "/blobs/" + hash.substr(0, 2) + "/" + hash.substr(2), "x");
    trainyard::testing::TempDir dest;
    Status s = Restore(Store(), id, dest / "inner");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad << ": " << s.ToString();
    EXPECT_FALSE(fs::exists(dest / "escape.txt"));
  }
}

TEST_F(Snapshot, ReadManifestReportsUnknownAndDamagedIds) {
  PutFile(Src("a.txt"), "a");
  Snap();
  EXPECT_EQ(ReadManifest(Store(), std::string(64, '0')).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadManifest(Store(), "../../etc").status().code(), StatusCode::kInvalidArgument);
  const std::string path = Store() + "/manifests/" + last_.id + ".json";
  chmod(path.c_str(), 0644);
  PutFile(path, GetFile(path) + " ");
  EXPECT_EQ(ReadManifest(Store(), last_.id).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(Snapshot, DamagedBlobIsRewrittenByALaterSnapshot) {
  PutFile(Src("a.txt"), "contents of a");
  Snap();
  const std::string hash = Sha256Hex("contents of a");
  const std::string blob = Store() + "/blobs/" + hash.substr(0, 2) + "/" + hash.substr(2);
  chmod(blob.c_str(), 0644);
  ASSERT_EQ(truncate(blob.c_str(), 0), 0);  // as if a crash lost its data
  fs::remove_all(Store() + "/manifests");
  Snap();
  EXPECT_EQ(last_.new_blobs, 1u);
  EXPECT_EQ(GetFile(blob), "contents of a");
}

TEST_F(Snapshot, ReportsProgressFromTheCallingThread) {
  for (int i = 0; i < 50; ++i) {
    PutFile(Src(Numbered("f", i)), Numbered(std::string(1000, 'x'), i));
  }
  std::vector<Progress> calls;
  const auto caller = std::this_thread::get_id();
  bool other_thread = false;
  SnapshotOptions o = Fresh();
  o.progress = [&](const Progress& p) {
    calls.push_back(p);
    if (std::this_thread::get_id() != caller) other_thread = true;
  };
  Snap(o);
  ASSERT_FALSE(calls.empty());
  EXPECT_FALSE(other_thread);
  EXPECT_EQ(calls.back().files_done, 50u);
  EXPECT_EQ(calls.back().files_total, 50u);
  EXPECT_EQ(calls.back().bytes_done, calls.back().bytes_total);
  calls.clear();
  Snap(o);  // nothing to read: no progress
  EXPECT_TRUE(calls.empty());
}

TEST_F(Snapshot, ConcurrentSnapshotsOfTheSameFolderBothSucceed) {
  for (int d = 0; d < 10; ++d) {
    for (int f = 0; f < 20; ++f) {
      PutFile(Src(Numbered(Numbered("d", d) + "/f", f)),
              Numbered(std::string(100 + f * 50, static_cast<char>('a' + d)), f % 7));
    }
  }
  PutFile(Src("big.bin"), std::string(3 << 20, 'z'));  // streamed through tmp/
  for (int round = 0; round < 3; ++round) {
    trainyard::testing::TempDir store;
    Result<SnapshotInfo> a = InvalidArgument("not run");
    Result<SnapshotInfo> b = InvalidArgument("not run");
    std::thread t1([&] { a = TakeSnapshot(Src(), store.path(), Fresh()); });
    std::thread t2([&] { b = TakeSnapshot(Src(), store.path(), Fresh()); });
    t1.join();
    t2.join();
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ(a->id, b->id);
    std::set<std::string> blobs = FilesBelow(store / "blobs");
    auto m = ReadManifest(store.path(), a->id);
    ASSERT_TRUE(m.ok());
    std::set<std::string> distinct;
    for (const ManifestEntry& e : *m) distinct.insert(e.sha256);
    EXPECT_EQ(blobs.size(), distinct.size());
    EXPECT_EQ(a->new_blobs + b->new_blobs, distinct.size());
    EXPECT_TRUE(FilesBelow(store / "tmp").empty());
    EXPECT_EQ(FilesBelow(store / "manifests").size(), 1u);
  }
}

TEST_F(Snapshot, StoreInsideTheSourceFolderIsNotCaptured) {
  PutFile(Src("a.py"), "a");
  auto first = TakeSnapshot(Src(), Src(".trainyard/snapshots"), Fresh());
  ASSERT_TRUE(first.ok());
  auto second = TakeSnapshot(Src(), Src(".trainyard/snapshots"), Fresh());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(second->files, 1u);
}

TEST_F(Snapshot, FailsForAMissingSource) {
  auto info = TakeSnapshot(Src("missing"), Store());
  EXPECT_EQ(info.status().code(), StatusCode::kNotFound);
}

// git is run for real; the test is skipped where it is not installed.
TEST_F(Snapshot, RecordsGitCommitAndDirtyState) {
  if (FindOnPath("git").empty()) GTEST_SKIP() << "git is not installed";
  auto git = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"git",
                                     "-C",
                                     Src(),
                                     "-c",
                                     "user.email=t@example.com",
                                     "-c",
                                     "user.name=Test",
                                     "-c",
                                     "commit.gpgsign=false"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv);
    EXPECT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->err : r.status().ToString());
    return r.ok() ? r->out : std::string();
  };
  PutFile(Src("project/train.py"), "print(1)\n");
  PutFile(Src("other/notes.txt"), "n\n");
  git({"init", "-q"});

  // A repository without commits: in git, no commit, dirty (untracked files).
  auto info = TakeSnapshot(Src("project"), Store(), Fresh());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_TRUE(info->in_git);
  EXPECT_EQ(info->git_commit, "");
  EXPECT_TRUE(info->git_dirty);

  git({"add", "."});
  git({"commit", "-q", "-m", "first"});
  const std::string head = git({"rev-parse", "HEAD"}).substr(0, 40);
  info = TakeSnapshot(Src("project"), Store(), Fresh());
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->git_commit, head);
  EXPECT_FALSE(info->git_dirty);

  // A change outside the folder does not make it dirty; one inside does.
  PutFile(Src("other/notes.txt"), "changed\n");
  info = TakeSnapshot(Src("project"), Store(), Fresh());
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->git_dirty);
  PutFile(Src("project/train.py"), "print(2)\n");
  info = TakeSnapshot(Src("project"), Store(), Fresh());
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->git_dirty);
  EXPECT_EQ(info->git_commit, head);
  // .git is never part of the snapshot.
  for (const std::string& p : ManifestPaths(Store(), TakeSnapshot(Src(), Store(), Fresh())->id)) {
    EXPECT_NE(p.rfind(".git/", 0), 0u) << p;
  }
}

}  // namespace
}  // namespace trainyard::snapshot
