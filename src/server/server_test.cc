// The server as clients see it: a real server on a free port, real HTTP(S) through
// httplib::Client. Tokens are created in the workspace the way the CLI does.
#include "server/server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>

#include "store/tokens.h"
#include "testing/temp_dir.h"

namespace trainyard::server {
namespace {

using nlohmann::json;

// A route that needs the submit role, to see 403 for a read token; a stream that checks its
// token again every 100 ms (Routes::Recheck).
void AddTestRoutes(Routes& routes, ServerContext&) {
  routes.Get("/api/v1/test/stream", Role::kRead,
             [&routes](const httplib::Request& req, httplib::Response& res, const Caller&) {
               res.set_chunked_content_provider(
                   "text/plain", [recheck = routes.Recheck(req, Role::kRead, 100'000)](
                                     size_t, httplib::DataSink& sink) {
                     const std::string why = recheck();
                     const std::string out = why.empty() ? "tick\n" : "refused: " + why + "\n";
                     if (!sink.write(out.data(), out.size())) return false;
                     if (why.empty()) {
                       std::this_thread::sleep_for(std::chrono::milliseconds(20));
                     } else {
                       sink.done();
                     }
                     return true;
                   });
             });
  routes.Post("/api/v1/test/submit", Role::kSubmit,
              [](const httplib::Request& req, httplib::Response& res, const Caller& caller) {
                ReplyJson(res, {{"caller", caller.name}, {"bytes", req.body.size()}});
              });
  routes.Get("/api/v1/test/read", Role::kRead,
             [](const httplib::Request&, httplib::Response& res, const Caller& caller) {
               ReplyJson(res, {{"caller", caller.name}});
             });
}

class ServerTest : public ::testing::Test {
 protected:
  std::string CreateToken(const std::string& name, const std::string& role) {
    auto ws = store::Workspace::Open(dir_.path());
    EXPECT_TRUE(ws.ok()) << ws.status().ToString();
    auto token = store::CreateApiToken(ws->get(), name, role);
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    return token.ok() ? *token : "";
  }

  void StartServer(ServerOptions options = {}) {
    options.workspace_dir = dir_.path();
    options.port = 0;
    options.threads = 8;
    options.extra_routes = AddTestRoutes;
    auto started = Server::Start(options);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(*started);
  }

  httplib::Client Client() {
    httplib::Client cli("127.0.0.1", server_->port());
    cli.set_connection_timeout(5);
    cli.set_read_timeout(10);
    return cli;
  }

  static httplib::Headers Bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
  }

  static json Body(const httplib::Result& r) {
    return json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  }

  testing::TempDir dir_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, NoTokenOrAWrongOneIs401WithJson) {
  std::string token = CreateToken("alice", "read");
  StartServer();
  httplib::Client cli = Client();
  auto none = cli.Get("/api/v1");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("Content-Type"), "application/json");
  EXPECT_NE(Body(none)["error"].get<std::string>().find("needs a token"), std::string::npos);

  std::string wrong = token;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  auto bad = cli.Get("/api/v1", Bearer(wrong));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  EXPECT_EQ(Body(bad)["error"], "invalid or revoked token");
  auto basic = cli.Get("/api/v1", {{"Authorization", "Basic YWxpY2U6eA=="}});
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->status, 401);

  auto good = cli.Get("/api/v1", Bearer(token));
  ASSERT_TRUE(good);
  ASSERT_EQ(good->status, 200) << good->body;
  json info = Body(good);
  EXPECT_EQ(info["api"], 1);
  EXPECT_EQ(info["version"], kTrainyardVersion);
  EXPECT_EQ(info["workspace"], dir_.path());
  EXPECT_EQ(info["caller"], (json{{"name", "alice"}, {"role", "read"}}));
}

TEST_F(ServerTest, AReadTokenCannotCallASubmitRoute) {
  std::string reader = CreateToken("reader", "read");
  std::string submitter = CreateToken("ci", "submit");
  std::string admin = CreateToken("root", "admin");
  StartServer();
  httplib::Client cli = Client();
  auto refused = cli.Post("/api/v1/test/submit", Bearer(reader), "{}", "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(Body(refused)["error"], "token \"reader\" has role read; this needs submit");
  for (const std::string& t : {submitter, admin}) {
    auto ok = cli.Post("/api/v1/test/submit", Bearer(t), "{}", "application/json");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << ok->body;
  }
  // Token management is the admin's.
  auto list = cli.Get("/api/v1/tokens", Bearer(submitter));
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 403);
  list = cli.Get("/api/v1/tokens", Bearer(admin));
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200);
  EXPECT_EQ(Body(list)["tokens"].size(), 3u);
  EXPECT_EQ(list->body.find("ty_"), std::string::npos);  // never the token text
}

TEST_F(ServerTest, TokensCreatedOrRevokedWhileRunningCountAtOnce) {
  std::string first = CreateToken("first", "read");
  StartServer();
  httplib::Client cli = Client();
  std::string later = CreateToken("later", "submit");
  auto r = cli.Get("/api/v1", Bearer(later));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Body(r)["caller"]["name"], "later");

  {
    auto ws = store::Workspace::Open(dir_.path());
    ASSERT_TRUE(ws.ok());
    ASSERT_TRUE(store::RevokeApiToken(ws->get(), "later").ok());
  }
  r = cli.Get("/api/v1", Bearer(later));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = cli.Get("/api/v1", Bearer(first));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, AStreamEndsWhenItsTokenIsRevokedAndOthersGoOn) {
  std::string keep = CreateToken("keep", "read");
  std::string gone = CreateToken("gone", "read");
  StartServer();
  std::atomic<size_t> received{0};  // bytes of the stream so far
  std::string body;
  std::thread follower([&] {
    httplib::Client cli = Client();
    auto r = cli.Get("/api/v1/test/stream", Bearer(gone), [&](const char* data, size_t n) {
      body.append(data, n);
      received = body.size();
      return body.size() < (1 << 20);
    });
    EXPECT_TRUE(r) << httplib::to_string(r.error());
  });
  for (int i = 0; i < 500 && received < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    auto ws = store::Workspace::Open(dir_.path());
    ASSERT_TRUE(ws.ok());
    ASSERT_TRUE(store::RevokeApiToken(ws->get(), "gone").ok());
  }
  follower.join();  // the stream ends by itself
  ASSERT_GE(body.size(), 20u);
  EXPECT_EQ(body.substr(0, 5), "tick\n");
  const std::string last = "refused: invalid or revoked token\n";
  ASSERT_GE(body.size(), last.size());
  EXPECT_EQ(body.substr(body.size() - last.size()), last);
  // Another token's stream passes its rechecks.
  httplib::Client cli = Client();
  std::string other;
  auto start = std::chrono::steady_clock::now();
  cli.Get("/api/v1/test/stream", Bearer(keep), [&](const char* data, size_t n) {
    other.append(data, n);
    return std::chrono::steady_clock::now() - start < std::chrono::milliseconds(400);
  });
  EXPECT_NE(other.find("tick\n"), std::string::npos);
  EXPECT_EQ(other.find("refused"), std::string::npos) << other;
}

TEST_F(ServerTest, AdminManagesTokensOverTheApi) {
  std::string admin = CreateToken("root", "admin");
  StartServer();
  httplib::Client cli = Client();
  auto created = cli.Post("/api/v1/tokens", Bearer(admin), R"({"name":"bot","role":"submit"})",
                          "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  std::string bot = Body(created)["token"];
  auto r = cli.Post("/api/v1/test/submit", Bearer(bot), "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto dup = cli.Post("/api/v1/tokens", Bearer(admin), R"({"name":"bot","role":"read"})",
                      "application/json");
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->status, 409);
  auto revoked = cli.Delete("/api/v1/tokens/bot", Bearer(admin));
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->status, 200);
  r = cli.Post("/api/v1/test/submit", Bearer(bot), "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
}

TEST_F(ServerTest, LoginSetsAStrictHttpOnlyCookieAndLogoutClearsIt) {
  std::string token = CreateToken("web", "read");
  StartServer();
  httplib::Client cli = Client();
  auto bad = cli.Post("/api/v1/login", R"({"token":"ty_nope"})", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  EXPECT_FALSE(bad->has_header("Set-Cookie"));
  auto empty = cli.Post("/api/v1/login", "{}", "application/json");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 400);

  auto login = cli.Post("/api/v1/login", json{{"token", token}}.dump(), "application/json");
  ASSERT_TRUE(login);
  ASSERT_EQ(login->status, 200) << login->body;
  EXPECT_EQ(Body(login), (json{{"name", "web"}, {"role", "read"}}));
  std::string cookie = login->get_header_value("Set-Cookie");
  EXPECT_EQ(cookie, "trainyard_session=" + token + "; Path=/; HttpOnly; SameSite=Strict");

  auto me = cli.Get("/api/v1", {{"Cookie", "other=1; trainyard_session=" + token}});
  ASSERT_TRUE(me);
  EXPECT_EQ(me->status, 200);
  EXPECT_EQ(Body(me)["caller"]["name"], "web");

  // Another site's page cannot log the user out, with or without a body.
  for (const std::string& body : {std::string(), std::string("{}")}) {
    auto foreign =
        cli.Post("/api/v1/logout", {{"Origin", "https://evil.example"}}, body, "application/json");
    ASSERT_TRUE(foreign);
    EXPECT_EQ(foreign->status, 403) << body;
    EXPECT_EQ(foreign->get_header_value("Set-Cookie"), "") << body;
  }

  auto logout = cli.Post("/api/v1/logout", "", "application/json");
  ASSERT_TRUE(logout);
  EXPECT_EQ(logout->status, 200);
  EXPECT_EQ(logout->get_header_value("Set-Cookie"),
            "trainyard_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");

  // A login body is one token: a large one is refused before it is parsed.
  auto huge = cli.Post("/api/v1/login", "[" + std::string(8192, '0') + "]", "application/json");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);
}

TEST_F(ServerTest, RepeatedFailuresFromOneAddressGet429) {
  std::string token = CreateToken("alice", "read");
  ServerOptions options;
  options.auth.max_failures = 3;
  StartServer(options);
  httplib::Client cli = Client();
  for (int i = 0; i < 3; ++i) {
    auto r = cli.Get("/api/v1", Bearer("ty_wrong" + std::to_string(i)));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << i;
  }
  // Blocked now, for a good token too, and for logins.
  auto r = cli.Get("/api/v1", Bearer(token));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  int retry = std::atoi(r->get_header_value("Retry-After").c_str());
  EXPECT_GT(retry, 0);
  EXPECT_LE(retry, 60);
  EXPECT_NE(Body(r)["error"].get<std::string>().find("too many failed attempts"),
            std::string::npos);
  auto login = cli.Post("/api/v1/login", json{{"token", token}}.dump(), "application/json");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 429);
  // The address stays blocked until the window ends, whatever it sends.
  auto none = cli.Get("/api/v1");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 429);
}

TEST_F(ServerTest, FailedLoginsCountTowardTheLimit) {
  CreateToken("alice", "read");
  ServerOptions options;
  options.auth.max_failures = 2;
  StartServer(options);
  httplib::Client cli = Client();
  for (int i = 0; i < 2; ++i) {
    auto r = cli.Post("/api/v1/login", R"({"token":"ty_guess"})", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
  }
  auto r = cli.Post("/api/v1/login", R"({"token":"ty_guess"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
}

TEST_F(ServerTest, CrossOriginRequestsAreRefusedWithoutCorsHeaders) {
  std::string token = CreateToken("alice", "submit");
  StartServer();
  httplib::Client cli = Client();
  cli.set_keep_alive(true);
  std::string own = "http://127.0.0.1:" + std::to_string(server_->port());
  httplib::Headers evil = Bearer(token);
  evil.emplace("Origin", "http://evil.example");
  auto get = cli.Get("/api/v1", evil);
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 403);
  EXPECT_NE(Body(get)["error"].get<std::string>().find("cross-origin"), std::string::npos);
  for (const auto& [name, value] : get->headers) {
    EXPECT_EQ(name.rfind("Access-Control-", 0), std::string::npos) << name;
  }
  // With a body: refused after the body was read, and the connection still works (the body
  // was not left to be read as a request).
  std::string smuggled = "GET /api/v1/test/read HTTP/1.1\r\nHost: x\r\n\r\n";
  auto post = cli.Post("/api/v1/test/submit", evil, smuggled, "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 403);
  auto after = cli.Get("/api/v1", Bearer(token));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
  // "null" and other schemes are not this server either; its own origin is.
  for (const std::string& origin :
       {std::string("null"), "https://127.0.0.1:" + std::to_string(server_->port())}) {
    httplib::Headers h = Bearer(token);
    h.emplace("Origin", origin);
    auto r = cli.Get("/api/v1", h);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << origin;
  }
  httplib::Headers same = Bearer(token);
  same.emplace("Origin", own);
  auto ok = cli.Post("/api/v1/test/submit", same, "{}", "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  // The login endpoint too: a page elsewhere cannot plant a session.
  httplib::Headers login_headers = {{"Origin", "http://evil.example"}};
  auto login =
      cli.Post("/api/v1/login", login_headers, json{{"token", token}}.dump(), "application/json");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 403);
  EXPECT_FALSE(login->has_header("Set-Cookie"));
}

TEST_F(ServerTest, PublicUrlOriginIsAccepted) {
  std::string token = CreateToken("alice", "read");
  ServerOptions options;
  options.public_url = "https://ML.example.com/";
  StartServer(options);
  EXPECT_EQ(server_->public_url(), "https://ML.example.com");
  EXPECT_EQ(server_->context().public_url, "https://ML.example.com");
  httplib::Client cli = Client();
  httplib::Headers h = Bearer(token);
  h.emplace("Origin", "https://ml.example.com");
  auto r = cli.Get("/api/v1", h);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(ServerTest, EveryAnswerHasTheSecurityHeaders) {
  std::string token = CreateToken("alice", "read");
  StartServer();
  httplib::Client cli = Client();
  for (const char* path : {"/api/v1", "/api/v1/nothing-here", "/no-such-file"}) {
    auto r = cli.Get(path, Bearer(token));
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff") << path;
    EXPECT_EQ(r->get_header_value("X-Frame-Options"), "DENY") << path;
    EXPECT_EQ(r->get_header_value("Referrer-Policy"), "no-referrer") << path;
    std::string csp = r->get_header_value("Content-Security-Policy");
    EXPECT_NE(csp.find("default-src 'self'"), std::string::npos) << path;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << path;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << path;
    EXPECT_EQ(r->get_header_value_count("X-Frame-Options"), 1u) << path;
  }
  auto api = cli.Get("/api/v1", Bearer(token));
  EXPECT_EQ(api->get_header_value("Cache-Control"), "no-store");
}

// httplib would answer a browser (which offers "br") with brotli at its slowest setting.
TEST_F(ServerTest, AnswersAreNeverBrotliCompressed) {
  std::string token = CreateToken("alice", "read");
  StartServer();
  httplib::Client cli = Client();
  httplib::Headers headers = Bearer(token);
  headers.emplace("Accept-Encoding", "gzip, deflate, br");
  auto r = cli.Get("/api/v1", headers);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Encoding"), "gzip");
  EXPECT_EQ(Body(r)["caller"]["name"], "alice");
  headers = Bearer(token);
  headers.emplace("Accept-Encoding", "br;q=1.0");
  r = cli.Get("/api/v1", headers);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Encoding"), "");
  EXPECT_EQ(Body(r)["caller"]["role"], "read");
}

TEST_F(ServerTest, UnknownRoutesAre404AndOtherMethods405AsJson) {
  std::string token = CreateToken("alice", "admin");
  StartServer();
  httplib::Client cli = Client();
  auto missing = cli.Get("/api/v1/nothing-here", Bearer(token));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(Body(missing)["error"], "no such endpoint: GET /api/v1/nothing-here");
  auto wrong_method = cli.Delete("/api/v1/test/submit", Bearer(token));
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 405);
  EXPECT_EQ(wrong_method->get_header_value("Allow"), "POST");
  EXPECT_EQ(Body(wrong_method)["error"],
            "DELETE is not allowed on /api/v1/test/submit (allowed: POST)");
}

TEST_F(ServerTest, BodiesOverTheLimitAre413) {
  std::string token = CreateToken("ci", "submit");
  ServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(options);
  httplib::Client cli = Client();
  auto small = cli.Post("/api/v1/test/submit", Bearer(token), std::string(1024, 'x'),
                        "application/octet-stream");
  ASSERT_TRUE(small);
  EXPECT_EQ(small->status, 200);
  EXPECT_EQ(Body(small)["bytes"], 1024);
  auto big = cli.Post("/api/v1/test/submit", Bearer(token), std::string(4096, 'x'),
                      "application/octet-stream");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(Body(big)["error"], "request body is larger than this server's limit of 1024 bytes");
}

TEST_F(ServerTest, WithoutTokensLoopbackCallersAreLocalAdmins) {
  StartServer();
  EXPECT_TRUE(server_->local_mode_possible());
  httplib::Client cli = Client();
  auto r = cli.Get("/api/v1");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Body(r)["caller"], (json{{"name", "local"}, {"role", "admin"}}));
  auto submit = cli.Post("/api/v1/test/submit", "{}", "application/json");
  ASSERT_TRUE(submit);
  EXPECT_EQ(submit->status, 200);
  // A page at another name that resolves to 127.0.0.1 (DNS rebinding) is not served.
  auto rebound =
      cli.Get("/api/v1", {{"Host", "attacker.example:" + std::to_string(server_->port())}});
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 403);
  EXPECT_NE(Body(rebound)["error"].get<std::string>().find("no tokens"), std::string::npos);
  auto localhost = cli.Get("/api/v1", {{"Host", "localhost:" + std::to_string(server_->port())}});
  ASSERT_TRUE(localhost);
  EXPECT_EQ(localhost->status, 200);
  // A request a reverse proxy relayed is not this machine's user, whatever its Host says.
  for (const char* header : {"X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Forwarded-Host"}) {
    auto proxied = cli.Get("/api/v1", {{header, "203.0.113.7"}});
    ASSERT_TRUE(proxied) << header;
    EXPECT_EQ(proxied->status, 403) << header;
    EXPECT_NE(Body(proxied)["error"].get<std::string>().find("through a proxy"), std::string::npos)
        << header << ": " << proxied->body;
  }

  // Once a token exists (even a revoked one), tokens are required.
  std::string token = CreateToken("first", "read");
  r = cli.Get("/api/v1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  {
    auto ws = store::Workspace::Open(dir_.path());
    ASSERT_TRUE(ws.ok());
    ASSERT_TRUE(store::RevokeApiToken(ws->get(), "first").ok());
  }
  r = cli.Get("/api/v1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
}

TEST_F(ServerTest, RefusesToListenBeyondLoopbackWithoutTokens) {
  ServerOptions options;
  options.workspace_dir = dir_.path();
  options.host = "0.0.0.0";
  options.port = 0;
  auto refused = Server::Start(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("trainyard server token create"), std::string::npos)
      << refused.status().message();

  // A public URL that is not this machine means a proxy in front: refused without tokens too.
  ServerOptions proxied = options;
  proxied.host = "127.0.0.1";
  proxied.public_url = "https://ml.example.com";
  auto behind_proxy = Server::Start(proxied);
  ASSERT_FALSE(behind_proxy.ok());
  EXPECT_NE(behind_proxy.status().message().find("through a proxy"), std::string::npos)
      << behind_proxy.status().message();
  proxied.public_url = "http://localhost:8470";
  auto local_public = Server::Start(proxied);
  EXPECT_TRUE(local_public.ok()) << local_public.status().ToString();

  // A revoked token is no token.
  CreateToken("old", "admin");
  {
    auto ws = store::Workspace::Open(dir_.path());
    ASSERT_TRUE(ws.ok());
    ASSERT_TRUE(store::RevokeApiToken(ws->get(), "old").ok());
  }
  EXPECT_FALSE(Server::Start(options).ok());

  std::string token = CreateToken("admin", "admin");
  options.threads = 4;
  auto started = Server::Start(options);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  EXPECT_FALSE((*started)->local_mode_possible());
  httplib::Client cli("127.0.0.1", (*started)->port());
  auto none = cli.Get("/api/v1");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  auto ok = cli.Get("/api/v1", Bearer(token));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ServerTest, StopEndsStreamsAndWaitReturns) {
  StartServer();
  ServerContext& ctx = server_->context();
  EXPECT_FALSE(ctx.stopping());
  server_->Stop();
  EXPECT_TRUE(ctx.stopping());
  server_->Wait();
  httplib::Client cli = Client();
  cli.set_connection_timeout(1);
  EXPECT_FALSE(cli.Get("/api/v1"));  // nothing listens any more
}

TEST_F(ServerTest, StopEndsALiveStreamThroughTheContext) {
  ServerOptions options;
  options.extra_routes = [](Routes& routes, ServerContext& ctx) {
    routes.Get("/api/v1/test/stream", Role::kRead,
               [&ctx](const httplib::Request&, httplib::Response& res, const Caller&) {
                 res.set_chunked_content_provider(
                     "text/event-stream", [&ctx](size_t, httplib::DataSink& sink) {
                       if (ctx.stopping()) {
                         sink.done();
                         return true;
                       }
                       std::string event = "event: tick\ndata: {}\n\n";
                       sink.write(event.data(), event.size());
                       std::this_thread::sleep_for(std::chrono::milliseconds(20));
                       return true;
                     });
               });
  };
  options.workspace_dir = dir_.path();
  options.port = 0;
  options.threads = 4;
  auto started = Server::Start(options);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  server_ = std::move(*started);
  std::atomic<int> events{0};
  std::atomic<bool> ended{false};
  std::thread reader([&] {
    httplib::Client cli = Client();
    cli.Get("/api/v1/test/stream", [&](const char* data, size_t size) {
      if (std::string_view(data, size).find("event: tick") != std::string_view::npos) ++events;
      return true;
    });
    ended = true;
  });
  for (int i = 0; i < 500 && events < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(events.load(), 3);
  auto t0 = std::chrono::steady_clock::now();
  server_->Stop();
  server_->Wait();
  reader.join();
  EXPECT_TRUE(ended);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST_F(ServerTest, BadStartOptionsNameTheProblem) {
  ServerOptions options;
  options.workspace_dir = "https://example.com";
  EXPECT_EQ(Server::Start(options).status().code(), StatusCode::kInvalidArgument);
  options.workspace_dir = dir_.path();
  options.port = 0;
  options.public_url = "ml.example.com";
  EXPECT_NE(Server::Start(options).status().message().find("must start with http"),
            std::string::npos);
  options.public_url = "";
  options.tls_cert = dir_ / "missing.pem";
  EXPECT_NE(Server::Start(options).status().message().find("both --tls-cert and --tls-key"),
            std::string::npos);
  options.tls_key = dir_ / "missing.key";
  auto tls = Server::Start(options);
  EXPECT_EQ(tls.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(tls.status().message().find("missing.pem"), std::string::npos);
}

TEST_F(ServerTest, ServesHttpsWithASecureCookie) {
  std::string cert = dir_ / "cert.pem", key = dir_ / "key.pem";
  std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl could not make a test certificate";
  std::string token = CreateToken("alice", "read");
  ServerOptions options;
  options.tls_cert = cert;
  options.tls_key = key;
  StartServer(options);
  EXPECT_EQ(server_->url().rfind("https://127.0.0.1:", 0), 0u) << server_->url();
  EXPECT_TRUE(server_->context().tls);

  httplib::SSLClient cli("127.0.0.1", server_->port());
  cli.set_ca_cert_path(cert.c_str());
  cli.enable_server_certificate_verification(true);
  auto r = cli.Get("/api/v1", Bearer(token));
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  auto login = cli.Post("/api/v1/login", json{{"token", token}}.dump(), "application/json");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->get_header_value("Set-Cookie"),
            "trainyard_session=" + token + "; Path=/; HttpOnly; SameSite=Strict; Secure");
  httplib::Headers same = Bearer(token);
  same.emplace("Origin", "https://127.0.0.1:" + std::to_string(server_->port()));
  r = cli.Get("/api/v1", same);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  // Plain HTTP to the TLS port gets no answer.
  httplib::Client plain("127.0.0.1", server_->port());
  plain.set_read_timeout(5);
  auto p = plain.Get("/api/v1", Bearer(token));
  EXPECT_TRUE(!p || p->status != 200);
}

TEST(FailureLimiter, BlocksAfterTheLimitUntilTheWindowEndsAndStaysBounded) {
  FailureLimiter limiter(/*max_failures=*/2, /*window_s=*/60, /*max_addresses=*/3);
  limiter.NoteFailure("a", 100);
  EXPECT_EQ(limiter.RetryAfter("a", 101), 0);
  limiter.NoteFailure("a", 101);
  EXPECT_EQ(limiter.RetryAfter("a", 110), 50);
  EXPECT_EQ(limiter.RetryAfter("b", 110), 0);
  EXPECT_EQ(limiter.RetryAfter("a", 160), 0);  // the window ended
  for (int i = 0; i < 100; ++i) limiter.NoteFailure("x" + std::to_string(i), 200 + i);
  EXPECT_LE(limiter.tracked(), 3u);
}

TEST(HostNames, LoopbackAndHostHeaders) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("[::1]"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost(""));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("128.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("example.com"));
  EXPECT_EQ(HostHeaderName("LocalHost:8470"), "localhost");
  EXPECT_EQ(HostHeaderName("[::1]:8470"), "::1");
  EXPECT_EQ(HostHeaderName("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(HostHeaderName("localhost.:80"), "localhost");
}

}  // namespace
}  // namespace trainyard::server
