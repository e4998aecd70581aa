// LoadJson: a strict JSON reader that builds the same Node tree as the YAML reader, with
// "file:line:col" on every node. yaml-cpp reads JSON as YAML, which accepts trailing commas and
// refuses surrogate-pair escapes; job files named *.json are read by this instead.
#include <cstdint>
#include <string>

#include "spec/tree.h"
#include "spec/tree_builder.h"

namespace trainyard::spec {
namespace {

class JsonReader {
 public:
  JsonReader(const std::string& text, TreeBuilder* b) : s_(text), b_(b) {}

  void ReadDocument() {
    if (s_.compare(0, 3, "\xef\xbb\xbf") == 0) line_start_ = pos_ = 3;  // a UTF-8 byte order mark
    SkipSpace();
    if (pos_ >= s_.size()) return;  // empty: a null document
    ReadValue();
    SkipSpace();
    if (pos_ < s_.size()) Fail("unexpected " + Show() + " after the end of the document");
  }

 private:
  std::string Here() const { return b_->Where(line_, pos_ - line_start_); }

  [[noreturn]] void Fail(const std::string& message) const {
    throw TreeBuilder::Stop{Here(), "JSON syntax error: " + message};
  }

  // The character at the read position, for messages.
  std::string Show() const {
    if (pos_ >= s_.size()) return "end of file";
    auto c = static_cast<unsigned char>(s_[pos_]);
    if (c < 0x20 || c >= 0x7f) {
      static const char* kHex = "0123456789abcdef";
      return std::string("byte 0x") + kHex[c >> 4] + kHex[c & 15];
    }
    return "\"" + std::string(1, static_cast<char>(c)) + "\"";
  }

  void SkipSpace() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '\n') {
        ++line_;
        line_start_ = ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else {
        break;
      }
    }
  }

  bool Literal(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (s_.compare(pos_, n, word) != 0) return false;
    pos_ += n;
    return true;
  }

  void ReadValue() {
    if (pos_ >= s_.size()) Fail("expected a value, got end of file");
    const std::string where = Here();
    switch (s_[pos_]) {
      case '{': ReadObject(where); return;
      case '[': ReadArray(where); return;
      case '"': b_->Scalar(ReadString(), where); return;
      default: break;
    }
    if (Literal("true")) {
      b_->Scalar("true", where);
    } else if (Literal("false")) {
      b_->Scalar("false", where);
    } else if (Literal("null")) {
      b_->Null(where);
    } else if (s_[pos_] == '-' || (s_[pos_] >= '0' && s_[pos_] <= '9')) {
      b_->Scalar(ReadNumber(), where);
    } else {
      Fail("expected a value, got " + Show());
    }
  }

  void ReadObject(const std::string& where) {
    b_->StartMap(where);
    ++pos_;
    if (Closes('}')) return;
    do {
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"') {
        Fail("expected a key in double quotes, got " + Show());
      }
      const std::string key_where = Here();
      b_->Scalar(ReadString(), key_where);
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':') Fail("expected \":\" after the key, got " + Show());
      ++pos_;
      SkipSpace();
      ReadValue();
    } while (!AfterItem('}'));
  }

  void ReadArray(const std::string& where) {
    b_->StartList(where);
    ++pos_;
    if (Closes(']')) return;
    do {
      SkipSpace();
      ReadValue();
    } while (!AfterItem(']'));
  }

  // After the opening bracket: true (and the container ended) when `close` follows at once.
  bool Closes(char close) {
    SkipSpace();
    if (pos_ >= s_.size() || s_[pos_] != close) return false;
    ++pos_;
    b_->End();
    return true;
  }

  // After an item: false when a comma (not a trailing one) says another item follows, true when
  // `close` ended the container.
  bool AfterItem(char close) {
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ',') {
      const std::string comma = Here();
      ++pos_;
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == close) {
        throw TreeBuilder::Stop{
            comma, std::string("JSON syntax error: trailing comma before \"") + close + "\""};
      }
      return false;
    }
    if (Closes(close)) return true;
    Fail(std::string("expected \",\" or \"") + close + "\", got " + Show());
  }

  bool Digit() const { return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9'; }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, kept as written.
  std::string ReadNumber() {
    size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    if (!Digit()) Fail("expected a digit, got " + Show());
    if (s_[pos_] == '0') {
      ++pos_;
    } else {
      while (Digit()) ++pos_;
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (!Digit()) Fail("expected a digit after \".\", got " + Show());
      while (Digit()) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!Digit()) Fail("expected a digit in the exponent, got " + Show());
      while (Digit()) ++pos_;
    }
    return s_.substr(start, pos_ - start);
  }

  // Four hex digits after "\u"; the read position is after them.
  uint32_t ReadHex4() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      if (pos_ >= s_.size()) Fail("incomplete \\u escape");
      char c = s_[pos_];
      uint32_t d = 0;
      if (c >= '0' && c <= '9') {
        d = static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<uint32_t>(c - 'A' + 10);
      } else {
        Fail("expected 4 hex digits after \\u, got " + Show());
      }
      v = v * 16 + d;
      ++pos_;
    }
    return v;
  }

  static void AppendUtf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  static std::string Hex4(uint32_t v) {
    static const char* kHex = "0123456789abcdef";
    std::string out = "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(v >> shift) & 15];
    return out;
  }

  // A string starting at the opening quote; the read position ends after the closing quote.
  std::string ReadString() {
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) Fail("unterminated string");
      auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) Fail("control character (" + Show() + ") in a string; write it escaped");
      if (c != '\\') {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) Fail("unterminated string");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': ReadUnicodeEscape(out); break;
        default: --pos_; Fail("unknown escape \"\\" + std::string(1, e) + "\"");
      }
    }
  }

  // After "\u": one code point, or a surrogate pair "\uD83D\uDE00".
  void ReadUnicodeEscape(std::string& out) {
    const size_t start = pos_ - 2;
    uint32_t cp = ReadHex4();
    if (cp >= 0xdc00 && cp <= 0xdfff) {
      pos_ = start;
      Fail("lone low surrogate " + Hex4(cp) + " (it must follow a high surrogate \\ud800-\\udbff)");
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {
      uint32_t low = 0;
      if (s_.compare(pos_, 2, "\\u") == 0) {
        size_t save = pos_;
        pos_ += 2;
        low = ReadHex4();
        if (low < 0xdc00 || low > 0xdfff) pos_ = save;
      }
      if (low < 0xdc00 || low > 0xdfff) {
        pos_ = start;
        Fail("lone high surrogate " + Hex4(cp) +
             " (it must be followed by a low surrogate \\udc00-\\udfff)");
      }
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    AppendUtf8(cp, out);
  }

  const std::string& s_;
  TreeBuilder* b_;
  size_t pos_ = 0;
  size_t line_ = 0;
  size_t line_start_ = 0;
};

}  // namespace

Node LoadJson(const std::string& text, const std::string& origin, Problems* problems) {
  TreeBuilder builder(origin, "", problems);
  try {
    JsonReader(text, &builder).ReadDocument();
  } catch (const TreeBuilder::Stop& stop) {
    problems->Add(stop.where, "", stop.message);
    return {};
  }
  return builder.TakeRoot();
}

}  // namespace trainyard::spec
