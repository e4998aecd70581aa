// JobSpec: one description of a training job, whichever way it was written (estimator YAML/JSON,
// command-job YAML/JSON, or CLI flags). Plain data; parsing and validation live in parse.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace trainyard::spec {

struct Input {
  enum class Kind { kLiteral, kUriFolder, kUriFile };
  enum class Mode { kRoMount, kDownload };
  std::string name;
  Kind kind = Kind::kLiteral;
  std::string value;  // the literal (kLiteral) or an absolute path (kUriFolder/kUriFile)
  Mode mode = Mode::kRoMount;
  // A path to resolve at submit (runner/assets.h), as written: a data asset "azureml:NAME:V" or
  // "azureml:NAME@latest", a datastore path "azureml://datastores/NAME/paths/P", or an http(s)://
  // URL (uri_file; downloaded at submit, runner/download.h). `value` is empty until resolved;
  // ResolveAssets then sets it and clears `asset`.
  std::string asset;

  bool operator==(const Input&) const = default;
};

// A command job's output: a folder kept with the run (outputs/NAME), passed as ${{outputs.NAME}}.
struct Output {
  enum class Kind { kUriFolder, kUriFile, kCustomModel, kMlflowModel };
  std::string name;
  Kind kind = Kind::kUriFolder;
  std::string mode = "rw_mount";  // rw_mount or upload: both write into the kept folder
  // uri_file: the file's name inside outputs/NAME/ (the last part of `path`, else NAME).
  std::string file_name;

  bool operator==(const Output&) const = default;
};

struct ScriptParam {
  std::string flag;                  // e.g. "--lr"
  std::optional<std::string> value;  // nullopt: a bare flag; may contain ${{inputs.NAME}}

  bool operator==(const ScriptParam&) const = default;
};

struct JobSpec {
  std::string form = "estimator";  // "estimator" or "command"
  std::string origin;              // "job.yaml", "<flags>": for messages

  std::string source_directory;  // absolute, normalized
  std::string entry_script;      // relative to source_directory, normalized ("" in command form)
  std::vector<ScriptParam> script_params;  // in the order written
  std::vector<std::string> extra_args;     // appended after script_params (CLI --arg / --)
  std::vector<std::string> command;        // command form: argv words, ${{inputs.X}} unexpanded
  // Command form, `command` written as a string: run by `bash -c` with every ${{...}} substituted
  // shell-quoted (`command` is then empty). A list stays an argv vector without a shell.
  std::string shell_command;

  std::string compute_target = "local";
  std::string python;  // interpreter override ("" = resolve)
  std::vector<std::string> pip_packages;
  std::vector<std::string> conda_packages;
  std::string pip_requirements_file;  // relative to source_directory
  // A registered or curated environment as written ("azureml:NAME:V", "azureml:NAME@latest",
  // "azureml://registries/R/environments/NAME/versions/V"): resolved at submit (runner/assets.h).
  std::string registered_environment;
  // environment.image / environment.build (command form): the ranks run in this container image
  // (env/image.h, local targets). `image` as written; for build, the context folder (absolute)
  // and its Dockerfile (relative to it).
  std::string image;
  std::string image_build_context;
  std::string image_dockerfile;
  bool use_gpu = false;
  int node_count = 1;
  int process_count_per_node = 1;
  std::string distributed_backend;  // "" (none), "mpi" or "pytorch"
  std::vector<std::pair<std::string, std::string>> environment_variables;
  std::vector<Input> inputs;
  double max_run_duration_seconds = 0;  // 0: no limit
  std::string experiment_name = "default";
  std::string display_name;
  std::vector<std::pair<std::string, std::string>> tags;

  // Command form only (the hosted schema's fields that have no estimator equivalent).
  std::string job_name;     // `name`, the hosted job name: kept as the run's property "name"
  std::string description;  // kept as the run's property "description"
  std::vector<std::pair<std::string, std::string>> properties;      // run properties
  std::vector<Output> outputs;                                      // in the order written
  std::string shm_size;                                             // accepted, noted
  std::vector<std::pair<std::string, std::string>> queue_settings;  // accepted, noted

  // A sweep trial's parameter values (name, value as text), in the search space's order: what
  // ${{search_space.NAME}} stands for. Set by the sweep controller on each trial's spec (the
  // stored key `search_space_values`); empty for a job that is not a trial.
  std::vector<std::pair<std::string, std::string>> search_space_values;

  // In 64 bits: the product of two ints cannot overflow it.
  int64_t TotalProcesses() const {
    return static_cast<int64_t>(node_count) * static_cast<int64_t>(process_count_per_node);
  }
  const Input* FindInput(const std::string& name) const {
    for (const auto& in : inputs) {
      if (in.name == name) return &in;
    }
    return nullptr;
  }
  const Output* FindOutput(const std::string& name) const {
    for (const auto& out : outputs) {
      if (out.name == name) return &out;
    }
    return nullptr;
  }
  // Field-by-field equality (origin included).
  bool operator==(const JobSpec&) const = default;
};

}  // namespace trainyard::spec
