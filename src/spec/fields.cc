#include "spec/fields.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "common/strings.h"
#include "spec/parse.h"

namespace trainyard::spec {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// The scalar text of `n`, or nullopt (null silently, list/map with "expected <what>").
std::optional<std::string> ScalarText(const Node& n, const std::string& field,
                                      const std::string& what, Problems& p) {
  if (n.IsNull()) return std::nullopt;
  if (!n.IsScalar()) {
    p.Add(n.where, field, "expected " + what + ", got " + Describe(n));
    return std::nullopt;
  }
  return n.text;
}

}  // namespace

std::optional<long long> ParseInteger(const std::string& text) {
  std::string_view s = text;
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> ParseNumber(const std::string& text) {
  std::string_view s = text;
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

std::optional<bool> ParseBool(const std::string& text) {
  std::string s = Lower(text);
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  return std::nullopt;
}

std::string DidYouMeanSuffix(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best = DidYouMean(word, candidates);
  return best.empty() ? "" : " (did you mean " + Quote(best) + "?)";
}

std::optional<std::string> ReadString(const Node& n, const std::string& field, Problems& p) {
  return ScalarText(n, field, "a string", p);
}

std::optional<int> ReadCount(const Node& n, const std::string& field, int max, Problems& p) {
  auto text = ScalarText(n, field, "an integer", p);
  if (!text) return std::nullopt;
  const std::string too_large = "must be at most " + std::to_string(max) + " (a limit), got ";
  auto v = ParseInteger(*text);
  if (!v) {
    // Digits that do not fit in 64 bits are a number too, just out of range.
    std::string_view digits = *text;
    if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
    bool all_digits = !digits.empty();
    for (char c : digits) all_digits &= c >= '0' && c <= '9';
    p.Add(n.where, field,
          all_digits ? too_large + *text : "expected an integer, got " + Describe(n));
    return std::nullopt;
  }
  if (*v < 1) {
    p.Add(n.where, field, "must be at least 1, got " + std::to_string(*v));
    return std::nullopt;
  }
  if (*v > max) {
    p.Add(n.where, field, too_large + std::to_string(*v));
    return std::nullopt;
  }
  return static_cast<int>(*v);
}

std::optional<bool> ReadBool(const Node& n, const std::string& field, Problems& p) {
  auto text = ScalarText(n, field, "true or false", p);
  if (!text) return std::nullopt;
  auto v = ParseBool(*text);
  if (!v) p.Add(n.where, field, "expected true or false, got " + Describe(n));
  return v;
}

std::optional<double> ReadSeconds(const Node& n, const std::string& field, Problems& p) {
  auto text = ScalarText(n, field, "a number of seconds", p);
  if (!text) return std::nullopt;
  const std::string too_large = "must be at most " +
                                std::to_string(static_cast<long long>(kMaxRunSeconds)) +
                                " seconds (10 years), got " + *text;
  auto v = ParseNumber(*text);
  if (!v) {
    // A number too large for a double ("1e400") is out of range rather than not a number.
    double d = 0;
    std::string_view s = *text;
    if (!s.empty() && s[0] == '+') s.remove_prefix(1);
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    bool huge = !s.empty() && s[0] != '-' && end == s.data() + s.size() &&
                (ec == std::errc::result_out_of_range || (ec == std::errc() && std::isinf(d)));
    p.Add(n.where, field, huge ? too_large : "expected a number of seconds, got " + Describe(n));
    return std::nullopt;
  }
  if (*v <= 0) {
    p.Add(n.where, field, "must be greater than 0, got " + *text);
    return std::nullopt;
  }
  if (*v > kMaxRunSeconds) {
    p.Add(n.where, field, too_large);
    return std::nullopt;
  }
  return v;
}

std::optional<std::vector<std::string>> ReadStringList(const Node& n, const std::string& field,
                                                       Problems& p) {
  if (n.IsNull()) return std::nullopt;
  if (!n.IsList()) {
    p.Add(n.where, field, "expected a list of strings, got " + Describe(n));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (size_t i = 0; i < n.items.size(); ++i) {
    const Node& item = n.items[i];
    if (!item.IsScalar()) {
      p.Add(item.where, Index(field, i), "expected a string, got " + Describe(item));
      ok = false;
      continue;
    }
    out.push_back(item.text);
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::string> ReadBackend(const Node& n, const std::string& field, Problems& p) {
  if (n.IsNull()) return std::string();
  auto text = ScalarText(n, field, "a backend name", p);
  if (!text) return std::nullopt;
  std::string s = Lower(*text);
  if (s.empty() || s == "none") return std::string();
  if (s == "mpi") return std::string("mpi");
  if (s == "pytorch" || s == "gloo" || s == "nccl" || s == "torch.distributed") {
    return std::string("pytorch");
  }
  if (s == "tensorflow") {
    p.Add(n.where, field,
          "tensorflow is not supported (no TF_CONFIG / parameter servers here): use mpi (with "
          "Horovod) or pytorch");
    return std::nullopt;
  }
  static const std::vector<std::string> kNames = {"mpi",  "pytorch",           "gloo",
                                                  "nccl", "torch.distributed", "none"};
  p.Add(n.where, field,
        "unknown backend " + Quote(*text) +
            " (expected mpi, pytorch, gloo, nccl, torch.distributed or none)" +
            DidYouMeanSuffix(s, kNames));
  return std::nullopt;
}

bool ExpectMap(const Node& n, const std::string& field, Problems& p) {
  if (n.IsMap()) return true;
  if (!n.IsNull()) p.Add(n.where, field, "expected a map, got " + Describe(n));
  return false;
}

void ReportUnknownField(const MapEntry& e, const std::string& parent,
                        const std::vector<std::string>& known, Problems& p) {
  p.Add(e.key_where, Child(parent, e.key), "unknown field" + DidYouMeanSuffix(e.key, known));
}

}  // namespace trainyard::spec
