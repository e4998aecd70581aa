// Words and arguments: SplitCommand, SubstituteInputs, ScriptArguments.
#include <utility>

#include "common/strings.h"
#include "spec/fields.h"
#include "spec/parse.h"
#include "spec/problems.h"

namespace trainyard::spec {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

// Outside quotes: blanks separate words and a backslash takes the next character literally
// (backslash-newline is removed). In single quotes everything is literal. In double quotes a
// backslash escapes only " \ $ ` and newline. Nothing is expanded: $VAR, ~, * and ; are text.
Result<std::vector<std::string>> SplitCommand(const std::string& command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  size_t i = 0;
  const size_t n = command.size();
  while (i < n) {
    char c = command[i];
    if (IsBlank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\'') {
      size_t close = command.find('\'', i + 1);
      if (close == std::string::npos) {
        return InvalidArgument("unterminated single quote at character " + std::to_string(i + 1));
      }
      word.append(command, i + 1, close - i - 1);
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      const size_t open = i++;
      while (i < n && command[i] != '"') {
        if (command[i] == '\\' && i + 1 < n) {
          char next = command[i + 1];
          if (next == '"' || next == '\\' || next == '$' || next == '`') {
            word += next;
            i += 2;
            continue;
          }
          if (next == '\n') {
            i += 2;
            continue;
          }
        }
        word += command[i++];
      }
      if (i >= n) {
        return InvalidArgument("unterminated double quote at character " +
                               std::to_string(open + 1));
      }
      in_word = true;
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= n) return InvalidArgument("command ends with a backslash");
      if (command[i + 1] != '\n') {
        word += command[i + 1];
        in_word = true;
      }
      i += 2;
    } else {
      word += c;
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

Result<std::string> SubstituteInputs(const std::string& word,
                                     const std::map<std::string, std::string>& values) {
  static const std::string kOpen = "${{";
  std::string out;
  size_t i = 0;
  while (true) {
    size_t start = word.find(kOpen, i);
    if (start == std::string::npos) return out + word.substr(i);
    out.append(word, i, start - i);
    size_t end = word.find("}}", start + kOpen.size());
    if (end == std::string::npos) {
      return InvalidArgument("unterminated \"${{\" (expected ${{inputs.NAME}})");
    }
    std::string expr = Trim(word.substr(start + kOpen.size(), end - start - kOpen.size()));
    if (!StartsWith(expr, "inputs.")) {
      return InvalidArgument("unsupported expression " + Quote("${{" + expr + "}}") +
                             " (only ${{inputs.NAME}} is supported)");
    }
    std::string name = expr.substr(std::string("inputs.").size());
    auto it = values.find(name);
    if (it == values.end()) {
      std::vector<std::string> names;
      names.reserve(values.size());
      for (const auto& kv : values) names.push_back(kv.first);
      return InvalidArgument("unknown input " + Quote(name) + DidYouMeanSuffix(name, names));
    }
    out += it->second;
    i = end + 2;
  }
}

Result<std::vector<std::string>> ScriptArguments(const JobSpec& spec,
                                                 const std::map<std::string, std::string>& inputs) {
  if (spec.form != "estimator") {
    return FailedPrecondition("script arguments exist only in estimator-form jobs");
  }
  std::vector<std::string> args;
  for (const ScriptParam& sp : spec.script_params) {
    args.push_back(sp.flag);
    if (!sp.value) continue;
    auto value = SubstituteInputs(*sp.value, inputs);
    if (!value.ok()) return value.status().WithContext(Bracket("script_params", sp.flag));
    args.push_back(std::move(value).value());
  }
  for (size_t i = 0; i < spec.extra_args.size(); ++i) {
    auto arg = SubstituteInputs(spec.extra_args[i], inputs);
    if (!arg.ok()) return arg.status().WithContext(Index("extra_args", i));
    args.push_back(std::move(arg).value());
  }
  return args;
}

}  // namespace trainyard::spec
