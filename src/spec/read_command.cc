// The command-job form: code + command, with environment, compute, resources, distribution and
// limits, as in Azure ML's command job YAML.
#include "common/strings.h"
#include "spec/fields.h"
#include "spec/parse.h"
#include "spec/read_spec.h"

namespace trainyard::spec {

bool SpecReader::ReadCommandField(const MapEntry& e) {
  const std::string& k = e.key;
  const Node& v = e.value;
  if (k == "code") {
    ReadSourceDirectory(v, k);
  } else if (k == "type") {
    auto type = ReadString(v, k, *p_);
    if (type && *type != "command") {
      p_->Add(v.where, k,
              Quote(*type) + " jobs are not supported (only type: command; sweeps are issue 15)");
    }
  } else if (k == "name" || k == "description") {
    auto text = ReadString(v, k, *p_);
    if (text) (k == "name" ? spec_.job_name : spec_.description) = *text;
  } else if (k == "properties" || k == "queue_settings") {
    ReadStringPairs(v, k, k == "properties" ? &spec_.properties : &spec_.queue_settings);
  } else if (k == "outputs") {
    ReadOutputs(v);
  } else if (k == "services") {
    if (!v.IsNull()) {
      p_->Add(e.key_where, k,
              "interactive services (jupyter, ssh, tensorboard, vscode) are not supported; follow "
              "a run with `trainyard logs RUN --follow` and `trainyard metrics RUN`");
    }
  } else if (k == "identity") {
    ReadIdentity(v);
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

// A string runs with `bash -c` (as on the hosted service); a list of words is an argv vector run
// without a shell (trainyard's extension).
void SpecReader::ReadCommand(const Node& n) {
  const std::string field = "command";
  if (n.IsScalar()) {
    if (Trim(n.text).empty()) {
      p_->Add(n.where, field, "must not be empty");
      return;
    }
    spec_.shell_command = n.text;
    references_.push_back({n.where, field, n.text});
    return;
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
      // A registered (`trainyard env create`) or curated environment: resolved at submit.
      spec_.registered_environment = n.text;
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
  static const std::vector<std::string> kKeys = {
      "python", "pip_packages", "conda_packages", "pip_requirements_file", "image", "build"};
  // environment.build: {path: FOLDER, dockerfile_path: FILE} (the hosted schema; the Dockerfile
  // defaults to FOLDER/Dockerfile), built by podman from local images at submit.
  auto read_build = [this](const Node& b, const std::string& bfield) {
    if (!ExpectMap(b, bfield, *p_)) return;
    std::string dockerfile = "Dockerfile";
    const Node* path = nullptr;
    for (const MapEntry& e : b.entries) {
      std::string sub = Child(bfield, e.key);
      if (e.key == "path") {
        path = &e.value;
      } else if (e.key == "dockerfile_path") {
        if (auto f = ReadString(e.value, sub, *p_)) dockerfile = *f;
      } else {
        ReportUnknownField(e, bfield, {"path", "dockerfile_path"}, *p_);
      }
    }
    if (path == nullptr) {
      p_->Add(b.where, Child(bfield, "path"), "required field is missing");
      return;
    }
    auto dir = ReadString(*path, Child(bfield, "path"), *p_);
    if (!dir) return;
    if (StartsWith(*dir, "http://") || StartsWith(*dir, "https://") ||
        StartsWith(*dir, "azureml:")) {
      p_->Add(
          path->where, Child(bfield, "path"),
          "must be a local folder (trainyard never fetches a build context), got " + Quote(*dir));
      return;
    }
    spec_.image_build_context = Resolve(*path, *dir);
    spec_.image_dockerfile = dockerfile;
  };
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
    } else if (e.key == "image") {
      if (auto image = ReadString(e.value, sub, *p_)) {
        if (Trim(*image).empty()) {
          p_->Add(e.value.where, sub, "must not be empty");
        } else {
          spec_.image = *image;
        }
      }
    } else if (e.key == "build") {
      read_build(e.value, sub);
    } else if (e.key == "conda_file") {
      p_->Add(e.key_where, sub,
              "a conda file is not supported; give the packages with environment.conda_packages "
              "or pip_packages, or run an image that has them (environment.image)");
    } else {
      ReportUnknownField(e, field, kKeys, *p_);
    }
  }
  const bool image = !spec_.image.empty() || !spec_.image_build_context.empty();
  if (image && !spec_.image.empty() && !spec_.image_build_context.empty()) {
    p_->Add(n.where, field, "give either image or build, not both");
  }
  if (image && (!spec_.python.empty() || !spec_.pip_packages.empty() ||
                !spec_.conda_packages.empty() || !spec_.pip_requirements_file.empty())) {
    p_->Add(n.where, field,
            "an image brings its own interpreter and packages: python, pip_packages, "
            "conda_packages and pip_requirements_file do not go with image or build (put them in "
            "the image's Dockerfile)");
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
    } else if (e.key == "shm_size") {
      if (auto s = ReadString(e.value, Child(field, e.key), *p_)) spec_.shm_size = *s;
    } else if (e.key == "instance_type" || e.key == "properties") {
      p_->Add(e.key_where, Child(field, e.key),
              "not supported: a trainyard target decides the machines (resources.instance_count "
              "and the target's options)");
    } else {
      ReportUnknownField(e, field, {"instance_count", "shm_size"}, *p_);
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

// A map of names to scalar values (properties, queue_settings).
void SpecReader::ReadStringPairs(const Node& n, const std::string& field,
                                 std::vector<std::pair<std::string, std::string>>* out) {
  if (!ExpectMap(n, field, *p_)) return;
  for (const MapEntry& e : n.entries) {
    if (e.value.IsNull()) {
      out->emplace_back(e.key, "");
    } else if (auto value = ReadString(e.value, Child(field, e.key), *p_)) {
      out->emplace_back(e.key, *value);
    }
  }
}

// identity: runs here always run as the user who submitted them; user_identity is that, the
// cloud identities (managed, aml_token) have nothing to stand for.
void SpecReader::ReadIdentity(const Node& n) {
  const std::string field = "identity";
  if (!ExpectMap(n, field, *p_)) return;
  for (const MapEntry& e : n.entries) {
    if (e.key != "type") {
      ReportUnknownField(e, field, {"type"}, *p_);
      continue;
    }
    auto type = ReadString(e.value, Child(field, "type"), *p_);
    if (type && *type != "user_identity") {
      p_->Add(e.value.where, Child(field, "type"),
              Quote(*type) +
                  " is not supported: runs run as the user who submits them (user_identity)");
    }
  }
}

// outputs: NAME -> null (a uri_folder) or {type, mode, path}; each a folder kept with the run.
void SpecReader::ReadOutputs(const Node& n) {
  if (n.IsNull()) return;
  if (!n.IsMap()) {
    p_->Add(n.where, "outputs", "expected a map of output names, got " + Describe(n));
    return;
  }
  static const std::vector<std::string> kTypes = {"uri_folder", "uri_file", "custom_model",
                                                  "mlflow_model"};
  static const std::vector<std::string> kModes = {"rw_mount", "upload"};
  for (const MapEntry& e : n.entries) {
    const std::string field = Child("outputs", e.key);
    if (!IsIdentifier(e.key)) {
      p_->Add(e.key_where, field,
              "invalid output name (letters, digits and '_', not starting with a digit)");
    }
    if (spec_.FindOutput(e.key) != nullptr) p_->Add(e.key_where, field, "defined twice");
    Output out;
    out.name = e.key;
    std::string path;
    const Node& v = e.value;
    if (!v.IsNull() && !ExpectMap(v, field, *p_)) {
      spec_.outputs.push_back(std::move(out));
      continue;
    }
    for (const MapEntry& f : v.entries) {
      const std::string sub = Child(field, f.key);
      auto text = ReadString(f.value, sub, *p_);
      if (f.key == "type") {
        if (!text) continue;
        if (*text == "uri_folder") {
          out.kind = Output::Kind::kUriFolder;
        } else if (*text == "uri_file") {
          out.kind = Output::Kind::kUriFile;
        } else if (*text == "custom_model") {
          out.kind = Output::Kind::kCustomModel;
        } else if (*text == "mlflow_model") {
          out.kind = Output::Kind::kMlflowModel;
        } else {
          p_->Add(f.value.where, sub,
                  "unknown type " + Quote(*text) +
                      " (expected uri_folder, uri_file, custom_model or mlflow_model)" +
                      DidYouMeanSuffix(*text, kTypes));
        }
      } else if (f.key == "mode") {
        if (!text) continue;
        if (*text == "rw_mount" || *text == "upload") {
          out.mode = *text;
        } else {
          p_->Add(f.value.where, sub,
                  "unknown mode " + Quote(*text) + " (expected rw_mount or upload)" +
                      DidYouMeanSuffix(*text, kModes));
        }
      } else if (f.key == "path") {
        if (text) path = *text;
      } else {
        ReportUnknownField(f, field, {"type", "mode", "path"}, *p_);
      }
    }
    if (!path.empty()) {
      if (out.kind != Output::Kind::kUriFile) {
        p_->Add(v.where, Child(field, "path"),
                "not supported: outputs are kept with the run (outputs/" + e.key +
                    "/, listed by `trainyard files`, fetched by `trainyard download`)");
      } else {
        std::string base = path.substr(path.find_last_of('/') + 1);
        if (base.empty() || base == "." || base == "..") {
          p_->Add(v.where, Child(field, "path"), "must end with a file name, got " + Quote(path));
        } else {
          out.file_name = base;
        }
      }
    }
    if (out.kind == Output::Kind::kUriFile && out.file_name.empty()) out.file_name = e.key;
    spec_.outputs.push_back(std::move(out));
  }
}

}  // namespace trainyard::spec
