// ToJson: the spec as JSON, in the form it came from, so that it parses back to the same spec.
#include <nlohmann/json.hpp>

#include "spec/parse.h"

namespace trainyard::spec {
namespace {

using Json = nlohmann::ordered_json;

Json PairsJson(const std::vector<std::pair<std::string, std::string>>& pairs) {
  Json j = Json::object();
  for (const auto& [k, v] : pairs) j[k] = v;
  return j;
}

// Literals as plain values; paths as {type, path, mode}.
Json InputsJson(const std::vector<Input>& inputs) {
  Json j = Json::object();
  for (const Input& in : inputs) {
    if (in.kind == Input::Kind::kLiteral) {
      j[in.name] = in.value;
      continue;
    }
    // An asset or datastore path not yet resolved is written as it was given.
    j[in.name] = {
        {"type", in.kind == Input::Kind::kUriFolder ? "uri_folder" : "uri_file"},
        {"path", in.asset.empty() ? in.value : in.asset},
        {"mode", in.mode == Input::Mode::kDownload ? "download" : "ro_mount"},
    };
  }
  return j;
}

// null for "no value" (no backend, no time limit), which parses back as the default.
Json OrNull(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }
Json OrNull(double seconds) { return seconds > 0 ? Json(seconds) : Json(nullptr); }

Json EstimatorJson(const JobSpec& spec) {
  Json params = Json::object();
  for (const ScriptParam& sp : spec.script_params) {
    params[sp.flag] = sp.value ? Json(*sp.value) : Json(nullptr);
  }
  return {
      {"source_directory", spec.source_directory},
      {"entry_script", spec.entry_script},
      {"script_params", params},
      {"extra_args", spec.extra_args},
      {"compute_target", spec.compute_target},
      {"python", spec.python},
      {"pip_packages", spec.pip_packages},
      {"conda_packages", spec.conda_packages},
      {"pip_requirements_file", spec.pip_requirements_file},
      {"use_gpu", spec.use_gpu},
      {"node_count", spec.node_count},
      {"process_count_per_node", spec.process_count_per_node},
      {"distributed_backend", OrNull(spec.distributed_backend)},
      {"environment_variables", PairsJson(spec.environment_variables)},
      {"inputs", InputsJson(spec.inputs)},
      {"max_run_duration_seconds", OrNull(spec.max_run_duration_seconds)},
      {"experiment_name", spec.experiment_name},
      {"display_name", spec.display_name},
      {"tags", PairsJson(spec.tags)},
  };
}

Json OutputsJson(const std::vector<Output>& outputs) {
  Json j = Json::object();
  for (const Output& out : outputs) {
    const char* type = out.kind == Output::Kind::kUriFolder     ? "uri_folder"
                       : out.kind == Output::Kind::kUriFile     ? "uri_file"
                       : out.kind == Output::Kind::kCustomModel ? "custom_model"
                                                                : "mlflow_model";
    Json o = {{"type", type}, {"mode", out.mode}};
    if (out.kind == Output::Kind::kUriFile) o["path"] = out.file_name;
    j[out.name] = o;
  }
  return j;
}

Json CommandJson(const JobSpec& spec) {
  Json j = {
      {"type", "command"},
      {"command", spec.shell_command.empty() ? Json(spec.command) : Json(spec.shell_command)},
      {"inputs", InputsJson(spec.inputs)},
      {"environment",
       {
           {"python", spec.python},
           {"pip_packages", spec.pip_packages},
           {"conda_packages", spec.conda_packages},
           {"pip_requirements_file", spec.pip_requirements_file},
       }},
      {"environment_variables", PairsJson(spec.environment_variables)},
      {"compute", spec.compute_target},
      {"resources", {{"instance_count", spec.node_count}}},
      {"distribution",
       {
           {"type", OrNull(spec.distributed_backend)},
           {"process_count_per_instance", spec.process_count_per_node},
       }},
      {"limits", {{"timeout", OrNull(spec.max_run_duration_seconds)}}},
      {"experiment_name", spec.experiment_name},
      {"display_name", spec.display_name},
      {"tags", PairsJson(spec.tags)},
      {"outputs", OutputsJson(spec.outputs)},
      {"properties", PairsJson(spec.properties)},
  };
  // Optional fields only when given: a job without code runs in an empty folder.
  if (!spec.source_directory.empty()) j["code"] = spec.source_directory;
  if (!spec.job_name.empty()) j["name"] = spec.job_name;
  if (!spec.description.empty()) j["description"] = spec.description;
  if (!spec.shm_size.empty()) j["resources"]["shm_size"] = spec.shm_size;
  if (!spec.queue_settings.empty()) j["queue_settings"] = PairsJson(spec.queue_settings);
  // The image, as written: a build context (which reads back as the same build), else a name.
  if (!spec.image_build_context.empty()) {
    j["environment"]["build"] = {{"path", spec.image_build_context},
                                 {"dockerfile_path", spec.image_dockerfile}};
  } else if (!spec.image.empty()) {
    j["environment"]["image"] = spec.image;
  }
  // A registered environment not yet resolved (a sweep's trial) is written as it was given.
  if (!spec.registered_environment.empty()) j["environment"] = spec.registered_environment;
  return j;
}

}  // namespace

std::string ToJson(const JobSpec& spec) {
  Json j = spec.form == "command" ? CommandJson(spec) : EstimatorJson(spec);
  if (!spec.search_space_values.empty()) {
    j["search_space_values"] = PairsJson(spec.search_space_values);
  }
  return j.dump(2, ' ', false, Json::error_handler_t::replace);
}

}  // namespace trainyard::spec
