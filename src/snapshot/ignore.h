// gitignore-style ignore rules.
//
// Terms used below:
//   rule file  one .gitignore / .amlignore / .trainyardignore; its patterns are relative to the
//              folder that holds it (its "base", "" for the snapshot root, else "a/b/").
//   level      the patterns of one rule file.
//
// Matching follows git (gitignore(5)): within one level the last matching pattern wins; a deeper
// level overrides a shallower one; a pattern without a '/' (other than a trailing one) matches the
// name at any depth, otherwise it is anchored to its base; a trailing '/' matches folders only;
// '!' negates; '*', '?' and '[...]' never match '/'; '**' in "**/x", "x/**" and "x/**/y" matches
// any number of folders; '\' escapes the next character; unescaped trailing spaces are dropped.
// As in git, a path below an ignored folder stays ignored whatever later patterns say.
//
// An IgnoreMatcher is a plain value: not safe to mutate from several threads at once.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace trainyard::snapshot {

// git's wildmatch() with WM_PATHNAME: '*', '?' and '[...]' do not match '/'; "**" between
// slashes (or at either end) matches across folders. Exposed for tests.
bool Wildmatch(std::string_view pattern, std::string_view text);

struct IgnorePattern {
  std::string glob;             // without '!', the leading '/' and the trailing '/'
  bool negated = false;         // "!pattern": re-includes
  bool dir_only = false;        // "pattern/": folders only
  bool match_basename = false;  // no '/' in the pattern: matched against the last component
};

// Parses the text of one rule file. Comments and blank lines produce no pattern.
std::vector<IgnorePattern> ParseIgnoreFile(std::string_view contents);

class IgnoreMatcher {
 public:
  // Adds the patterns of a rule file found in folder `base` ("" for the root, else "a/b" without
  // a trailing slash). Levels must be added shallowest first (walk order); PopLevel() removes the
  // last one added.
  void AddLevel(std::string base, std::string_view contents);
  void PopLevel();

  // The decision for `path` itself ('/'-separated, relative to the root), assuming that none of
  // its parent folders is ignored (the walk never descends into an ignored folder).
  bool Matches(std::string_view path, bool is_dir) const;
  // The full decision: also true when any parent folder of `path` is ignored.
  bool IsIgnored(std::string_view path, bool is_dir) const;

 private:
  struct Level {
    std::string prefix;  // base + "/", or "" for the root
    std::vector<IgnorePattern> patterns;
  };
  std::vector<Level> levels_;
};

}  // namespace trainyard::snapshot
