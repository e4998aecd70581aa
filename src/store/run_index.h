// The run index of the workspace server (schema 7): what the runs list sorts and filters on, and
// what a long metric series is drawn from, kept current as runs are recorded and points arrive.
//
//   metric_summary  one row per (run, metric name): count, last value (the point logged last),
//                   min and max (NaN ignored; NULL when every value is NaN).
//   run_params      one row per (run, parameter): a sweep trial's parameter values plus the
//                   `--name value` / `--name=value` pairs of the rank-0 argv; `num` is the value as
//                   a number when it is one (for numeric sorting and comparisons).
//   metric_blocks   pre-aggregated blocks of each series, per level L in kBlockLevels: block b of
//                   level L covers the steps [b * 2^L, (b + 1) * 2^L) and holds their count, first
//                   step, last step and the value there, min and max. A series of 1,000,000 points
//                   is downsampled from 1,000,000 / 2^L blocks instead of from its points.
//
// Functions take the workspace's database; like the Workspace, use one Db per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "store/db.h"
#include "tracking/protocol.h"

namespace trainyard::store {

// The block levels kept per series (log2 of the block width in steps).
inline constexpr int kBlockLevels[] = {4, 8, 12};

// Folds a batch's points into metric_summary and metric_blocks. Called by ApplyBatch inside its
// transaction, after the points were inserted; `name_ids` maps each point's name to its
// metric_names id.
Status IndexMetricPoints(Db* db, int64_t run_seq,
                         const std::unordered_map<std::string, int64_t>& name_ids,
                         const std::vector<tracking::Point>& points);

// A run's parameters, from its stored spec (a trial's search_space_values) and launch plan (the
// rank-0 argv). Pure; for IndexRunParams and tests.
std::vector<std::pair<std::string, std::string>> RunParamsOf(const std::string& spec_json,
                                                             const std::string& plan_json);
// Stores RunParamsOf(...) for the run (replacing what was there). Called by CreateRun.
Status IndexRunParams(Db* db, int64_t run_seq, const std::string& spec_json,
                      const std::string& plan_json);

// --- The runs list -------------------------------------------------------------------------

// One condition of a runs query: `field op value`, field "params.NAME", "metrics.NAME[.last|
// .min|.max]", "status", "experiment", "kind", "target" or "display_name".
struct RunCondition {
  std::string field;
  std::string op;  // = != < <= > >=
  std::string value;
};

struct RunQuery {
  std::string experiment;  // "" = every experiment
  std::string status;      // "" = any
  std::string parent;      // "" = any; a sweep's id = its trials
  std::string kind;        // "" = any
  std::string text;        // substring of the id or the display name ("" = any)
  // created_at | status | duration | id | params.NAME | metrics.NAME[.last|.min|.max]
  std::string sort = "created_at";
  bool descending = true;
  int64_t offset = 0;
  int64_t limit = 50;
  std::vector<RunCondition> conditions;
  bool with_columns = true;  // fill RunPage::param_columns / metric_columns
};

struct MetricSummaryRow {
  std::string name;
  int64_t count = 0;
  std::optional<double> last, min, max;  // nullopt = NaN
  int64_t last_step = 0;
};

struct RunRow {
  int64_t seq = 0;
  std::string id, experiment, display_name, status, status_detail, target, kind, parent_id;
  std::optional<int64_t> trial_index;
  int64_t created_at = 0;
  std::optional<int64_t> started_at, ended_at;
  std::vector<std::pair<std::string, std::string>> params;  // by name
  std::vector<MetricSummaryRow> metrics;                    // by name
};

struct RunPage {
  int64_t total = 0;  // runs matching the query
  std::vector<RunRow> runs;
  std::vector<std::string> param_columns, metric_columns;  // names in the matching runs, sorted
};

// Runs matching `query`, sorted and paged in SQL. InvalidArgument naming the sort or the
// condition that is not understood.
Result<RunPage> QueryRuns(Db* db, const RunQuery& query);
// Parses "params.lr>=0.01" (one `filter=` parameter); InvalidArgument naming it otherwise.
Result<RunCondition> ParseRunCondition(const std::string& text);

// A run's parameters and metric summaries (sorted by name).
Result<std::vector<std::pair<std::string, std::string>>> RunParams(Db* db, int64_t run_seq);
Result<std::vector<MetricSummaryRow>> RunMetricSummaries(Db* db, int64_t run_seq);

// --- Series --------------------------------------------------------------------------------

struct SeriesQuery {
  int64_t points = 2000;  // at most this many buckets
  std::optional<int64_t> min_step, max_step;
};

struct Series {
  int64_t total = 0;  // points in the step range
  bool downsampled = false;
  std::vector<int64_t> step;
  std::vector<std::optional<double>> value, min, max;  // min/max only when downsampled
};

// The points of one metric of a run in step order (ties in logging order), or when the range holds
// more than `points`: one bucket per 2^k steps (k the smallest with at most `points` buckets over
// the range), each non-empty bucket giving its first step, the value at its last step, and its min
// and max. NotFound when the run has no metric `name`.
Result<Series> ReadSeries(Db* db, int64_t run_seq, const std::string& name,
                          const SeriesQuery& query);

}  // namespace trainyard::store
