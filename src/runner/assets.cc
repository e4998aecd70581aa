#include "runner/assets.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/strings.h"
#include "runner/download.h"
#include "spec/fields.h"
#include "spec/tree.h"

namespace trainyard::runner {
namespace fs = std::filesystem;
using nlohmann::json;
using spec::Node;
using spec::Problems;
using spec::Quote;

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Folder(const std::string& file) {
  return fs::path(AbsolutePath(file)).parent_path().string();
}

// A name and a version ("" = latest) from "azureml:NAME:V", "azureml:NAME@latest" or, for
// environments, "azureml://registries/R/environments/NAME/versions/V" (or /labels/latest).
struct Reference {
  std::string name;
  std::string version;   // "" = latest
  std::string registry;  // "" = the workspace
};

Result<Reference> ParseReference(const std::string& text, const std::string& field,
                                 const std::string& kind_plural) {
  Reference r;
  const std::string registries = "azureml://registries/";
  if (StartsWith(text, registries)) {
    // R/environments/NAME/versions/V | R/environments/NAME/labels/latest
    std::vector<std::string> parts = Split(text.substr(registries.size()), '/');
    if (parts.size() == 5 && parts[1] == kind_plural && !parts[0].empty() && !parts[2].empty() &&
        ((parts[3] == "versions" && !parts[4].empty()) ||
         (parts[3] == "labels" && parts[4] == "latest"))) {
      r.registry = parts[0];
      r.name = parts[2];
      r.version = parts[3] == "versions" ? parts[4] : "";
      return r;
    }
    return InvalidArgument(field + ": " + Quote(text) + " is not azureml://registries/REGISTRY/" +
                           kind_plural + "/NAME/versions/VERSION (or /labels/latest)");
  }
  if (StartsWith(text, "azureml://") || StartsWith(text, "azureml:/")) {
    return InvalidArgument(field + ": " + Quote(text) +
                           " is not supported (give azureml:NAME:VERSION or azureml:NAME@latest)");
  }
  std::string rest = text.substr(std::string("azureml:").size());
  if (size_t at = rest.find('@'); at != std::string::npos) {
    r.name = rest.substr(0, at);
    std::string label = rest.substr(at + 1);
    if (label != "latest") {
      return InvalidArgument(field + ": " + Quote(text) + ": the only label is @latest");
    }
  } else if (size_t colon = rest.rfind(':'); colon != std::string::npos) {
    r.name = rest.substr(0, colon);
    r.version = rest.substr(colon + 1);
  } else {
    r.name = rest;
  }
  if (r.name.empty() || r.name.find(':') != std::string::npos ||
      (rest.find('@') == std::string::npos && r.version.empty())) {
    return InvalidArgument(field + ": " + Quote(text) +
                           " needs a version: azureml:NAME:VERSION or azureml:NAME@latest");
  }
  return r;
}

// The hosted curated environments trainyard runs on the job's own interpreter.
enum class Curated { kNo, kLocal, kRefused };
// In the hosted `azureml` registry they go without the prefix (sklearn-1.5, acpt-pytorch-2.2-...).
Curated ClassifyCurated(const std::string& name, const std::string& registry) {
  std::string n = Lower(name);
  if (registry == "azureml" && !StartsWith(n, "azureml-")) n = "azureml-" + n;
  if (!StartsWith(n, "azureml-")) return Curated::kNo;
  if (n.find("tensorflow") != std::string::npos) return Curated::kRefused;
  for (const char* p :
       {"azureml-sklearn-", "azureml-pytorch-", "azureml-acpt-pytorch-", "azureml-minimal-"}) {
    if (StartsWith(n, p)) return Curated::kLocal;
  }
  return Curated::kNo;
}

// Dependencies of a conda file: python=X, pip's list, and the other conda packages.
Status ReadCondaFile(const Node& doc, const std::string& origin, json* def) {
  Problems p;
  if (!doc.IsMap()) return InvalidArgument(origin + ": a conda file must be a map");
  std::vector<std::string> pip, conda, channels;
  std::string python;
  for (const auto& e : doc.entries) {
    if (e.key == "channels") {
      if (auto list = spec::ReadStringList(e.value, "channels", p)) channels = *list;
    } else if (e.key == "dependencies" && e.value.IsList()) {
      for (const Node& d : e.value.items) {
        if (d.IsScalar()) {
          std::string lower = Lower(d.text);
          if (StartsWith(lower, "python") &&
              (lower.size() == 6 || std::string("=<>! ").find(lower[6]) != std::string::npos)) {
            python = Trim(d.text.substr(6));
            while (!python.empty() && std::string("=<>! ").find(python[0]) != std::string::npos)
              python.erase(0, 1);
          } else if (lower == "pip" || StartsWith(lower, "pip=") || StartsWith(lower, "pip<") ||
                     StartsWith(lower, "pip>")) {
            // pip itself: the environment has one.
          } else {
            conda.push_back(d.text);
          }
        } else if (d.IsMap() && d.Find("pip")) {
          if (auto list = spec::ReadStringList(d.Find("pip")->value, "dependencies.pip", p))
            pip.insert(pip.end(), list->begin(), list->end());
        } else {
          p.Add(d.where, "dependencies", "expected a package or {pip: [...]}");
        }
      }
    } else if (e.key == "dependencies") {
      p.Add(e.value.where, "dependencies", "expected a list");
    }
    // name, prefix, variables: not used.
  }
  RETURN_IF_ERROR(p.ToStatus());
  (*def)["python"] = python;
  (*def)["pip"] = pip;
  (*def)["conda"] = conda;
  (*def)["channels"] = channels;
  return Status::Ok();
}

Result<Node> LoadYaml(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  Problems p;
  Node doc = spec::LoadDocument(text, path, &p);
  RETURN_IF_ERROR(p.ToStatus());
  if (!doc.IsMap()) return InvalidArgument(path + ": expected a map");
  return doc;
}

std::string TypeOf(const std::string& path) {
  return IsDirectory(path) ? "uri_folder" : "uri_file";
}

Status ResolveEnvironment(store::Workspace* ws, spec::JobSpec* spec,
                          std::vector<std::string>* notes) {
  const std::string& text = spec->registered_environment;
  ASSIGN_OR_RETURN(Reference ref, ParseReference(text, "environment", "environments"));
  switch (ClassifyCurated(ref.name, ref.registry)) {
    case Curated::kRefused:
      return InvalidArgument("environment: " + Quote(text) +
                             ": TensorFlow environments are not supported (trainyard runs "
                             "PyTorch); give a python path or environment.pip_packages");
    case Curated::kLocal:
      notes->push_back("environment " + text +
                       ": a hosted curated environment, run on this machine's interpreter "
                       "(Debian's python3 with torch and scikit-learn, or the job's python) "
                       "instead of its image; nothing is installed (docs/jobs.md)");
      return Status::Ok();
    case Curated::kNo: break;
  }
  auto found = ws->GetAsset(store::AssetKind::kEnvironment, ref.name, ref.version);
  if (!found.ok()) {
    return Status(found.status().code(), "environment: " + Quote(text) + ": " +
                                             found.status().message() +
                                             "; register one with `trainyard env create NAME "
                                             "--file env.yml`");
  }
  json def = json::parse(found->definition_json);
  std::string shown = ref.name + ":" + found->version;
  const bool has_packages = !def.value("pip", std::vector<std::string>()).empty() ||
                            !def.value("conda", std::vector<std::string>()).empty();
  if ((!def.value("image", "").empty() || def.contains("build")) && has_packages) {
    return InvalidArgument("environment: registered environment " + shown +
                           " has an image and a conda_file: installing a conda file into an "
                           "image is not supported; put the packages in the image's Dockerfile "
                           "(build) or register the conda_file alone");
  }
  if (!def.value("image", "").empty()) {
    spec->image = def.value("image", "");
    notes->push_back("environment " + text + ": registered environment " + shown + ", the image " +
                     spec->image);
    return Status::Ok();
  }
  if (def.contains("build")) {
    spec->image_build_context = def["build"].value("path", "");
    spec->image_dockerfile = def["build"].value("dockerfile_path", "Dockerfile");
    notes->push_back("environment " + text + ": registered environment " + shown +
                     ", an image built from " + spec->image_build_context + "/" +
                     spec->image_dockerfile);
    return Status::Ok();
  }
  std::vector<std::string> pip = def.value("pip", std::vector<std::string>());
  std::vector<std::string> conda = def.value("conda", std::vector<std::string>());
  std::string python = def.value("python", "");
  std::string note = "environment " + text + ": registered environment " + shown;
  if (!conda.empty()) {
    if (!python.empty()) conda.insert(conda.begin(), "python=" + python);
    if (!pip.empty()) conda.push_back("pip");
    spec->conda_packages = conda;
    spec->pip_packages = pip;
    note += ", a conda environment (" + Join(conda, " ") + ")" +
            (pip.empty() ? "" : " with pip " + Join(pip, " "));
  } else {
    spec->pip_packages = pip;
    note += pip.empty() ? ", no packages" : ", pip packages " + Join(pip, " ");
    if (!python.empty()) {
      note += "; its conda_file asks python=" + python +
              ": the run uses the job's interpreter (trainyard installs no Python versions "
              "without conda packages)";
    }
  }
  notes->push_back(note);
  return Status::Ok();
}

// A web URL (the input's path, or a data asset's): downloaded into the workspace's download
// cache, or revalidated there (runner/download.h); the input is the cached file.
Status ResolveWebInput(store::Workspace* ws, spec::Input* in, const std::string& url,
                       const std::string& what, std::vector<std::string>* notes) {
  const std::string field = "inputs." + in->name + ".path";
  if (in->kind != spec::Input::Kind::kUriFile) {
    return InvalidArgument(field + ": " + Quote(url) + (what.empty() ? "" : " (" + what + ")") +
                           ": a web URL names one file: the input's type must be uri_file");
  }
  auto fetched = FetchToCache(ws->dir(), url, DownloadOptionsFromEnv());
  if (!fetched.ok()) {
    return Status(fetched.status().code(), field + (what.empty() ? "" : " (" + what + ")") + ": " +
                                               fetched.status().message());
  }
  notes->push_back("inputs." + in->name + (what.empty() ? "" : " (" + what + ")") + ": " +
                   fetched->note);
  in->value = fetched->path;
  in->asset.clear();  // resolved: the stored spec keeps the cached file (spec/to_json.cc)
  return Status::Ok();
}

Status ResolveInput(store::Workspace* ws, spec::Input* in, std::vector<std::string>* notes) {
  const std::string field = "inputs." + in->name + ".path";
  std::string path;
  std::string what;
  if (IsWebUrl(in->asset)) {
    return ResolveWebInput(ws, in, in->asset, "", notes);
  }
  if (StartsWith(in->asset, "azureml://datastores/")) {
    ASSIGN_OR_RETURN(path, DatastorePath(ws->dir(), in->asset));
    what = "datastore path";
  } else {
    ASSIGN_OR_RETURN(Reference ref, ParseReference(in->asset, field, "data"));
    if (!ref.registry.empty()) {
      return InvalidArgument(field + ": " + Quote(in->asset) +
                             ": data in registries is not supported; register it with "
                             "`trainyard data create`");
    }
    auto found = ws->GetAsset(store::AssetKind::kData, ref.name, ref.version);
    if (!found.ok()) {
      return Status(found.status().code(),
                    field + ": " + Quote(in->asset) + ": " + found.status().message() +
                        "; register one with `trainyard data create NAME --path P`");
    }
    json def = json::parse(found->definition_json);
    path = def.value("path", "");
    if (IsWebUrl(path)) {
      return ResolveWebInput(ws, in, path, "data asset " + ref.name + ":" + found->version, notes);
    }
    if (StartsWith(path, "azureml://datastores/")) {
      ASSIGN_OR_RETURN(path, DatastorePath(ws->dir(), path));
    }
    std::string type = def.value("type", "uri_folder");
    std::string want = in->kind == spec::Input::Kind::kUriFile ? "uri_file" : "uri_folder";
    if (type != want) {
      return InvalidArgument(field + ": data asset " + ref.name + ":" + found->version + " is a " +
                             type + ", the input's type is " + want);
    }
    what = "data asset " + ref.name + ":" + found->version;
  }
  if (!PathExists(path)) {
    return NotFound(field + ": " + Quote(in->asset) + " (" + what + ") is " + path +
                    ", which does not exist");
  }
  notes->push_back("inputs." + in->name + ": " + in->asset + " (" + what + ") = " + path);
  in->value = path;
  in->asset.clear();  // resolved: the stored spec keeps the path (spec/to_json.cc)
  return Status::Ok();
}

}  // namespace

Result<std::string> DatastorePath(const std::string& workspace_dir, const std::string& uri) {
  const std::string prefix = "azureml://datastores/";
  std::string rest = StartsWith(uri, prefix) ? uri.substr(prefix.size()) : "";
  size_t slash = rest.find("/paths/");
  std::string name = slash == std::string::npos ? "" : rest.substr(0, slash);
  std::string sub = slash == std::string::npos ? "" : rest.substr(slash + 7);
  if (name.empty() || name.find('/') != std::string::npos) {
    return InvalidArgument(Quote(uri) + " is not azureml://datastores/NAME/paths/PATH");
  }
  // The path stays inside the datastore's folder.
  fs::path rel = fs::path(sub).lexically_normal();
  if (rel.is_absolute() || (!rel.empty() && *rel.begin() == "..")) {
    return InvalidArgument(Quote(uri) + ": the path leaves the datastore");
  }
  std::string folder = workspace_dir + "/datastores/" + name;
  std::string out = rel.empty() || rel == "." ? folder : folder + "/" + rel.string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

Result<store::AssetRecord> EnvironmentFromYaml(const std::string& path, const std::string& name,
                                               const std::string& version) {
  ASSIGN_OR_RETURN(Node doc, LoadYaml(path));
  store::AssetRecord rec;
  json def = json::object();
  Problems p;
  static const std::vector<std::string> kKeys = {"$schema",     "name",  "version",
                                                 "description", "image", "build",
                                                 "conda_file",  "tags",  "os_type"};
  for (const auto& e : doc.entries) {
    if (e.key == "name" || e.key == "version" || e.key == "description" || e.key == "image" ||
        e.key == "os_type") {
      auto text = spec::ReadString(e.value, e.key, p);
      if (!text) continue;
      if (e.key == "name") rec.name = *text;
      if (e.key == "version") rec.version = *text;
      if (e.key == "description") rec.description = *text;
      if (e.key == "image") def["image"] = *text;
      if (e.key == "os_type" && Lower(*text) != "linux") {
        p.Add(e.value.where, e.key, "only linux environments are supported");
      }
    } else if (e.key == "build") {
      if (!spec::ExpectMap(e.value, e.key, p)) continue;
      json build = json::object();
      for (const auto& b : e.value.entries) {
        auto text = spec::ReadString(b.value, "build." + b.key, p);
        if (!text) continue;
        if (b.key == "path") {
          build["path"] = StartsWith(*text, "/") ? *text : Folder(path) + "/" + *text;
        } else if (b.key == "dockerfile_path") {
          build["dockerfile_path"] = *text;
        } else {
          spec::ReportUnknownField(b, "build", {"path", "dockerfile_path"}, p);
        }
      }
      def["build"] = build;
    } else if (e.key == "conda_file") {
      if (e.value.IsMap()) {
        RETURN_IF_ERROR(ReadCondaFile(e.value, path, &def));
      } else if (auto file = spec::ReadString(e.value, e.key, p)) {
        std::string conda_path = StartsWith(*file, "/") ? *file : Folder(path) + "/" + *file;
        auto conda = LoadYaml(conda_path);
        if (!conda.ok()) {
          p.Add(e.value.where, e.key, conda.status().message());
          continue;
        }
        def["conda_file"] = conda_path;
        RETURN_IF_ERROR(ReadCondaFile(*conda, conda_path, &def));
      }
    } else if (e.key == "$schema" || e.key == "tags") {
      // Accepted; not used.
    } else if (e.key == "inference_config") {
      p.Add(e.key_where, e.key, "inference environments are not supported");
    } else {
      spec::ReportUnknownField(e, "", kKeys, p);
    }
  }
  RETURN_IF_ERROR(p.ToStatus());
  if (!name.empty()) rec.name = name;
  if (!version.empty()) rec.version = version;
  if (rec.name.empty()) return InvalidArgument(path + ": name: required (or give NAME)");
  if (!def.contains("image") && !def.contains("build") && !def.contains("python")) {
    return InvalidArgument(path + ": an environment needs image, build or conda_file");
  }
  rec.definition_json = def.dump();
  return rec;
}

Result<store::AssetRecord> DataFromPath(store::Workspace* ws, const std::string& path,
                                        const std::string& type, const std::string& description) {
  std::string stored = path;
  std::string local = path;
  if (IsWebUrl(path)) {
    // Downloaded when a job using it is submitted (runner/download.h), not now: an offline
    // machine can register it, then fill the cache with `trainyard data cache URL FILE`.
    if (!type.empty() && type != "uri_file") {
      return InvalidArgument("type: " + Quote(type) + ": a web URL names one file (uri_file)");
    }
    store::AssetRecord rec;
    rec.description = description;
    rec.definition_json = json{{"type", "uri_file"}, {"path", path}}.dump();
    return rec;
  }
  if (StartsWith(path, "azureml://datastores/")) {
    ASSIGN_OR_RETURN(local, DatastorePath(ws->dir(), path));
  } else if (path.find("://") != std::string::npos) {
    return InvalidArgument("path: " + Quote(path) +
                           ": only local paths, http(s):// URLs and "
                           "azureml://datastores/NAME/paths/P are supported");
  } else {
    stored = local = AbsolutePath(path);
  }
  if (!PathExists(local)) return NotFound("path: " + local + " does not exist");
  std::string t = type.empty() ? TypeOf(local) : type;
  if (t == "mltable") {
    return InvalidArgument("type: mltable data assets are not supported (uri_file, uri_folder)");
  }
  if (t != "uri_file" && t != "uri_folder") {
    return InvalidArgument("type: " + Quote(t) + " is not uri_file or uri_folder");
  }
  if (t != TypeOf(local)) {
    return InvalidArgument("path: " + local + " is " +
                           (IsDirectory(local) ? "a folder" : "not a folder") + ", not a " + t);
  }
  store::AssetRecord rec;
  rec.description = description;
  rec.definition_json = json{{"type", t}, {"path", stored}}.dump();
  return rec;
}

Result<store::AssetRecord> DataFromYaml(store::Workspace* ws, const std::string& path,
                                        const std::string& name, const std::string& version) {
  ASSIGN_OR_RETURN(Node doc, LoadYaml(path));
  Problems p;
  std::string file_name, file_version, type, data_path, description;
  for (const auto& e : doc.entries) {
    if (e.key == "$schema" || e.key == "tags") continue;
    std::string* into = e.key == "name"          ? &file_name
                        : e.key == "version"     ? &file_version
                        : e.key == "type"        ? &type
                        : e.key == "path"        ? &data_path
                        : e.key == "description" ? &description
                                                 : nullptr;
    if (!into) {
      spec::ReportUnknownField(
          e, "", {"$schema", "name", "version", "type", "path", "description", "tags"}, p);
      continue;
    }
    if (auto text = spec::ReadString(e.value, e.key, p)) *into = *text;
  }
  RETURN_IF_ERROR(p.ToStatus());
  if (data_path.empty()) return InvalidArgument(path + ": path: required");
  if (!StartsWith(data_path, "/") && data_path.find("://") == std::string::npos) {
    data_path = Folder(path) + "/" + data_path;
  }
  ASSIGN_OR_RETURN(store::AssetRecord rec, DataFromPath(ws, data_path, type, description));
  rec.name = name.empty() ? file_name : name;
  rec.version = version.empty() ? file_version : version;
  if (rec.name.empty()) return InvalidArgument(path + ": name: required (or give NAME)");
  return rec;
}

Status ResolveAssets(store::Workspace* ws, spec::JobSpec* spec, std::vector<std::string>* notes) {
  if (!spec->registered_environment.empty()) {
    RETURN_IF_ERROR(ResolveEnvironment(ws, spec, notes));
  }
  for (auto& in : spec->inputs) {
    if (!in.asset.empty()) RETURN_IF_ERROR(ResolveInput(ws, &in, notes));
  }
  return Status::Ok();
}

}  // namespace trainyard::runner
