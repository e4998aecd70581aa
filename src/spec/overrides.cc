#include "spec/overrides.h"

#include <charconv>
#include <filesystem>
#include <system_error>
#include <utility>

#include "common/files.h"

namespace trainyard::spec {
namespace {

namespace fs = std::filesystem;

// Reads a quoted bracket key starting after the opening quote at `i`; leaves `i` after the
// closing quote.
Result<std::string> ReadQuoted(const std::string& s, size_t& i, char quote) {
  std::string out;
  while (i < s.size() && s[i] != quote) {
    if (quote == '"' && s[i] == '\\' && i + 1 < s.size()) ++i;
    out += s[i++];
  }
  if (i >= s.size()) return InvalidArgument("unterminated quote in field");
  ++i;
  return out;
}

// Sets `path` under `root` to `value`, creating maps on the way. `label` names the flag.
void SetPath(Node& root, const std::vector<std::string>& path, Node value, const std::string& label,
             Problems& p) {
  Node* cur = &root;
  std::string field;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    field = field.empty() ? path[i] : Child(field, path[i]);
    MapEntry* e = cur->Find(path[i]);
    if (!e) {
      cur = &cur->Set(path[i], label, MapNode(label, true));
    } else if (e->value.IsNull()) {
      e->value = MapNode(label, true);
      cur = &e->value;
    } else if (e->value.IsMap()) {
      cur = &e->value;
    } else {
      p.Add(label, field, "cannot set a field inside " + Describe(e->value));
      return;
    }
  }
  cur->Set(path.back(), label, std::move(value));
}

// Splits "NAME=VALUE" (for --env, --input); adds a problem and returns false without "=".
bool SplitAssignment(const std::string& flag, const std::string& text, std::string& name,
                     std::string& value, Problems& p) {
  size_t eq = text.find('=');
  if (eq == std::string::npos) {
    p.Add(flag + " " + Quote(text), "", "expected NAME=VALUE");
    return false;
  }
  name = text.substr(0, eq);
  value = text.substr(eq + 1);
  return true;
}

std::string FormatSeconds(double seconds) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, seconds);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(seconds);
}

// An --input: a uri_folder or uri_file when PATH exists (relative to the current directory),
// else a literal.
Node InputNode(const std::string& value, const std::string& label) {
  std::error_code ec;
  fs::path path(AbsolutePath(ExpandHome(value)));
  fs::file_status st = value.empty() ? fs::file_status() : fs::status(path, ec);
  if (ec || !fs::exists(st)) return ScalarNode(value, label, true);
  Node n = MapNode(label, true);
  n.Set("type", label, ScalarNode(fs::is_directory(st) ? "uri_folder" : "uri_file", label, true));
  n.Set("path", label, ScalarNode(path.string(), label, true));
  return n;
}

// Appends --arg values to the command: to a list as words; to a shell command (a string) at the
// end of its last line, each single-quoted (one word each, never shell syntax).
void AppendToCommand(Node& root, const std::vector<std::string>& args) {
  MapEntry* e = root.Find("command");
  Node* command = e ? &e->value : &root.Set("command", "--arg", ListNode("--arg", true));
  if (command->IsNull()) *command = ListNode(command->where, command->from_flags);
  if (command->IsScalar()) {
    std::string& text = command->text;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\t' ||
                             text.back() == '\r')) {
      text.pop_back();
    }
    for (const auto& a : args) text += " " + SingleQuote(a);
    return;
  }
  if (!command->IsList()) return;  // reported when the command is read
  for (const auto& a : args) command->items.push_back(ScalarNode(a, "--arg " + a, true));
}

void AppendExtraArgs(Node& root, const std::vector<std::string>& args) {
  MapEntry* e = root.Find("extra_args");
  Node* list = e ? &e->value : &root.Set("extra_args", "--arg", ListNode("--arg", true));
  if (list->IsNull()) *list = ListNode(list->where, list->from_flags);
  if (!list->IsList()) return;  // reported when extra_args is read
  for (const auto& a : args) list->items.push_back(ScalarNode(a, "--arg " + a, true));
}

}  // namespace

Result<SetOverride> ParseSetOverride(const std::string& text) {
  SetOverride out;
  size_t i = 0;
  std::string segment;
  bool have_segment = false;
  bool after_dot = false;
  auto finish_segment = [&]() -> bool {
    if (!have_segment) return false;
    out.path.push_back(segment);
    segment.clear();
    have_segment = false;
    return true;
  };
  while (i < text.size() && text[i] != '=') {
    char c = text[i];
    if (c == '.') {
      if (!finish_segment()) return InvalidArgument("empty field name");
      after_dot = true;
      ++i;
    } else if (c == '[') {
      if (!finish_segment()) return InvalidArgument("a [key] must follow a field name");
      ++i;
      if (i < text.size() && (text[i] == '"' || text[i] == '\'')) {
        char quote = text[i++];
        ASSIGN_OR_RETURN(segment, ReadQuoted(text, i, quote));
      } else {
        while (i < text.size() && text[i] != ']') segment += text[i++];
      }
      if (i >= text.size() || text[i] != ']') return InvalidArgument("missing \"]\"");
      ++i;
      have_segment = true;
      finish_segment();
      // After "]": "=", "." or "[".
      if (i < text.size() && text[i] != '=' && text[i] != '.' && text[i] != '[') {
        return InvalidArgument("unexpected character after \"]\"");
      }
      if (i < text.size() && text[i] == '.') {
        ++i;
        if (i >= text.size() || text[i] == '=' || text[i] == '.' || text[i] == '[') {
          return InvalidArgument("empty field name");
        }
      }
    } else if (c == ']') {
      return InvalidArgument("unexpected \"]\"");
    } else {
      segment += c;
      have_segment = true;
      after_dot = false;
      ++i;
    }
  }
  if (i >= text.size()) return InvalidArgument("expected FIELD=VALUE");
  if (after_dot) return InvalidArgument("empty field name");
  finish_segment();
  if (out.path.empty()) return InvalidArgument("expected FIELD=VALUE");
  out.value = text.substr(i + 1);
  return out;
}

void ApplySets(const std::vector<std::string>& sets, Node& root, Problems& p) {
  for (const std::string& set : sets) {
    auto parsed = ParseSetOverride(set);
    if (!parsed.ok()) {
      p.Add("--set " + Quote(set), "", parsed.status().message());
      continue;
    }
    const std::string label = "--set " + set;
    const size_t before = p.Count();
    Node value = LoadFlagValue(parsed->value, label, &p);
    if (p.Count() != before) continue;
    SetPath(root, parsed->path, std::move(value), label, p);
  }
}

void ApplyFlags(const Overrides& o, Form form, Node& root, Problems& p) {
  const bool command = form == Form::kCommand;
  auto set_scalar = [&](const std::vector<std::string>& path, const std::string& text,
                        const std::string& label) {
    SetPath(root, path, ScalarNode(text, label, true), label, p);
  };
  if (o.source)
    set_scalar({command ? "code" : "source_directory"}, *o.source, "--source " + *o.source);
  if (o.entry) set_scalar({"entry_script"}, *o.entry, "--entry " + *o.entry);
  if (o.experiment) {
    set_scalar({"experiment_name"}, *o.experiment, "--experiment " + *o.experiment);
  }
  if (o.target)
    set_scalar({command ? "compute" : "compute_target"}, *o.target, "--target " + *o.target);
  if (o.timeout_seconds) {
    std::string text = FormatSeconds(*o.timeout_seconds);
    std::vector<std::string> path = command ? std::vector<std::string>{"limits", "timeout"}
                                            : std::vector<std::string>{"max_run_duration_seconds"};
    set_scalar(path, text, "--timeout " + text);
  }
  for (const std::string& env : o.env) {
    std::string name, value;
    if (!SplitAssignment("--env", env, name, value, p)) continue;
    set_scalar({"environment_variables", name}, value, "--env " + env);
  }
  for (const std::string& input : o.inputs) {
    std::string name, value;
    if (!SplitAssignment("--input", input, name, value, p)) continue;
    const std::string label = "--input " + input;
    SetPath(root, {"inputs", name}, InputNode(value, label), label, p);
  }
  if (!o.args.empty()) {
    if (command) {
      AppendToCommand(root, o.args);
    } else {
      AppendExtraArgs(root, o.args);
    }
  }
}

}  // namespace trainyard::spec
