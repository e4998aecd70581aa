#include "snapshot/ignore.h"

#include <gtest/gtest.h>

#include <string>

namespace trainyard::snapshot {
namespace {

struct WildCase {
  const char* pattern;
  const char* text;
  bool match;
};

// Mostly from git's t/t3070-wildmatch.sh (the WM_PATHNAME column).
TEST(Wildmatch, MatchesLikeGitWithPathname) {
  const WildCase cases[] = {
      {"foo", "foo", true},
      {"foo", "bar", false},
      {"", "", true},
      {"???", "foo", true},
      {"??", "foo", false},
      {"*", "foo", true},
      {"f*", "foo", true},
      {"*f", "foo", false},
      {"*foo*", "foo", true},
      {"*ob*a*r*", "foobar", true},
      {"*ab", "aaaaaaabababab", true},
      {"foo\\*", "foo*", true},
      {"foo\\*bar", "foobar", false},
      {"f\\\\oo", "f\\oo", true},
      {"*[al]?", "ball", true},
      {"[ten]", "ten", false},
      {"**[!te]", "ten", true},
      {"**[!ten]", "ten", false},
      {"t[a-g]n", "ten", true},
      {"t[!a-g]n", "ten", false},
      {"t[!a-g]n", "ton", true},
      {"t[^a-g]n", "ton", true},
      {"a[]]b", "a]b", true},
      {"a[]-]b", "a-b", true},
      {"a[]-]b", "a]b", true},
      {"a[]-]b", "aab", false},
      {"a[]a-]b", "aab", true},
      {"]", "]", true},
      {"foo*bar", "foo/baz/bar", false},
      {"foo**bar", "foo/baz/bar", false},
      {"foo**bar", "foobazbar", true},
      {"foo/**/bar", "foo/baz/bar", true},
      {"foo/**/**/bar", "foo/baz/bar", true},
      {"foo/**/bar", "foo/b/a/z/bar", true},
      {"foo/**/bar", "foo/bar", true},
      {"foo/**/**/bar", "foo/b/a/z/bar", true},
      {"foo?bar", "foo/bar", false},
      {"foo[/]bar", "foo/bar", false},
      {"foo[^a-z]bar", "foo/bar", false},
      {"f[^eiu][^eiu][^eiu][^eiu][^eiu]r", "foo-bar", true},
      {"**/foo", "foo", true},
      {"**/foo", "XXX/foo", true},
      {"**/foo", "bar/baz/foo", true},
      {"*/foo", "bar/baz/foo", false},
      {"**/bar*", "foo/bar/baz", false},
      {"**/bar/*", "deep/foo/bar/baz", true},
      {"**/bar/*", "deep/foo/bar/baz/", false},
      {"**/bar/**", "deep/foo/bar/baz/", true},
      {"**/bar/*", "deep/foo/bar", false},
      {"**/bar/**", "deep/foo/bar/", true},
      {"**/bar**", "foo/bar/baz", false},
      {"*/bar/**", "foo/bar/baz/x", true},
      {"*/bar/**", "deep/foo/bar/baz/x", false},
      {"**/bar/*/*", "deep/foo/bar/baz/x", true},
      {"a/**", "a/b/c", true},
      {"a/**", "a", false},
      {"*.c", "a.c", true},
      {"*.c", "dir/a.c", false},
      {"[[:alpha:]][[:digit:]][[:upper:]]", "a1B", true},
      {"[[:digit:][:upper:][:space:]]", "a", false},
      {"[[:digit:][:upper:][:space:]]", "A", true},
      {"[[:digit:][:upper:][:space:]]", " ", true},
      {"[[:xdigit:]]", "f", true},
      {"[[:nope:]]", "a", false},  // unknown class: malformed, no match
      {"[a-", "a", false},         // unterminated
      {"\\", "\\", false},         // trailing backslash matches nothing
      {"-*-*-*-*-*-*-12-*-*-*-m-*-*-*", "-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1",
       true},
      {"XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*", "XXX/adobe/courier/bold/o/normal//12/120/75/75/X/70/iso",
       false},
  };
  for (const WildCase& c : cases) {
    EXPECT_EQ(Wildmatch(c.pattern, c.text), c.match)
        << "pattern '" << c.pattern << "' text '" << c.text << "'";
  }
}

TEST(ParseIgnoreFile, HandlesCommentsNegationEscapesAndSpaces) {
  auto p = ParseIgnoreFile(
      "# comment\n"
      "\n"
      "   \n"
      "*.log\n"
      "!keep.log\n"
      "build/\n"
      "/top\n"
      "a/b\n"
      "\\#hash\n"
      "\\!bang\n"
      "trail   \n"
      "esc\\ \n"
      "crlf\r\n"
      "/\n"
      "!\n");
  ASSERT_EQ(p.size(), 10u);
  EXPECT_EQ(p[0].glob, "*.log");
  EXPECT_TRUE(p[0].match_basename);
  EXPECT_TRUE(p[1].negated);
  EXPECT_EQ(p[1].glob, "keep.log");
  EXPECT_TRUE(p[2].dir_only);
  EXPECT_EQ(p[2].glob, "build");
  EXPECT_TRUE(p[2].match_basename);
  EXPECT_EQ(p[3].glob, "top");
  EXPECT_FALSE(p[3].match_basename);
  EXPECT_EQ(p[4].glob, "a/b");
  EXPECT_FALSE(p[4].match_basename);
  EXPECT_EQ(p[5].glob, "\\#hash");
  EXPECT_FALSE(p[6].negated);
  EXPECT_EQ(p[6].glob, "\\!bang");
  EXPECT_EQ(p[7].glob, "trail");
  EXPECT_EQ(p[8].glob, "esc\\ ");
  EXPECT_EQ(p[9].glob, "crlf");
}

struct IgnoreCase {
  const char* rules;
  const char* path;
  bool is_dir;
  bool ignored;
};

TEST(IgnoreMatcher, FollowsGitignoreSemantics) {
  const IgnoreCase cases[] = {
      // Basename patterns match at any depth.
      {"*.log", "a.log", false, true},
      {"*.log", "x/y/a.log", false, true},
      {"*.log", "a.txt", false, false},
      {"data", "data", true, true},
      {"data", "x/data", false, true},
      // A pattern with a slash is anchored to the rule file's folder.
      {"/data", "data", true, true},
      {"/data", "x/data", true, false},
      {"doc/frotz", "doc/frotz", false, true},
      {"doc/frotz", "a/doc/frotz", false, false},
      {"doc/*.txt", "doc/a.txt", false, true},
      {"doc/*.txt", "doc/sub/a.txt", false, false},
      // Trailing slash: folders only (and everything below them).
      {"build/", "build", true, true},
      {"build/", "build", false, false},
      {"build/", "src/build", true, true},
      {"build/", "build/out.o", false, true},
      {"doc/frotz/", "doc/frotz", true, true},
      {"doc/frotz/", "a/doc/frotz", true, false},
      // Negation: the last matching pattern wins.
      {"*.log\n!keep.log", "keep.log", false, false},
      {"*.log\n!keep.log", "other.log", false, true},
      {"!keep.log\n*.log", "keep.log", false, true},
      // A file below an ignored folder cannot be re-included.
      {"build/\n!build/keep.txt", "build/keep.txt", false, true},
      {"build/*\n!build/keep.txt", "build/keep.txt", false, false},
      {"build/*\n!build/keep.txt", "build/other.txt", false, true},
      // "**" forms.
      {"**/foo", "foo", false, true},
      {"**/foo", "a/b/foo", false, true},
      {"**/foo/bar", "x/foo/bar", false, true},
      {"abc/**", "abc/x/y", false, true},
      {"abc/**", "abc", true, false},
      {"a/**/b", "a/b", false, true},
      {"a/**/b", "a/x/y/b", false, true},
      {"a/**/b", "c/a/b", false, false},
      // Wildcards.
      {"?.py", "a.py", false, true},
      {"?.py", "ab.py", false, false},
      {"[abc].txt", "b.txt", false, true},
      {"[!abc].txt", "b.txt", false, false},
      {"*.[oa]", "x.a", false, true},
      // Escapes and spaces.
      {"\\#notes", "#notes", false, true},
      {"#notes", "#notes", false, false},
      {"\\!important", "!important", false, true},
      {"name   ", "name", false, true},
      {"name\\ ", "name ", false, true},
      {"name\\ ", "name", false, false},
      // Comments and blank lines match nothing.
      {"# *.py\n\n", "a.py", false, false},
  };
  for (const IgnoreCase& c : cases) {
    IgnoreMatcher m;
    m.AddLevel("", c.rules);
    EXPECT_EQ(m.IsIgnored(c.path, c.is_dir), c.ignored)
        << "rules '" << c.rules << "' path '" << c.path << "' dir " << c.is_dir;
  }
}

TEST(IgnoreMatcher, DeeperRuleFilesOverrideAndAreRelativeToTheirFolder) {
  IgnoreMatcher m;
  m.AddLevel("", "*.csv\n/top.txt\n");
  m.AddLevel("sub", "!keep.csv\nlocal.txt\n/anchored.txt\n");
  EXPECT_TRUE(m.IsIgnored("a.csv", false));
  EXPECT_TRUE(m.IsIgnored("sub/a.csv", false));
  EXPECT_FALSE(m.IsIgnored("sub/keep.csv", false));
  EXPECT_FALSE(m.IsIgnored("sub/deeper/keep.csv", false));
  EXPECT_TRUE(m.IsIgnored("keep.csv", false));  // the negation only applies below sub/
  EXPECT_TRUE(m.IsIgnored("sub/local.txt", false));
  EXPECT_FALSE(m.IsIgnored("local.txt", false));
  EXPECT_TRUE(m.IsIgnored("sub/anchored.txt", false));
  EXPECT_FALSE(m.IsIgnored("sub/x/anchored.txt", false));
  EXPECT_TRUE(m.IsIgnored("top.txt", false));
  EXPECT_FALSE(m.IsIgnored("sub/top.txt", false));
  // "subway" does not start with the folder "sub/".
  EXPECT_TRUE(m.IsIgnored("subway/keep.csv", false));
  m.PopLevel();
  EXPECT_TRUE(m.IsIgnored("sub/keep.csv", false));
}

}  // namespace
}  // namespace trainyard::snapshot
