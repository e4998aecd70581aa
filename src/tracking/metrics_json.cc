#include "tracking/metrics_json.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace trainyard::tracking {
namespace {

nlohmann::json ValueJson(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

Result<double> ParseValue(const nlohmann::json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  return InvalidArgument("metrics: bad value " + v.dump());
}

}  // namespace

std::string EncodeMetricsJson(const MetricSeries& metrics) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, points] : metrics) {
    nlohmann::json& list = out[name] = nlohmann::json::array();
    for (const MetricPoint& p : points) {
      list.push_back(
          {{"step", p.step}, {"ts", p.ts_us}, {"rank", p.rank}, {"value", ValueJson(p.value)}});
    }
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<MetricSeries> DecodeMetricsJson(const std::string& body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return InvalidArgument("metrics: expected a JSON object of metric series");
  MetricSeries out;
  for (const auto& [name, list] : doc.items()) {
    if (!list.is_array()) return InvalidArgument("metrics: '" + name + "' is not a list");
    std::vector<MetricPoint>& points = out[name];
    points.reserve(list.size());
    for (const nlohmann::json& p : list) {
      if (!p.is_object()) return InvalidArgument("metrics: '" + name + "' has a non-object point");
      MetricPoint point;
      auto step = p.find("step");
      auto ts = p.find("ts");
      auto rank = p.find("rank");
      auto value = p.find("value");
      if (step == p.end() || !step->is_number_integer() || ts == p.end() ||
          !ts->is_number_integer() || value == p.end()) {
        return InvalidArgument("metrics: '" + name +
                               "' has a point without step/ts/value: " + p.dump());
      }
      point.step = step->get<int64_t>();
      point.ts_us = ts->get<int64_t>();
      if (rank != p.end() && rank->is_number_integer()) point.rank = rank->get<int>();
      ASSIGN_OR_RETURN(point.value, ParseValue(*value));
      points.push_back(point);
    }
  }
  return out;
}

}  // namespace trainyard::tracking
