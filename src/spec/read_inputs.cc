// Inputs, in both forms: NAME -> a literal (number or string), or a map
// {type: uri_folder|uri_file|string|number|integer|boolean, path, value, mode: ro_mount|download}.
#include "spec/fields.h"
#include "spec/read_spec.h"

namespace trainyard::spec {
namespace {

const std::vector<std::string> kInputKeys = {"type", "path", "value", "mode"};
const std::vector<std::string> kInputTypes = {"uri_folder", "uri_file", "string",
                                              "number",     "integer",  "boolean"};

}  // namespace

void SpecReader::ReadInputs(const Node& n) {
  if (n.IsNull()) return;
  if (!n.IsMap()) {
    p_->Add(n.where, "inputs", "expected a map of input names to values, got " + Describe(n));
    return;
  }
  for (const MapEntry& e : n.entries) ReadInput(e);
}

void SpecReader::ReadInput(const MapEntry& e) {
  const std::string field = Child("inputs", e.key);
  if (!IsIdentifier(e.key)) {
    p_->Add(e.key_where, field,
            "invalid input name (letters, digits and '_', not starting with a digit)");
  }
  Input in;
  in.name = e.key;
  const Node& v = e.value;
  if (v.IsScalar()) {
    in.value = v.text;
  } else if (v.IsMap()) {
    ReadInputMap(v, field, in);
  } else {
    p_->Add(v.where, field,
            "expected a literal value or a map with type and path, got " + Describe(v));
  }
  // Kept even when invalid, so that references to it do not add more problems.
  spec_.inputs.push_back(std::move(in));
}

void SpecReader::ReadInputMap(const Node& n, const std::string& field, Input& in) {
  const MapEntry* type_entry = nullptr;
  const MapEntry* path_entry = nullptr;
  const MapEntry* value_entry = nullptr;
  const MapEntry* mode_entry = nullptr;
  for (const MapEntry& e : n.entries) {
    if (e.key == "type") {
      type_entry = &e;
    } else if (e.key == "path") {
      path_entry = &e;
    } else if (e.key == "value") {
      value_entry = &e;
    } else if (e.key == "mode") {
      mode_entry = &e;
    } else {
      ReportUnknownField(e, field, kInputKeys, *p_);
    }
  }

  // The type; without one, a path means uri_folder and a value a string.
  std::string type = path_entry ? "uri_folder" : "string";
  if (type_entry) {
    const std::string sub = Child(field, "type");
    auto t = ReadString(type_entry->value, sub, *p_);
    if (!t) return;
    bool known = false;
    for (const auto& k : kInputTypes) known = known || k == *t;
    if (!known) {
      p_->Add(type_entry->value.where, sub,
              "unknown type " + Quote(*t) +
                  " (expected uri_folder, uri_file, string, number, integer or boolean)" +
                  DidYouMeanSuffix(*t, kInputTypes));
      return;
    }
    type = *t;
  }
  const bool uri = type == "uri_folder" || type == "uri_file";

  if (mode_entry) {
    const std::string sub = Child(field, "mode");
    auto mode = ReadString(mode_entry->value, sub, *p_);
    if (!uri) {
      p_->Add(mode_entry->key_where, sub, "only allowed for uri_folder and uri_file inputs");
    } else if (mode == "ro_mount") {
      in.mode = Input::Mode::kRoMount;
    } else if (mode == "download") {
      in.mode = Input::Mode::kDownload;
    } else if (mode) {
      p_->Add(mode_entry->value.where, sub,
              "unknown mode " + Quote(*mode) + " (expected ro_mount or download)" +
                  DidYouMeanSuffix(*mode, {"ro_mount", "download"}));
    }
  }

  if (uri) {
    in.kind = type == "uri_folder" ? Input::Kind::kUriFolder : Input::Kind::kUriFile;
    if (value_entry) {
      p_->Add(value_entry->key_where, Child(field, "value"),
              "not allowed for type " + type + " (use path)");
    }
    if (!path_entry) {
      p_->Add(n.where, Child(field, "path"), "required for type " + type);
      return;
    }
    const std::string sub = Child(field, "path");
    auto path = ReadString(path_entry->value, sub, *p_);
    if (!path || path->empty()) {
      if (path || path_entry->value.IsNull()) {
        p_->Add(path_entry->value.where, sub, "must not be empty");
      }
      return;
    }
    if (path->rfind("azureml:", 0) == 0) {
      // A data asset or a workspace datastore path: resolved at submit (runner/assets.h).
      in.asset = *path;
      return;
    }
    if (path->rfind("https://", 0) == 0 || path->rfind("http://", 0) == 0) {
      // A web URL: downloaded into the workspace's download cache at submit
      // (runner/download.h). It names one file.
      if (in.kind == Input::Kind::kUriFolder) {
        p_->Add(path_entry->value.where, sub,
                Quote(*path) +
                    ": a web URL names one file: give type: uri_file (a folder cannot be "
                    "downloaded from a URL; put it in a workspace datastore folder and give "
                    "azureml://datastores/NAME/paths/FOLDER)");
        return;
      }
      in.asset = *path;
      return;
    }
    if (path->find("://") != std::string::npos) {
      p_->Add(path_entry->value.where, sub,
              Quote(*path) + " is not a local path (remote URIs are not supported)");
      return;
    }
    in.value = Resolve(path_entry->value, *path);
    return;
  }

  in.kind = Input::Kind::kLiteral;
  if (path_entry) {
    p_->Add(path_entry->key_where, Child(field, "path"),
            "not allowed for type " + type + " (use value)");
  }
  if (!value_entry) {
    p_->Add(n.where, Child(field, "value"), "required for type " + type);
    return;
  }
  const std::string sub = Child(field, "value");
  const Node& v = value_entry->value;
  auto text = ReadString(v, sub, *p_);
  if (!text) {
    if (v.IsNull()) p_->Add(v.where, sub, "must not be null");
    return;
  }
  bool ok = true;
  if (type == "number") ok = ParseNumber(*text).has_value();
  if (type == "integer") ok = ParseInteger(*text).has_value();
  if (type == "boolean") ok = ParseBool(*text).has_value();
  if (!ok) {
    std::string expected = type == "integer"  ? "an integer"
                           : type == "number" ? "a number"
                                              : "true or false";
    p_->Add(v.where, sub, "expected " + expected + ", got " + Describe(v));
    return;
  }
  in.value = *text;
}

}  // namespace trainyard::spec
