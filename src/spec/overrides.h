// Merging CLI overrides into a document tree before it is validated (internal to the spec
// module). Every node added is labelled with its flag ("--set node_count=2"), so that the values
// validate like the file's and problems name the flag.
#pragma once

#include <string>
#include <vector>

#include "spec/parse.h"
#include "spec/problems.h"
#include "spec/read_spec.h"
#include "spec/tree.h"

namespace trainyard::spec {

// Splits "FIELD=VALUE" into the field path and the value text: `resources.instance_count=2` ->
// {"resources", "instance_count"}, "2"; `script_params["--lr"]=0.1` -> {"script_params", "--lr"},
// "0.1". Bracket keys are double- or single-quoted (or bare up to "]").
struct SetOverride {
  std::vector<std::string> path;
  std::string value;
};
Result<SetOverride> ParseSetOverride(const std::string& text);

// Applies each --set FIELD=VALUE to `root` (a map); VALUE is parsed as YAML.
void ApplySets(const std::vector<std::string>& sets, Node& root, Problems& problems);

// Applies the named flags (--source, --entry, --arg, --experiment, --target, --timeout, --env,
// --input) for a job of `form`.
void ApplyFlags(const Overrides& overrides, Form form, Node& root, Problems& problems);

}  // namespace trainyard::spec
