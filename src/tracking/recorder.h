// Recorder: the tracking client inside a training process (C++ programs directly, Python scripts
// through the trainyard._core binding). It records metrics, rows, images, tags, properties and
// files of the current run.
//
// Online (TRAINYARD_TRACKING_URI and TRAINYARD_RUN_ID set, as the runner does for every rank):
// Log() and friends append to an in-memory buffer under a mutex and return; they never do I/O. A
// background sender thread sends the buffer as numbered batches (protocol.h) every
// flush_interval_s (0.5 s by default, so a killed process loses at most that much), or sooner
// when flush_threshold_records are waiting or Flush() is called. One batch is in flight at a
// time and is resent with backoff, with the SAME (client, seq), until the endpoint acknowledges
// it; the endpoint ignores a seq it has applied, so every record is stored exactly once, in the
// order it was logged. While the endpoint is unreachable records keep buffering; past
// max_pending_bytes, calls return Unavailable ("tracking endpoint unreachable for N s; M points
// pending") instead of blocking the training thread or dropping anything.
//
// Offline (no URI): values are kept in memory (GetMetrics, GetTags) and printed to stderr, one
// line each ("[trainyard offline] loss=0.25 (step 3)"; TRAINYARD_OFFLINE_QUIET=1 silences that).
// Offline is never an error, but invalid input is, in both modes: limits.h is checked at the call.
//
// Steps: a point, row or image without an explicit step gets the next index for its name in this
// process (0, 1, 2, ...; after an explicit step s, the next default is s + 1).
//
// Thread safety: every method may be called from any thread, concurrently.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "tracking/metrics_json.h"
#include "tracking/protocol.h"

namespace trainyard::tracking {

class Endpoint;

// One cell of a row: a number, a string, a boolean or null. Non-finite doubles are stored as
// the strings "NaN", "Infinity", "-Infinity" (JSON has no such numbers).
using CellValue = std::variant<double, int64_t, std::string, bool, std::nullptr_t>;
// A row's columns, in order.
using RowColumns = std::vector<std::pair<std::string, CellValue>>;
// A table: column -> values; every column has the same number of values (one row each).
using TableColumns = std::vector<std::pair<std::string, std::vector<CellValue>>>;
// Tag key -> value (nullopt: a tag without a value).
using TagMap = std::map<std::string, std::optional<std::string>>;

struct RecorderOptions {
  std::string uri;  // "http://host:port[/prefix]"; empty: offline
  std::string run_id;
  std::string token;
  std::string experiment;
  int rank = 0;
  double flush_interval_s = 0.5;
  size_t flush_threshold_records = 50'000;  // send sooner than the interval past this many
  size_t max_batch_records = 100'000;
  size_t max_batch_bytes = size_t{8} << 20;
  size_t max_pending_bytes = size_t{512} << 20;  // then calls fail instead of buffering more
  double request_timeout_s = 10;                 // per HTTP request
  double max_backoff_s = 5;                      // between retries of a failed batch
  bool offline_quiet = false;

  // From TRAINYARD_TRACKING_URI, TRAINYARD_RUN_ID, TRAINYARD_TRACKING_TOKEN,
  // TRAINYARD_EXPERIMENT, TRAINYARD_FLUSH_INTERVAL (seconds), TRAINYARD_OFFLINE_QUIET, and the
  // rank from RANK, OMPI_COMM_WORLD_RANK, PMI_RANK or SLURM_PROCID (the first set; else 0).
  static RecorderOptions FromEnvironment();
};

class Recorder {
 public:
  // Online when options.uri is set (then run_id must be too); InvalidArgument for a bad URI.
  static Result<std::unique_ptr<Recorder>> Create(RecorderOptions options);
  // Create(RecorderOptions::FromEnvironment()); falls back to offline, with a warning on stderr,
  // when the environment is incomplete or malformed. Never fails.
  static std::unique_ptr<Recorder> FromEnvironment();
  // The process-wide recorder, made by FromEnvironment() on first use. It is never destroyed: a
  // std::atexit handler flushes it (10 s at most) and stops its thread when the process exits
  // normally, so scripts need not close anything.
  static Recorder& Current();

  // Flushes (10 s at most), reports on stderr what could not be delivered, stops the sender.
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // A scalar point. ≤ 1 µs: no I/O on the calling thread. `description` is checked but not sent
  // (the protocol has no field for it).
  Status Log(std::string_view name, double value, std::optional<int64_t> step = std::nullopt,
             std::string_view description = {});
  // One point per value, at consecutive steps.
  Status LogList(std::string_view name, const std::vector<double>& values);
  // A row; `columns_json` is a JSON object (limits.h).
  Status LogRow(std::string_view name, std::string_view columns_json,
                std::optional<int64_t> step = std::nullopt);
  Status LogRow(std::string_view name, const RowColumns& columns,
                std::optional<int64_t> step = std::nullopt);
  // One row per index of the columns, at consecutive steps.
  Status LogTable(std::string_view name, const TableColumns& table);
  // A PNG file (≤ 100 MB), read now (the file may be removed once this returns), uploaded by the
  // sender as the run's file "images/<name>/<step>.png", then recorded as an image.
  Status LogImage(std::string_view name, const std::string& path,
                  std::optional<int64_t> step = std::nullopt);
  Status Tag(std::string_view key, std::optional<std::string_view> value = std::nullopt);
  // All or nothing: every key and value is checked before any is recorded.
  Status SetTags(const TagMap& tags);
  Status AddProperties(const std::map<std::string, std::string>& properties);
  // Uploads a file (≤ 5 GB) as the run's file `name` ("outputs/model.pt"). Unlike the calls
  // above this waits for the upload (with retries), like the seed's API; offline it only checks.
  Status UploadFile(std::string_view name, const std::string& path);
  // Every regular file under `path`, as "<name>/<relative path>".
  Status UploadFolder(std::string_view name, const std::string& path);

  // Blocks until everything recorded before the call is acknowledged by the endpoint, or
  // `timeout_s` passes (Timeout, with the last delivery error). OK at once offline.
  Status Flush(double timeout_s = 30);
  // Flush(timeout_s), then stops the sender; later calls fail with FailedPrecondition. Reports
  // undelivered records on stderr. Idempotent.
  Status Close(double timeout_s = 10);
  // Current()'s exit handler: Close(10), or Close(0) when deliveries are failing (an endpoint
  // that refuses the data has had its chance; what is lost is reported on stderr).
  void CloseAtExit();

  // Online: flushes, then reads the run's points back from the endpoint (all ranks). Offline:
  // the points logged in this process. `name` selects one metric.
  Result<MetricSeries> GetMetrics(const std::optional<std::string>& name = std::nullopt);
  // The tags set through this recorder (online too: there is no endpoint to read tags back).
  TagMap GetTags() const;

  const std::string& run_id() const { return run_id_; }
  const std::string& experiment() const { return options_.experiment; }
  int rank() const { return options_.rank; }
  bool offline() const { return endpoint_ == nullptr; }
  const std::string& client_id() const { return client_id_; }

 private:
  struct PendingImage {
    Image record;
    std::string bytes;
  };
  // A batch being filled or waiting to be sent; batches are sent in order.
  struct Segment {
    Batch batch;
    size_t records = 0;
    size_t bytes = 0;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using StepMap = std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>>;

  Recorder(RecorderOptions options, std::unique_ptr<Endpoint> endpoint);

  // Fails when closed, or when `bytes` more would pass max_pending_bytes.
  Status AdmitLocked(size_t bytes) TY_REQUIRES(mu_);
  int64_t NextStepLocked(StepMap& steps, std::string_view name, std::optional<int64_t> step)
      TY_REQUIRES(mu_);
  // The segment to append `bytes` to (a new one when the last is full); counts one record.
  Segment& SegmentForLocked(size_t bytes) TY_REQUIRES(mu_);
  void AppendPointLocked(std::string_view name, double value, int64_t step, int64_t ts_us)
      TY_REQUIRES(mu_);
  Status AppendRowLocked(std::string_view name, std::string columns_json,
                         std::optional<int64_t> step, int64_t ts_us) TY_REQUIRES(mu_);
  Status AppendKeyValuesLocked(bool tags, const std::vector<KeyValue>& values) TY_REQUIRES(mu_);
  void PrintOffline(const std::string& line) const;
  size_t PendingRecordsLocked() const TY_REQUIRES(mu_) { return enqueued_ - acked_; }

  void SenderLoop();
  // Records a failed delivery; waits the backoff (or until Close gives up).
  void OnFailureLocked(MutexLock& lock, const Status& error, double* backoff_s) TY_REQUIRES(mu_);

  const RecorderOptions options_;
  const std::string client_id_;
  const std::string run_id_;
  const std::unique_ptr<Endpoint> endpoint_;  // null when offline

  mutable Mutex mu_;
  CondVar work_cv_;   // wakes the sender
  CondVar acked_cv_;  // wakes Flush
  std::deque<Segment> segments_ TY_GUARDED_BY(mu_);
  std::deque<PendingImage> images_ TY_GUARDED_BY(mu_);  // waiting for upload
  size_t segment_records_ TY_GUARDED_BY(mu_) = 0;       // records in segments_
  size_t pending_bytes_ TY_GUARDED_BY(mu_) = 0;         // memory held by unsent data, roughly
  uint64_t enqueued_ TY_GUARDED_BY(mu_) = 0;            // records accepted so far
  uint64_t acked_ TY_GUARDED_BY(mu_) = 0;               // records acknowledged so far
  int64_t seq_ TY_GUARDED_BY(mu_) = 0;                  // last batch seq used
  int flush_waiters_ TY_GUARDED_BY(mu_) = 0;
  bool closed_ TY_GUARDED_BY(mu_) = false;
  bool stop_sender_ TY_GUARDED_BY(mu_) = false;
  std::string last_error_ TY_GUARDED_BY(mu_);        // last delivery error, "" once delivered
  int64_t failing_since_us_ TY_GUARDED_BY(mu_) = 0;  // monotonic; 0 while deliveries succeed
  bool failure_reported_ TY_GUARDED_BY(mu_) = false;
  StepMap point_steps_ TY_GUARDED_BY(mu_);
  StepMap row_steps_ TY_GUARDED_BY(mu_);
  StepMap image_steps_ TY_GUARDED_BY(mu_);
  MetricSeries offline_metrics_ TY_GUARDED_BY(mu_);
  TagMap tags_ TY_GUARDED_BY(mu_);
  std::thread sender_;
};

}  // namespace trainyard::tracking
