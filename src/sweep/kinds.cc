#include "sweep/sweep.h"

namespace trainyard::sweep {

const std::vector<std::string>& KindNames() {
  static const std::vector<std::string> kNames = {
      "choice",      "randint", "uniform", "quniform",  "loguniform",
      "qloguniform", "normal",  "qnormal", "lognormal", "qlognormal"};
  return kNames;
}

const char* KindName(Kind kind) { return KindNames()[static_cast<size_t>(kind)].c_str(); }

std::optional<Kind> KindFromName(const std::string& name) {
  const auto& names = KindNames();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<Kind>(i);
  }
  return std::nullopt;
}

}  // namespace trainyard::sweep
