#include "spec/problems.h"

#include <cstdio>
#include <utility>

#include "common/strings.h"

namespace trainyard::spec {

void Problems::Add(const std::string& where, const std::string& field, const std::string& message) {
  std::string line;
  if (!where.empty()) line += where + ": ";
  if (!field.empty()) {
    const std::string first = field.substr(0, field.find_first_of(".["));
    bool excepted = false;
    for (const std::string& e : except_) excepted = excepted || e == first;
    if (!prefix_.empty() && !excepted) line += prefix_ + ".";
    line += field + ": ";
  }
  lines_.push_back(line + message);
}

void Problems::SetFieldPrefix(std::string prefix, std::vector<std::string> except) {
  prefix_ = std::move(prefix);
  except_ = std::move(except);
}

Status Problems::ToStatus() const {
  if (lines_.empty()) return Status::Ok();
  // A document with thousands of bad keys gets a readable message, not thousands of lines.
  constexpr size_t kMaxLines = 50;
  if (lines_.size() <= kMaxLines) return InvalidArgument(Join(lines_, "\n"));
  std::vector<std::string> first(lines_.begin(), lines_.begin() + kMaxLines);
  first.push_back("... and " + std::to_string(lines_.size() - kMaxLines) + " more problems");
  return InvalidArgument(Join(first, "\n"));
}

std::string Quote(const std::string& s) { return "\"" + JsonEscape(s) + "\""; }

bool IsIdentifier(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

std::string Child(const std::string& parent, const std::string& key) {
  if (!IsIdentifier(key)) return parent.empty() ? Quote(key) : Bracket(parent, key);
  return parent.empty() ? key : parent + "." + key;
}

std::string Bracket(const std::string& parent, const std::string& key) {
  return parent + "[" + Quote(key) + "]";
}

std::string Index(const std::string& parent, size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

}  // namespace trainyard::spec
