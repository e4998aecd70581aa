#include "tracking/limits.h"

#include <gtest/gtest.h>

#include "common/files.h"
#include "testing/temp_dir.h"

namespace trainyard::tracking {
namespace {

std::string Columns(size_t n) {
  std::string json = "{";
  for (size_t i = 0; i < n; ++i) json += (i ? ",\"c" : "\"c") + std::to_string(i) + "\":1";
  return json + "}";
}

TEST(Limits, NamesAreCheckedWithAClearMessage) {
  EXPECT_TRUE(CheckName("metric name", "loss/train é").ok());
  EXPECT_TRUE(CheckName("metric name", std::string(kMaxNameBytes, 'a')).ok());

  Status too_long = CheckName("metric name", std::string(kMaxNameBytes + 1, 'a'));
  EXPECT_EQ(too_long.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.message().find("metric name 'aaa"), std::string::npos) << too_long.message();
  EXPECT_NE(too_long.message().find("256 bytes; at most 255"), std::string::npos);

  Status tab = CheckName("tag key", "a\tb");
  EXPECT_NE(tab.message().find("tag key 'a\\tb': contains a control character"), std::string::npos)
      << tab.message();
  EXPECT_FALSE(CheckName("metric name", "a\nb").ok());
  EXPECT_FALSE(CheckName("metric name", "a\rb").ok());
  EXPECT_NE(CheckName("metric name", "").message().find("must not be empty"), std::string::npos);
  EXPECT_NE(CheckName("metric name", "\xff\xfe").message().find("not valid UTF-8"),
            std::string::npos);
}

TEST(Limits, Utf8) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // surrogate
}

TEST(Limits, RowsAreObjectsOfScalars) {
  Result<std::string> row = NormalizeRow("r", R"({ "b": 1, "a": "x", "n": null, "t": true })");
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  EXPECT_EQ(*row, R"({"b":1,"a":"x","n":null,"t":true})");  // compact, order kept

  EXPECT_TRUE(NormalizeRow("r", Columns(kMaxRowColumns)).ok());
  Status wide = NormalizeRow("r", Columns(kMaxRowColumns + 1)).status();
  EXPECT_NE(wide.message().find("row 'r': 1025 columns; at most 1024"), std::string::npos)
      << wide.message();
  EXPECT_NE(NormalizeRow("r", R"({"a":[1]})").status().message().find("column 'a' must be"),
            std::string::npos);
  EXPECT_NE(NormalizeRow("r", "[1]").status().message().find("JSON object"), std::string::npos);
  EXPECT_NE(NormalizeRow("r", "{").status().message().find("not valid JSON"), std::string::npos);
  EXPECT_NE(NormalizeRow("r", "{\"a\\tb\":1}").status().message().find("column name"),
            std::string::npos);
  std::string big = "{\"a\":\"" + std::string(kMaxRowBytes, 'x') + "\"}";
  EXPECT_NE(NormalizeRow("r", big).status().message().find("serialized; at most"),
            std::string::npos);
}

TEST(Limits, TagValues) {
  EXPECT_TRUE(CheckTagValueJson("null").ok());
  EXPECT_TRUE(CheckTagValueJson(R"("v")").ok());
  EXPECT_FALSE(CheckTagValueJson("1").ok());
  EXPECT_FALSE(CheckTagValueJson(R"({"a":1})").ok());
  EXPECT_FALSE(CheckTagValueJson("\"" + std::string(kMaxValueBytes, 'x') + "\"").ok());
  // Escapes that decode to a NUL are refused; other escapes (a surrogate pair) are text.
  Status nul = CheckTagValueJson(R"("a\u0000b")");
  EXPECT_FALSE(nul.ok());
  EXPECT_NE(nul.message().find("NUL"), std::string::npos) << nul.message();
  EXPECT_TRUE(CheckTagValueJson(R"("\ud83d\ude00")").ok());
}

TEST(Limits, FilePaths) {
  EXPECT_TRUE(CheckFilePath("file", "outputs/model.pt").ok());
  EXPECT_TRUE(CheckFilePath("file", "images/loss curve/3.png").ok());
  EXPECT_FALSE(CheckFilePath("file", "").ok());
  EXPECT_FALSE(CheckFilePath("file", "/etc/passwd").ok());
  EXPECT_FALSE(CheckFilePath("file", "a/../../b").ok());
  EXPECT_FALSE(CheckFilePath("file", "a//b").ok());
  EXPECT_FALSE(CheckFilePath("file", "a/./b").ok());
  EXPECT_FALSE(CheckFilePath("file", "a\nb").ok());
  EXPECT_FALSE(CheckFilePath("file", std::string(kMaxFilePathBytes + 1, 'a')).ok());
}

TEST(Limits, LocalFiles) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "f.bin", std::string(1000, 'x')).ok());
  Result<uint64_t> size = CheckLocalFile("upload_file", dir / "f.bin", 1000);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(*size, 1000u);
  Status big = CheckLocalFile("log_image", dir / "f.bin", 999).status();
  EXPECT_EQ(big.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(big.message().find("at most"), std::string::npos) << big.message();
  EXPECT_EQ(CheckLocalFile("upload_file", dir / "missing", 10).status().code(),
            StatusCode::kNotFound);
  EXPECT_NE(CheckLocalFile("upload_file", dir.path(), 10).status().message().find("not a regular"),
            std::string::npos);
}

}  // namespace
}  // namespace trainyard::tracking
