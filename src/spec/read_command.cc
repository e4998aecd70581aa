// The command-job form: code + command, with environment, compute, resources, distribution and
// limits, as in Azure ML's command job YAML.
#include "spec/fields.h"
#include "spec/parse.h"
#include "spec/read_spec.h"

namespace trainyard::spec {

bool SpecReader::ReadCommandField(const MapEntry& e) {
  const std::string& k = e.key;
  const Node& v = e.value;
  if (k == "code") {
    ReadSourceDirectory(v, k);
  } else if (k == "command") {
    ReadCommand(v);
  } else if (k == "environment") {
    ReadEnvironment(v);
  } else if (k == "compute") {
    ReadTarget(v, k);
  } else if (k == "resources") {
    ReadResources(v);
  } else if (k == "distribution") {
    ReadDistribution(v);
  } else if (k == "limits") {
    ReadLimits(v);
  } else {
    return false;
  }
  return true;
}

// A string split into words like a shell would (without expansion), or a list of words.
void SpecReader::ReadCommand(const Node& n) {
  const std::string field = "command";
  if (n.IsScalar()) {
    auto words = SplitCommand(n.text);
    if (!words.ok()) {
      p_->Add(n.where, field, words.status().message());
      return;
    }
    spec_.command = *words;
    for (const auto& w : spec_.command) references_.push_back({n.where, field, w});
  } else if (n.IsList()) {
    auto words = ReadStringList(n, field, *p_);
    if (!words) return;
    spec_.command = *words;
    for (size_t i = 0; i < words->size(); ++i) {
      references_.push_back({n.items[i].where, Index(field, i), (*words)[i]});
    }
  } else if (!n.IsNull()) {
    p_->Add(n.where, field, "expected a string or a list of strings, got " + Describe(n));
    return;
  }
  if (spec_.command.empty()) p_->Add(n.where, field, "must not be empty");
}

// Either a python interpreter path, or a map of python/pip_packages/conda_packages/
// pip_requirements_file.
void SpecReader::ReadEnvironment(const Node& n) {
  const std::string field = "environment";
  if (n.IsScalar()) {
    if (n.text.rfind("azureml:", 0) == 0) {
      p_->Add(n.where, field,
              "registered environments (" + Quote(n.text) +
                  ") are not supported; give a python path or a map with python, pip_packages, "
                  "conda_packages, pip_requirements_file");
      return;
    }
    ReadPython(n, field);
    return;
  }
  if (n.IsList()) {
    p_->Add(n.where, field, "expected a python path or a map, got " + Describe(n));
    return;
  }
  if (!n.IsMap()) return;
  static const std::vector<std::string> kKeys = {"python", "pip_packages", "conda_packages",
                                                 "pip_requirements_file"};
  for (const MapEntry& e : n.entries) {
    std::string sub = Child(field, e.key);
    if (e.key == "python") {
      ReadPython(e.value, sub);
    } else if (e.key == "pip_packages") {
      if (auto list = ReadStringList(e.value, sub, *p_)) spec_.pip_packages = *list;
    } else if (e.key == "conda_packages") {
      if (auto list = ReadStringList(e.value, sub, *p_)) spec_.conda_packages = *list;
    } else if (e.key == "pip_requirements_file") {
      if (auto path = ReadPathInSource(e.value, sub)) spec_.pip_requirements_file = *path;
    } else {
      ReportUnknownField(e, field, kKeys, *p_);
    }
  }
}

void SpecReader::ReadResources(const Node& n) {
  const std::string field = "resources";
  if (!ExpectMap(n, field, *p_)) return;
  for (const MapEntry& e : n.entries) {
    if (e.key == "instance_count") {
      node_count_where_ = e.value.where;
      if (auto c = ReadCount(e.value, Child(field, e.key), kMaxNodeCount, *p_))
        spec_.node_count = *c;
    } else {
      ReportUnknownField(e, field, {"instance_count"}, *p_);
    }
  }
}

void SpecReader::ReadDistribution(const Node& n) {
  const std::string field = "distribution";
  if (!ExpectMap(n, field, *p_)) return;
  for (const MapEntry& e : n.entries) {
    std::string sub = Child(field, e.key);
    if (e.key == "type") {
      auto backend = ReadBackend(e.value, sub, *p_);
      backend_error_ = !backend;
      if (backend) spec_.distributed_backend = *backend;
    } else if (e.key == "process_count_per_instance") {
      process_count_where_ = e.value.where;
      if (auto c = ReadCount(e.value, sub, kMaxProcessesPerNode, *p_))
        spec_.process_count_per_node = *c;
    } else {
      ReportUnknownField(e, field, {"type", "process_count_per_instance"}, *p_);
    }
  }
}

void SpecReader::ReadLimits(const Node& n) {
  const std::string field = "limits";
  if (!ExpectMap(n, field, *p_)) return;
  for (const MapEntry& e : n.entries) {
    if (e.key == "timeout") {
      if (auto s = ReadSeconds(e.value, Child(field, e.key), *p_)) {
        spec_.max_run_duration_seconds = *s;
      }
    } else {
      ReportUnknownField(e, field, {"timeout"}, *p_);
    }
  }
}

}  // namespace trainyard::spec
