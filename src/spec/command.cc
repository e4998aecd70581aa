// Words and arguments: SplitCommand, Substitute, MentionsPython, ScriptArguments.
#include <functional>
#include <string_view>
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

std::string SingleQuote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

namespace {

using Replace = std::function<std::string(const std::string& kind, const std::string& name,
                                          const std::string& value, size_t at)>;

// Replaces every ${{kind.NAME}} by replace(kind, NAME, value, offset of "${{").
Result<std::string> SubstituteWith(const std::string& text,
                                   const std::map<std::string, std::string>& inputs,
                                   const std::map<std::string, std::string>* outputs,
                                   const std::map<std::string, std::string>* search_space,
                                   const Replace& replace) {
  static const std::string kOpen = "${{";
  std::string out;
  size_t i = 0;
  while (true) {
    size_t start = text.find(kOpen, i);
    if (start == std::string::npos) return out + text.substr(i);
    out.append(text, i, start - i);
    size_t end = text.find("}}", start + kOpen.size());
    if (end == std::string::npos) {
      return InvalidArgument("unterminated \"${{\" (expected ${{inputs.NAME}})");
    }
    std::string expr = Trim(text.substr(start + kOpen.size(), end - start - kOpen.size()));
    const std::string supported = outputs != nullptr
                                      ? "${{inputs.NAME}} and ${{outputs.NAME}} are supported"
                                      : "${{inputs.NAME}} is supported";
    if (search_space == nullptr && StartsWith(expr, "search_space.")) {
      return InvalidArgument(Quote("${{" + expr + "}}") +
                             ": search_space values exist only in the trial of a sweep (a job "
                             "file with type: sweep and a search_space)");
    }
    const std::map<std::string, std::string>* values = nullptr;
    std::string kind;
    if (StartsWith(expr, "inputs.")) {
      values = &inputs;
      kind = "inputs";
    } else if (outputs != nullptr && StartsWith(expr, "outputs.")) {
      values = outputs;
      kind = "outputs";
    } else if (StartsWith(expr, "search_space.")) {
      values = search_space;
      kind = "search_space";
    } else {
      return InvalidArgument("unsupported expression " + Quote("${{" + expr + "}}") + " (only " +
                             supported + ")");
    }
    std::string name = expr.substr(kind.size() + 1);
    auto it = values->find(name);
    if (it == values->end()) {
      std::vector<std::string> names;
      names.reserve(values->size());
      for (const auto& kv : *values) names.push_back(kv.first);
      const std::string what =
          kind == "search_space" ? "search_space parameter" : kind.substr(0, kind.size() - 1);
      return InvalidArgument("unknown " + what + " " + Quote(name) + DidYouMeanSuffix(name, names));
    }
    out += replace(kind, name, it->second, start);
    i = end + 2;
  }
}

// For each byte of a bash script, the quoting it is in: 'o' (none), 'd' (double quotes) or 's'
// (single quotes, or $'...'). Command substitutions $(...) and `...` inside double quotes start
// afresh. An approximation of bash's lexer (heredocs, for one, read as unquoted text): a wrong
// guess changes how a value is split into words, never makes it shell syntax (see ShellScript).
std::string QuotingOf(const std::string& text) {
  struct Frame {
    char kind;      // 'o', 'd', 's', 'a' ($'...'), 'b' (`...` inside double quotes)
    int parens;     // open parentheses in an 'o' frame that a $( inside double quotes opened
    bool in_subst;  // an 'o' frame opened by $( inside double quotes
  };
  std::vector<Frame> stack = {{'o', 0, false}};
  std::string out(text.size(), 'o');
  for (size_t i = 0; i < text.size(); ++i) {
    Frame& f = stack.back();
    char c = text[i];
    char next = i + 1 < text.size() ? text[i + 1] : '\0';
    out[i] = f.kind == 'd' ? 'd' : (f.kind == 's' || f.kind == 'a') ? 's' : 'o';
    switch (f.kind) {
      case 's':
        if (c == '\'') stack.pop_back();
        break;
      case 'a':
        if (c == '\\') {
          ++i;
        } else if (c == '\'') {
          stack.pop_back();
        }
        break;
      case 'd':
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          stack.pop_back();
        } else if (c == '$' && next == '(') {
          stack.push_back({'o', 0, true});
          ++i;
        } else if (c == '`') {
          stack.push_back({'b', 0, false});
        }
        break;
      default:  // 'o' and 'b'
        if (c == '#' && (i == 0 || std::string_view(" \t\n;&|()").find(text[i - 1]) !=
                                       std::string_view::npos)) {
          // A comment, to the end of the line: its quotes are text.
          while (i + 1 < text.size() && text[i + 1] != '\n') out[++i] = 'o';
        } else if (c == '\\') {
          ++i;
        } else if (c == '\'') {
          stack.push_back({'s', 0, false});
        } else if (c == '$' && next == '\'') {
          stack.push_back({'a', 0, false});
          ++i;
        } else if (c == '"') {
          stack.push_back({'d', 0, false});
        } else if (f.kind == 'b' && c == '`') {
          stack.pop_back();
        } else if (f.in_subst && c == '(') {
          ++f.parens;
        } else if (f.in_subst && c == ')') {
          if (f.parens == 0) {
            stack.pop_back();
          } else {
            --f.parens;
          }
        }
        break;
    }
    if (stack.empty()) stack.push_back({'o', 0, false});
  }
  return out;
}

}  // namespace

Result<std::string> Substitute(const std::string& text,
                               const std::map<std::string, std::string>& inputs,
                               const std::map<std::string, std::string>* outputs,
                               const std::map<std::string, std::string>* search_space) {
  return SubstituteWith(text, inputs, outputs, search_space,
                        [](const std::string&, const std::string&, const std::string& value,
                           size_t) { return value; });
}

Result<std::string> ShellScript(const std::string& command,
                                const std::map<std::string, std::string>& inputs,
                                const std::map<std::string, std::string>& outputs,
                                const std::map<std::string, std::string>& search_space) {
  const std::string quoting = QuotingOf(command);
  std::map<std::string, std::string> assignments;  // variable -> value
  auto body = SubstituteWith(
      command, inputs, &outputs, &search_space,
      [&](const std::string& kind, const std::string& name, const std::string& value, size_t at) {
        std::string var = "_ty_" + kind + "_" + name;
        assignments[var] = value;
        switch (quoting[at]) {
          case 'd': return "${" + var + "}";
          case 's': return "'\"${" + var + "}\"'";
          default: return "\"${" + var + "}\"";
        }
      });
  if (!body.ok()) return body.status();
  std::string script;
  for (const auto& [var, value] : assignments) script += var + "=" + SingleQuote(value) + "\n";
  return script + *body;
}

Result<std::string> SubstituteInputs(const std::string& word,
                                     const std::map<std::string, std::string>& values) {
  return Substitute(word, values, nullptr);
}

bool MentionsPython(const std::string& command) {
  auto word_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-' || c == '/' || c == '$';
  };
  for (size_t at = command.find("python"); at != std::string::npos;
       at = command.find("python", at + 1)) {
    size_t after = at + 6;
    if (after < command.size() && command[after] == '3') ++after;
    bool starts = at == 0 || !word_char(command[at - 1]);
    bool ends = after == command.size() || !word_char(command[after]);
    if (starts && ends) return true;
  }
  return false;
}

Result<std::vector<std::string>> ScriptArguments(const JobSpec& spec,
                                                 const std::map<std::string, std::string>& inputs) {
  if (spec.form != "estimator") {
    return FailedPrecondition("script arguments exist only in estimator-form jobs");
  }
  const auto search_space = SearchSpaceValues(spec);
  std::vector<std::string> args;
  for (const ScriptParam& sp : spec.script_params) {
    args.push_back(sp.flag);
    if (!sp.value) continue;
    auto value = Substitute(*sp.value, inputs, nullptr, &search_space);
    if (!value.ok()) return value.status().WithContext(Bracket("script_params", sp.flag));
    args.push_back(std::move(value).value());
  }
  for (size_t i = 0; i < spec.extra_args.size(); ++i) {
    auto arg = Substitute(spec.extra_args[i], inputs, nullptr, &search_space);
    if (!arg.ok()) return arg.status().WithContext(Index("extra_args", i));
    args.push_back(std::move(arg).value());
  }
  return args;
}

std::map<std::string, std::string> SearchSpaceValues(const JobSpec& spec) {
  return {spec.search_space_values.begin(), spec.search_space_values.end()};
}

}  // namespace trainyard::spec
