#include "runner/log_capture.h"

#include <cerrno>

#include "common/clock.h"

namespace trainyard::runner {

RankLog::~RankLog() { Close(); }

Status RankLog::Open(const std::string& path) {
  file_ = std::fopen(path.c_str(), "ae");
  if (!file_) return ErrnoError("cannot open log " + path, errno);
  return Status::Ok();
}

void RankLog::WriteLine(int stream, std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string rec = FormatIso8601(NowMicros());
  rec += stream == 0 ? " out " : " err ";
  rec.append(line);
  rec += '\n';
  if (file_) {
    std::fwrite(rec.data(), 1, rec.size(), file_);
    std::fflush(file_);
  }
  if (stream == 1) {
    err_tail_.emplace_back(line);
    if (err_tail_.size() > kTailLines) err_tail_.pop_front();
  }
}

void RankLog::Feed(int stream, std::string_view bytes) {
  std::string& buf = partial_[stream];
  buf.append(bytes);
  size_t start = 0;
  while (true) {
    size_t nl = buf.find('\n', start);
    if (nl == std::string::npos) break;
    WriteLine(stream, std::string_view(buf).substr(start, nl - start));
    start = nl + 1;
  }
  buf.erase(0, start);
  while (buf.size() > kMaxLine) {
    WriteLine(stream, std::string_view(buf).substr(0, kMaxLine));
    buf.erase(0, kMaxLine);
  }
}

void RankLog::Close() {
  for (int s = 0; s < 2; ++s) {
    if (!partial_[s].empty()) WriteLine(s, partial_[s]);
    partial_[s].clear();
  }
  if (file_) std::fclose(file_);
  file_ = nullptr;
}

LogLine ParseLogLine(const std::string& line) {
  // "2026-11-26T09:17:14.123Z out text"
  if (line.size() >= 29 && line[24] == ' ' && line[28] == ' ' && line[23] == 'Z') {
    return {line.substr(0, 24), line.substr(25, 3), line.substr(29)};
  }
  return {"", "out", line};
}

}  // namespace trainyard::runner
