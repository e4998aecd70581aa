#include "targets/log_capture.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "common/clock.h"

namespace trainyard::targets {

namespace {

std::mutex& LossMutex() {
  static std::mutex mu;
  return mu;
}
LogLoss& Losses() {
  static LogLoss loss;
  return loss;
}

void CountLoss(const std::string& path, size_t bytes, int error) {
  std::lock_guard<std::mutex> lock(LossMutex());
  LogLoss& loss = Losses();
  loss.bytes += static_cast<int64_t>(bytes);
  loss.lines += 1;
  if (error == ENOSPC) loss.disk_full = true;
  if (loss.first_error.empty()) {
    loss.first_error = std::strerror(error);
    size_t slash = path.find_last_of('/');
    loss.first_folder = slash == std::string::npos ? "." : path.substr(0, slash);
  }
}

}  // namespace

LogLoss LogLosses() {
  std::lock_guard<std::mutex> lock(LossMutex());
  return Losses();
}

LogLoss TakeLogLosses() {
  std::lock_guard<std::mutex> lock(LossMutex());
  LogLoss taken = Losses();
  Losses() = LogLoss();
  return taken;
}

RankLog::~RankLog() { Close(); }

Status RankLog::Open(const std::string& path) {
  path_ = path;
  fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) return ErrnoError("cannot open log " + path, errno);
  return Status::Ok();
}

void RankLog::Append(const std::string& rec) {
  if (fd_ < 0) return;
  struct stat st {};
  const bool sized = fstat(fd_, &st) == 0;
  size_t done = 0;
  int error = 0;
  while (done < rec.size()) {
    ssize_t n = write(fd_, rec.data() + done, rec.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (done == rec.size()) return;
  // Half a line would run into the next one ("stopped mid-timestamp"): cut it off again.
  if (done > 0 && sized) {
    // Best effort: when even this fails the part stays, counted as lost with the rest.
    int cut = ftruncate(fd_, st.st_size);
    static_cast<void>(cut);
  }
  lost_bytes_ += static_cast<int64_t>(rec.size());
  CountLoss(path_, rec.size(), error);
}

void RankLog::AddLine(int stream, std::string_view line) { WriteLine(stream, line); }

void RankLog::WriteLine(int stream, std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string rec = FormatIso8601(NowMicros());
  rec += stream == 0 ? " out " : " err ";
  rec.append(line);
  rec += '\n';
  Append(rec);
  if (stream == 1) {
    err_tail_.emplace_back(line);
    if (err_tail_.size() > kTailLines) err_tail_.pop_front();
  }
  all_tail_.emplace_back(line);
  if (all_tail_.size() > kTailLines) all_tail_.pop_front();
}

namespace {

// Appends `bytes` to `partial` and hands every complete line (without '\n') to `emit`; a line
// longer than RankLog::kMaxLine goes out in pieces of that size.
template <typename Emit>
void SplitLines(std::string* partial, std::string_view bytes, Emit emit) {
  std::string& buf = *partial;
  buf.append(bytes);
  size_t start = 0;
  while (true) {
    size_t nl = buf.find('\n', start);
    if (nl == std::string::npos) break;
    emit(std::string_view(buf).substr(start, nl - start));
    start = nl + 1;
  }
  buf.erase(0, start);
  while (buf.size() > RankLog::kMaxLine) {
    emit(std::string_view(buf).substr(0, RankLog::kMaxLine));
    buf.erase(0, RankLog::kMaxLine);
  }
}

}  // namespace

void RankLog::Feed(int stream, std::string_view bytes) {
  SplitLines(&partial_[stream], bytes, [&](std::string_view l) { WriteLine(stream, l); });
}

void RankLog::Close() {
  for (int s = 0; s < 2; ++s) {
    if (!partial_[s].empty()) WriteLine(s, partial_[s]);
    partial_[s].clear();
  }
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

TaggedDemux::TaggedDemux(std::string log_dir, Format format)
    : dir_(std::move(log_dir)), format_(format) {
  launcher_.Open(dir_ + "/launcher.log").IgnoreError();
}

RankLog& TaggedDemux::Rank(int rank) {
  auto& log = ranks_[rank];
  if (!log) {
    log = std::make_unique<RankLog>();
    log->Open(dir_ + "/rank-" + std::to_string(rank) + ".log").IgnoreError();
  }
  return *log;
}

void TaggedDemux::Route(int stream, std::string_view line) {
  if (format_ == Format::kSlurm) {
    size_t i = 0;
    while (i < line.size() && line[i] == ' ') ++i;
    size_t digits = i;
    int rank = 0;
    while (i < line.size() && line[i] >= '0' && line[i] <= '9')
      rank = rank * 10 + (line[i++] - '0');
    if (i > digits && i + 1 < line.size() + 1 && line.substr(i, 2) == ": ") {
      Rank(rank).AddLine(stream, line.substr(i + 2));
      return;
    }
    if (i > digits && line.substr(i) == ":") {
      Rank(rank).AddLine(stream, "");
      return;
    }
    launcher_.AddLine(stream, line);
    return;
  }
  // "[<job>,<rank>]<stdout>:" or "<stderr>:".
  if (line.size() > 6 && line[0] == '[') {
    size_t comma = line.find(',');
    size_t close = line.find(']');
    if (comma != std::string_view::npos && close != std::string_view::npos && comma < close) {
      std::string_view rest = line.substr(close + 1);
      int tagged_stream = -1;
      if (rest.substr(0, 9) == "<stdout>:") tagged_stream = 0;
      if (rest.substr(0, 9) == "<stderr>:") tagged_stream = 1;
      int rank = 0;
      bool digits = comma + 1 < close;
      for (size_t i = comma + 1; i < close; ++i) {
        if (line[i] < '0' || line[i] > '9')
          digits = false;
        else
          rank = rank * 10 + (line[i] - '0');
      }
      if (tagged_stream >= 0 && digits) {
        Rank(rank).AddLine(tagged_stream, rest.substr(9));
        return;
      }
    }
  }
  launcher_.AddLine(stream, line);
}

void TaggedDemux::Feed(int stream, std::string_view bytes) {
  SplitLines(&partial_[stream], bytes, [&](std::string_view l) { Route(stream, l); });
}

void TaggedDemux::Close() {
  for (int s = 0; s < 2; ++s) {
    if (!partial_[s].empty()) Route(s, partial_[s]);
    partial_[s].clear();
  }
  for (auto& [rank, log] : ranks_) log->Close();
  launcher_.Close();
}

const RankLog* TaggedDemux::rank_log(int rank) const {
  auto it = ranks_.find(rank);
  return it == ranks_.end() ? nullptr : it->second.get();
}

LogLine ParseLogLine(const std::string& line) {
  // "2026-11-26T09:17:14.123Z out text"
  if (line.size() >= 29 && line[24] == ' ' && line[28] == ' ' && line[23] == 'Z') {
    return {line.substr(0, 24), line.substr(25, 3), line.substr(29)};
  }
  return {"", "out", line};
}

}  // namespace trainyard::targets
