// Small string helpers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace trainyard {

std::vector<std::string> Split(std::string_view s, char sep);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);
bool StartsWith(std::string_view s, std::string_view prefix);
bool EndsWith(std::string_view s, std::string_view suffix);
std::string Trim(std::string_view s);
// Edit distance (insert, delete, substitute, swap of neighbours; each costs 1).
size_t Levenshtein(std::string_view a, std::string_view b);
// The candidate closest to `word` if it is close enough to be a plausible typo, else "".
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);
// Quotes a string for display as one shell word ('a b' -> "'a b'"); for printing only.
std::string ShellQuote(std::string_view s);
// The body of a JSON string literal for `s` (quotes, backslashes, control characters escaped).
std::string JsonEscape(std::string_view s);
// "1.5 KB", "200 MB" ...
std::string HumanBytes(uint64_t bytes);

}  // namespace trainyard
