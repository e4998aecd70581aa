#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "common/clock.h"
#include "common/files.h"
#include "common/process.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "testing/temp_dir.h"

namespace trainyard {
namespace {

TEST(Strings, DidYouMeanFindsCloseKeysOnly) {
  std::vector<std::string> keys = {"node_count", "entry_script", "use_gpu"};
  EXPECT_EQ(DidYouMean("node_cuont", keys), "node_count");
  EXPECT_EQ(DidYouMean("entry_scrpt", keys), "entry_script");
  EXPECT_EQ(DidYouMean("banana", keys), "");
  EXPECT_EQ(DidYouMean("lcoal", {"local"}), "local");
  EXPECT_EQ(Levenshtein("ab", "ba"), 1u);
}

TEST(Strings, ShellQuoteIsForDisplay) {
  EXPECT_EQ(ShellQuote("abc"), "abc");
  EXPECT_EQ(ShellQuote("; rm -rf ~"), "'; rm -rf ~'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
}

TEST(Sha256, KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Process, RunCommandCapturesOutputAndExitCode) {
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(Process, ArgumentsAreNotInterpretedByAShell) {
  auto r = RunCommand({"printf", "%s|", "; rm -rf ~", "$HOME"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "; rm -rf ~|$HOME|");
}

TEST(Process, TimeoutKillsTheChild) {
  int64_t t0 = MonotonicMicros();
  auto r = RunCommand({"sleep", "10"}, {.timeout_seconds = 0.3});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_LT(MonotonicMicros() - t0, 5'000'000);
}

TEST(Process, MissingProgramIsNotFound) {
  EXPECT_EQ(RunCommand({"no-such-program-xyz"}).status().code(), StatusCode::kNotFound);
}

bool Contains(const std::vector<pid_t>& pids, pid_t pid) {
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

TEST(Process, AliveAndDescendants) {
  EXPECT_TRUE(ProcessAlive(getpid(), ProcessStartTicks(getpid())));
  EXPECT_FALSE(ProcessAlive(getpid(), ProcessStartTicks(getpid()) + 1));
  EXPECT_FALSE(ProcessAlive(99999999));

  // A child that starts a grandchild; both wait until `hold` is closed. The child reports the
  // grandchild's pid through `report`. Only async-signal-safe calls after fork.
  int report[2];
  int hold[2];
  ASSERT_EQ(pipe(report), 0);
  ASSERT_EQ(pipe(hold), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(report[0]);
    close(hold[1]);
    const pid_t grandchild = fork();
    if (grandchild == 0) {
      close(report[1]);
      char c;
      while (read(hold[0], &c, 1) > 0) {
      }
      _exit(0);
    }
    const bool sent = grandchild > 0 && write(report[1], &grandchild, sizeof grandchild) ==
                                            static_cast<ssize_t>(sizeof grandchild);
    close(report[1]);
    char c;
    while (read(hold[0], &c, 1) > 0) {
    }
    if (grandchild > 0) waitpid(grandchild, nullptr, 0);
    _exit(sent ? 0 : 1);
  }
  close(report[1]);
  close(hold[0]);
  pid_t grandchild = -1;
  const bool got =
      read(report[0], &grandchild, sizeof grandchild) == static_cast<ssize_t>(sizeof grandchild);
  close(report[0]);

  std::vector<pid_t> mine = Descendants(getpid());
  std::vector<pid_t> childs = Descendants(child);
  close(hold[1]);  // both exit now
  int status = -1;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(got) << "the child did not report its child's pid";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  EXPECT_TRUE(Contains(mine, child)) << "child " << child;
  EXPECT_TRUE(Contains(mine, grandchild)) << "grandchild " << grandchild;
  EXPECT_FALSE(Contains(mine, getpid()));
  EXPECT_TRUE(Contains(childs, grandchild));
  EXPECT_FALSE(Contains(childs, child));
  EXPECT_FALSE(ProcessAlive(child));
  std::vector<pid_t> after = Descendants(getpid());
  EXPECT_FALSE(Contains(after, child));
  EXPECT_FALSE(Contains(after, grandchild));
}

TEST(Files, AtomicWriteAndRead) {
  testing::TempDir dir;
  ASSERT_TRUE(MakeDirs(dir / "a/b").ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "a/b/f", "hello").ok());
  EXPECT_EQ(ReadFile(dir / "a/b/f").value(), "hello");
  EXPECT_FALSE(ReadFile(dir / "missing").ok());
}

}  // namespace
}  // namespace trainyard
