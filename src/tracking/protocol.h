// The wire format between a training process (the tracking client) and the run's supervisor
// (the ingestion endpoint). See docs/tracking.md for the whole design.
//
// A batch is one HTTP request:
//   POST {TRAINYARD_TRACKING_URI}/v1/runs/{run_id}/batch
//   Authorization: Bearer {TRAINYARD_TRACKING_TOKEN}
//   Content-Type: application/x-trainyard-batch
// Body: a first line of JSON, then one record per line, fields separated by TAB:
//   {"client":"<random id of this process>","seq":<1,2,3...>,"rank":<rank>}
//   M <name> <step> <ts_us> <value>          scalar point; value "%.17g", or nan / inf / -inf
//   R <name> <step> <ts_us> <json object>    row (log_row; log_table sends one per row)
//   I <name> <step> <ts_us> <file path>      image, the file uploaded before this batch
//   T <key> <json value>                     tag (value: JSON string, or null)
//   P <key> <json value>                     property
// Names and keys hold no TAB, CR or LF (checked at the call, see limits.h), so no escaping.
// Answer: 200 {"acked_seq": N}. The endpoint applies a batch and records (client, seq) in one
// transaction and ignores a seq it has already applied, so a client may resend a batch until it
// is acknowledged: every point is stored exactly once.
//
// Files: PUT {uri}/v1/runs/{run_id}/files?name=<relative path>, raw bytes; 200 when stored.
// Reading back: GET {uri}/v1/runs/{run_id}/metrics[?name=N] returns
//   {"<name>": [{"step":..,"ts":..,"rank":..,"value":..}, ...]} (value null for NaN/Inf is not
//   used: NaN and ±Inf travel as the strings "NaN", "Infinity", "-Infinity").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainyard::tracking {

struct Point {
  std::string name;
  int64_t step = 0;
  int64_t ts_us = 0;
  double value = 0;
};

struct Row {
  std::string name;
  int64_t step = 0;
  int64_t ts_us = 0;
  std::string columns_json;  // a JSON object
};

struct Image {
  std::string name;
  int64_t step = 0;
  int64_t ts_us = 0;
  std::string path;  // relative path of the uploaded file ("images/loss/3.png")
};

struct KeyValue {
  std::string key;
  std::string value_json;  // a JSON string, or null
};

struct Batch {
  std::string client;
  int64_t seq = 0;
  int rank = 0;
  std::vector<Point> points;
  std::vector<Row> rows;
  std::vector<Image> images;
  std::vector<KeyValue> tags;
  std::vector<KeyValue> properties;

  bool empty() const {
    return points.empty() && rows.empty() && images.empty() && tags.empty() && properties.empty();
  }
};

// Serializes a batch in the format above.
std::string EncodeBatch(const Batch& batch);
// Parses a body; InvalidArgument naming the line on malformed input.
Result<Batch> DecodeBatch(const std::string& body);

}  // namespace trainyard::tracking
