// The answer of GET {uri}/v1/runs/{run_id}/metrics (protocol.h): every point of every metric,
//   {"<name>": [{"step": 0, "ts": 1700000000000000, "rank": 0, "value": 0.25}, ...], ...}
// NaN and ±Inf travel as the strings "NaN", "Infinity" and "-Infinity". The endpoint encodes with
// EncodeMetricsJson; the client decodes with DecodeMetricsJson. Pure functions, any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainyard::tracking {

struct MetricPoint {
  int64_t step = 0;
  int64_t ts_us = 0;  // microseconds since the Unix epoch
  int rank = 0;
  double value = 0;
};

// Metric name -> its points, in the order they were logged (per rank).
using MetricSeries = std::map<std::string, std::vector<MetricPoint>>;

std::string EncodeMetricsJson(const MetricSeries& metrics);
// InvalidArgument describing the first malformed part.
Result<MetricSeries> DecodeMetricsJson(const std::string& body);

}  // namespace trainyard::tracking
