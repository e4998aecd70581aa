// The HTTP front end against fake ModelServices and a fake ScoringPool (no torch, no Python):
// real sockets, real HTTP through httplib's client.
#include "serve/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace trainyard::serve {
namespace {

using nlohmann::json;

// Multiplies FP32 input by `factor`; answers `fail` instead when set.
class FakeModel : public ModelService {
 public:
  FakeModel(std::string name, std::string version, float factor = 2)
      : name_(std::move(name)), version_(std::move(version)), factor_(factor) {}

  ModelInfo Info() const override {
    ModelInfo info;
    info.name = name_;
    info.version = version_;
    info.platform = "fake";
    info.inputs = {{"input__0", DType::kFP32, {-1, 2}}};
    info.outputs = {{"output__0", DType::kFP32, {-1, 2}}};
    return info;
  }
  bool Ready() const override { return ready; }
  std::string LoadError() const override { return load_error; }
  Result<std::vector<Tensor>> Infer(std::vector<Tensor> inputs, Clock::time_point) override {
    calls++;
    if (!fail.ok()) return fail;
    Tensor out = inputs.at(0);
    out.name = "output__0";
    for (size_t i = 0; i + 4 <= out.data.size(); i += 4) {
      float v;
      std::memcpy(&v, &out.data[i], 4);
      v *= factor_;
      std::memcpy(&out.data[i], &v, 4);
    }
    return std::vector<Tensor>{out};
  }

  std::atomic<bool> ready{true};
  std::string load_error;  // set before serving
  Status fail;
  std::atomic<int> calls{0};

 private:
  std::string name_, version_;
  float factor_;
};

class FakePool : public ScoringPool {
 public:
  bool Ready() const override { return ready; }
  std::string LoadError() const override { return load_error; }
  Result<std::string> Score(const std::string& body, Clock::time_point) override {
    if (!fail.ok()) return fail;
    return json{{"echo", body}}.dump();
  }
  int64_t StartedWorkers() const override { return 1; }

  bool ready = true;
  std::string load_error;
  Status fail;
};

struct Served {
  Metrics metrics;
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<httplib::Client> client;

  Served(std::vector<ModelService*> models, ScoringPool* pool, HttpServerOptions options = {}) {
    auto started = HttpServer::Start(std::move(models), pool, &metrics, options);
    EXPECT_TRUE(started.ok()) << started.status().ToString();
    if (!started.ok()) return;
    server = std::move(started).value();
    client = std::make_unique<httplib::Client>("127.0.0.1", server->port());
    client->set_keep_alive(true);
  }

  // status and parsed JSON body (null when not JSON).
  std::pair<int, json> Post(const std::string& path, const std::string& body) {
    auto res = client->Post(path.c_str(), body, "application/json");
    if (!res) return {-1, nullptr};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  std::pair<int, json> Get(const std::string& path) {
    auto res = client->Get(path.c_str());
    if (!res) return {-1, nullptr};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
};

std::string ErrorOf(const json& body) {
  return body.is_object() && body.contains("error") ? body["error"].get<std::string>() : "";
}

TEST(HttpServer, ScoreWithOneModelAnswersNestedLists) {
  FakeModel a("a", "1");
  Served s({&a}, nullptr);
  auto [status, body] = s.Post("/score", R"({"data": [[1, 2], [3, 4]]})");
  EXPECT_EQ(status, 200) << body;
  EXPECT_EQ(body, json::parse("[[2.0, 4.0], [6.0, 8.0]]"));
  auto [status2, body2] = s.Post("/predictions/a", "[[1, 2]]");
  EXPECT_EQ(status2, 200) << body2;
  EXPECT_EQ(body2, json::parse("[[2.0, 4.0]]"));
}

TEST(HttpServer, PredictionsPicksLatestOrNamedVersion) {
  FakeModel v1("a", "1", 2), v2("a", "2", 3), v10("a", "10", 10);
  Served s({&v1, &v10, &v2}, nullptr);
  EXPECT_EQ(s.Post("/predictions/a", "[[1, 1]]").second, json::parse("[[10.0, 10.0]]"));
  EXPECT_EQ(s.Post("/predictions/a/2", "[[1, 1]]").second, json::parse("[[3.0, 3.0]]"));
  EXPECT_EQ(s.Post("/v2/models/a/versions/1/infer",
                   R"({"inputs": [{"name": "input__0", "shape": [1, 2], "datatype": "FP32",
                       "data": [1, 1]}]})")
                .first,
            200);
  auto [status, body] = s.Post("/predictions/a/3", "[[1, 1]]");
  EXPECT_EQ(status, 404);
  EXPECT_NE(ErrorOf(body).find("served versions: 1, 2, 10"), std::string::npos) << body;
  auto [status2, body2] = s.Post("/predictions/b", "[[1, 1]]");
  EXPECT_EQ(status2, 404);
  EXPECT_NE(ErrorOf(body2).find("no model 'b'; served: a:1, a:2, a:10"), std::string::npos)
      << body2;
  EXPECT_EQ(s.Get("/v2/models/b/ready").first, 404);
  EXPECT_EQ(s.Get("/v2/models/a/versions/7").first, 404);
}

TEST(HttpServer, ScoreWithSeveralModelsPointsAtPredictions) {
  FakeModel a("a", "1"), b("b", "1");
  Served s({&a, &b}, nullptr);
  auto [status, body] = s.Post("/score", "[[1, 2]]");
  EXPECT_EQ(status, 400);
  EXPECT_NE(ErrorOf(body).find("a:1, b:1"), std::string::npos) << body;
  EXPECT_NE(ErrorOf(body).find("/predictions/{model}"), std::string::npos) << body;
  EXPECT_EQ(a.calls + b.calls, 0);
}

TEST(HttpServer, MalformedJsonSaysWhere) {
  FakeModel a("a", "1");
  Served s({&a}, nullptr);
  auto [status, body] = s.Post("/predictions/a", R"({"data": [1, }")");
  EXPECT_EQ(status, 400);
  EXPECT_NE(ErrorOf(body).find("malformed JSON"), std::string::npos) << body;
  EXPECT_NE(ErrorOf(body).find("line 1, column"), std::string::npos) << body;
  auto [status2, body2] = s.Post("/v2/models/a/infer", "");
  EXPECT_EQ(status2, 400);
  EXPECT_NE(ErrorOf(body2).find("empty"), std::string::npos) << body2;
  // The server goes on serving.
  EXPECT_EQ(s.Post("/predictions/a", "[[1, 2]]").first, 200);
}

TEST(HttpServer, LargeBodyIs413WithJsonAndConnectionGoesOn) {
  FakeModel a("a", "1");
  HttpServerOptions options;
  options.max_body_bytes = 100;
  Served s({&a}, nullptr, options);
  std::string big = "[[" + std::string(200, ' ') + "1, 2]]";
  auto [status, body] = s.Post("/predictions/a", big);
  EXPECT_EQ(status, 413);
  EXPECT_NE(ErrorOf(body).find("larger than 100 bytes"), std::string::npos) << body;
  EXPECT_EQ(s.Post("/predictions/a", "[[1, 2]]").first, 200);
  EXPECT_EQ(a.calls, 1);
}

TEST(HttpServer, LoadingAndFailedModelsAnswer503WhileOthersServe) {
  FakeModel loading("loading", "1"), failed("failed", "1"), ok("ok", "1");
  loading.ready = false;
  failed.ready = false;
  failed.load_error = "PytorchStreamReader failed reading zip archive";
  Served s({&loading, &failed, &ok}, nullptr);
  auto [status, body] = s.Post("/predictions/loading", "[[1, 2]]");
  EXPECT_EQ(status, 503);
  EXPECT_NE(ErrorOf(body).find("model loading:1 is still loading"), std::string::npos) << body;
  auto [status2, body2] = s.Get("/v2/models/failed/ready");
  EXPECT_EQ(status2, 503);
  EXPECT_NE(ErrorOf(body2).find("PytorchStreamReader failed reading zip archive"),
            std::string::npos)
      << body2;
  EXPECT_EQ(body2["ready"], false);
  auto [status3, body3] = s.Get("/v2/health/ready");
  EXPECT_EQ(status3, 503);
  EXPECT_NE(ErrorOf(body3).find("failed:1 failed to load"), std::string::npos) << body3;
  EXPECT_EQ(s.Get("/v2/health/live").first, 200);
  EXPECT_EQ(s.Get("/v2/models/ok/ready").first, 200);
  EXPECT_EQ(s.Post("/predictions/ok", "[[1, 2]]").first, 200);
  auto [ping_status, ping] = s.Get("/ping");
  EXPECT_EQ(ping_status, 200);
  EXPECT_EQ(ping["status"], "Partial Healthy");
  auto [health_status, health] = s.Get("/health");
  EXPECT_EQ(health_status, 503);
  EXPECT_EQ(health["models"].size(), 3u);
  EXPECT_EQ(loading.calls + failed.calls, 0);
  loading.ready = true;
  EXPECT_EQ(s.Post("/predictions/loading", "[[1, 2]]").first, 200);
}

TEST(HttpServer, ServiceStatusCodesMapToHttp) {
  FakeModel a("a", "1");
  Served s({&a}, nullptr);
  const std::pair<Status, int> cases[] = {
      {InvalidArgument("input has shape [1, 3], the model expects [-1, 2]"), 400},
      {NotFound("nothing"), 404},
      {Unavailable("queue full"), 503},
      {Timeout("deadline passed"), 504},
      {Internal("forward raised"), 500},
  };
  for (const auto& [error, code] : cases) {
    a.fail = error;
    auto [status, body] = s.Post("/predictions/a", "[[1, 2]]");
    EXPECT_EQ(status, code) << error.ToString();
    EXPECT_EQ(ErrorOf(body), error.message());
  }
}

TEST(HttpServer, UnknownRouteIs404AndWrongMethodIs405) {
  FakeModel a("a", "1");
  Served s({&a}, nullptr);
  auto [status, body] = s.Get("/nope");
  EXPECT_EQ(status, 404);
  EXPECT_NE(ErrorOf(body).find("/v2/models/{model}"), std::string::npos) << body;
  auto res = s.client->Get("/score");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "POST");
  EXPECT_NE(ErrorOf(json::parse(res->body)).find("use POST"), std::string::npos);
  EXPECT_EQ(s.Post("/v2/health/ready", "{}").first, 405);
  EXPECT_EQ(s.Post("/v2/models/a", "{}").first, 405);
  EXPECT_EQ(s.Get("/v2/models/a/infer").first, 405);
}

TEST(HttpServer, OpenInferenceProtocol) {
  FakeModel a("a", "1");
  Served s({&a}, nullptr);
  auto [status, body] = s.Post("/v2/models/a/infer", R"({"id": "r1", "inputs": [
      {"name": "input__0", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]})");
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(body["id"], "r1");
  EXPECT_EQ(body["model_name"], "a");
  EXPECT_EQ(body["outputs"][0]["data"], json::parse("[2.0, 4.0, 6.0, 8.0]"));
  EXPECT_EQ(body["outputs"][0]["shape"], json::parse("[2, 2]"));
  auto [meta_status, meta] = s.Get("/v2/models/a");
  EXPECT_EQ(meta_status, 200);
  EXPECT_EQ(meta["name"], "a");
  EXPECT_EQ(meta["inputs"][0]["shape"], json::parse("[-1, 2]"));
  EXPECT_EQ(s.Get("/v2/models/a/versions/1/ready").second["ready"], true);
  EXPECT_EQ(s.Get("/v2").second["name"], "trainyard");
  EXPECT_EQ(s.Get("/v2/health/live").second["live"], true);
  EXPECT_EQ(s.Get("/v2/health/ready").second["ready"], true);
  EXPECT_EQ(s.Get("/ping").second, json::parse(R"({"status": "Healthy"})"));
  auto [bad_status, bad] = s.Post("/v2/models/a/infer", R"({"inputs": [
      {"name": "input__0", "shape": [1, 2], "datatype": "FP32", "data": [1, 2, 3]}]})");
  EXPECT_EQ(bad_status, 400) << bad;
  auto [out_status, out] = s.Post("/v2/models/a/infer", R"({"inputs": [
      {"name": "input__0", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}],
      "outputs": [{"name": "logits"}]})");
  EXPECT_EQ(out_status, 400);
  EXPECT_NE(ErrorOf(out).find("no output 'logits'"), std::string::npos) << out;
}

TEST(HttpServer, ScoringScriptServesScore) {
  FakePool pool;
  Served s({}, &pool);
  auto [status, body] = s.Post("/score", R"({"data": [1]})");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body["echo"], R"({"data": [1]})");
  auto [nf_status, nf] = s.Post("/predictions/a", "[1]");
  EXPECT_EQ(nf_status, 404);
  EXPECT_NE(ErrorOf(nf).find("scoring script"), std::string::npos) << nf;
  pool.fail = Internal("run() raised ValueError: bad");
  EXPECT_EQ(s.Post("/score", "x").first, 500);
  pool.fail = Status();
  pool.ready = false;
  pool.load_error = "init() raised ImportError";
  auto [un_status, un] = s.Post("/score", "x");
  EXPECT_EQ(un_status, 503);
  EXPECT_NE(ErrorOf(un).find("init() raised ImportError"), std::string::npos) << un;
  EXPECT_EQ(s.Get("/v2/health/ready").first, 503);
  EXPECT_EQ(s.Get("/ping").first, 500);
}

TEST(HttpServer, MetricsCountRequests) {
  FakeModel a("a", "1");
  Served s({&a}, nullptr);
  EXPECT_EQ(s.Post("/predictions/a", "[[1, 2]]").first, 200);
  EXPECT_EQ(s.Post("/predictions/a", "[[1, 2").first, 400);
  auto res = s.client->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  EXPECT_NE(res->body.find("trainyard_requests_total"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("endpoint=\"/predictions\""), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("code=\"400\""), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("trainyard_request_duration_seconds"), std::string::npos) << res->body;
}

TEST(HttpServer, ManyConcurrentKeepAliveClients) {
  FakeModel a("a", "1");
  HttpServerOptions options;
  options.threads = 16;
  Served s({&a}, nullptr, options);
  std::atomic<int> ok{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", s.server->port());
      client.set_keep_alive(true);
      for (int i = 0; i < 20; ++i) {
        std::string body = "[[" + std::to_string(t) + ", " + std::to_string(i) + "]]";
        auto res = client.Post("/predictions/a", body, "application/json");
        if (res && res->status == 200 &&
            json::parse(res->body) == json::array({json::array({2.0 * t, 2.0 * i})})) {
          ok++;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        failures.push_back(res ? "HTTP " + std::to_string(res->status) + ": " + res->body
                               : "no answer: " + httplib::to_string(res.error()));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 16 * 20) << failures.front();
}

TEST(HttpServer, StartRefusesBadSetups) {
  Metrics metrics;
  EXPECT_EQ(HttpServer::Start({}, nullptr, &metrics, {}).status().code(),
            StatusCode::kInvalidArgument);
  FakeModel a("a", "1"), again("a", "1");
  auto twice = HttpServer::Start({&a, &again}, nullptr, &metrics, {});
  EXPECT_EQ(twice.status().code(), StatusCode::kInvalidArgument);
  auto first = HttpServer::Start({&a}, nullptr, &metrics, {});
  ASSERT_TRUE(first.ok());
  HttpServerOptions taken;
  taken.port = (*first)->port();
  auto second = HttpServer::Start({&a}, nullptr, &metrics, taken);
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();
  (*first)->Stop();
  (*first)->Stop();  // idempotent
}

TEST(HttpServer, StopRightAfterStartReturns) {
  Metrics metrics;
  FakeModel a("a", "1");
  HttpServerOptions options;
  options.threads = 4;
  for (int i = 0; i < 20; ++i) {
    auto server = HttpServer::Start({&a}, nullptr, &metrics, options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    (*server)->Stop();
  }
}

}  // namespace
}  // namespace trainyard::serve
