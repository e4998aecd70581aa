// Small string helpers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

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
// Quotes a string for display as one shell word ('a b' -> "'a b'"); for printing only. A word
// with bytes that are not UTF-8 or with control characters is shown in bash's $'...' form, the
// odd bytes as \xHH ($'a\xff'), so that every byte is visible and the word can be pasted back.
std::string ShellQuote(std::string_view s);
// The offset of the first byte of `s` that does not start or continue a valid UTF-8 sequence
// (overlong forms, UTF-16 surrogates and code points past U+10FFFF are invalid), or npos when
// all of `s` is valid UTF-8.
size_t InvalidUtf8Offset(std::string_view s);
// OK when `text` is valid UTF-8 without a NUL byte; otherwise InvalidArgument naming `what` and the
// first bad byte: "tag value for 'k' is not valid UTF-8 (byte 0xff at offset 0)", "experiment name
// contains a NUL byte (at offset 3)". For names and tags, which must be text.
Status CheckUtf8(std::string_view what, std::string_view text);
// OK when `text` has no NUL byte (which a C string, and so a process argument, cannot carry);
// otherwise InvalidArgument "<what> contains a NUL byte (at offset N)". For arguments, which may
// be any other bytes.
Status CheckNoNul(std::string_view what, std::string_view text);
// `s` for showing in messages and tables: valid UTF-8 comes back unchanged; otherwise each byte
// that is not part of valid UTF-8 is written \xHH and each backslash \\ (so "\xff" the text and
// 0xff the byte stay apart).
std::string EscapeBytes(std::string_view s);
// Standard base64 (RFC 4648, with padding).
std::string Base64Encode(std::string_view bytes);
// The bytes of a standard base64 text; InvalidArgument when `text` is not base64.
Result<std::string> Base64Decode(std::string_view text);
// The body of a JSON string literal for `s` (quotes, backslashes, control characters escaped).
std::string JsonEscape(std::string_view s);
// "1.5 KB", "200 MB" ...
std::string HumanBytes(uint64_t bytes);

}  // namespace trainyard
