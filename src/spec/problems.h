// Problems: the validation errors found in a job description, collected so that all of them are
// reported at once (internal to the spec module).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainyard::spec {

class Problems {
 public:
  // Adds "where: field: message"; empty parts are left out.
  void Add(const std::string& where, const std::string& field, const std::string& message);
  bool Empty() const { return lines_.empty(); }
  size_t Count() const { return lines_.size(); }
  // OK when there are none, else InvalidArgument with one problem per line.
  Status ToStatus() const;

  // From now on, a non-empty field is reported as `prefix.field`, unless its first part (before
  // '.' or '[') is one of `except`: a sweep's trial is read as a job, its fields named
  // `trial.command`, while the sweep's own `inputs` keep their names. An empty prefix stops it.
  void SetFieldPrefix(std::string prefix, std::vector<std::string> except = {});

 private:
  std::vector<std::string> lines_;
  std::string prefix_;
  std::vector<std::string> except_;
};

// A string in double quotes with JSON-style escapes, for messages: Quote("a\"b") == "\"a\\\"b\"".
std::string Quote(const std::string& s);

// Field paths for messages: Child("resources", "instance_count") == "resources.instance_count",
// Child("inputs", "my-data") == "inputs[\"my-data\"]", Bracket("script_params", "--lr") ==
// "script_params[\"--lr\"]", Index("command", 2) == "command[2]".
std::string Child(const std::string& parent, const std::string& key);
std::string Bracket(const std::string& parent, const std::string& key);
std::string Index(const std::string& parent, size_t i);

// [A-Za-z_][A-Za-z0-9_]*
bool IsIdentifier(const std::string& s);

}  // namespace trainyard::spec
