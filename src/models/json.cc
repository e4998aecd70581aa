#include "models/json.h"

#include <string>

#include "common/clock.h"

namespace trainyard::models {
namespace {

nlohmann::json ParseObject(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : nlohmann::json::object();
}

}  // namespace

nlohmann::json ModelToJson(const store::ModelRecord& m) {
  return {{"name", m.name},
          {"version", m.version},
          {"id", m.name + ":" + std::to_string(m.version)},
          {"digest", m.digest},
          {"path", m.path},
          {"is_dir", m.is_dir},
          {"files", m.files},
          {"bytes", m.bytes},
          {"description", m.description},
          {"tags", ParseObject(m.tags_json)},
          {"properties", ParseObject(m.properties_json)},
          {"run_id", m.run_id},
          {"experiment", m.experiment},
          {"run_path", m.run_path},
          {"metrics", ParseObject(m.metrics_json)},
          {"created_at", FormatIso8601(m.created_at)}};
}

}  // namespace trainyard::models
