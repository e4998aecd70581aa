// Numbers in JSON output: NaN and ±Inf are not JSON, so they are spelled as the strings "NaN",
// "Infinity" and "-Infinity" (as Python's json module and JavaScript's Number() read them).
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>

namespace trainyard {

inline nlohmann::json JsonNumber(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

}  // namespace trainyard
