#include "snapshot/ignore.h"

#include <cctype>
#include <utility>

namespace trainyard::snapshot {
namespace {

// Results of the recursive matcher, as in git's wildmatch.c. The two "abort" results prune the
// search: kAbortAll means no later position of the text can match either, kAbortToStarStar means
// only an enclosing "**" may still try further positions.
enum class Wm { kMatch, kNoMatch, kAbortAll, kAbortToStarStar };

constexpr const char* kClassNames[] = {"alnum", "alpha", "blank", "cntrl", "digit", "graph",
                                       "lower", "print", "punct", "space", "upper", "xdigit"};

bool IsClassName(std::string_view name) {
  for (const char* n : kClassNames) {
    if (name == n) return true;
  }
  return false;
}

bool ClassMatches(std::string_view name, unsigned char c) {
  if (name == "alnum") return std::isalnum(c) != 0;
  if (name == "alpha") return std::isalpha(c) != 0;
  if (name == "blank") return c == ' ' || c == '\t';
  if (name == "cntrl") return std::iscntrl(c) != 0;
  if (name == "digit") return std::isdigit(c) != 0;
  if (name == "graph") return std::isgraph(c) != 0;
  if (name == "lower") return std::islower(c) != 0;
  if (name == "print") return std::isprint(c) != 0;
  if (name == "punct") return std::ispunct(c) != 0;
  if (name == "space") return std::isspace(c) != 0;
  if (name == "upper") return std::isupper(c) != 0;
  if (name == "xdigit") return std::isxdigit(c) != 0;
  return false;
}

// Matches the bracket expression whose first character (after '[') is at *pp against `t`. On
// return *pp points at the closing ']'. Returns kMatch or kNoMatch, or kAbortAll when the
// expression is malformed (unterminated, or an unknown [:class:]).
Wm MatchBracket(const unsigned char** pp, unsigned char t) {
  const unsigned char* p = *pp;
  unsigned char p_ch = *p;
  if (p_ch == '^') p_ch = '!';
  const bool negated = p_ch == '!';
  if (negated) p_ch = *++p;
  unsigned char prev_ch = 0;
  bool matched = false;
  do {
    if (p_ch == 0) return Wm::kAbortAll;
    if (p_ch == '\\') {
      p_ch = *++p;
      if (p_ch == 0) return Wm::kAbortAll;
      if (t == p_ch) matched = true;
    } else if (p_ch == '-' && prev_ch != 0 && p[1] != 0 && p[1] != ']') {
      p_ch = *++p;
      if (p_ch == '\\') {
        p_ch = *++p;
        if (p_ch == 0) return Wm::kAbortAll;
      }
      if (t <= p_ch && t >= prev_ch) matched = true;
      p_ch = 0;  // a range's end cannot start another range
    } else if (p_ch == '[' && p[1] == ':') {
      const unsigned char* s = p + 2;
      const unsigned char* e = s;
      while (*e != 0 && *e != ']') ++e;
      if (*e == 0) return Wm::kAbortAll;
      if (e == s || e[-1] != ':') {
        if (t == '[') matched = true;  // no ":]": a plain '['
      } else {
        std::string_view name(reinterpret_cast<const char*>(s), static_cast<size_t>(e - s - 1));
        if (!IsClassName(name)) return Wm::kAbortAll;
        if (ClassMatches(name, t)) matched = true;
        p = e;
        p_ch = 0;
      }
    } else if (t == p_ch) {
      matched = true;
    }
    prev_ch = p_ch;
    p_ch = *++p;
  } while (p_ch != ']');
  *pp = p;
  return matched != negated ? Wm::kMatch : Wm::kNoMatch;
}

// A port of git's dowild() with WM_PATHNAME. `pattern_start` is the start of the whole pattern
// (to tell whether a "**" begins a component); both strings are NUL-terminated.
Wm DoWild(const unsigned char* pattern_start, const unsigned char* p, const unsigned char* text) {
  for (; *p != 0; ++text, ++p) {
    unsigned char p_ch = *p;
    unsigned char t_ch = *text;
    if (t_ch == 0 && p_ch != '*') return Wm::kAbortAll;
    switch (p_ch) {
      case '\\':
        p_ch = *++p;  // the escaped character is literal
        if (p_ch == 0 || t_ch != p_ch) return Wm::kNoMatch;
        continue;
      case '?':
        if (t_ch == '/') return Wm::kNoMatch;
        continue;
      case '[': {
        ++p;
        Wm r = MatchBracket(&p, t_ch);
        if (r == Wm::kAbortAll) return r;
        if (r == Wm::kNoMatch || t_ch == '/') return Wm::kNoMatch;
        continue;
      }
      case '*': {
        bool match_slash = false;
        if (p[1] == '*') {
          const unsigned char* before = p;  // the first '*'
          ++p;
          while (p[1] == '*') ++p;
          ++p;  // first character after the run of '*'
          const bool at_component_start = before == pattern_start || before[-1] == '/';
          if (at_component_start && (*p == 0 || *p == '/' || (p[0] == '\\' && p[1] == '/'))) {
            // "**/" may also match no folder at all.
            if (*p == '/' && DoWild(pattern_start, p + 1, text) == Wm::kMatch) return Wm::kMatch;
            match_slash = true;
          }
        } else {
          ++p;
        }
        if (*p == 0) {
          // A trailing "**" matches everything; a trailing '*' only up to the next '/'.
          if (!match_slash) {
            for (const unsigned char* t = text; *t != 0; ++t) {
              if (*t == '/') return Wm::kNoMatch;
            }
          }
          return Wm::kMatch;
        }
        if (!match_slash && *p == '/') {
          // A single '*' followed by '/' matches the rest of this component.
          while (*text != 0 && *text != '/') ++text;
          if (*text == 0) return Wm::kNoMatch;
          // The for loop's ++ steps over the '/' in both strings.
          continue;
        }
        for (t_ch = *text; t_ch != 0; t_ch = *++text) {
          Wm r = DoWild(pattern_start, p, text);
          if (r != Wm::kNoMatch) {
            if (!match_slash || r != Wm::kAbortToStarStar) return r;
          } else if (!match_slash && t_ch == '/') {
            return Wm::kAbortToStarStar;
          }
        }
        return Wm::kAbortAll;
      }
      default:
        if (t_ch != p_ch) return Wm::kNoMatch;
        continue;
    }
  }
  return *text != 0 ? Wm::kNoMatch : Wm::kMatch;
}

// git's trim_trailing_spaces(): drops trailing spaces unless escaped with a backslash.
void TrimTrailingSpaces(std::string* s) {
  size_t last_space = std::string::npos;
  for (size_t i = 0; i < s->size(); ++i) {
    char c = (*s)[i];
    if (c == ' ') {
      if (last_space == std::string::npos) last_space = i;
    } else if (c == '\\') {
      ++i;
      if (i >= s->size()) return;
      last_space = std::string::npos;
    } else {
      last_space = std::string::npos;
    }
  }
  if (last_space != std::string::npos) s->resize(last_space);
}

bool PatternMatches(const IgnorePattern& pattern, std::string_view rel, bool is_dir) {
  if (pattern.dir_only && !is_dir) return false;
  if (pattern.match_basename) {
    size_t slash = rel.rfind('/');
    if (slash != std::string_view::npos) rel.remove_prefix(slash + 1);
  }
  return Wildmatch(pattern.glob, rel);
}

}  // namespace

bool Wildmatch(std::string_view pattern, std::string_view text) {
  // DoWild needs NUL-terminated strings.
  std::string p(pattern);
  std::string t(text);
  const auto* ps = reinterpret_cast<const unsigned char*>(p.c_str());
  const auto* ts = reinterpret_cast<const unsigned char*>(t.c_str());
  return DoWild(ps, ps, ts) == Wm::kMatch;
}

std::vector<IgnorePattern> ParseIgnoreFile(std::string_view contents) {
  std::vector<IgnorePattern> patterns;
  size_t pos = 0;
  while (pos < contents.size()) {
    size_t nl = contents.find('\n', pos);
    if (nl == std::string_view::npos) nl = contents.size();
    std::string line(contents.substr(pos, nl - pos));
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // files written on Windows
    if (line.empty() || line[0] == '#') continue;
    TrimTrailingSpaces(&line);
    if (line.empty()) continue;
    IgnorePattern pat;
    if (line[0] == '!') {
      pat.negated = true;
      line.erase(0, 1);
    }
    if (!line.empty() && line.back() == '/') {
      pat.dir_only = true;
      line.pop_back();
    }
    if (line.empty()) continue;  // "/", "!" or "!/": nothing to match
    pat.match_basename = line.find('/') == std::string::npos;
    if (line[0] == '/') line.erase(0, 1);
    if (line.empty()) continue;
    pat.glob = std::move(line);
    patterns.push_back(std::move(pat));
  }
  return patterns;
}

void IgnoreMatcher::AddLevel(std::string base, std::string_view contents) {
  Level level;
  level.prefix = base.empty() ? std::string() : std::move(base) + "/";
  level.patterns = ParseIgnoreFile(contents);
  levels_.push_back(std::move(level));
}

void IgnoreMatcher::PopLevel() {
  if (!levels_.empty()) levels_.pop_back();
}

bool IgnoreMatcher::Matches(std::string_view path, bool is_dir) const {
  for (auto level = levels_.rbegin(); level != levels_.rend(); ++level) {
    if (path.size() <= level->prefix.size() ||
        path.substr(0, level->prefix.size()) != level->prefix) {
      continue;
    }
    std::string_view rel = path.substr(level->prefix.size());
    for (auto pat = level->patterns.rbegin(); pat != level->patterns.rend(); ++pat) {
      if (PatternMatches(*pat, rel, is_dir)) return !pat->negated;
    }
  }
  return false;
}

bool IgnoreMatcher::IsIgnored(std::string_view path, bool is_dir) const {
  for (size_t slash = path.find('/'); slash != std::string_view::npos;
       slash = path.find('/', slash + 1)) {
    if (Matches(path.substr(0, slash), /*is_dir=*/true)) return true;
  }
  return Matches(path, is_dir);
}

}  // namespace trainyard::snapshot
