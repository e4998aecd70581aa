#include "tracking/recorder.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "common/clock.h"
#include "common/files.h"
#include "common/strings.h"
#include "tracking/endpoint.h"
#include "tracking/limits.h"

namespace trainyard::tracking {
namespace {

// Rough memory held by one buffered record beyond its variable-length parts.
constexpr size_t kRecordBytes = 64;
constexpr char kPngSignature[] = "\x89PNG\r\n\x1a\n";
constexpr int kUploadAttempts = 5;

std::string RandomClientId() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<uint64_t>(MonotonicMicros()));
  static const char kHex[] = "0123456789abcdef";
  std::string id;
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = gen();
    for (int i = 0; i < 16; ++i, bits >>= 4) id += kHex[bits & 15];
  }
  return id;
}

// Shortest text that reads back as the same double: "0.25", "nan", "inf", "-inf".
std::string FormatValue(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, end);
}

std::string JsonString(std::string_view s) {
  return nlohmann::json(std::string(s))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::ordered_json CellJson(const CellValue& cell) {
  return std::visit(
      [](const auto& v) -> nlohmann::ordered_json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, double>) {
          if (std::isnan(v)) return "NaN";
          if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
          return v;
        } else if constexpr (std::is_same_v<T, std::nullptr_t>) {
          return nullptr;
        } else {
          return v;
        }
      },
      cell);
}

Result<std::string> RowJson(std::string_view name, const RowColumns& columns) {
  nlohmann::ordered_json row = nlohmann::ordered_json::object();
  for (const auto& [column, value] : columns) {
    RETURN_IF_ERROR(
        CheckName("column name", column).WithContext("row '" + std::string(name) + "'"));
    row[column] = CellJson(value);
  }
  return NormalizeRow(name,
                      row.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

void Warn(const std::string& message) {
  std::string line = "[trainyard] " + message + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

RecorderOptions RecorderOptions::FromEnvironment() {
  RecorderOptions options;
  options.uri = Env("TRAINYARD_TRACKING_URI");
  options.run_id = Env("TRAINYARD_RUN_ID");
  options.token = Env("TRAINYARD_TRACKING_TOKEN");
  options.experiment = Env("TRAINYARD_EXPERIMENT");
  for (const char* var : {"RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    std::string value = Env(var);
    if (value.empty()) continue;
    int rank = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), rank);
    if (ec == std::errc() && ptr == value.data() + value.size() && rank >= 0) {
      options.rank = rank;
    } else {
      Warn(std::string("ignoring ") + var + "='" + value + "': not a rank");
    }
    break;
  }
  std::string interval = Env("TRAINYARD_FLUSH_INTERVAL");
  if (!interval.empty()) {
    char* end = nullptr;
    double seconds = std::strtod(interval.c_str(), &end);
    if (end != nullptr && *end == '\0' && seconds > 0 && std::isfinite(seconds)) {
      options.flush_interval_s = seconds;
    } else {
      Warn("ignoring TRAINYARD_FLUSH_INTERVAL='" + interval + "': expected seconds > 0");
    }
  }
  std::string quiet = Env("TRAINYARD_OFFLINE_QUIET");
  options.offline_quiet = !quiet.empty() && quiet != "0";
  return options;
}

Result<std::unique_ptr<Recorder>> Recorder::Create(RecorderOptions options) {
  if (!(options.flush_interval_s > 0)) {
    return InvalidArgument("tracking: flush interval must be > 0 seconds");
  }
  std::unique_ptr<Endpoint> endpoint;
  if (!options.uri.empty()) {
    if (options.run_id.empty()) {
      return InvalidArgument("tracking: TRAINYARD_TRACKING_URI is set but TRAINYARD_RUN_ID is not");
    }
    ASSIGN_OR_RETURN(endpoint, Endpoint::Create(options.uri, options.run_id, options.token,
                                                options.request_timeout_s));
  }
  return std::unique_ptr<Recorder>(new Recorder(std::move(options), std::move(endpoint)));
}

std::unique_ptr<Recorder> Recorder::FromEnvironment() {
  RecorderOptions options = RecorderOptions::FromEnvironment();
  Result<std::unique_ptr<Recorder>> recorder = Create(options);
  if (recorder.ok()) return std::move(recorder).value();
  Warn("tracking is offline: " + recorder.status().message());
  options.uri.clear();
  return std::move(Create(std::move(options))).value();
}

Recorder& Recorder::Current() {
  static Recorder* const current = [] {
    Recorder* recorder = FromEnvironment().release();  // never deleted: see the header
    std::atexit([] { Current().CloseAtExit(); });
    return recorder;
  }();
  return *current;
}

void Recorder::CloseAtExit() {
  bool failing = false;
  {
    MutexLock lock(mu_);
    failing = failing_since_us_ != 0;
  }
  // An endpoint that refuses the data (a full disk) had its chance while the program ran and in
  // its own exit handlers (the Python package flushes for 10 s): do not keep the sender talking
  // to it while the process tears itself down (that crashed the exiting process), say what is
  // lost and stop.
  Close(failing ? 0 : 10).IgnoreError();
}

Recorder::Recorder(RecorderOptions options, std::unique_ptr<Endpoint> endpoint)
    : options_(std::move(options)),
      client_id_(RandomClientId()),
      run_id_(options_.run_id.empty() ? "OfflineRun_" + client_id_ : options_.run_id),
      endpoint_(std::move(endpoint)) {
  if (endpoint_ != nullptr) sender_ = std::thread([this] { SenderLoop(); });
}

Recorder::~Recorder() { Close(10).IgnoreError(); }

// ---- Recording (any thread, no I/O when online) ----

Status Recorder::AdmitLocked(size_t bytes) {
  if (offline()) return Status::Ok();
  if (closed_) return FailedPrecondition("tracking: the run's recorder is closed");
  if (pending_bytes_ + bytes <= options_.max_pending_bytes) return Status::Ok();
  std::string pending = std::to_string(PendingRecordsLocked()) + " points pending (" +
                        HumanBytes(pending_bytes_) + " buffered)";
  if (failing_since_us_ != 0) {
    int64_t seconds = (MonotonicMicros() - failing_since_us_) / 1'000'000;
    return Unavailable("tracking endpoint unreachable for " + std::to_string(seconds) + " s; " +
                       pending + "; last error: " + last_error_);
  }
  return Unavailable("tracking endpoint too slow: " + pending);
}

int64_t Recorder::NextStepLocked(StepMap& steps, std::string_view name,
                                 std::optional<int64_t> step) {
  auto it = steps.find(name);
  if (it == steps.end()) it = steps.emplace(std::string(name), 0).first;
  int64_t s = step.value_or(it->second);
  it->second = s == std::numeric_limits<int64_t>::max() ? s : s + 1;
  return s;
}

Recorder::Segment& Recorder::SegmentForLocked(size_t bytes) {
  if (segments_.empty() || segments_.back().records >= options_.max_batch_records ||
      (segments_.back().records > 0 && segments_.back().bytes + bytes > options_.max_batch_bytes)) {
    segments_.emplace_back();
  }
  Segment& segment = segments_.back();
  ++segment.records;
  segment.bytes += bytes;
  pending_bytes_ += bytes;
  if (++segment_records_ == options_.flush_threshold_records) work_cv_.NotifyOne();
  return segment;
}

void Recorder::AppendPointLocked(std::string_view name, double value, int64_t step, int64_t ts_us) {
  if (offline()) {
    offline_metrics_[std::string(name)].push_back(MetricPoint{step, ts_us, options_.rank, value});
    PrintOffline(std::string(name) + "=" + FormatValue(value) + " (step " + std::to_string(step) +
                 ")");
    return;
  }
  ++enqueued_;
  SegmentForLocked(kRecordBytes + name.size())
      .batch.points.push_back(Point{std::string(name), step, ts_us, value});
}

Status Recorder::Log(std::string_view name, double value, std::optional<int64_t> step,
                     std::string_view description) {
  RETURN_IF_ERROR(CheckName("metric name", name));
  if (description.size() > kMaxValueBytes) {
    return InvalidArgument("metric '" + std::string(name) + "': description too long");
  }
  const int64_t ts_us = NowMicros();
  MutexLock lock(mu_);
  RETURN_IF_ERROR(AdmitLocked(kRecordBytes + name.size()));
  AppendPointLocked(name, value, NextStepLocked(point_steps_, name, step), ts_us);
  return Status::Ok();
}

Status Recorder::LogList(std::string_view name, const std::vector<double>& values) {
  RETURN_IF_ERROR(CheckName("metric name", name));
  const int64_t ts_us = NowMicros();
  MutexLock lock(mu_);
  RETURN_IF_ERROR(AdmitLocked((kRecordBytes + name.size()) * values.size()));
  for (double value : values) {
    AppendPointLocked(name, value, NextStepLocked(point_steps_, name, std::nullopt), ts_us);
  }
  return Status::Ok();
}

Status Recorder::AppendRowLocked(std::string_view name, std::string columns_json,
                                 std::optional<int64_t> step, int64_t ts_us) {
  RETURN_IF_ERROR(AdmitLocked(kRecordBytes + name.size() + columns_json.size()));
  int64_t s = NextStepLocked(row_steps_, name, step);
  if (offline()) {
    PrintOffline("row " + std::string(name) + " " + columns_json + " (step " + std::to_string(s) +
                 ")");
    return Status::Ok();
  }
  ++enqueued_;
  Segment& segment = SegmentForLocked(kRecordBytes + name.size() + columns_json.size());
  segment.batch.rows.push_back(Row{std::string(name), s, ts_us, std::move(columns_json)});
  return Status::Ok();
}

Status Recorder::LogRow(std::string_view name, std::string_view columns_json,
                        std::optional<int64_t> step) {
  RETURN_IF_ERROR(CheckName("row name", name));
  ASSIGN_OR_RETURN(std::string row, NormalizeRow(name, columns_json));
  const int64_t ts_us = NowMicros();
  MutexLock lock(mu_);
  return AppendRowLocked(name, std::move(row), step, ts_us);
}

Status Recorder::LogRow(std::string_view name, const RowColumns& columns,
                        std::optional<int64_t> step) {
  RETURN_IF_ERROR(CheckName("row name", name));
  ASSIGN_OR_RETURN(std::string row, RowJson(name, columns));
  const int64_t ts_us = NowMicros();
  MutexLock lock(mu_);
  return AppendRowLocked(name, std::move(row), step, ts_us);
}

Status Recorder::LogTable(std::string_view name, const TableColumns& table) {
  RETURN_IF_ERROR(CheckName("table name", name));
  size_t rows = table.empty() ? 0 : table.front().second.size();
  for (const auto& [column, values] : table) {
    if (values.size() != rows) {
      return InvalidArgument("table '" + std::string(name) + "': column '" + column + "' has " +
                             std::to_string(values.size()) + " values, column '" +
                             table.front().first + "' has " + std::to_string(rows));
    }
  }
  std::vector<std::string> encoded;
  size_t bytes = 0;
  for (size_t i = 0; i < rows; ++i) {
    RowColumns columns;
    for (const auto& [column, values] : table) columns.emplace_back(column, values[i]);
    ASSIGN_OR_RETURN(std::string row, RowJson(name, columns));
    bytes += kRecordBytes + name.size() + row.size();
    encoded.push_back(std::move(row));
  }
  const int64_t ts_us = NowMicros();
  MutexLock lock(mu_);
  RETURN_IF_ERROR(AdmitLocked(bytes));
  for (std::string& row : encoded) {
    RETURN_IF_ERROR(AppendRowLocked(name, std::move(row), std::nullopt, ts_us));
  }
  return Status::Ok();
}

Status Recorder::LogImage(std::string_view name, const std::string& path,
                          std::optional<int64_t> step) {
  RETURN_IF_ERROR(CheckName("image name", name));
  RETURN_IF_ERROR(CheckFilePath("image name", "images/" + std::string(name) + "/0.png"));
  ASSIGN_OR_RETURN(uint64_t size, CheckLocalFile("log_image", path, kMaxImageBytes));
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  if (bytes.size() < 8 || bytes.compare(0, 8, kPngSignature, 8) != 0) {
    return InvalidArgument("log_image '" + std::string(name) + "': '" + path +
                           "' is not a PNG file");
  }
  const int64_t ts_us = NowMicros();
  MutexLock lock(mu_);
  RETURN_IF_ERROR(AdmitLocked(kRecordBytes + bytes.size()));
  int64_t s = NextStepLocked(image_steps_, name, step);
  std::string remote = "images/" + std::string(name) + "/" + std::to_string(s) + ".png";
  if (offline()) {
    PrintOffline("image " + std::string(name) + " " + path + " (" + HumanBytes(size) + ", step " +
                 std::to_string(s) + ")");
    return Status::Ok();
  }
  ++enqueued_;
  pending_bytes_ += bytes.size();
  images_.push_back(PendingImage{Image{std::string(name), s, ts_us, remote}, std::move(bytes)});
  return Status::Ok();
}

Status Recorder::AppendKeyValuesLocked(bool tags, const std::vector<KeyValue>& values) {
  size_t bytes = 0;
  for (const KeyValue& kv : values) bytes += kRecordBytes + kv.key.size() + kv.value_json.size();
  RETURN_IF_ERROR(AdmitLocked(bytes));
  for (const KeyValue& kv : values) {
    if (tags) {
      tags_[kv.key] =
          kv.value_json == "null"
              ? std::nullopt
              : std::optional<std::string>(nlohmann::json::parse(kv.value_json).get<std::string>());
    }
    if (offline()) {
      PrintOffline(std::string(tags ? "tag " : "property ") + kv.key + "=" + kv.value_json);
      continue;
    }
    ++enqueued_;
    Segment& segment = SegmentForLocked(kRecordBytes + kv.key.size() + kv.value_json.size());
    (tags ? segment.batch.tags : segment.batch.properties).push_back(kv);
  }
  return Status::Ok();
}

Status Recorder::Tag(std::string_view key, std::optional<std::string_view> value) {
  return SetTags({{std::string(key), value ? std::optional<std::string>(*value) : std::nullopt}});
}

Status Recorder::SetTags(const TagMap& tags) {
  std::vector<KeyValue> values;
  for (const auto& [key, value] : tags) {
    RETURN_IF_ERROR(CheckName("tag key", key));
    KeyValue kv{key, value ? JsonString(*value) : "null"};
    RETURN_IF_ERROR(CheckTagValueJson(kv.value_json).WithContext("tag '" + key + "'"));
    values.push_back(std::move(kv));
  }
  MutexLock lock(mu_);
  return AppendKeyValuesLocked(/*tags=*/true, values);
}

Status Recorder::AddProperties(const std::map<std::string, std::string>& properties) {
  std::vector<KeyValue> values;
  for (const auto& [key, value] : properties) {
    RETURN_IF_ERROR(CheckName("property key", key));
    KeyValue kv{key, JsonString(value)};
    RETURN_IF_ERROR(CheckTagValueJson(kv.value_json).WithContext("property '" + key + "'"));
    values.push_back(std::move(kv));
  }
  MutexLock lock(mu_);
  return AppendKeyValuesLocked(/*tags=*/false, values);
}

void Recorder::PrintOffline(const std::string& line) const {
  if (options_.offline_quiet) return;
  std::string text = "[trainyard offline] " + line + "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
}

// ---- Files (the calling thread waits) ----

Status Recorder::UploadFile(std::string_view name, const std::string& path) {
  RETURN_IF_ERROR(CheckFilePath("upload_file name", name));
  ASSIGN_OR_RETURN(uint64_t size, CheckLocalFile("upload_file", path, kMaxFileBytes));
  if (offline()) {
    MutexLock lock(mu_);
    PrintOffline("upload_file " + std::string(name) + " <- " + path + " (" + HumanBytes(size) +
                 ")");
    return Status::Ok();
  }
  {
    MutexLock lock(mu_);
    if (closed_) return FailedPrecondition("tracking: the run's recorder is closed");
  }
  Status status;
  double backoff_s = 0.25;
  for (int attempt = 1; attempt <= kUploadAttempts; ++attempt) {
    status = endpoint_->PutFile(std::string(name), path, size);
    if (status.ok() || status.code() != StatusCode::kUnavailable) break;
    if (attempt < kUploadAttempts) SleepMicros(static_cast<int64_t>(backoff_s * 1e6));
    backoff_s = std::min(backoff_s * 2, options_.max_backoff_s);
  }
  return status.WithContext("upload_file '" + std::string(name) + "'");
}

Status Recorder::UploadFolder(std::string_view name, const std::string& path) {
  namespace fs = std::filesystem;
  RETURN_IF_ERROR(CheckFilePath("upload_folder name", name));
  if (!IsDirectory(path)) return NotFound("upload_folder: no such folder '" + path + "'");
  std::vector<std::pair<std::string, std::string>> files;  // run name, local path
  std::error_code ec;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string relative = fs::relative(it->path(), path, ec).generic_string();
    files.emplace_back(std::string(name) + "/" + relative, it->path().string());
  }
  if (ec) return IoError("upload_folder: reading '" + path + "': " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& [remote, local] : files) {
    RETURN_IF_ERROR(CheckFilePath("upload_folder file name", remote));
    RETURN_IF_ERROR(CheckLocalFile("upload_folder", local, kMaxFileBytes).status());
  }
  for (const auto& [remote, local] : files) RETURN_IF_ERROR(UploadFile(remote, local));
  return Status::Ok();
}

// ---- Delivery ----

Status Recorder::Flush(double timeout_s) {
  if (offline()) return Status::Ok();
  MutexLock lock(mu_);
  const uint64_t target = enqueued_;
  if (acked_ >= target) return Status::Ok();
  ++flush_waiters_;
  work_cv_.NotifyOne();
  auto timeout = std::chrono::microseconds(static_cast<int64_t>(std::max(0.0, timeout_s) * 1e6));
  acked_cv_.WaitFor(lock, timeout,
                    [&]() TY_REQUIRES(mu_) { return acked_ >= target || stop_sender_; });
  --flush_waiters_;
  if (acked_ >= target) return Status::Ok();
  std::string message = "tracking: " + std::to_string(target - acked_) +
                        " records not acknowledged by " + endpoint_->uri();
  message += stop_sender_ ? " (recorder closed)" : " after " + FormatValue(timeout_s) + " s";
  if (!last_error_.empty()) message += "; last error: " + last_error_;
  return Timeout(message);
}

Status Recorder::Close(double timeout_s) {
  {
    MutexLock lock(mu_);
    if (closed_) return Status::Ok();
    closed_ = true;
  }
  Status status = Flush(timeout_s);
  {
    MutexLock lock(mu_);
    stop_sender_ = true;
  }
  work_cv_.NotifyAll();
  acked_cv_.NotifyAll();
  if (sender_.joinable()) sender_.join();
  if (!status.ok()) Warn("tracking data lost at exit: " + status.message());
  return status;
}

void Recorder::OnFailureLocked(MutexLock& lock, const Status& error, double* backoff_s) {
  const int64_t now = MonotonicMicros();
  if (failing_since_us_ == 0) failing_since_us_ = now;
  last_error_ = error.message();
  bool permanent = error.code() != StatusCode::kUnavailable;
  if (!failure_reported_ && (permanent || now - failing_since_us_ > 5'000'000)) {
    Warn("cannot deliver tracking data (will keep retrying, nothing is dropped): " + last_error_);
    failure_reported_ = true;
  }
  *backoff_s = std::min(*backoff_s == 0 ? 0.05 : *backoff_s * 2, options_.max_backoff_s);
  auto wait = std::chrono::microseconds(static_cast<int64_t>(*backoff_s * 1e6));
  work_cv_.WaitFor(lock, wait, [&]() TY_REQUIRES(mu_) { return stop_sender_; });
}

void Recorder::SenderLoop() {
  const auto interval_us = static_cast<int64_t>(options_.flush_interval_s * 1e6);
  MutexLock lock(mu_);
  int64_t next_send_us = MonotonicMicros() + interval_us;
  double backoff_s = 0;
  std::optional<Segment> inflight;  // the batch being delivered; resent until acknowledged
  std::string body;
  auto on_success = [&]() TY_REQUIRES(mu_) {
    if (failure_reported_) Warn("tracking endpoint reachable again; delivery resumed");
    failing_since_us_ = 0;
    failure_reported_ = false;
    last_error_.clear();
    backoff_s = 0;
  };
  while (true) {
    while (!stop_sender_) {
      bool has_work = inflight || !images_.empty() || !segments_.empty();
      if (has_work && (inflight || flush_waiters_ > 0 ||
                       segment_records_ >= options_.flush_threshold_records)) {
        break;
      }
      // Log() does not wake this thread (that would cost the caller); so wake at each interval.
      const int64_t now = MonotonicMicros();
      if (now >= next_send_us) {
        if (has_work) break;
        next_send_us = now + interval_us;
      }
      work_cv_.WaitFor(lock, std::chrono::microseconds(next_send_us - now));
    }
    if (stop_sender_) break;

    // Images first: an I record is sent only once its file is stored.
    if (!images_.empty()) {
      PendingImage& image = images_.front();  // stays put: other threads only push_back
      lock.Unlock();
      Status status = endpoint_->PutBytes(image.record.path, image.bytes);
      lock.Lock();
      if (!status.ok()) {
        OnFailureLocked(lock, status, &backoff_s);
        continue;
      }
      on_success();
      pending_bytes_ -= image.bytes.size();
      size_t bytes = kRecordBytes + image.record.name.size() + image.record.path.size();
      SegmentForLocked(bytes).batch.images.push_back(std::move(image.record));
      images_.pop_front();
      continue;
    }

    if (!inflight) {
      if (segments_.empty()) continue;
      inflight = std::move(segments_.front());
      segments_.pop_front();
      segment_records_ -= inflight->records;
      inflight->batch.client = client_id_;
      inflight->batch.seq = ++seq_;
      inflight->batch.rank = options_.rank;
      next_send_us = MonotonicMicros() + interval_us;
      lock.Unlock();
      body = EncodeBatch(inflight->batch);
      lock.Lock();
    }
    // What waits behind this batch (the endpoint counts it as lost if the batch cannot be stored).
    const uint64_t pending = enqueued_ - acked_ - inflight->records;
    lock.Unlock();
    Result<int64_t> acked = endpoint_->PostBatch(body, pending);
    lock.Lock();
    if (acked.ok() && *acked >= inflight->batch.seq) {
      on_success();
      acked_ += inflight->records;
      pending_bytes_ -= inflight->bytes;
      inflight.reset();
      body.clear();
      acked_cv_.NotifyAll();
    } else {
      Status error = acked.ok()
                         ? Unavailable("endpoint acknowledged seq " + std::to_string(*acked) +
                                       ", expected " + std::to_string(inflight->batch.seq))
                         : acked.status();
      OnFailureLocked(lock, error, &backoff_s);
    }
  }
}

// ---- Reading back ----

Result<MetricSeries> Recorder::GetMetrics(const std::optional<std::string>& name) {
  if (offline()) {
    MutexLock lock(mu_);
    if (!name) return offline_metrics_;
    MetricSeries out;
    auto it = offline_metrics_.find(*name);
    if (it != offline_metrics_.end()) out.insert(*it);
    return out;
  }
  RETURN_IF_ERROR(Flush(30));
  ASSIGN_OR_RETURN(std::string body, endpoint_->GetMetricsJson(name));
  return DecodeMetricsJson(body);
}

TagMap Recorder::GetTags() const {
  MutexLock lock(mu_);
  return tags_;
}

}  // namespace trainyard::tracking
