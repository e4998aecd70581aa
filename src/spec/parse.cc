// ParseJobText, ParseJobFile, ParseFlags: document -> tree -> overrides -> SpecReader.
#include "spec/parse.h"

#include <cstdint>
#include <filesystem>
#include <system_error>

#include "common/files.h"
#include "spec/overrides.h"
#include "spec/problems.h"
#include "spec/read_spec.h"
#include "spec/tree.h"

namespace trainyard::spec {
namespace {

// Applies the overrides to `root` and reads it. `origin` names the document in messages.
Result<JobSpec> ReadTree(Node root, const std::string& origin, const std::string& base_dir,
                         const Overrides& overrides, Problems& p) {
  ApplySets(overrides.sets, root, p);
  Form form = DetectForm(root);
  ApplyFlags(overrides, form, root, p);
  CheckNoNul(root, &p);
  SpecReader reader(AbsolutePath(base_dir), &p);
  JobSpec spec = reader.Read(root, form);
  spec.origin = origin;
  RETURN_IF_ERROR(p.ToStatus());
  return spec;
}

std::string TooLarge(uintmax_t size) {
  return "the job file is " + std::to_string(size) + " bytes; job files are limited to " +
         std::to_string(kMaxJobFileBytes) + " bytes (1 MiB)";
}

}  // namespace

Node LoadTopLevelMap(const std::string& text, const std::string& origin, const std::string& what,
                     Problems* p) {
  if (text.size() > kMaxJobFileBytes && origin != kStoredSpecOrigin) {
    p->Add(origin, "", TooLarge(text.size()));
    return Node{};
  }
  Node root = LoadDocument(text, origin, p);
  if (!p->Empty() && root.IsNull()) return Node{};  // a syntax error
  if (root.IsNull()) {
    p->Add(origin, "", "the document is empty (expected a map of " + what + " fields)");
    return Node{};
  }
  if (!root.IsMap()) {
    p->Add(root.where, "",
           "expected a map of " + what + " fields at the top level, got " + Describe(root));
    return Node{};
  }
  root.where = origin;  // missing fields are reported against the document as a whole
  return root;
}

Result<std::string> ReadJobFile(const std::string& path, std::string* base_dir) {
  // A regular file is measured before it is read, so that a huge one costs nothing.
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) {
    auto size = std::filesystem::file_size(path, ec);
    if (!ec && size > kMaxJobFileBytes) return InvalidArgument(path + ": " + TooLarge(size));
  }
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  *base_dir = std::filesystem::path(AbsolutePath(path)).parent_path().string();
  return text;
}

Result<JobSpec> ParseJobText(const std::string& text, const std::string& origin,
                             const std::string& base_dir, const Overrides& overrides) {
  Problems p;
  Node root = LoadTopLevelMap(text, origin, "job", &p);
  if (root.IsNull()) return p.ToStatus();
  return ReadTree(std::move(root), origin, base_dir, overrides, p);
}

Result<JobSpec> ParseJobFile(const std::string& path, const Overrides& overrides) {
  std::string base_dir;
  ASSIGN_OR_RETURN(std::string text, ReadJobFile(path, &base_dir));
  return ParseJobText(text, path, base_dir, overrides);
}

Result<JobSpec> ParseFlags(const Overrides& overrides) {
  const std::string origin = "<flags>";
  Node root = MapNode(origin, true);
  // `--entry train.py` alone runs train.py from the current directory.
  if (overrides.entry && !overrides.source) {
    root.Set("source_directory", origin, ScalarNode(".", origin, true));
  }
  Problems p;
  return ReadTree(std::move(root), origin, AbsolutePath("."), overrides, p);
}

}  // namespace trainyard::spec
