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

TEST(Strings, ShellQuoteEscapesBytesThatAreNotText) {
  EXPECT_EQ(ShellQuote("\xff\xfe"), "$'\\xff\\xfe'");
  EXPECT_EQ(ShellQuote("a b\xff"), "$'a b\\xff'");
  EXPECT_EQ(ShellQuote("it's\\\xff"), "$'it\\'s\\\\\\xff'");
  EXPECT_EQ(ShellQuote("tab\there"), "$'tab\\x09here'");
  EXPECT_EQ(ShellQuote("caf\xc3\xa9 ok"), "'caf\xc3\xa9 ok'");  // UTF-8 stays as it is
  EXPECT_EQ(ShellQuote(""), "''");
}

TEST(Strings, InvalidUtf8OffsetFindsTheFirstBadByte) {
  const size_t npos = std::string_view::npos;
  EXPECT_EQ(InvalidUtf8Offset(""), npos);
  EXPECT_EQ(InvalidUtf8Offset("plain ascii"), npos);
  EXPECT_EQ(InvalidUtf8Offset("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), npos);  // é € 😀
  EXPECT_EQ(InvalidUtf8Offset("\xff\xfe"), 0u);
  EXPECT_EQ(InvalidUtf8Offset("ab\x80"), 2u);              // lone continuation byte
  EXPECT_EQ(InvalidUtf8Offset("ab\xc3"), 2u);              // cut short
  EXPECT_EQ(InvalidUtf8Offset("\xc0\xaf"), 0u);            // overlong '/'
  EXPECT_EQ(InvalidUtf8Offset("\xe0\x80\xaf"), 0u);        // overlong '/'
  EXPECT_EQ(InvalidUtf8Offset("x\xed\xa0\x80"), 1u);       // UTF-16 surrogate
  EXPECT_EQ(InvalidUtf8Offset("\xf4\x90\x80\x80"), 0u);    // past U+10FFFF
  EXPECT_EQ(InvalidUtf8Offset("\xf4\x8f\xbf\xbf"), npos);  // U+10FFFF
}

TEST(Strings, CheckUtf8NamesTheFieldAndTheByte) {
  EXPECT_TRUE(CheckUtf8("tag value for 'k'", "caf\xc3\xa9").ok());
  Status bad = CheckUtf8("tag value for 'k'", "\xff\xfe");
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "tag value for 'k' is not valid UTF-8 (byte 0xff at offset 0)");
  EXPECT_EQ(CheckUtf8("experiment name", "ok\xe2\x82").message(),
            "experiment name is not valid UTF-8 (byte 0xe2 at offset 2)");
  EXPECT_EQ(CheckUtf8("tag key", std::string("a\0b", 3)).message(),
            "tag key contains a NUL byte (at offset 1)");
  EXPECT_TRUE(CheckNoNul("argument 1", "\xff\xfe").ok());  // arguments may be any bytes
  EXPECT_EQ(CheckNoNul("argument 1", std::string("x\0", 2)).message(),
            "argument 1 contains a NUL byte (at offset 1)");
}

TEST(Strings, EscapeBytesLeavesTextAlone) {
  EXPECT_EQ(EscapeBytes("caf\xc3\xa9 \\n"), "caf\xc3\xa9 \\n");
  EXPECT_EQ(EscapeBytes("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(EscapeBytes("a\\b\xff"), "a\\\\b\\xff");  // backslashes too once bytes are escaped
}

TEST(Strings, Base64RoundTripsEveryByte) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("\xff\xfe"), "//4=");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n < all.size(); n += 37) {
    std::string part = all.substr(n);
    auto back = Base64Decode(Base64Encode(part));
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, part);
  }
  EXPECT_FALSE(Base64Decode("Zg=").ok());
  EXPECT_FALSE(Base64Decode("Z===").ok());
  EXPECT_FALSE(Base64Decode("Zg=a").ok());
  EXPECT_FALSE(Base64Decode("Zm9v!A==").ok());
  EXPECT_FALSE(Base64Decode(std::string("Zm\0v", 4)).ok());
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
