// Metrics, rows, images, tags and properties logged from inside runs (see docs/tracking.md).
// Functions take the workspace's database; like the Workspace, use one Db per thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/db.h"
#include "tracking/protocol.h"

namespace trainyard::store {

struct MetricPoint {
  int64_t step = 0;
  int64_t ts = 0;  // microseconds since the epoch
  int64_t rank = 0;
  double value = 0;  // NaN and ±Inf round-trip
};

struct MetricSummary {
  std::string name;
  int64_t count = 0;
  double last = 0, min = 0, max = 0;  // min/max ignore NaN; NaN when every value is NaN
  int64_t last_step = 0;
  int64_t last_ts = 0;
};

struct MetricRow {
  std::string name;
  int64_t step = 0, ts = 0, rank = 0;
  std::string columns_json;
};

struct MetricImage {
  std::string name;
  int64_t step = 0, ts = 0, rank = 0;
  std::string path;
};

// Applies a batch for the run with sequence number `run_seq` in one transaction, exactly once:
// returns false (and changes nothing) when this (client, seq) was already applied.
Result<bool> ApplyBatch(Db* db, int64_t run_seq, const tracking::Batch& batch);

// Points per metric name, in logging order ("" = every metric).
Result<std::map<std::string, std::vector<MetricPoint>>> ReadMetrics(Db* db, int64_t run_seq,
                                                                    const std::string& name = "");
// One summary per metric name, sorted by name.
Result<std::vector<MetricSummary>> SummarizeMetrics(Db* db, int64_t run_seq);
Result<std::vector<MetricRow>> ReadRows(Db* db, int64_t run_seq, const std::string& name = "");
Result<std::vector<MetricImage>> ReadImages(Db* db, int64_t run_seq);
Result<std::vector<std::pair<std::string, std::string>>> ReadProperties(Db* db, int64_t run_seq);

}  // namespace trainyard::store
