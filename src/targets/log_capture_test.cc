// Log capture that cannot write (/dev/full answers every write with ENOSPC): nothing is ignored,
// every lost line is counted.
#include "targets/log_capture.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "testing/temp_dir.h"

namespace trainyard::targets {
namespace {

TEST(LogCapture, WriteErrorsAreCountedNotIgnored) {
  const LogLoss before = LogLosses();
  RankLog log;
  ASSERT_TRUE(log.Open("/dev/full").ok());
  log.Feed(0, "first line\nsecond line\n");
  log.Feed(1, "partial");
  log.Close();  // flushes the partial line, which is lost too
  // Each stored line is "<24-character time> out <text>\n".
  const int64_t expected = (24 + 5 + 10 + 1) + (24 + 5 + 11 + 1) + (24 + 5 + 7 + 1);
  EXPECT_EQ(log.lost_bytes(), expected);
  const LogLoss after = LogLosses();
  EXPECT_EQ(after.bytes - before.bytes, expected);
  EXPECT_EQ(after.lines - before.lines, 3);
  EXPECT_TRUE(after.disk_full);
  EXPECT_FALSE(after.first_error.empty());
  // The tails still hold what the ranks said (for failure reports).
  ASSERT_EQ(log.all_tail().size(), 3u);
  EXPECT_EQ(log.all_tail().back(), "partial");
}

TEST(LogCapture, AWritableLogLosesNothing) {
  testing::TempDir dir;
  const LogLoss before = LogLosses();
  {
    RankLog log;
    ASSERT_TRUE(log.Open(dir / "rank-0.log").ok());
    log.Feed(0, "a\nb\n");
    log.Close();
    EXPECT_EQ(log.lost_bytes(), 0);
  }
  EXPECT_EQ(LogLosses().bytes, before.bytes);
  std::ifstream in(dir / "rank-0.log");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str().size(), 2u * (24 + 5 + 1 + 1));
}

}  // namespace
}  // namespace trainyard::targets
