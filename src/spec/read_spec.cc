#include "spec/read_spec.h"

#include <filesystem>
#include <map>
#include <utility>

#include "common/files.h"
#include "common/strings.h"
#include "spec/fields.h"
#include "spec/parse.h"

namespace trainyard::spec {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kSharedKeys = {
    "inputs",  "environment_variables", "experiment_name", "display_name", "tags",
    "$schema", "search_space_values"};
const std::vector<std::string> kEstimatorKeys = {"source_directory",
                                                 "entry_script",
                                                 "script_params",
                                                 "extra_args",
                                                 "compute_target",
                                                 "pip_packages",
                                                 "conda_packages",
                                                 "pip_requirements_file",
                                                 "python",
                                                 "use_gpu",
                                                 "node_count",
                                                 "process_count_per_node",
                                                 "distributed_backend",
                                                 "max_run_duration_seconds"};
const std::vector<std::string> kCommandKeys = {
    "type",       "code",         "command",        "environment", "compute",
    "resources",  "distribution", "limits",         "name",        "description",
    "properties", "outputs",      "queue_settings", "services",    "identity"};

// For a field of the other form, what to write instead.
const std::map<std::string, std::string>& Equivalents() {
  static const auto* kMap = new std::map<std::string, std::string>{
      {"source_directory", "code"},
      {"entry_script", "command"},
      {"script_params", "command"},
      {"extra_args", "command"},
      {"compute_target", "compute"},
      {"pip_packages", "environment.pip_packages"},
      {"conda_packages", "environment.conda_packages"},
      {"pip_requirements_file", "environment.pip_requirements_file"},
      {"python", "environment.python"},
      {"node_count", "resources.instance_count"},
      {"process_count_per_node", "distribution.process_count_per_instance"},
      {"distributed_backend", "distribution.type"},
      {"max_run_duration_seconds", "limits.timeout"},
      {"environment", "python, pip_packages, conda_packages or pip_requirements_file"},
      {"compute", "compute_target"},
      {"resources", "node_count"},
      {"distribution", "distributed_backend and process_count_per_node"},
      {"limits", "max_run_duration_seconds"},
  };
  return *kMap;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v) {
    if (x == s) return true;
  }
  return false;
}

std::vector<std::string> Concat(const std::vector<std::string>& a,
                                const std::vector<std::string>& b) {
  std::vector<std::string> out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// [A-Za-z0-9][A-Za-z0-9._-]{0,99}
bool IsValidExperimentName(const std::string& s) {
  if (s.empty() || s.size() > 100) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    bool punct = c == '.' || c == '_' || c == '-';
    if (!alnum && !(punct && i > 0)) return false;
  }
  return true;
}

// [A-Za-z0-9._-]+: the names the hosted service accepts for environment variables.
bool IsValidVariableName(const std::string& s) {
  for (char c : s) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && c != '.' && c != '_' && c != '-') return false;
  }
  return !s.empty();
}

}  // namespace

Form DetectForm(const Node& root) {
  return root.Find("command") || root.Find("code") || root.Find("type") ? Form::kCommand
                                                                        : Form::kEstimator;
}

SpecReader::SpecReader(std::string base_dir, Problems* problems)
    : base_dir_(std::move(base_dir)), p_(problems) {}

JobSpec SpecReader::Read(const Node& root, Form form) {
  spec_ = JobSpec{};
  references_.clear();
  spec_.form = form == Form::kCommand ? "command" : "estimator";
  // Inputs first, so that references to them can be checked wherever they are written.
  if (const MapEntry* inputs = root.Find("inputs")) ReadInputs(inputs->value);
  for (const MapEntry& e : root.entries) {
    if (e.key == "inputs" || e.key == "$schema") continue;
    if (ReadSharedField(e)) continue;
    bool known = form == Form::kCommand ? ReadCommandField(e) : ReadEstimatorField(e);
    if (!known) ReportMisplacedOrUnknown(e, form);
  }
  CheckRequired(root, form);
  CheckDistribution(form);
  CheckReferences();
  return spec_;
}

bool SpecReader::ReadSharedField(const MapEntry& e) {
  const Node& v = e.value;
  if (e.key == "environment_variables") {
    ReadEnvironmentVariables(v);
  } else if (e.key == "experiment_name") {
    auto name = ReadString(v, e.key, *p_);
    if (!name) return true;
    if (!IsValidExperimentName(*name)) {
      p_->Add(v.where, e.key,
              Quote(*name) +
                  " is not a valid name (1 to 100 letters, digits, '.', '_' or '-', "
                  "starting with a letter or digit)");
      return true;
    }
    spec_.experiment_name = *name;
  } else if (e.key == "display_name") {
    if (auto s = ReadString(v, e.key, *p_)) spec_.display_name = *s;
  } else if (e.key == "tags") {
    ReadTags(v);
  } else if (e.key == "search_space_values") {
    ReadStringPairs(v, e.key, &spec_.search_space_values);
  } else {
    return false;
  }
  return true;
}

void SpecReader::ReportMisplacedOrUnknown(const MapEntry& e, Form form) {
  const bool command = form == Form::kCommand;
  const auto& other = command ? kEstimatorKeys : kCommandKeys;
  if (Contains(other, e.key)) {
    std::string message = command ? "estimator-form field, not allowed in a command job"
                                  : "command-job field, not allowed in an estimator job";
    auto it = Equivalents().find(e.key);
    if (it != Equivalents().end()) message += " (use " + it->second + ")";
    p_->Add(e.key_where, e.key, message);
    return;
  }
  ReportUnknownField(e, "", Concat(command ? kCommandKeys : kEstimatorKeys, kSharedKeys), *p_);
}

void SpecReader::ReadEnvironmentVariables(const Node& n) {
  const std::string field = "environment_variables";
  if (!ExpectMap(n, field, *p_)) return;
  for (const MapEntry& e : n.entries) {
    std::string name_field = Child(field, e.key);
    if (e.key.empty()) {
      p_->Add(e.key_where, name_field, "variable name must not be empty");
      continue;
    }
    if (!IsValidVariableName(e.key)) {
      p_->Add(
          e.key_where, name_field,
          Quote(e.key) + " is not a valid variable name (letters, digits, '.', '-' and '_' only)");
      continue;
    }
    if (e.value.IsNull()) {
      spec_.environment_variables.emplace_back(e.key, "");
    } else if (auto value = ReadString(e.value, name_field, *p_)) {
      spec_.environment_variables.emplace_back(e.key, *value);
    }
  }
}

void SpecReader::ReadTags(const Node& n) {
  if (!ExpectMap(n, "tags", *p_)) return;
  for (const MapEntry& e : n.entries) {
    if (e.value.IsNull()) {
      spec_.tags.emplace_back(e.key, "");
    } else if (auto value = ReadString(e.value, Child("tags", e.key), *p_)) {
      spec_.tags.emplace_back(e.key, *value);
    }
  }
}

void SpecReader::ReadSourceDirectory(const Node& n, const std::string& field) {
  auto s = ReadString(n, field, *p_);
  if (n.IsNull() || (s && s->empty())) {
    p_->Add(n.where, field, "must not be empty");
    return;
  }
  if (s) spec_.source_directory = Resolve(n, *s);
}

void SpecReader::ReadTarget(const Node& n, const std::string& field) {
  auto s = ReadString(n, field, *p_);
  if (!s) return;
  // The hosted form names a compute azureml:NAME: here, the trainyard target NAME.
  if (field == "compute" && StartsWith(*s, "azureml:")) *s = s->substr(8);
  if (s->empty()) {
    p_->Add(n.where, field, "must not be empty");
    return;
  }
  spec_.compute_target = *s;
}

void SpecReader::ReadPython(const Node& n, const std::string& field) {
  auto s = ReadString(n, field, *p_);
  if (!s) return;
  // A bare name ("python3") is looked up on PATH later; a path is made absolute now.
  spec_.python = s->find('/') == std::string::npos ? *s : Resolve(n, *s);
}

std::optional<std::string> SpecReader::ReadPathInSource(const Node& n, const std::string& field) {
  auto s = ReadString(n, field, *p_);
  if (!s || s->empty()) return s;
  const std::string source = spec_.form == "command" ? "code" : "source_directory";
  fs::path path(*s);
  if (path.is_absolute()) {
    p_->Add(n.where, field, "must be a path relative to " + source + ", got " + Quote(*s));
    return std::nullopt;
  }
  std::string normal = path.lexically_normal().generic_string();
  if (normal == ".." || StartsWith(normal, "../")) {
    p_->Add(n.where, field, Quote(*s) + " is outside " + source);
    return std::nullopt;
  }
  if (normal == "." || normal.empty() || EndsWith(normal, "/")) {
    p_->Add(n.where, field, "must name a file, got " + Quote(*s));
    return std::nullopt;
  }
  return normal;
}

std::string SpecReader::Resolve(const Node& n, const std::string& path) const {
  fs::path p(ExpandHome(path));
  if (p.is_relative()) p = fs::path(n.from_flags ? AbsolutePath(".") : base_dir_) / p;
  return AbsolutePath(p.string());
}

void SpecReader::CheckRequired(const Node& root, Form form) {
  auto require = [&](const char* key) {
    if (!root.Find(key)) p_->Add(root.where, key, "required field is missing");
  };
  if (form == Form::kCommand) {
    require("command");  // no code: the command runs in an empty working folder
  } else {
    require("source_directory");
    require("entry_script");
  }
}

void SpecReader::CheckDistribution(Form form) {
  if (backend_error_ || !spec_.distributed_backend.empty() || spec_.TotalProcesses() <= 1) return;
  const bool estimator = form == Form::kEstimator;
  const bool nodes = spec_.node_count > 1;
  std::string field;
  if (nodes) {
    field = estimator ? "node_count" : "resources.instance_count";
  } else {
    field = estimator ? "process_count_per_node" : "distribution.process_count_per_instance";
  }
  const std::string& where = nodes ? node_count_where_ : process_count_where_;
  int count = nodes ? spec_.node_count : spec_.process_count_per_node;
  p_->Add(where, field,
          std::to_string(count) + " requires " +
              (estimator ? "distributed_backend" : "distribution.type") + " (mpi or pytorch)");
}

void SpecReader::CheckReferences() {
  std::map<std::string, std::string> names;
  for (const Input& in : spec_.inputs) names[in.name] = "";
  std::map<std::string, std::string> outputs;
  for (const Output& out : spec_.outputs) outputs[out.name] = "";
  // A sweep's trial: the search space's names (values do not matter here); a trial's stored spec:
  // its values.
  std::map<std::string, std::string> search_space;
  for (const std::string& name : search_space_names_) search_space[name] = "";
  for (const auto& [name, value] : spec_.search_space_values) search_space[name] = value;
  const bool trial = !search_space_names_.empty() || !spec_.search_space_values.empty();
  const bool command = spec_.form == "command";
  for (const Reference& ref : references_) {
    auto substituted =
        Substitute(ref.text, names, command ? &outputs : nullptr, trial ? &search_space : nullptr);
    if (!substituted.ok()) p_->Add(ref.where, ref.field, substituted.status().message());
  }
}

}  // namespace trainyard::spec
