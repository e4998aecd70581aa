// Live streams over a real server: log lines while they are written (in order, every one, `end`
// once the run ended), tails and ranks, status and metric events, plain-text logs.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "server/api.h"
#include "server/route_test_server.h"
#include "store/metrics.h"
#include "store/run_status.h"
#include "targets/log_capture.h"

namespace trainyard::server {
namespace {

using testing::SseEvent;
using testing::SseReader;

class StreamsTest : public testing::RouteTestServer {
 protected:
  void SetUp() override { Start({AddStreamRoutes}); }

  // A rank's log, written as the capture writes it.
  std::unique_ptr<targets::RankLog> OpenLog(const std::string& run_id, int rank) {
    std::filesystem::create_directories(ws_->RunDir(run_id) + "/logs");
    auto log = std::make_unique<targets::RankLog>();
    Status s = log->Open(ws_->RunDir(run_id) + "/logs/rank-" + std::to_string(rank) + ".log");
    EXPECT_TRUE(s.ok()) << s.ToString();
    return log;
  }

  void SetStatus(const std::string& id, store::RunStatus status) {
    store::StatusUpdate u;
    if (store::IsTerminal(status)) u.ended_at = NowMicros();
    Status s = ws_->SetStatus(id, status, u);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  static std::vector<std::string> Lines(const std::vector<SseEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) {
      if (e.type == "line") out.push_back(e.data["text"].get<std::string>());
    }
    return out;
  }
  static bool Ended(const std::vector<SseEvent>& events) {
    return !events.empty() && events.back().type == "end";
  }
};

TEST_F(StreamsTest, LogStreamDeliversEveryLineInOrderWhileTheRunWrites) {
  store::RunRecord run = NewRun();
  SetStatus(run.id, store::RunStatus::kRunning);
  auto log = OpenLog(run.id, 0);
  log->AddLine(0, "before the follower");
  SseReader reader(port_, "/api/v1/runs/" + run.id + "/logs/stream");
  ASSERT_TRUE(reader.WaitFor([](const auto& ev) { return Lines(ev).size() == 1; }));
  EXPECT_EQ(reader.status(), 200);
  EXPECT_EQ(reader.content_type(), "text/event-stream");
  std::vector<std::string> expected = {"before the follower"};
  for (int batch = 0; batch < 20; ++batch) {
    for (int i = 0; i < 50; ++i) {
      std::string line = "line " + std::to_string(batch * 50 + i) + " \"quoted\" \\ é";
      log->AddLine(i % 2, line);  // stdout and stderr alike
      expected.push_back(line);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Everything written so far arrives while the run is still running, without an `end`.
  ASSERT_TRUE(reader.WaitFor([&](const auto& ev) { return Lines(ev).size() == expected.size(); }));
  EXPECT_FALSE(Ended(reader.events()));
  log->AddLine(0, "the last line");
  log->Close();
  expected.push_back("the last line");
  SetStatus(run.id, store::RunStatus::kCompleted);
  ASSERT_TRUE(reader.WaitFor(Ended));
  EXPECT_TRUE(reader.WaitClosed());
  std::vector<SseEvent> events = reader.events();
  EXPECT_EQ(Lines(events), expected);
  for (const auto& e : events) {
    if (e.type == "line") {
      EXPECT_TRUE(e.data["rank"].is_null()) << e.data.dump();
    }
  }
  EXPECT_EQ(events.back().data, nlohmann::json::object());
}

TEST_F(StreamsTest, LogStreamStartsWithTheTailAndEndsAtOnceForAnEndedRun) {
  store::RunRecord run = NewRun();
  auto log = OpenLog(run.id, 0);
  for (int i = 0; i < 300; ++i) log->AddLine(0, "l" + std::to_string(i));
  log->Close();
  SetStatus(run.id, store::RunStatus::kCompleted);
  SseReader reader(port_, "/api/v1/runs/" + run.id + "/logs/stream");  // tail=200 by default
  ASSERT_TRUE(reader.WaitFor(Ended));
  std::vector<std::string> lines = Lines(reader.events());
  ASSERT_EQ(lines.size(), 200u);
  EXPECT_EQ(lines.front(), "l100");
  EXPECT_EQ(lines.back(), "l299");

  SseReader all(port_, "/api/v1/runs/" + run.id + "/logs/stream?tail=0");
  ASSERT_TRUE(all.WaitFor(Ended));
  EXPECT_EQ(Lines(all.events()).size(), 300u);
}

// A whole log at once (tail=0 over an ended run: one pump) goes out in 64 KiB pieces, in order.
TEST_F(StreamsTest, ALogLargerThanOneChunkArrivesWholeAndInOrder) {
  store::RunRecord run = NewRun();
  auto log = OpenLog(run.id, 0);
  const std::string pad(200, 'x');
  for (int i = 0; i < 3000; ++i) log->AddLine(0, std::to_string(i) + " " + pad);
  log->Close();
  SetStatus(run.id, store::RunStatus::kCompleted);
  SseReader all(port_, "/api/v1/runs/" + run.id + "/logs/stream?tail=0");
  ASSERT_TRUE(all.WaitFor(Ended));
  std::vector<std::string> lines = Lines(all.events());
  ASSERT_EQ(lines.size(), 3000u);
  for (int i = 0; i < 3000; ++i) EXPECT_EQ(lines[i], std::to_string(i) + " " + pad) << i;
}

TEST_F(StreamsTest, LogStreamMergesRanksWithPrefixesOrFollowsOneRank) {
  store::RunRecord run = NewRun();
  SetStatus(run.id, store::RunStatus::kRunning);
  auto r0 = OpenLog(run.id, 0);
  auto r1 = OpenLog(run.id, 1);
  r0->AddLine(0, "zero a");
  r1->AddLine(0, "one a");
  SseReader merged(port_, "/api/v1/runs/" + run.id + "/logs/stream");
  SseReader only1(port_, "/api/v1/runs/" + run.id + "/logs/stream?rank=1");
  ASSERT_TRUE(merged.WaitFor([](const auto& ev) { return Lines(ev).size() == 2; }));
  r1->AddLine(0, "one b");
  r0->Close();
  r1->Close();
  SetStatus(run.id, store::RunStatus::kFailed);
  ASSERT_TRUE(merged.WaitFor(Ended));
  ASSERT_TRUE(only1.WaitFor(Ended));
  std::vector<SseEvent> events = merged.events();
  ASSERT_EQ(Lines(events),
            (std::vector<std::string>{"[rank 0] zero a", "[rank 1] one a", "[rank 1] one b"}));
  EXPECT_EQ(events[0].data["rank"], 0);
  EXPECT_EQ(events[1].data["rank"], 1);
  EXPECT_EQ(Lines(only1.events()), (std::vector<std::string>{"one a", "one b"}));
  EXPECT_EQ(only1.events()[0].data["rank"], 1);
}

TEST_F(StreamsTest, StreamsOfAnUnknownRunAre404AndBadParametersAre400) {
  httplib::Client c = Client();
  for (const char* path :
       {"/api/v1/runs/nope/events", "/api/v1/runs/nope/logs/stream", "/api/v1/runs/nope/logs"}) {
    auto res = c.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_NE(res->body.find("nope"), std::string::npos) << res->body;
  }
  store::RunRecord run = NewRun();
  auto res = c.Get(("/api/v1/runs/" + run.id + "/logs/stream?tail=-1").c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("tail"), std::string::npos) << res->body;
}

TEST_F(StreamsTest, EventsGiveStatusChangesMetricSummariesAndEnd) {
  store::RunRecord run = NewRun();
  SseReader reader(port_, "/api/v1/runs/" + run.id + "/events");
  auto statuses = [](const std::vector<SseEvent>& ev) {
    std::vector<std::string> out;
    for (const auto& e : ev) {
      if (e.type == "status") out.push_back(e.data["status"].get<std::string>());
    }
    return out;
  };
  ASSERT_TRUE(reader.WaitFor([&](const auto& ev) { return statuses(ev).size() == 1; }));
  EXPECT_EQ(reader.events()[0].data["status"], "Queued");
  EXPECT_EQ(reader.events()[0].data["ended"], false);
  EXPECT_TRUE(reader.events()[0].data["at"].is_number_integer());
  SetStatus(run.id, store::RunStatus::kRunning);
  ASSERT_TRUE(reader.WaitFor([&](const auto& ev) { return statuses(ev).size() == 2; }));

  // Points logged as a run's tracking does (the store keeps the summaries current).
  int64_t seq = 0;
  auto put = [&](const std::string& name, double value, int64_t step) {
    tracking::Batch b;
    b.client = "test";
    b.seq = ++seq;
    b.points.push_back({name, step, NowMicros(), value});
    auto applied = store::ApplyBatch(ws_->db(), run.seq, b);
    ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  };
  auto metric_events = [](const std::vector<SseEvent>& ev) {
    std::vector<nlohmann::json> out;
    for (const auto& e : ev) {
      if (e.type == "metrics") out.push_back(e.data["metrics"]);
    }
    return out;
  };
  put("loss", 0.5, 0);
  ASSERT_TRUE(reader.WaitFor([&](const auto& ev) { return metric_events(ev).size() == 1; }));
  nlohmann::json first = metric_events(reader.events())[0];
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["name"], "loss");
  EXPECT_EQ(first[0]["count"], 1);
  EXPECT_EQ(first[0]["last"], 0.5);
  EXPECT_EQ(first[0]["min"], 0.5);
  EXPECT_EQ(first[0]["max"], 0.5);
  EXPECT_EQ(first[0]["last_step"], 0);

  // Many changes within half a second give at most two events a second.
  const int64_t start = NowMicros();
  for (int i = 2; i <= 20; ++i) {
    put("loss", 0.1 * i, i);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  put("acc", std::nan(""), 20);  // NaN is null
  SetStatus(run.id, store::RunStatus::kCompleted);
  ASSERT_TRUE(reader.WaitFor(Ended));
  EXPECT_TRUE(reader.WaitClosed());
  const double seconds = static_cast<double>(NowMicros() - start) / 1e6;
  std::vector<SseEvent> events = reader.events();
  std::vector<nlohmann::json> all = metric_events(events);
  EXPECT_LE(static_cast<double>(all.size()), 2 + 2 * seconds + 1) << seconds << " s";
  // The last summaries before `end` are the final ones.
  const nlohmann::json& last = all.back();
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[0]["name"], "acc");
  EXPECT_TRUE(last[0]["last"].is_null());
  EXPECT_EQ(last[1]["name"], "loss");
  EXPECT_EQ(last[1]["count"], 20);
  EXPECT_DOUBLE_EQ(last[1]["last"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(last[1]["min"].get<double>(), 0.2);
  EXPECT_EQ(last[1]["last_step"], 20);
  EXPECT_EQ(statuses(events), (std::vector<std::string>{"Queued", "Running", "Completed"}));
  const SseEvent& completed = events[events.size() - 2];
  EXPECT_EQ(completed.type, "status");
  EXPECT_EQ(completed.data["ended"], true);
}

TEST_F(StreamsTest, AStreamEndsWhenTheServerStops) {
  store::RunRecord run = NewRun();
  SetStatus(run.id, store::RunStatus::kRunning);
  SseReader events(port_, "/api/v1/runs/" + run.id + "/events");
  SseReader logs(port_, "/api/v1/runs/" + run.id + "/logs/stream");
  ASSERT_TRUE(events.WaitFor([](const auto& ev) { return !ev.empty(); }));
  const auto start = std::chrono::steady_clock::now();
  TearDown();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(events.WaitClosed(5));
  EXPECT_TRUE(logs.WaitClosed(5));
}

// A token revoked while its streams are open: each stream's last event is `refused`, and it ends
// though the run goes on. Until then the rechecks (every 100 ms here) let it be.
TEST_F(StreamsTest, StreamsEndWithRefusedWhenTheirTokenIsRevoked) {
  store::RunRecord run = NewRun();
  SetStatus(run.id, store::RunStatus::kRunning);
  auto log = OpenLog(run.id, 0);
  log->AddLine(0, "first");
  const httplib::Headers token = {{"Authorization", "Bearer revocable"}};
  SseReader events(port_, "/api/v1/runs/" + run.id + "/events", token);
  SseReader lines(port_, "/api/v1/runs/" + run.id + "/logs/stream", token);
  ASSERT_TRUE(lines.WaitFor([](const auto& ev) { return Lines(ev).size() == 1; }));
  ASSERT_TRUE(events.WaitFor([](const auto& ev) { return !ev.empty(); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  log->AddLine(0, "second");
  ASSERT_TRUE(lines.WaitFor([](const auto& ev) { return Lines(ev).size() == 2; }));
  revoked_ = true;
  for (SseReader* reader : {&events, &lines}) {
    ASSERT_TRUE(reader->WaitClosed());
    std::vector<SseEvent> got = reader->events();
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.back().type, "refused");
    EXPECT_EQ(got.back().data["error"], "invalid or revoked token");
    EXPECT_FALSE(Ended(got));
  }
  // A new stream with the revoked token is refused outright.
  SseReader again(port_, "/api/v1/runs/" + run.id + "/events", token);
  ASSERT_TRUE(again.WaitClosed());
  EXPECT_EQ(again.status(), 401);
}

TEST_F(StreamsTest, PlainTextLogsWithRankAndTail) {
  store::RunRecord run = NewRun();
  auto r0 = OpenLog(run.id, 0);
  auto r1 = OpenLog(run.id, 1);
  for (int i = 0; i < 3; ++i) {
    r0->AddLine(0, "zero " + std::to_string(i));
    r1->AddLine(1, "one " + std::to_string(i));
  }
  r0->Close();
  r1->Close();
  httplib::Client c = Client();
  auto res = c.Get(("/api/v1/runs/" + run.id + "/logs?rank=1").c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "one 0\none 1\none 2\n");
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; charset=utf-8");
  res = c.Get(("/api/v1/runs/" + run.id + "/logs?rank=0&tail=1").c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, "zero 2\n");
  res = c.Get(("/api/v1/runs/" + run.id + "/logs").c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(std::count(res->body.begin(), res->body.end(), '\n'), 6);
  EXPECT_NE(res->body.find("[rank 1] one 2\n"), std::string::npos) << res->body;

  // Large logs come in chunks, whole.
  store::RunRecord big = NewRun();
  auto log = OpenLog(big.id, 0);
  std::string expected;
  for (int i = 0; i < 20000; ++i) {
    std::string line = "a fairly long line of output number " + std::to_string(i);
    log->AddLine(0, line);
    expected += line + "\n";
  }
  log->Close();
  res = c.Get(("/api/v1/runs/" + big.id + "/logs").c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, expected);
}

}  // namespace
}  // namespace trainyard::server
