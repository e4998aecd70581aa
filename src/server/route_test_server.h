// Tests only: a real HTTP server on a free loopback port with some route groups over a temporary
// workspace, and a reader of server-sent events. Tokens: "Bearer reader" has role read, "Bearer
// submitter" submit; any other request (none included) is the admin "test".
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "server/api.h"
#include "store/workspace.h"
#include "testing/temp_dir.h"

namespace trainyard::server::testing {

class RouteTestServer : public ::testing::Test {
 protected:
  // Which route groups the server has (the test's SetUp calls Start with them).
  void Start(const std::vector<void (*)(Routes&, ServerContext&)>& groups) {
    auto ws = store::Workspace::Open(dir_.path());
    ASSERT_TRUE(ws.ok()) << ws.status().ToString();
    ws_ = std::move(*ws);
    ctx_ = std::make_unique<ServerContext>(dir_.path());
    ctx_->stopping = [this] { return stopping_.load(); };
    ctx_->recheck_micros = 100'000;
    routes_ = std::make_unique<Routes>(&http_, [this](const httplib::Request& req) {
      AuthResult auth;
      const std::string header = req.get_header_value("Authorization");
      if (header == "Bearer reader") {
        auth.caller = Caller{"reader", Role::kRead};
      } else if (header == "Bearer revocable") {  // a submit token until revoked_ is set
        if (revoked_) {
          auth.message = "invalid or revoked token";
        } else {
          auth.caller = Caller{"revocable", Role::kSubmit};
        }
      } else if (header == "Bearer submitter") {
        auth.caller = Caller{"submitter", Role::kSubmit};
      } else {
        auth.caller = Caller{"test", Role::kAdmin};
      }
      return auth;
    });
    for (auto add : groups) add(*routes_, *ctx_);
    // Enough threads for the streams a test keeps open at once.
    http_.new_task_queue = [] { return new httplib::ThreadPool(64); };
    port_ = http_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    while (!http_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void TearDown() override {
    stopping_ = true;  // open streams end, so that stop() can join their threads
    http_.stop();
    if (thread_.joinable()) thread_.join();
  }

  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    return c;
  }

  store::RunRecord NewRun(const std::string& experiment = "exp") {
    store::RunRecord r;
    r.experiment = experiment;
    r.target = "local";
    r.spec_json = "{}";
    Status s = ws_->CreateRun(&r, {});
    EXPECT_TRUE(s.ok()) << s.ToString();
    return r;
  }

  trainyard::testing::TempDir dir_;
  std::unique_ptr<store::Workspace> ws_;
  std::unique_ptr<ServerContext> ctx_;
  httplib::Server http_;
  std::unique_ptr<Routes> routes_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> revoked_{false};  // the token "revocable" was revoked
  std::thread thread_;
  int port_ = 0;
};

// One server-sent event.
struct SseEvent {
  std::string type;
  nlohmann::json data;
};

// Follows an event stream on its own thread, collecting the events; Wait* poll what came.
class SseReader {
 public:
  SseReader(int port, std::string path, httplib::Headers headers = {})
      : client_("127.0.0.1", port) {
    client_.set_read_timeout(30, 0);
    thread_ = std::thread([this, path = std::move(path), headers = std::move(headers)] {
      std::string buffer;
      auto res = client_.Get(
          path.c_str(), headers,
          [this](const httplib::Response& r) {
            std::lock_guard<std::mutex> lock(mu_);
            status_ = r.status;
            content_type_ = r.get_header_value("Content-Type");
            return true;
          },
          [this, &buffer](const char* data, size_t n) {
            buffer.append(data, n);
            size_t end;
            while ((end = buffer.find("\n\n")) != std::string::npos) {
              Parse(buffer.substr(0, end));
              buffer.erase(0, end + 2);
            }
            return !cancel_.load();
          });
      std::lock_guard<std::mutex> lock(mu_);
      if (res && status_ == 0) status_ = res->status;
      closed_ = true;
    });
  }
  ~SseReader() {
    cancel_ = true;
    client_.stop();  // a stream that is idle now would otherwise hold us until its next ping
    if (thread_.joinable()) thread_.join();
  }
  SseReader(const SseReader&) = delete;
  SseReader& operator=(const SseReader&) = delete;

  // Waits until `done(events)` holds (true) or `seconds` pass (false).
  bool WaitFor(const std::function<bool(const std::vector<SseEvent>&)>& done, double seconds = 20) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (done(events_)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::lock_guard<std::mutex> lock(mu_);
    return done(events_);
  }
  bool WaitClosed(double seconds = 20) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (closed_) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  std::vector<SseEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  int status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  std::string content_type() {
    std::lock_guard<std::mutex> lock(mu_);
    return content_type_;
  }
  // Stops reading: the client goes away.
  void Cancel() { cancel_ = true; }

 private:
  void Parse(const std::string& block) {
    SseEvent e;
    std::string data;
    size_t start = 0;
    while (start < block.size()) {
      size_t nl = block.find('\n', start);
      if (nl == std::string::npos) nl = block.size();
      std::string line = block.substr(start, nl - start);
      if (line.rfind("event: ", 0) == 0) e.type = line.substr(7);
      if (line.rfind("data: ", 0) == 0) data += line.substr(6);
      start = nl + 1;
    }
    if (e.type.empty()) return;  // a comment (": ping")
    e.data = nlohmann::json::parse(data, nullptr, false);
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }

  std::mutex mu_;
  std::vector<SseEvent> events_;
  int status_ = 0;
  std::string content_type_;
  bool closed_ = false;
  std::atomic<bool> cancel_{false};
  httplib::Client client_;
  std::thread thread_;
};

}  // namespace trainyard::server::testing
