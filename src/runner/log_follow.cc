#include "runner/log_follow.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <queue>
#include <tuple>

#include "targets/log_capture.h"

namespace trainyard::runner {

namespace {

// Bytes read from one rank's file at a time; smaller with many ranks, so that a pump holds about
// 4 MiB of blocks however many ranks there are.
size_t BlockSize(size_t sources) {
  constexpr size_t kTotal = 4 << 20, kMin = 4096, kMax = 256 << 10;
  return std::clamp(kTotal / std::max<size_t>(sources, 1), kMin, kMax);
}

}  // namespace

LogFollower::LogFollower(std::string log_dir, int only_rank, bool timestamps, Sink sink)
    : dir_(std::move(log_dir)),
      only_rank_(only_rank),
      timestamps_(timestamps),
      sink_(std::move(sink)) {}

void LogFollower::Discover() {
  DIR* d = opendir(dir_.c_str());
  if (!d) return;
  while (struct dirent* e = readdir(d)) {
    int rank = -1;
    if (std::sscanf(e->d_name, "rank-%d.log", &rank) != 1) continue;
    if (only_rank_ >= 0 && rank != only_rank_) continue;
    bool known = false;
    for (const auto& s : sources_) known |= s.rank == rank;
    if (!known) sources_.push_back({rank, dir_ + "/" + e->d_name});
  }
  closedir(d);
  std::sort(sources_.begin(), sources_.end(),
            [](const Source& a, const Source& b) { return a.rank < b.rank; });
}

bool LogFollower::NextLine(Source& s, bool all, std::string* line) {
  const size_t block = BlockSize(sources_.size());
  while (true) {
    size_t nl = s.partial.find('\n', s.pos);
    if (nl != std::string::npos) {
      line->assign(s.partial, s.pos, nl - s.pos);
      s.pos = nl + 1;
      return true;
    }
    if (s.partial.size() - s.pos >= kMaxLine) {  // a damaged file: hand over a piece
      line->assign(s.partial, s.pos, kMaxLine);
      s.pos += kMaxLine;
      return true;
    }
    // Keep only what is left, then read the next block after it.
    s.partial.erase(0, s.pos);
    s.pos = 0;
    if (s.at_end || s.fd < 0) break;
    size_t had = s.partial.size();
    s.partial.resize(had + block);
    ssize_t n = pread(s.fd, s.partial.data() + had, block, s.offset);
    if (n < 0 && errno == EINTR) {
      s.partial.resize(had);
      continue;
    }
    s.partial.resize(had + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    if (n <= 0) {
      s.at_end = true;
      break;
    }
    s.offset += n;
  }
  if (all && !s.partial.empty()) {
    line->swap(s.partial);
    s.partial.clear();
    s.pos = 0;
    return true;
  }
  return false;
}

int LogFollower::Pump(bool all) {
  Discover();
  const bool prefix = sources_.size() > 1;
  for (auto& s : sources_) {
    s.fd = open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
    s.at_end = false;
    s.pos = 0;
  }
  // The next line of every rank, smallest time first (then lowest rank: the files are sorted by
  // rank, so ties keep the order a stable sort of all lines by time would give).
  struct Head {
    targets::LogLine line;
    size_t source;
  };
  auto later = [](const Head& a, const Head& b) {
    return std::tie(a.line.time, a.source) > std::tie(b.line.time, b.source);
  };
  std::priority_queue<Head, std::vector<Head>, decltype(later)> heads(later);
  std::string text;
  for (size_t i = 0; i < sources_.size(); ++i) {
    if (NextLine(sources_[i], all, &text)) heads.push({targets::ParseLogLine(text), i});
  }
  int count = 0;
  std::string out;
  while (!heads.empty()) {
    Head h = heads.top();
    heads.pop();
    out.clear();
    if (timestamps_) out += h.line.time + " ";
    if (prefix) out += "[rank " + std::to_string(sources_[h.source].rank) + "] ";
    out += h.line.text;
    sink_(out);
    ++count;
    if (NextLine(sources_[h.source], all, &text)) {
      heads.push({targets::ParseLogLine(text), h.source});
    }
  }
  for (auto& s : sources_) {
    if (s.fd >= 0) close(s.fd);
    s.fd = -1;
  }
  return count;
}

void LogFollower::SkipToEnd() {
  Discover();
  for (auto& s : sources_) {
    struct stat st {};
    if (stat(s.path.c_str(), &st) == 0) s.offset = static_cast<long>(st.st_size);
    s.partial.clear();
    s.pos = 0;
  }
}

void LogFollower::SkipToLastLines(int lines) {
  Discover();
  constexpr size_t kBlock = 64 << 10;
  std::string buf;
  for (auto& s : sources_) {
    s.partial.clear();
    s.pos = 0;
    int fd = open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    fstat(fd, &st);
    long end = static_cast<long>(st.st_size);
    long start = 0;  // where the last `lines` lines begin
    int newlines = 0;
    bool first_byte = true;
    for (long at = end; at > 0 && lines > 0;) {
      long from = std::max<long>(0, at - static_cast<long>(kBlock));
      buf.resize(static_cast<size_t>(at - from));
      ssize_t n = pread(fd, buf.data(), buf.size(), from);
      if (n != static_cast<ssize_t>(buf.size())) break;
      bool found = false;
      for (long i = static_cast<long>(buf.size()) - 1; i >= 0; --i) {
        bool last = first_byte;
        first_byte = false;
        if (buf[static_cast<size_t>(i)] != '\n' || last) continue;  // the final '\n' ends line 1
        if (++newlines == lines) {
          start = from + i + 1;
          found = true;
          break;
        }
      }
      if (found) break;
      at = from;
    }
    if (lines <= 0) start = end;
    close(fd);
    s.offset = start;
  }
}

}  // namespace trainyard::runner
