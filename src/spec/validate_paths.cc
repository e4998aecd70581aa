// ValidatePaths: the checks of a parsed spec against the file system.
#include <algorithm>
#include <filesystem>
#include <system_error>

#include "common/strings.h"
#include "spec/entry.h"
#include "spec/fields.h"
#include "spec/parse.h"
#include "spec/problems.h"

namespace trainyard::spec {
namespace {

namespace fs = std::filesystem;

// Checks that `rel` names a regular file inside the folder `source` (lexically and after
// resolving symlinks).
void CheckFileInSource(const std::string& source, const std::string& source_field,
                       const std::string& rel, const std::string& field, const std::string& where,
                       Problems& p) {
  fs::path path(rel);
  if (path.is_absolute()) {
    p.Add(where, field, "must be a path relative to " + source_field + ", got " + Quote(rel));
    return;
  }
  std::string normal = path.lexically_normal().generic_string();
  if (normal == ".." || StartsWith(normal, "../")) {
    p.Add(where, field, Quote(rel) + " is outside " + source_field + " " + source);
    return;
  }
  std::error_code ec;
  fs::path full = fs::path(source) / path;
  fs::file_status st = fs::status(full, ec);
  if (!fs::exists(st)) {
    p.Add(where, field, Quote(rel) + " does not exist in " + source);
    return;
  }
  if (!fs::is_regular_file(st)) {
    p.Add(where, field, Quote(rel) + " is not a file (in " + source + ")");
    return;
  }
  fs::path real_source = fs::canonical(source, ec);
  fs::path real = ec ? fs::path() : fs::canonical(full, ec);
  if (ec) {
    p.Add(where, field, "cannot resolve " + full.string() + ": " + ec.message());
    return;
  }
  fs::path inside = real.lexically_relative(real_source);
  if (inside.empty() || *inside.begin() == "..") {
    p.Add(where, field,
          Quote(rel) + " resolves to " + real.string() + ", outside " + source_field + " " +
              real_source.string());
  }
}

void CheckInput(const Input& in, const std::string& where, Problems& p) {
  if (in.kind == Input::Kind::kLiteral) return;
  const std::string field = Child(Child("inputs", in.name), "path");
  std::error_code ec;
  fs::file_status st = fs::status(in.value, ec);
  if (!fs::exists(st)) {
    p.Add(where, field, Quote(in.value) + " does not exist");
  } else if (in.kind == Input::Kind::kUriFolder && !fs::is_directory(st)) {
    p.Add(where, field, Quote(in.value) + " is not a folder (type is uri_folder)");
  } else if (in.kind == Input::Kind::kUriFile && !fs::is_regular_file(st)) {
    p.Add(where, field, Quote(in.value) + " is not a file (type is uri_file)");
  }
}

}  // namespace

Status ValidatePaths(const JobSpec& spec) {
  Problems p;
  const bool command = spec.form == "command";
  const std::string source_field = command ? "code" : "source_directory";
  const std::string& where = spec.origin;
  const std::string& source = spec.source_directory;

  std::error_code ec;
  fs::file_status st = fs::status(source, ec);
  bool source_ok = false;
  if (source.empty() && command) {
    // No code: the command runs in an empty working folder.
    if (!spec.pip_requirements_file.empty()) {
      p.Add(where, "environment.pip_requirements_file", "needs code (the folder it is in)");
    }
  } else if (source.empty()) {
    p.Add(where, source_field, "must not be empty");
  } else if (!fs::exists(st)) {
    p.Add(where, source_field, Quote(source) + " does not exist");
  } else if (!fs::is_directory(st)) {
    p.Add(where, source_field, Quote(source) + " is not a folder");
  } else {
    source_ok = true;
  }

  if (source_ok && !command) {
    if (spec.entry_script.empty()) {
      p.Add(where, "entry_script", "must not be empty");
    } else if (ClassifyEntry(spec) == EntryKind::kCppTarget) {
      // A CMake project: entry_script names one of its executables (see spec/entry.h).
      std::vector<std::string> targets = CMakeExecutableTargets(source);
      if (std::find(targets.begin(), targets.end(), spec.entry_script) == targets.end()) {
        p.Add(where, "entry_script",
              Quote(spec.entry_script) + " is neither a file in " + source +
                  " nor an executable target of its CMakeLists.txt (" +
                  (targets.empty() ? std::string("it defines none with add_executable")
                                   : "add_executable targets: " + Join(targets, ", ")) +
                  ")" + DidYouMeanSuffix(spec.entry_script, targets));
      }
    } else {
      CheckFileInSource(source, source_field, spec.entry_script, "entry_script", where, p);
    }
  }
  if (source_ok && !spec.pip_requirements_file.empty()) {
    CheckFileInSource(source, source_field, spec.pip_requirements_file,
                      command ? "environment.pip_requirements_file" : "pip_requirements_file",
                      where, p);
  }
  for (const Input& in : spec.inputs) CheckInput(in, where, p);
  return p.ToStatus();
}

}  // namespace trainyard::spec
