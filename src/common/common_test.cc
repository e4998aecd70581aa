#include <gtest/gtest.h>

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

TEST(Process, AliveAndDescendants) {
  EXPECT_TRUE(ProcessAlive(getpid(), ProcessStartTicks(getpid())));
  EXPECT_FALSE(ProcessAlive(getpid(), ProcessStartTicks(getpid()) + 1));
  EXPECT_FALSE(ProcessAlive(99999999));
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
