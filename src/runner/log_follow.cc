#include "runner/log_follow.h"

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "targets/log_capture.h"

namespace trainyard::runner {

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

int LogFollower::Pump(bool all) {
  Discover();
  bool prefix = sources_.size() > 1;
  struct Out {
    std::string time, text;
    int rank;
  };
  std::vector<Out> lines;
  for (auto& s : sources_) {
    std::ifstream in(s.path, std::ios::binary);
    if (!in) continue;
    in.seekg(s.offset);
    std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    s.offset += static_cast<long>(chunk.size());
    s.partial += chunk;
    size_t start = 0;
    while (true) {
      size_t nl = s.partial.find('\n', start);
      if (nl == std::string::npos) break;
      targets::LogLine l = targets::ParseLogLine(s.partial.substr(start, nl - start));
      lines.push_back({l.time, l.text, s.rank});
      start = nl + 1;
    }
    s.partial.erase(0, start);
    if (all && !s.partial.empty()) {
      targets::LogLine l = targets::ParseLogLine(s.partial);
      lines.push_back({l.time, l.text, s.rank});
      s.partial.clear();
    }
  }
  // Merge ranks by time (stable, so each rank keeps its own order).
  std::stable_sort(lines.begin(), lines.end(),
                   [](const Out& a, const Out& b) { return a.time < b.time; });
  for (const auto& l : lines) {
    std::string out;
    if (timestamps_) out += l.time + " ";
    if (prefix) out += "[rank " + std::to_string(l.rank) + "] ";
    out += l.text;
    sink_(out);
  }
  return static_cast<int>(lines.size());
}

void LogFollower::SkipToEnd() {
  Discover();
  for (auto& s : sources_) {
    std::ifstream in(s.path, std::ios::binary | std::ios::ate);
    if (in) s.offset = static_cast<long>(in.tellg());
    s.partial.clear();
  }
}

}  // namespace trainyard::runner
