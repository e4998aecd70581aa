// The estimator form: source_directory + entry_script + script_params, as in Azure ML's
// Estimator.
#include "spec/fields.h"
#include "spec/parse.h"
#include "spec/read_spec.h"

namespace trainyard::spec {

bool SpecReader::ReadEstimatorField(const MapEntry& e) {
  const std::string& k = e.key;
  const Node& v = e.value;
  if (k == "source_directory") {
    ReadSourceDirectory(v, k);
  } else if (k == "entry_script") {
    auto path = ReadPathInSource(v, k);
    if (v.IsNull() || (path && path->empty())) p_->Add(v.where, k, "must not be empty");
    if (path) spec_.entry_script = *path;
  } else if (k == "script_params") {
    ReadScriptParams(v);
  } else if (k == "extra_args") {
    if (auto args = ReadStringList(v, k, *p_)) {
      spec_.extra_args = *args;
      for (size_t i = 0; i < args->size(); ++i) {
        references_.push_back({v.items[i].where, Index(k, i), (*args)[i]});
      }
    }
  } else if (k == "compute_target") {
    ReadTarget(v, k);
  } else if (k == "pip_packages") {
    if (auto list = ReadStringList(v, k, *p_)) spec_.pip_packages = *list;
  } else if (k == "conda_packages") {
    if (auto list = ReadStringList(v, k, *p_)) spec_.conda_packages = *list;
  } else if (k == "pip_requirements_file") {
    if (auto path = ReadPathInSource(v, k)) spec_.pip_requirements_file = *path;
  } else if (k == "python") {
    ReadPython(v, k);
  } else if (k == "use_gpu") {
    if (auto b = ReadBool(v, k, *p_)) spec_.use_gpu = *b;
  } else if (k == "node_count") {
    node_count_where_ = v.where;
    if (auto n = ReadCount(v, k, kMaxNodeCount, *p_)) spec_.node_count = *n;
  } else if (k == "process_count_per_node") {
    process_count_where_ = v.where;
    if (auto n = ReadCount(v, k, kMaxProcessesPerNode, *p_)) spec_.process_count_per_node = *n;
  } else if (k == "distributed_backend") {
    auto backend = ReadBackend(v, k, *p_);
    backend_error_ = !backend;
    if (backend) spec_.distributed_backend = *backend;
  } else if (k == "max_run_duration_seconds") {
    if (auto s = ReadSeconds(v, k, *p_)) spec_.max_run_duration_seconds = *s;
  } else {
    return false;
  }
  return true;
}

// An ordered map of flag -> scalar value, or null for a bare flag. Values keep their text as
// written ("0.01" stays "0.01").
void SpecReader::ReadScriptParams(const Node& n) {
  const std::string field = "script_params";
  if (!ExpectMap(n, field, *p_)) return;
  for (const MapEntry& e : n.entries) {
    std::string param = Bracket(field, e.key);
    if (e.key.empty()) {
      p_->Add(e.key_where, param, "the flag must not be empty");
      continue;
    }
    ScriptParam sp{e.key, std::nullopt};
    if (e.value.IsScalar()) {
      sp.value = e.value.text;
      references_.push_back({e.value.where, param, e.value.text});
    } else if (!e.value.IsNull()) {
      p_->Add(e.value.where, param,
              "expected a scalar value (or null for a bare flag), got " + Describe(e.value));
      continue;
    }
    spec_.script_params.push_back(std::move(sp));
  }
}

}  // namespace trainyard::spec
