// The session endpoints (docs/api.md "Session"): GET /api/v1 (who am I, which server), login and
// logout with the session cookie the web UI uses, and the admin's token management.
#include <httplib.h>

#include "server/api.h"
#include "server/auth.h"
#include "store/tokens.h"

namespace trainyard::server {
namespace {

constexpr size_t kMaxLoginBody = 4096;

using nlohmann::json;

// The cookie holds the token itself: HttpOnly keeps it from scripts, SameSite=Strict from other
// sites' requests, Secure from plain HTTP when the server has TLS. No Max-Age: it ends with the
// browser session.
std::string SessionCookie(const std::string& value, bool tls, bool clear) {
  std::string cookie =
      std::string(kSessionCookie) + "=" + value + "; Path=/; HttpOnly; SameSite=Strict";
  if (tls) cookie += "; Secure";
  if (clear) cookie += "; Max-Age=0";
  return cookie;
}

json OptionalTime(const std::optional<int64_t>& t) { return t ? json(*t) : json(nullptr); }

json TokenJson(const store::ApiToken& t) {
  return {{"name", t.name},
          {"role", t.role},
          {"created_at", t.created_at},
          {"last_used_at", OptionalTime(t.last_used_at)},
          {"revoked_at", OptionalTime(t.revoked_at)}};
}

}  // namespace

void AddSessionRoutes(Routes& routes, ServerContext& ctx) {
  routes.Get("/api/v1/?", Role::kRead,
             [&ctx](const httplib::Request&, httplib::Response& res, const Caller& caller) {
               ReplyJson(res,
                         {{"api", 1},
                          {"version", kTrainyardVersion},
                          {"workspace", ctx.pool.dir()},
                          {"public_url", ctx.public_url},
                          {"caller", {{"name", caller.name}, {"role", RoleName(caller.role)}}}});
             });

  routes.PostPublic("/api/v1/login", [&ctx](const httplib::Request& req, httplib::Response& res) {
    // Checked before any token: a login body is one short token, not what the server's body
    // limit allows (a 64 MiB JSON array would cost half a gigabyte to parse).
    if (req.body.size() > kMaxLoginBody) {
      return ReplyError(res, 413,
                        "a login body is at most " + std::to_string(kMaxLoginBody) + " bytes");
    }
    auto body = ParseJsonBody(req);
    if (!body.ok()) return ReplyStatus(res, body.status());
    auto token = body->find("token");
    if (token == body->end() || !token->is_string() || token->get<std::string>().empty()) {
      return ReplyError(res, 400, "login needs {\"token\": \"ty_...\"}");
    }
    if (!ctx.login) return ReplyError(res, 500, "this server cannot check logins");
    AuthResult auth = ctx.login(token->get<std::string>(), req);
    if (!auth.caller) return ReplyRefusal(res, auth);
    res.set_header("Set-Cookie", SessionCookie(token->get<std::string>(), ctx.tls, false));
    ReplyJson(res, {{"name", auth.caller->name}, {"role", RoleName(auth.caller->role)}});
  });

  // Public: logging out needs no valid token (an expired cookie must be clearable too).
  routes.PostPublic("/api/v1/logout", [&ctx](const httplib::Request& req, httplib::Response& res) {
    // Not from another site's page (which could log the user out).
    std::string refusal = ctx.cross_origin ? ctx.cross_origin(req) : "";
    if (!refusal.empty()) return ReplyError(res, 403, refusal);
    res.set_header("Set-Cookie", SessionCookie("", ctx.tls, true));
    ReplyJson(res, json::object());
  });

  routes.Get("/api/v1/tokens", Role::kAdmin,
             [&ctx](const httplib::Request&, httplib::Response& res, const Caller&) {
               auto ws = ctx.pool.Acquire();
               if (!ws.ok()) return ReplyStatus(res, ws.status());
               auto all = store::ListApiTokens(ws->get());
               if (!all.ok()) return ReplyStatus(res, all.status());
               json out = json::array();
               for (const store::ApiToken& t : *all) out.push_back(TokenJson(t));
               ReplyJson(res, {{"tokens", out}});
             });

  routes.Post("/api/v1/tokens", Role::kAdmin,
              [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
                auto body = ParseJsonBody(req);
                if (!body.ok()) return ReplyStatus(res, body.status());
                std::string name = body->value("name", json()).is_string()
                                       ? body->value("name", std::string())
                                       : std::string();
                std::string role = body->value("role", json()).is_string()
                                       ? body->value("role", std::string())
                                       : std::string();
                auto ws = ctx.pool.Acquire();
                if (!ws.ok()) return ReplyStatus(res, ws.status());
                auto token = store::CreateApiToken(ws->get(), name, role);
                if (!token.ok()) return ReplyStatus(res, token.status());
                ReplyJson(res, {{"name", name}, {"role", role}, {"token", *token}}, 201);
              });

  routes.Delete("/api/v1/tokens/([^/]+)", Role::kAdmin,
                [&ctx](const httplib::Request& req, httplib::Response& res, const Caller&) {
                  std::string name = PathParam(req, 1);
                  auto ws = ctx.pool.Acquire();
                  if (!ws.ok()) return ReplyStatus(res, ws.status());
                  Status revoked = store::RevokeApiToken(ws->get(), name);
                  if (!revoked.ok()) return ReplyStatus(res, revoked);
                  ReplyJson(res, {{"name", name}, {"revoked", true}});
                });
}

}  // namespace trainyard::server
