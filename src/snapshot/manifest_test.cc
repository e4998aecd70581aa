#include "snapshot/manifest.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace trainyard::snapshot {
namespace {

const std::string kHashA(64, 'a');
const std::string kHashB(64, 'b');

TEST(Manifest, SerializesInAFixedFormat) {
  std::vector<ManifestEntry> entries = {{"a.py", kHashA, 3, false}, {"bin/run", kHashB, 10, true}};
  EXPECT_EQ(SerializeManifest(entries),
            "{\"version\":1,\"files\":["
            "{\"path\":\"a.py\",\"sha256\":\"" +
                kHashA +
                "\",\"size\":3,\"executable\":false},"
                "{\"path\":\"bin/run\",\"sha256\":\"" +
                kHashB +
                "\",\"size\":10,\"executable\":true}"
                "]}");
  EXPECT_EQ(SerializeManifest({}), "{\"version\":1,\"files\":[]}");
}

TEST(Manifest, RoundTripsEscapedAndUnicodePaths) {
  std::vector<ManifestEntry> entries = {
      {"a \"quoted\"\\name", kHashA, 1, false},
      {"tab\there\nnewline", kHashA, 2, true},
      {"\xc3\xa9t\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt", kHashB, 3, false},
  };
  std::string bytes = SerializeManifest(entries);
  EXPECT_NE(bytes.find("\\u0009"), std::string::npos);
  auto parsed = ParseManifest(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ((*parsed)[i].path, entries[i].path);
    EXPECT_EQ((*parsed)[i].sha256, entries[i].sha256);
    EXPECT_EQ((*parsed)[i].size, entries[i].size);
    EXPECT_EQ((*parsed)[i].executable, entries[i].executable);
  }
}

TEST(Manifest, RefusesUnsafePathsAndMalformedEntries) {
  for (const char* bad : {"/etc/passwd", "../x", "a/../../x", "a/..", "./a", "a//b", "a/", ""}) {
    EXPECT_FALSE(ValidateManifestPath(bad).ok()) << bad;
    std::string doc = "{\"version\":1,\"files\":[{\"path\":\"" + std::string(bad) +
                      "\",\"sha256\":\"" + kHashA + "\",\"size\":1,\"executable\":false}]}";
    auto parsed = ParseManifest(doc);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  for (const char* good : {"a", "a/b", "..a", "a..", ".hidden/x", "a/.../b"}) {
    EXPECT_TRUE(ValidateManifestPath(good).ok()) << good;
  }
  EXPECT_FALSE(ParseManifest("not json").ok());
  EXPECT_FALSE(ParseManifest("{\"version\":3,\"files\":[]}").ok());
  EXPECT_FALSE(ParseManifest("{\"version\":1,\"files\":[{\"path\":\"a\",\"sha256\":\"zz\","
                             "\"size\":1,\"executable\":false}]}")
                   .ok());
  EXPECT_FALSE(ParseManifest("{\"version\":1,\"files\":[{\"path\":\"a\",\"sha256\":\"" + kHashA +
                             "\",\"size\":-1,\"executable\":false}]}")
                   .ok());
}

TEST(Manifest, SymlinksMakeItVersion2AndRoundTrip) {
  ManifestEntry link;
  link.path = "lib";
  link.symlink = "src/lib";
  std::vector<ManifestEntry> entries = {{"a.py", kHashA, 3, false}, link};
  const std::string bytes = SerializeManifest(entries);
  EXPECT_EQ(bytes, "{\"version\":2,\"files\":[{\"path\":\"a.py\",\"sha256\":\"" + kHashA +
                       "\",\"size\":3,\"executable\":false},"
                       "{\"path\":\"lib\",\"symlink\":\"src/lib\"}]}");
  auto parsed = ParseManifest(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_FALSE((*parsed)[0].is_symlink());
  EXPECT_TRUE((*parsed)[1].is_symlink());
  EXPECT_EQ((*parsed)[1].symlink, "src/lib");
  EXPECT_EQ((*parsed)[1].sha256, "");
}

TEST(Manifest, OldManifestsWithoutSymlinksReadAsBefore) {
  // Written by the version before symlinks were kept: same bytes, same id.
  const std::string old = "{\"version\":1,\"files\":[{\"path\":\"a.py\",\"sha256\":\"" + kHashA +
                          "\",\"size\":3,\"executable\":true}]}";
  auto parsed = ParseManifest(old);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_TRUE((*parsed)[0].executable);
  EXPECT_FALSE((*parsed)[0].is_symlink());
  EXPECT_EQ(SerializeManifest(*parsed), old);
  // Version 1 cannot hold symlinks.
  EXPECT_FALSE(
      ParseManifest("{\"version\":1,\"files\":[{\"path\":\"l\",\"symlink\":\"a.py\"}]}").ok());
}

TEST(Manifest, RefusesSymlinkTargetsThatLeaveTheSnapshot) {
  for (const auto& [path, target] : std::vector<std::pair<std::string, std::string>>{
           {"l", ".."},
           {"l", "../x"},
           {"a/l", "../../x"},
           {"a/l", "/etc/passwd"},
           {"a/l", ""},
           {"a/l", "b/../../x"},
           {"a/l", "root/../x"},  // ".." after a name: "root" may be a link to the root
       }) {
    EXPECT_FALSE(ValidateSymlinkTarget(path, target).ok()) << path << " -> " << target;
    std::string doc =
        "{\"version\":2,\"files\":[{\"path\":\"" + path + "\",\"symlink\":\"" + target + "\"}]}";
    auto parsed = ParseManifest(doc);
    EXPECT_FALSE(parsed.ok()) << doc;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << doc;
  }
  for (const auto& [path, target] : std::vector<std::pair<std::string, std::string>>{
           {"l", "."}, {"l", "a/b"}, {"a/l", ".."}, {"a/b/l", "../../c/d"}, {"a/l", "./x/"}}) {
    EXPECT_TRUE(ValidateSymlinkTarget(path, target).ok()) << path << " -> " << target;
  }
  // A symlink entry carries nothing else.
  EXPECT_FALSE(ParseManifest("{\"version\":2,\"files\":[{\"path\":\"l\",\"symlink\":\"a\","
                             "\"size\":1}]}")
                   .ok());
}

TEST(Manifest, ValidatesUtf8AndHashes) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // surrogate
  EXPECT_TRUE(IsSha256Hex(kHashA));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'A')));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a')));
}

}  // namespace
}  // namespace trainyard::snapshot
