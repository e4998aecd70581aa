// Workspace server (issue 17): many clients following the live log of one run at once.
//
// A child process serves the stream routes of a fresh workspace over HTTP on loopback (the same
// handlers as `trainyard server`, with an admit-all token check and a 512-thread pool); this
// process creates a Running run, connects CLIENTS followers to GET
// /api/v1/runs/{id}/logs/stream, writes LINES lines into the run's rank-0 log as the capture
// writes them (in bursts every 10 ms, RATE lines/s), then ends the run. It checks that every
// client got every line in order followed by `end`, and reports delivered lines/s, the delay
// from a line's write to its arrival at a client (p50/p99 over all deliveries), and the server
// process's CPU (utime+stime from /proc) while following, and while 200 followers wait on an
// idle run.
//
// Usage: server_follow [CLIENTS=200] [LINES=20000] [RATE=2000]
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/http_bind.h"
#include "server/api.h"
#include "store/workspace.h"
#include "targets/log_capture.h"
#include "testing/temp_dir.h"

namespace {

namespace server = trainyard::server;
namespace store = trainyard::store;
using trainyard::MonotonicMicros;

void Check(const trainyard::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

// The child: serves the stream routes until SIGTERM; writes its port to `port_fd`.
[[noreturn]] void Serve(const std::string& dir, int port_fd) {
  static std::atomic<bool> stop{false};
  signal(SIGTERM, [](int) { stop = true; });
  server::ServerContext ctx(dir);
  ctx.stopping = [] { return stop.load(); };
  httplib::Server http;
  http.new_task_queue = [] { return new httplib::ThreadPool(512); };
  server::Routes routes(&http, [](const httplib::Request&) {
    server::AuthResult auth;
    auth.caller = server::Caller{"bench", server::Role::kAdmin};
    return auth;
  });
  server::AddStreamRoutes(routes, ctx);
  // Like trainyard server: a backlog wider than httplib's 5, which 200 clients connecting at once
  // overflow.
  int port = trainyard::BindHttpServer(http, "127.0.0.1", 0);
  if (write(port_fd, &port, sizeof port) != sizeof port) std::_Exit(1);
  close(port_fd);
  std::thread t([&] { http.listen_after_bind(); });
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  http.stop();
  t.join();
  std::_Exit(0);
}

// CPU seconds (user + system) of process `pid` so far.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after the last ')'.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Follower {
  std::vector<int64_t> delays_us;  // per line received, write -> arrival
  int64_t next = -1;               // the next line number expected (-1: the "ready" line)
  bool in_order = true, ended = false;
  std::atomic<bool> ready{false};
  std::string error;
};

// Reads the stream; each line is "<number> <monotonic micros at write>" or "ready".
void Follow(int port, const std::string& path, Follower* f) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120, 0);
  std::string buffer;
  auto res = c.Get(path.c_str(), [&](const char* data, size_t n) {
    buffer.append(data, n);
    size_t end;
    while ((end = buffer.find("\n\n")) != std::string::npos) {
      std::string block = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      if (block.rfind("event: end", 0) == 0) {
        f->ended = true;
        continue;
      }
      if (block.rfind("event: line\ndata: ", 0) != 0) continue;
      const int64_t now = MonotonicMicros();
      auto j = nlohmann::json::parse(block.substr(18), nullptr, false);
      std::string text = j.is_object() ? j.value("text", "") : "";
      if (text == "ready") {
        f->ready = true;
        f->next = 0;
        continue;
      }
      long long number = -1, at = 0;
      if (std::sscanf(text.c_str(), "%lld %lld", &number, &at) != 2 || number != f->next) {
        f->in_order = false;
      }
      f->next = number + 1;
      f->delays_us.push_back(now - at);
    }
    return true;
  });
  if (!res) f->error = httplib::to_string(res.error());
}

double Percentile(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1)));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return static_cast<double>(v[i]);
}

}  // namespace

int main(int argc, char** argv) {
  const int clients = argc > 1 ? std::atoi(argv[1]) : 200;
  const int lines = argc > 2 ? std::atoi(argv[2]) : 20000;
  const int rate = argc > 3 ? std::atoi(argv[3]) : 2000;
  trainyard::testing::TempDir dir;
  int fds[2];
  if (pipe(fds) != 0) return 1;
  pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    Serve(dir.path(), fds[1]);
  }
  close(fds[1]);
  int port = 0;
  if (read(fds[0], &port, sizeof port) != sizeof port || port <= 0) {
    std::fprintf(stderr, "the server did not start\n");
    return 1;
  }
  close(fds[0]);

  auto opened = store::Workspace::Open(dir.path());
  Check(opened.status(), "open workspace");
  std::unique_ptr<store::Workspace> ws = std::move(*opened);
  store::RunRecord run;
  run.experiment = "bench";
  run.target = "local";
  run.spec_json = "{}";
  Check(ws->CreateRun(&run, {}), "create run");
  Check(ws->SetStatus(run.id, store::RunStatus::kRunning), "running");
  std::filesystem::create_directories(ws->RunDir(run.id) + "/logs");
  trainyard::targets::RankLog log;
  Check(log.Open(ws->RunDir(run.id) + "/logs/rank-0.log"), "open log");

  const std::string path = "/api/v1/runs/" + run.id + "/logs/stream?tail=0";
  std::vector<std::unique_ptr<Follower>> followers;
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    followers.push_back(std::make_unique<Follower>());
    threads.emplace_back(Follow, port, path, followers.back().get());
  }
  // Idle: every client connected and waiting on a run that writes nothing.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  double cpu0 = CpuSeconds(child);
  int64_t t0 = MonotonicMicros();
  std::this_thread::sleep_for(std::chrono::seconds(5));
  const double idle_cpu =
      (CpuSeconds(child) - cpu0) / (static_cast<double>(MonotonicMicros() - t0) / 1e6);

  log.AddLine(0, "ready");
  const int64_t ready_deadline = MonotonicMicros() + 60'000'000;
  while (MonotonicMicros() < ready_deadline) {
    bool all = std::all_of(followers.begin(), followers.end(),
                           [](const auto& f) { return f->ready.load(); });
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  cpu0 = CpuSeconds(child);
  t0 = MonotonicMicros();
  const int per_burst = std::max(1, rate / 100);  // every 10 ms
  for (int i = 0; i < lines;) {
    const int64_t burst_at = t0 + static_cast<int64_t>(i / per_burst) * 10'000;
    while (MonotonicMicros() < burst_at) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    for (int k = 0; k < per_burst && i < lines; ++k, ++i) {
      log.AddLine(0, std::to_string(i) + " " + std::to_string(MonotonicMicros()));
    }
  }
  log.Close();
  Check(ws->SetStatus(run.id, store::RunStatus::kCompleted), "completed");
  for (auto& t : threads) t.join();
  const double seconds = static_cast<double>(MonotonicMicros() - t0) / 1e6;
  const double cpu = CpuSeconds(child) - cpu0;
  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);

  int complete = 0;
  std::vector<int64_t> delays;
  for (const auto& f : followers) {
    bool ok = f->in_order && f->ended && f->next == lines && f->error.empty();
    complete += ok ? 1 : 0;
    if (!ok) {
      std::fprintf(stderr, "a client got %lld of %d lines (in order: %d, end: %d) %s\n",
                   static_cast<long long>(f->next), lines, f->in_order, f->ended, f->error.c_str());
    }
    delays.insert(delays.end(), f->delays_us.begin(), f->delays_us.end());
  }
  const double delivered = static_cast<double>(delays.size());
  std::printf(
      "| clients | lines written | write rate (lines/s) | clients with every line in order |"
      " delivered lines/s | delay p50 ms | delay p99 ms | server CPU following |"
      " server CPU idle followers |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  std::printf(
      "| %d | %d | %d | %d/%d | %.0f | %.1f | %.1f | %.0f%% of a core | %.1f%% of a core |\n",
      clients, lines, rate, complete, clients, delivered / seconds, Percentile(delays, 0.5) / 1000,
      Percentile(delays, 0.99) / 1000, 100 * cpu / seconds, 100 * idle_cpu);
  return complete == clients ? 0 : 1;
}
