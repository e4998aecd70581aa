// Load generator for the serving benchmark (bench/serve_bench.py; docs/benchmarks.md, "Serving").
//
// N connections, each its own thread with one keep-alive HTTP/1.1 client, send the same POST body
// back to back: first for the warm-up seconds (not recorded), then for the measured seconds. A
// request counts when it ends inside the measured window (so that a server slower than the window
// still shows its steady rate); its latency is the time from sending to having read the whole
// response. No request starts after the window; those still in flight then are not counted. Any
// answer other than 200, or a failed connection, is an error (not in the latency figures).
// Prints one JSON object:
//   {"connections", "seconds", "requests", "rps", "p50_ms", "p90_ms", "p99_ms", "max_ms",
//    "errors", "first_error"}
//
// Usage: serve_load --port P --path /score --body-file F [--host 127.0.0.1] [--connections 16]
//                   [--seconds 5] [--warmup 1] [--timeout-s 60]
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/score";
  std::string body_file;
  int connections = 16;
  double seconds = 5;
  double warmup = 1;
  int timeout_s = 60;
};

struct ThreadResult {
  std::vector<double> latencies_ms;  // successful requests inside the window
  long errors = 0;                   // inside the window
  std::string first_error;
};

[[noreturn]] void Usage(const char* message) {
  std::fprintf(stderr,
               "serve_load: %s\nusage: serve_load --port P --path PATH --body-file F "
               "[--host H] [--connections N] [--seconds T] [--warmup W] [--timeout-s S]\n",
               message);
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) Usage(("missing value for " + flag).c_str());
    std::string value = argv[++i];
    if (flag == "--host") {
      o.host = value;
    } else if (flag == "--port") {
      o.port = std::atoi(value.c_str());
    } else if (flag == "--path") {
      o.path = value;
    } else if (flag == "--body-file") {
      o.body_file = value;
    } else if (flag == "--connections") {
      o.connections = std::atoi(value.c_str());
    } else if (flag == "--seconds") {
      o.seconds = std::atof(value.c_str());
    } else if (flag == "--warmup") {
      o.warmup = std::atof(value.c_str());
    } else if (flag == "--timeout-s") {
      o.timeout_s = std::atoi(value.c_str());
    } else {
      Usage(("unknown flag " + flag).c_str());
    }
  }
  if (o.port <= 0 || o.port > 65535) Usage("--port must be 1..65535");
  if (o.body_file.empty()) Usage("--body-file is required");
  if (o.connections < 1 || o.seconds <= 0 || o.warmup < 0) {
    Usage("--connections must be >= 1, --seconds > 0, --warmup >= 0");
  }
  return o;
}

// One connection: requests back to back until `end`; records those ending inside [start, end].
void Drive(const Options& o, const std::string& body, Clock::time_point start,
           Clock::time_point end, ThreadResult* out) {
  httplib::Client client(o.host, o.port);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);  // headers and body may be two writes: no Nagle stall between
  client.set_connection_timeout(o.timeout_s, 0);
  client.set_read_timeout(o.timeout_s, 0);
  client.set_write_timeout(o.timeout_s, 0);
  out->latencies_ms.reserve(1 << 16);
  while (true) {
    Clock::time_point t0 = Clock::now();
    if (t0 >= end) break;
    httplib::Result res = client.Post(o.path.c_str(), body, "application/json");
    Clock::time_point t1 = Clock::now();
    bool counted = t1 >= start && t1 <= end;
    bool ok = res && res->status == 200;
    if (!counted) continue;
    if (ok) {
      out->latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      continue;
    }
    ++out->errors;
    if (out->first_error.empty()) {
      out->first_error =
          res ? "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200)
              : "connection error: " + httplib::to_string(res.error());
    }
  }
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t index = static_cast<size_t>(std::lround(p * static_cast<double>(sorted.size() - 1)));
  return sorted[std::min(index, sorted.size() - 1)];
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  std::ifstream in(o.body_file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "serve_load: cannot read %s\n", o.body_file.c_str());
    return 1;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string body = buffer.str();

  Clock::time_point start = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                               std::chrono::duration<double>(o.warmup));
  Clock::time_point end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  std::vector<ThreadResult> results(o.connections);
  std::vector<std::thread> threads;
  threads.reserve(o.connections);
  for (int i = 0; i < o.connections; ++i) {
    threads.emplace_back(Drive, std::cref(o), std::cref(body), start, end, &results[i]);
  }
  for (std::thread& t : threads) t.join();

  std::vector<double> all;
  long errors = 0;
  std::string first_error;
  for (const ThreadResult& r : results) {
    all.insert(all.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    errors += r.errors;
    if (first_error.empty()) first_error = r.first_error;
  }
  std::sort(all.begin(), all.end());
  std::printf(
      "{\"connections\": %d, \"seconds\": %.3f, \"requests\": %zu, \"rps\": %.1f, "
      "\"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"errors\": %ld, "
      "\"first_error\": %s}\n",
      o.connections, o.seconds, all.size(), static_cast<double>(all.size()) / o.seconds,
      Percentile(all, 0.5), Percentile(all, 0.9), Percentile(all, 0.99),
      all.empty() ? 0.0 : all.back(), errors, JsonString(first_error).c_str());
  return 0;
}
