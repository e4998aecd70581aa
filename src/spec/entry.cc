#include "spec/entry.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <system_error>

#include "common/files.h"
#include "common/strings.h"

namespace trainyard::spec {
namespace {

namespace fs = std::filesystem;

// Folders that never hold the project's own CMakeLists.txt files (build trees, VCS metadata).
bool SkipFolder(const std::string& name) {
  return name == ".git" || name == "build" || StartsWith(name, "build-") ||
         StartsWith(name, "cmake-build-") || name == "CMakeFiles" || name == "_deps";
}

bool IsTargetChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '+' ||
         c == '-';
}

// Appends the first argument of every add_executable( in `text` (comments skipped; IMPORTED and
// ALIAS executables are not programs of the project).
void ScanAddExecutable(const std::string& text, std::set<std::string>* out) {
  // A lower-cased copy with "# ..." line comments blanked out; same length, so positions in it
  // are positions in `text`.
  std::string code = text;
  bool comment = false;
  for (char& c : code) {
    if (c == '#') comment = true;
    if (c == '\n') comment = false;
    c = comment ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const std::string key = "add_executable";
  for (size_t at = code.find(key); at != std::string::npos; at = code.find(key, at + 1)) {
    if (at > 0 && (std::isalnum(static_cast<unsigned char>(code[at - 1])) || code[at - 1] == '_')) {
      continue;
    }
    size_t p = at + key.size();
    while (p < code.size() && std::isspace(static_cast<unsigned char>(code[p]))) ++p;
    if (p >= code.size() || code[p] != '(') continue;
    ++p;
    while (p < code.size() && std::isspace(static_cast<unsigned char>(code[p]))) ++p;
    size_t start = p;
    while (p < code.size() && IsTargetChar(text[p])) ++p;
    if (p == start) continue;
    std::string name = text.substr(start, p - start);  // original case
    size_t q = p;
    while (q < code.size() && std::isspace(static_cast<unsigned char>(code[q]))) ++q;
    if (code.compare(q, 8, "imported") == 0 || code.compare(q, 5, "alias") == 0) continue;
    out->insert(name);
  }
}

}  // namespace

const char* EntryKindName(EntryKind kind) {
  switch (kind) {
    case EntryKind::kPython: return "python";
    case EntryKind::kExecutable: return "executable";
    case EntryKind::kCppFile: return "cpp-file";
    case EntryKind::kCppTarget: return "cpp-target";
    case EntryKind::kCommand: return "command";
  }
  return "?";
}

bool IsCppSourceName(const std::string& path) {
  return EndsWith(path, ".cpp") || EndsWith(path, ".cc") || EndsWith(path, ".cxx");
}

EntryKind ClassifyEntry(const JobSpec& spec) {
  if (spec.form == "command") return EntryKind::kCommand;
  if (EndsWith(spec.entry_script, ".py")) return EntryKind::kPython;
  if (IsCppSourceName(spec.entry_script)) return EntryKind::kCppFile;
  if (!spec.entry_script.empty() && spec.entry_script.find('/') == std::string::npos &&
      PathExists(spec.source_directory + "/CMakeLists.txt") &&
      !PathExists(spec.source_directory + "/" + spec.entry_script)) {
    return EntryKind::kCppTarget;
  }
  return EntryKind::kExecutable;
}

std::vector<std::string> CMakeExecutableTargets(const std::string& source_dir) {
  std::set<std::string> names;
  if (!PathExists(source_dir + "/CMakeLists.txt")) return {};
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(source_dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory(ec)) {
      if (SkipFolder(it->path().filename().string())) it.disable_recursion_pending();
      continue;
    }
    if (it->path().filename() != "CMakeLists.txt") continue;
    auto text = ReadFile(it->path().string());
    if (text.ok()) ScanAddExecutable(*text, &names);
  }
  return {names.begin(), names.end()};
}

std::string CppProgramName(const JobSpec& spec, EntryKind kind) {
  if (kind == EntryKind::kCppTarget) return spec.entry_script;
  std::string stem = fs::path(spec.entry_script).stem().string();
  std::string out;
  for (char c : stem) out += IsTargetChar(c) ? c : '_';
  return out.empty() ? "program" : out;
}

}  // namespace trainyard::spec
